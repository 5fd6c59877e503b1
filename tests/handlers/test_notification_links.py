"""Every notification kind carries a link to the report's page, and the link works: for each template
the system sends (``notify.texts.TEXTS``), on every channel (in-app feed, FCM push through the fake FCM
server, e-mail through a local SMTP server), the link found in the sent text answers 200 with the
report's code. The reporter's links carry their signed token and open the reporter's forms; nobody
else's does. (Zalo: tests/bots/zalo/test_zalo_delivery_policy.py follows the link in a Zalo message.)"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlmodel import select

from backend.app import create_app
from backend.models import Delivery, Device, Photo, Resident, Staff, Unit
from backend.services import events
from backend.services.city import settings as city
from backend.services.events import Actor
from backend.services.notify.texts import TEXTS
from backend.services.reports import intake, workflow

from fakes.smtp import FakeSMTP

LINK = re.compile(r"https?://[^\s\"'<>]+/r/PA-[0-9A-Z]{6}(?:\?t=[A-Za-z0-9_.\-]+)?")


@pytest.fixture
def smtp():
    with FakeSMTP() as server:
        yield server


@pytest.fixture
def settings(push_settings, smtp):
    push_settings.smtp_url = smtp.url
    return push_settings


@pytest.fixture
def web(settings, db, runner):
    flask_app = create_app(settings, database=db, runner=runner)
    flask_app.config["TESTING"] = True
    return flask_app.test_client()


def _world(session: Any) -> dict[str, Any]:
    reporter = Resident(locale="vi")
    session.add(reporter)
    session.flush()
    session.add(Device(resident_id=reporter.id, token="phone-r"))
    units = {u.code: u for u in session.exec(select(Unit))}
    units["so-xd"].email, units["ctdt"].email = "soxd@demo.vn", "ctdt@demo.vn"
    admin = Staff(email="admin@demo.vn", role="admin", name="Quản trị")
    head = Staff(email="head@demo.vn", role="head", unit_id=units["ctdt"].id, name="Trưởng phòng")
    session.add_all([admin, head])
    city.put(session, "quiet_hours", [])
    session.commit()
    return {"reporter": reporter, "admin": Actor.staff(admin), "me": Actor.resident(reporter.id), "units": units,
            "admin_row": admin}


def _new(session: Any, w: dict[str, Any], text: str) -> Any:
    return intake.create_report(session, channel="app", actor=w["me"], category_code="duong-hu-hong",
                                description=text, lat=9.603, lon=105.975, resident_id=w["reporter"].id)


def _every_kind(session: Any, w: dict[str, Any]) -> list[Any]:
    """Events of every notification template: received, routed, new_in_queue, acknowledged, reply,
    comment, resolved, reopened, breach, rejected, not_competent, duplicate."""
    act = lambda r, action, who=None, **f: workflow.apply(session, r, action, actor=who or w["admin"],  # noqa: E731
                                                        expected_version=r.version, **f)
    main = _new(session, w, "Ổ gà sâu trước trường học")
    act(main, "transfer", unit_id=w["units"]["ctdt"].id, reason="Đường do Công trình đô thị quản lý.")
    act(main, "acknowledge")
    act(main, "reply", text="Đơn vị sẽ cử người kiểm tra trong ngày.")
    workflow.apply(session, main, "comment", actor=w["me"], text="Ổ gà ngày càng rộng hơn.")
    events.record(session, main, "sla_breached", actor=Actor.system(), data={"clock": "resolve"})
    after = Photo(staff_id=w["admin_row"].id, role="after", state="ready", public_key="after.webp")
    session.add(after)
    session.flush()
    act(main, "resolve", reply="Đã vá ổ gà bằng bê tông nhựa.", after_photo_ids=[after.id])
    workflow.apply(session, main, "reopen", actor=w["me"], reason="Mặt đường lại bị lún.")
    rejected = _new(session, w, "Phản ánh thử nghiệm")
    act(rejected, "reject", reason="Nội dung không phải phản ánh hiện trường.")
    elsewhere = _new(session, w, "Tranh chấp đất đai giữa hai hộ")
    act(elsewhere, "not_competent", reason="Tranh chấp dân sự.", guidance="Liên hệ Tòa án nhân dân.")
    same = _new(session, w, "Ổ gà trước trường học, lặp lại")
    act(same, "mark_duplicate", of_code=main.code)
    session.commit()
    return [main, rejected, elsewhere, same]


def _follow(web: Any, settings: Any, url: str, code: str) -> str:
    assert url.startswith(settings.base_url), url
    page = web.get(url[len(settings.base_url):])
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and code in html, (url, page.status_code)
    return html


def test_every_notification_kind_links_to_a_working_report_page(session, demo_city, runner, run_jobs, web, settings,
                                                                fake_google, smtp):
    w = _world(session)
    reports = _every_kind(session, w)
    run_jobs()
    rows = session.exec(select(Delivery)).all()
    assert {d.template for d in rows} == set(TEXTS)  # every kind the system has was sent
    codes = {r.id: r.code for r in reports}
    for d in rows:
        links = LINK.findall(d.body)
        assert links, (d.template, d.channel, d.body)
        html = _follow(web, settings, links[-1], codes[d.report_id])
        is_reporter = d.recipient_kind == "resident" and d.recipient_id == w["reporter"].id
        assert ("?t=" in links[-1]) == is_reporter, (d.template, d.recipient_kind)
        assert ("Dành cho người phản ánh" in html) == is_reporter, (d.template, d.recipient_kind)
    pushed = fake_google.sent_messages()
    assert pushed and all(LINK.search(m["notification"]["body"]) for m in pushed)
    for m in pushed:
        _follow(web, settings, LINK.findall(m["notification"]["body"])[-1], m["data"]["code"])
        assert m["data"]["link"] == LINK.findall(m["notification"]["body"])[-1]
    mailed = smtp.texts()
    assert {d.template for d in rows if d.channel == "email"} == {"new_in_queue", "comment", "reopened", "breach"}
    assert len(mailed) == sum(1 for d in rows if d.channel == "email")
    for text in mailed:
        url = LINK.findall(text)[-1]
        _follow(web, settings, url, url.rsplit("/r/", 1)[1][:9])
        assert "?t=" not in url  # staff and units get the public page, never a reporter's token
