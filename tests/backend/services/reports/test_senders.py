"""A report's Open311 sender in the workflow (``sender`` actor class), replies said with a state change,
the sender's own id of a report (``once_per_sender``) and the state a report had after each event."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlmodel import select

from backend.errors import Conflict, Forbidden, InvalidInput
from backend.models import ApiClient, Report, ReportEvent, State
from backend.services.events import Actor
from backend.services.reports import idempotency, intake, lookup, page, workflow

from fixtures.wf_city import INSIDE, T0, City, city_fixture  # noqa: F401


@pytest.fixture
def sender(city: City) -> ApiClient:
    client = ApiClient(name="FixMyStreet", key_prefix="pa_test", key_hash="h-sender")
    city.session.add(client)
    city.session.flush()
    return client


def _sent(city: City, sender: ApiClient) -> Report:
    report = intake.create_report(city.session, channel="open311", actor=Actor.api_client(sender),
                                  category_code="pothole", description="Ổ gà", lat=INSIDE[0], lon=INSIDE[1],
                                  resident_id=city.residents[0].id, at=T0)
    report.api_client_id = sender.id
    city.session.flush()
    return report


def _apply(city: City, report: Report, action: str, actor: Actor, **fields):
    version = report.version if actor.kind in ("staff", "api_client") else None
    return workflow.apply(city.session, report, action, actor=actor, expected_version=version,
                          at=T0 + timedelta(hours=1), **fields)


def test_a_senders_residents_comment_in_any_state(city, sender):
    report = _sent(city, sender)
    neighbour = Actor.sender(sender, city.residents[1].id)
    event = _apply(city, report, "sender_comment", neighbour, text="Tôi cũng thấy ổ gà này.")
    assert (event.kind, event.actor_kind, event.actor_id, event.is_public) == (
        "resident_comment", "resident", str(city.residents[1].id), True)
    assert (event.data["via_api_client_id"], event.data["via"]) == (sender.id, "FixMyStreet")
    assert report.flags["comment_waiting"] is True
    _apply(city, report, "reject", city.actor("officer"), reason="Đã có phản ánh khác.")
    closed = _apply(city, report, "sender_comment", neighbour, text="Cảm ơn.")
    assert closed.kind == "resident_comment" and report.status == State.REJECTED
    _apply(city, report, "sender_comment", Actor.sender(sender, city.residents[0].id), text="Đồng ý.")
    actors = [item.actor for item in page.timeline(city.session, report) if item.event.kind == "resident_comment"]
    assert actors == ["Người dân (qua FixMyStreet)"] * 2 + ["Người phản ánh (qua FixMyStreet)"]


def test_only_the_reports_sender_speaks_through_it(city, sender):
    report = _sent(city, sender)
    other = ApiClient(name="Khác", key_prefix="pa_other", key_hash="h-other")
    city.session.add(other)
    city.session.flush()
    for actor in (Actor.sender(other, city.residents[0].id), Actor.resident(city.residents[1].id)):
        with pytest.raises(Forbidden):
            _apply(city, report, "sender_comment", actor, text="Không được.")
    with pytest.raises(Forbidden):  # a sender's neighbour is no reporter: no app-style comment or reopening
        _apply(city, report, "comment", Actor.sender(sender, city.residents[1].id), text="x")


def test_the_reporter_through_the_sender_reopens_like_the_reporter(city, sender):
    report = _sent(city, sender)
    after = [city.photo(staff="officer")]
    _apply(city, report, "resolve", city.actor("officer"), reply="Đã vá.", after_photo_ids=after)
    with pytest.raises(Forbidden):
        _apply(city, report, "reopen", Actor.sender(sender, city.residents[1].id), reason="Chưa vá.")
    event = _apply(city, report, "reopen", Actor.sender(sender, city.residents[0].id), reason="Vẫn còn ổ gà.")
    assert (event.kind, report.status, event.data["via_api_client_id"]) == ("reopened", State.REOPENED, sender.id)


def test_a_state_change_keeps_the_reply_said_with_it(city):
    report = intake.create_report(city.session, channel="app", actor=city.resident(0), category_code="pothole",
                                  description="Ổ gà", lat=INSIDE[0], lon=INSIDE[1], at=T0)
    officer = city.actor("officer")
    ack = _apply(city, report, "acknowledge", officer, reply="Đơn vị đã nhận, sẽ kiểm tra trong ngày.")
    assert ack.data["reply"] == "Đơn vị đã nhận, sẽ kiểm tra trong ngày."
    start = _apply(city, report, "start", officer, reply="   ")
    assert "reply" not in start.data, "blank words are no reply"
    _apply(city, report, "hold", officer, reason="Chờ cắt điện.")
    resume = _apply(city, report, "resume", officer, reply="Đã có lịch cắt điện, đang thi công.")
    assert resume.data["reply"] == "Đã có lịch cắt điện, đang thi công."
    with pytest.raises(InvalidInput):
        _apply(city, report, "reply", officer, text="x" * 4001)
    original = intake.create_report(city.session, channel="app", actor=city.resident(1), category_code="pothole",
                                    description="Ổ gà cũ", lat=INSIDE[0], lon=INSIDE[1], at=T0)
    dup = _apply(city, report, "mark_duplicate", officer, of_code=original.code, reply="Gộp với phản ánh trước.")
    assert (dup.data["of_code"], dup.data["reply"]) == (original.code, "Gộp với phản ánh trước.")
    assert lookup.public_text(dup) == "Gộp với phản ánh trước."


def test_states_after_each_event(city):
    report = intake.create_report(city.session, channel="app", actor=city.resident(0), category_code="pothole",
                                  description="Ổ gà", lat=INSIDE[0], lon=INSIDE[1], at=T0)
    officer = city.actor("officer")
    reply = _apply(city, report, "reply", officer, text="Đã nhận.")
    ack = workflow.apply(city.session, report, "acknowledge", actor=officer, expected_version=report.version,
                         at=T0 + timedelta(hours=2))
    late = workflow.apply(city.session, report, "reply", actor=officer, expected_version=report.version,
                          text="Sắp xử lý.", at=T0 + timedelta(hours=3))
    states = lookup.states_after(city.session, [reply, ack, late])
    assert states == {reply.id: State.ASSIGNED, ack.id: State.ACKNOWLEDGED, late.id: State.ACKNOWLEDGED}
    assert lookup.states_after(city.session, []) == {}


def _count(city: City) -> int:
    return city.session.exec(select(func.count()).select_from(Report)).one()


def test_once_per_sender(city, sender):
    def create() -> Report:
        return intake.create_report(city.session, channel="open311", actor=Actor.api_client(sender),
                                    category_code="pothole", description="Ổ gà", lat=INSIDE[0], lon=INSIDE[1])

    first = idempotency.once_per_sender(city.session, api_client_id=sender.id, sender_ref="fms-1", create=create)
    again = idempotency.once_per_sender(city.session, api_client_id=sender.id, sender_ref="fms-1", create=create)
    assert again.id == first.id and (first.api_client_id, first.sender_ref) == (sender.id, "fms-1")
    before = _count(city)
    unsigned = [idempotency.once_per_sender(city.session, api_client_id=sender.id, sender_ref=None, create=create)
                for _ in range(2)]
    assert unsigned[0].id != unsigned[1].id and _count(city) == before + 2
    with pytest.raises(InvalidInput):
        idempotency.once_per_sender(city.session, api_client_id=sender.id, sender_ref="x" * 129, create=create)

    def failing() -> Report:
        create()
        raise Conflict("thử", code="boom")

    before = _count(city)
    with pytest.raises(Conflict):
        idempotency.once_per_sender(city.session, api_client_id=sender.id, sender_ref="fms-2", create=failing)
    assert _count(city) == before, "a failed creation leaves nothing"


def test_once_per_sender_under_concurrent_repeats(live_db, demo_city_live):
    """Two workers get the same signed POST at once: one report, both answers name it."""
    if live_db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite transactions take the write lock at BEGIN: writers never interleave")
    client_id = demo_city_live
    barrier, found, errors = threading.Barrier(2), [], []

    def worker() -> None:
        try:
            with live_db.session_scope() as s:
                def create() -> Report:
                    report = intake.create_report(s, channel="open311", actor=Actor.system("test"),
                                                  category_code="rac-thai", description="Rác",
                                                  lat=9.6031, lon=105.9739)
                    barrier.wait(timeout=10)
                    return report

                found.append(idempotency.once_per_sender(s, api_client_id=client_id, sender_ref="same",
                                                         create=create).code)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and len(found) == 2 and found[0] == found[1]
    with live_db.session() as s:
        assert s.exec(select(func.count()).select_from(Report).where(Report.sender_ref == "same")).one() == 1
        assert s.exec(select(func.count()).select_from(ReportEvent)).one() > 0


@pytest.fixture
def demo_city_live(live_db) -> int:
    from backend.services.city import clients, loading

    with live_db.session_scope() as s:
        loading.load_demo(session=s)
        client, _key = clients.create_client(s, name="FixMyStreet")
        return client.id  # type: ignore[return-value]
