"""One visibility rule, every channel (issue 21, finding 5): what staff write as a hold reason, an internal
note or the internal reason of "not competent" never reaches residents; replies, the reason of a
rejection and the not-competent guidance reach every channel alike.

Staff act on two reports made through the mobile API; then each channel renders them as a resident or a
third party would read them: the reporter's view in the mobile API (timeline), the public view, Open311
``requests`` (``status_notes``) and ``servicerequestupdates``, the reporter's notifications (feed and
push), and the staff form that says who will read each field.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import select

from backend.models import Delivery, Report, Staff
from backend.services.events import Actor
from backend.services.reports import workflow

HIDDEN = {"hold": "LYDO-TAMDUNG-NOIBO", "note": "GHICHU-NOIBO", "nc_reason": "LYDO-THAMQUYEN-NOIBO"}
SHOWN = {"reply": "TRALOI-CONGKHAI", "guidance": "HUONGDAN-CONGKHAI", "reject": "LYDO-TUCHOI-CONGKHAI"}


def _act(session: Any, code: str, action: str, staff: Staff, **fields: Any) -> None:
    report = session.exec(select(Report).where(Report.code == code)).one()
    workflow.apply(session, report, action, actor=Actor.staff(staff), expected_version=report.version, **fields)
    session.flush()


def _blob(resp: Any) -> str:
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    return json.dumps(resp.get_json(), ensure_ascii=False)


def test_every_channel_shows_the_same_texts(client, auth, new_report, session, run_jobs, app):
    first = new_report().get_json()["code"]
    second = new_report(description="Rác đổ sai nơi quy định").get_json()["code"]
    ioc = Staff(email="dieuphoi-vis@demo.vn", role="dispatcher", unit_id=None, name="Điều phối")
    session.add(ioc)
    session.flush()
    _act(session, first, "acknowledge", ioc)
    _act(session, first, "hold", ioc, reason=f"Chờ điện lực {HIDDEN['hold']}")
    _act(session, first, "resume", ioc)
    _act(session, first, "reply", ioc, text=f"Đã cử tổ khảo sát {SHOWN['reply']}")
    _act(session, first, "note", ioc, text=f"Gọi anh Tư {HIDDEN['note']}")
    _act(session, first, "not_competent", ioc, reason=f"Đường tỉnh {HIDDEN['nc_reason']}",
         guidance=f"Liên hệ Sở GTVT {SHOWN['guidance']}")
    _act(session, second, "reject", ioc, reason=f"Ảnh không rõ {SHOWN['reject']}")
    session.commit()  # as the request wrapper does: the notify jobs leave through the outbox
    run_jobs()  # notifications of every event

    channels = {
        "mobile API, reporter": _blob(client.get(f"/api/v1/reports/{first}", headers=auth()))
        + _blob(client.get(f"/api/v1/reports/{second}", headers=auth())),
        "mobile API, public": _blob(client.get(f"/api/v1/reports/{first}"))
        + _blob(client.get(f"/api/v1/reports/{second}")),
        "Open311 requests": _blob(client.get(f"/open311/v2/requests/{first}.json"))
        + _blob(client.get(f"/open311/v2/requests/{second}.json")),
        "Open311 updates": _blob(client.get("/open311/v2/servicerequestupdates.json")),
        "notifications feed": _blob(client.get("/api/v1/me/notifications", headers=auth())),
        "notifications (all deliveries)": " ".join(d.title + " " + d.body for d in session.exec(select(Delivery))),
    }
    for channel, text in channels.items():
        for what, mark in HIDDEN.items():
            assert mark not in text, f"{channel} shows the staff-only {what}"
    for channel in ("mobile API, reporter", "Open311 updates", "notifications feed",
                    "notifications (all deliveries)"):
        for what, mark in SHOWN.items():
            assert mark in channels[channel], f"{channel} does not show the public {what}"
    # status_notes: the latest public text of each request
    assert SHOWN["guidance"] in channels["Open311 requests"] and SHOWN["reject"] in channels["Open311 requests"]


def test_the_staff_form_says_who_will_read_each_field():
    from backend.services.reports import is_public_field

    assert {(a, f): is_public_field(a, f) for a, f in [
        ("reply", "text"), ("resolve", "reply"), ("reject", "reason"), ("not_competent", "guidance"),
        ("hold", "reason"), ("note", "text"), ("not_competent", "reason"), ("transfer", "reason"),
        ("extend", "reason"), ("close", "reason")]} == {
        ("reply", "text"): True, ("resolve", "reply"): True, ("reject", "reason"): True,
        ("not_competent", "guidance"): True, ("hold", "reason"): False, ("note", "text"): False,
        ("not_competent", "reason"): False, ("transfer", "reason"): False, ("extend", "reason"): False,
        ("close", "reason"): False}
