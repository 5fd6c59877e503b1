"""Workflow: each action, authorisation (role × unit × ownership), optimistic locking, refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text as sql
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from backend.errors import Conflict, Forbidden, InvalidInput, NotFound
from backend.models import Follower, Photo, Report, ReportEvent, State
from backend.services.events import Actor
from backend.services.reports import intake, workflow
from backend.services.reports import lookup as reports
from backend.services.reports.page import describe
from backend.services.reports.transitions import TRANSITIONS

from fixtures.wf_city import INSIDE, INSIDE_NO_AREA, T0, City, city_fixture, counts  # noqa: F401


def new(city: City, category: str | None = "pothole", *, resident: int = 0, where=INSIDE) -> Report:
    return intake.create_report(city.session, channel="app", actor=city.resident(resident), category_code=category,
                                description="Đèn đường hỏng", lat=where[0], lon=where[1], at=T0)


def act(city: City, report: Report, action: str, who: str | Actor = "officer", *, at=None, **fields):
    actor = city.actor(who) if isinstance(who, str) else who
    version = report.version if actor.kind in ("staff", "api_client") else None
    return workflow.apply(city.session, report, action, actor=actor, expected_version=version,
                          at=at or T0 + timedelta(hours=1), **fields)


def resolved(city: City) -> Report:
    report = new(city)
    act(city, report, "acknowledge")
    act(city, report, "resolve", reply="Đã vá ổ gà.", after_photo_ids=[city.photo(staff="officer")])
    return report


def test_table_has_every_action_of_the_contract() -> None:
    assert set(TRANSITIONS) == {
        "route", "acknowledge", "assign", "transfer", "start", "hold", "resume", "extend", "reply", "note",
        "change_category", "change_priority", "mark_duplicate", "reject", "not_competent", "resolve",
        "reopen", "close", "comment", "sender_comment", "rate", "relocate",
        "edit_text", "hide", "unhide"}


def test_acknowledge_start_resolve_close(session, city: City) -> None:
    report = new(city)
    event = act(city, report, "acknowledge")
    assert (event.kind, event.from_state, event.to_state) == ("status_changed", "assigned", "acknowledged")
    assert report.status == State.ACKNOWLEDGED and report.version == 2
    assert report.acknowledged_at == T0 + timedelta(hours=1)
    act(city, report, "start")
    assert report.status == State.IN_PROGRESS and report.version == 3
    photo = city.photo(staff="officer")
    event = act(city, report, "resolve", reply="Đã vá xong ổ gà.", after_photo_ids=[photo])
    assert report.status == State.RESOLVED and report.resolved_at is not None
    assert report.public_reply == "Đã vá xong ổ gà." and event.data["after_photo_ids"] == [photo]
    assert session.get(Photo, photo).role == "after" and session.get(Photo, photo).report_id == report.id
    act(city, report, "close", "head")
    assert report.status == State.CLOSED and report.closed_at is not None


def test_version_is_checked_in_the_database(session, city: City) -> None:
    report = new(city)
    # another process bumped the version behind this session's back
    session.exec(Report.__table__.update().where(Report.id == report.id).values(version=5))
    before = counts(session)
    with pytest.raises(Conflict) as info:
        workflow.apply(session, report, "acknowledge", actor=city.actor("officer"), expected_version=1)
    assert info.value.code == "version-conflict"
    assert counts(session) == before


def test_resident_action_is_retried_after_a_concurrent_change(session, city: City) -> None:
    report = new(city)
    session.exec(Report.__table__.update().where(Report.id == report.id).values(version=5))
    event = workflow.apply(session, report, "comment", actor=city.resident(), text="Vẫn còn ổ gà")
    assert event.kind == "resident_comment"
    assert report.version == 6


def test_second_staff_with_stale_version_gets_conflict(session, city: City) -> None:
    report = new(city)
    seen = report.version
    workflow.apply(session, report, "acknowledge", actor=city.actor("officer"), expected_version=seen)
    with pytest.raises(Conflict) as info:
        workflow.apply(session, report, "reject", actor=city.actor("head"), expected_version=seen,
                       reason="Không đúng sự thật")
    assert info.value.code == "version-conflict"
    assert report.status == State.ACKNOWLEDGED


def test_staff_must_send_the_version(city: City) -> None:
    report = new(city)
    with pytest.raises(InvalidInput) as info:
        workflow.apply(city.session, report, "acknowledge", actor=city.actor("officer"))
    assert info.value.code == "version-required"


@pytest.mark.parametrize(("who", "allowed"), [
    ("officer", True), ("head", True), ("admin", True), ("disp", True),
    ("ward", False), ("viewer", False), ("ioc_officer", False),
])
def test_role_and_unit_are_checked_in_the_service(city: City, who: str, allowed: bool) -> None:
    report = new(city)  # in the roads unit
    if allowed:
        act(city, report, "acknowledge", who)
        assert report.status == State.ACKNOWLEDGED
    else:
        with pytest.raises(Forbidden):
            act(city, report, "acknowledge", who)
        assert report.status == State.ASSIGNED and report.version == 1


def test_bot_and_other_residents_cannot_act(city: City) -> None:
    report = resolved(city)
    for actor in (Actor.bot("zalo"), city.resident(1), Actor.resident(None)):
        with pytest.raises(Forbidden):
            workflow.apply(city.session, report, "rate", actor=actor, rating=5)
    assert workflow.allowed_actions(report, Actor.bot("zalo")) == []


def test_residents_only_comment_rate_reopen(city: City) -> None:
    report = new(city)
    assert workflow.allowed_actions(report, city.resident()) == ["comment"]
    with pytest.raises(Forbidden):
        workflow.apply(city.session, report, "acknowledge", actor=city.resident())


def test_api_client_acts_like_an_officer_of_its_unit(city: City) -> None:
    report = new(city)
    client = Actor(kind="api_client", id="7", unit_id=city.units["roads"].id, name="roads-system")
    act(city, report, "start", client)
    assert report.status == State.IN_PROGRESS
    other = Actor(kind="api_client", id="8", unit_id=city.units["ward"].id, name="ward-system")
    with pytest.raises(Forbidden):
        act(city, report, "hold", other, reason="x")


def test_allowed_actions_follow_state_and_role(city: City) -> None:
    report = new(city)
    officer = workflow.allowed_actions(report, city.actor("officer"))
    assert "acknowledge" in officer and "extend" not in officer and "rate" not in officer
    assert "extend" in workflow.allowed_actions(report, city.actor("head"))
    assert workflow.allowed_actions(report, city.actor("viewer")) == []
    assert workflow.allowed_actions(report, city.actor("ward")) == []


def test_route_from_triage_by_dispatcher(session, city: City) -> None:
    report = new(city, category="lamp", where=INSIDE_NO_AREA)
    assert report.status == State.TRIAGE
    assert "route" in workflow.allowed_actions(report, city.actor("disp"))
    assert "route" in workflow.allowed_actions(report, city.actor("ioc_officer"))
    triage_due = report.resolve_due_at
    event = act(city, report, "route", "disp", unit_id=city.units["ward"].id, priority="urgent")
    assert (event.kind, event.to_state, event.to_unit_id) == ("routed", "assigned", city.units["ward"].id)
    assert report.status == State.ASSIGNED and report.unit_id == city.units["ward"].id
    assert report.priority == "urgent"
    assert report.resolve_due_at < triage_due  # the clock started in triage is rescheduled to urgent


def test_route_to_triage_again_is_refused(city: City) -> None:
    report = new(city, category=None)
    with pytest.raises(InvalidInput) as info:
        act(city, report, "route", "disp")
    assert info.value.code == "unit-required"


def test_route_by_rules_after_category_change(city: City) -> None:
    report = new(city, category=None)
    act(city, report, "change_category", "disp", category_code="lamp")
    act(city, report, "route", "disp")
    assert report.unit_id == city.units["ward"].id and report.status == State.ASSIGNED


def test_transfer_needs_reason_and_moves_the_queue(session, city: City) -> None:
    report = new(city)
    act(city, report, "assign", assignee_id=city.staff["officer"].id)
    act(city, report, "start")
    with pytest.raises(InvalidInput) as info:
        act(city, report, "transfer", unit_id=city.units["water"].id, reason="  ")
    assert info.value.code == "reason-required"
    old_ack = report.ack_due_at
    event = act(city, report, "transfer", unit_id=city.units["water"].id, reason="Vỡ ống nước, không phải mặt đường",
                at=T0 + timedelta(hours=3))
    assert (event.kind, event.from_unit_id, event.to_unit_id) == (
        "transferred", city.units["roads"].id, city.units["water"].id)
    assert report.status == State.ASSIGNED and report.unit_id == city.units["water"].id
    assert report.assignee_id is None
    assert report.ack_due_at > old_ack
    with pytest.raises(Forbidden):
        act(city, report, "note", text="x")  # roads officer lost it


def test_transfer_to_ioc_goes_back_to_triage(city: City) -> None:
    report = new(city)
    act(city, report, "transfer", unit_id=city.units["ioc"].id, reason="Không rõ đơn vị")
    assert report.status == State.TRIAGE


def test_transfer_refuses_same_or_unknown_unit(city: City) -> None:
    report = new(city)
    for unit_id, code in ((city.units["roads"].id, "same-unit"), (9999, "unknown-unit"), ("x", "unknown-unit"),
                          (2**70, "unknown-unit"), (-1, "unknown-unit"), (True, "unknown-unit")):
        with pytest.raises(InvalidInput) as info:
            act(city, report, "transfer", unit_id=unit_id, reason="r")
        assert info.value.code == code
    assert report.version == 1


def test_assign_only_to_staff_of_the_unit(city: City) -> None:
    report = new(city)
    for bad in (city.staff["ward"].id, city.staff["viewer"].id, 2**70, "1"):
        with pytest.raises(InvalidInput) as info:
            act(city, report, "assign", assignee_id=bad)
        assert info.value.code == "invalid-assignee"
    event = act(city, report, "assign", assignee_id=city.staff["officer"].id)
    assert event.kind == "assigned" and report.assignee_id == city.staff["officer"].id
    assert event.is_public is False


def test_working_on_a_colleagues_report_takes_it_over_with_an_event(session, city: City) -> None:
    report = new(city)
    act(city, report, "assign", "head", assignee_id=city.staff["officer"].id)
    act(city, report, "acknowledge")  # the assignee acting: no new assignment

    def assigned() -> list[ReportEvent]:
        return list(session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id,
                                                           ReportEvent.kind == "assigned").order_by(ReportEvent.id)))

    assert len(assigned()) == 1
    act(city, report, "start", "head")  # a colleague of the unit works on it: they take it over
    assert report.assignee_id == city.staff["head"].id
    takeover = assigned()[-1]
    assert takeover.actor_id == str(city.staff["head"].id) and takeover.is_public is False
    assert takeover.data["from_assignee_id"] == city.staff["officer"].id
    assert takeover.data["from_assignee_name"] == city.staff["officer"].name
    assert describe(takeover) == f"Nhận xử lý thay {city.staff['officer'].name}"
    act(city, report, "hold", "disp", reason="Chờ phối hợp")  # the IOC acts for the unit: no takeover
    assert report.assignee_id == city.staff["head"].id and len(assigned()) == 2
    with pytest.raises(Forbidden):  # a viewer of the unit never acts, so never takes over
        act(city, report, "resume", "viewer")
    assert report.assignee_id == city.staff["head"].id


def test_hold_resume_pause_the_clock(session, city: City) -> None:
    report = new(city)
    act(city, report, "start")
    with pytest.raises(InvalidInput):
        act(city, report, "hold")
    act(city, report, "hold", reason="Chờ phối hợp điện lực")
    assert report.status == State.ON_HOLD and report.sla_paused_at is not None
    due = report.resolve_due_at
    act(city, report, "resume", at=T0 + timedelta(days=1))
    assert report.status == State.IN_PROGRESS and report.sla_paused_at is None
    assert report.resolve_due_at > due
    assert {"sla_paused", "sla_resumed"} <= {e.kind for e in session.exec(select(ReportEvent)).all()}


def test_extend_by_head_only(city: City) -> None:
    report = new(city)
    with pytest.raises(Forbidden):
        act(city, report, "extend", budget="2d", reason="Cần thêm vật tư")
    due = report.resolve_due_at
    event = act(city, report, "extend", "head", budget="2d", reason="Cần thêm vật tư")
    assert event.kind == "sla_extended" and report.resolve_due_at > due and report.version == 2
    with pytest.raises(InvalidInput):
        act(city, report, "extend", "head", budget="forever", reason="x")
    with pytest.raises(Conflict) as info:
        act(city, report, "extend", "head", budget="2d", reason="x", at=T0 + timedelta(days=60))
    assert info.value.code == "already-overdue"
    assert report.version == 2


def test_reply_and_note_clear_the_comment_flag(session, city: City) -> None:
    report = new(city)
    act(city, report, "comment", city.resident(), text="Ổ gà ngày càng to hơn")
    assert report.flags.get("comment_waiting") is True
    event = act(city, report, "note", text="Đã báo đội thi công")
    assert event.is_public is False and "comment_waiting" not in report.flags
    act(city, report, "comment", city.resident(), text="Còn nữa", photo_ids=[city.photo()])
    event = act(city, report, "reply", text="Cảm ơn ông/bà, đơn vị đang xử lý.")
    assert event.is_public is True and "comment_waiting" not in report.flags


def test_comment_text_is_required_and_bounded(city: City) -> None:
    report = new(city)
    for text, code in (("", "text-required"), (None, "text-required"), ("x" * 4001, "text-too-long"),
                       ("a\x00b", "text-invalid"), (42, "text-required")):
        with pytest.raises(InvalidInput) as info:
            act(city, report, "comment", city.resident(), text=text)
        assert info.value.code == code
    with pytest.raises(Forbidden) as info:
        act(city, report, "comment", city.resident(), text="ok", photo_ids=[city.photo(resident=1)])
    assert info.value.code == "foreign-photo"
    photo = city.photo()
    event = act(city, report, "comment", city.resident(), photo_ids=[photo])
    assert event.data["photo_ids"] == [photo] and event.data["text"] is None
    for ids in ([2**70], "1", [None]):
        with pytest.raises(InvalidInput) as info:
            act(city, report, "comment", city.resident(), text="ok", photo_ids=ids)
        assert info.value.code == "invalid-photo-ids"
    assert report.version == 2


def test_change_category_and_priority(city: City) -> None:
    report = new(city)
    event = act(city, report, "change_category", category_code="trash")
    assert event.data == {"action": "change_category", "from_category": "pothole", "to_category": "trash",
                          "actor_name": "Officer"}
    assert "rac thai" in report.search_text
    for code, err in (("fire", "emergency-category"), ("old", "unknown-category"), ("trash", "unchanged"),
                      ("tr\x00ash", "unknown-category"), (None, "unknown-category"), (["trash"], "unknown-category")):
        with pytest.raises(InvalidInput) as info:
            act(city, report, "change_category", category_code=code)
        assert info.value.code == err
    act(city, report, "change_priority", priority="complex")
    assert report.priority == "complex"
    with pytest.raises(InvalidInput):
        act(city, report, "change_priority", priority="whenever")


def test_mark_duplicate_links_and_the_resident_follows(session, city: City) -> None:
    original = new(city, resident=1)
    report = new(city)
    with pytest.raises(NotFound):
        act(city, report, "mark_duplicate", of_code="PA-ZZZZZZ")
    with pytest.raises(InvalidInput):
        act(city, report, "mark_duplicate", of_code=report.code)
    event = act(city, report, "mark_duplicate", of_code=original.code.lower().replace("-", " "))
    assert event.kind == "duplicate_linked" and event.to_state == "duplicate"
    assert report.status == State.DUPLICATE and report.duplicate_of_id == original.id
    assert report.closed_at is not None
    assert session.exec(select(Follower).where(Follower.report_id == original.id,
                                               Follower.resident_id == city.residents[0].id)).one()
    # a duplicate of a duplicate points at the original
    third = new(city)
    act(city, third, "mark_duplicate", of_code=report.code)
    assert third.duplicate_of_id == original.id


def test_reject_and_not_competent_need_reasons(city: City) -> None:
    report = new(city)
    with pytest.raises(InvalidInput):
        act(city, report, "not_competent", reason="Đất quốc phòng", guidance="")
    act(city, report, "not_competent", reason="Đất quốc phòng",
        guidance="Đề nghị liên hệ Bộ Chỉ huy quân sự thành phố.")
    assert report.status == State.NOT_COMPETENT and report.closed_at is not None
    assert report.public_reply.startswith("Đề nghị")
    other = new(city)
    act(city, other, "reject", reason="Hình ảnh không liên quan")
    assert other.status == State.REJECTED and other.closure_reason == "Hình ảnh không liên quan"


def test_resolve_requires_reply_and_after_photo_when_category_says_so(city: City) -> None:
    report = new(city)  # pothole requires an after photo
    with pytest.raises(InvalidInput) as info:
        act(city, report, "resolve", reply="Đã xong")
    assert info.value.code == "after-photo-required"
    with pytest.raises(InvalidInput) as info:
        act(city, report, "resolve", reply=" ", after_photo_ids=[city.photo(staff="officer")])
    assert info.value.code == "reply-required"
    with pytest.raises(Forbidden):
        act(city, report, "resolve", reply="Đã xong", after_photo_ids=[city.photo(staff="head")])
    assert report.status == State.ASSIGNED and report.version == 1
    lamp = new(city, category="lamp")
    act(city, lamp, "resolve", "ward", reply="Đã thay bóng đèn.")
    assert lamp.status == State.RESOLVED


def test_rate_closes_and_reopen_window(session, city: City) -> None:
    report = resolved(city)
    with pytest.raises(InvalidInput):
        act(city, report, "rate", city.resident(), rating=6)
    with pytest.raises(InvalidInput):
        act(city, report, "rate", city.resident(), rating=True)
    event = act(city, report, "rate", city.resident(), rating=2, text="Vá chưa kỹ")
    assert event.kind == "rated" and event.to_state == "closed"
    assert report.status == State.CLOSED and report.rating == 2 and report.closed_at is not None
    # the reporter may reopen within the window, with a reason
    event = act(city, report, "reopen", city.resident(), reason="Ổ gà lại xuất hiện", at=T0 + timedelta(days=2))
    assert event.kind == "reopened" and report.status == State.REOPENED
    assert report.reopen_count == 1 and report.closed_at is None and report.resolved_at is None
    assert report.rating is None
    assert report.resolve_due_at > T0 + timedelta(days=2)


def test_reporter_cannot_reopen_after_the_window(city: City) -> None:
    report = resolved(city)
    me = city.resident()
    assert "reopen" in workflow.allowed_actions(report, me, session=city.session, at=T0 + timedelta(days=3))
    assert "reopen" not in workflow.allowed_actions(report, me, session=city.session, at=T0 + timedelta(days=30))
    assert workflow.reopen_deadline(city.session, report) == report.resolved_at + timedelta(days=7)
    with pytest.raises(Conflict) as info:
        act(city, report, "reopen", city.resident(), reason="Vẫn còn", at=T0 + timedelta(days=30))
    assert info.value.code == "reopen-window-passed"
    act(city, report, "reopen", "disp", reason="Kiểm tra lại", at=T0 + timedelta(days=30))
    assert report.status == State.REOPENED


def test_reporter_cannot_reopen_a_rejection(city: City) -> None:
    report = new(city)
    act(city, report, "reject", reason="Sai sự thật")
    assert "reopen" not in workflow.allowed_actions(report, city.resident())
    with pytest.raises(Forbidden):
        act(city, report, "reopen", city.resident(), reason="Có thật mà")
    act(city, report, "reopen", "head", reason="Xem xét lại")
    assert report.status == State.REOPENED and report.closure_reason is None


def test_system_closes_only_after_the_delay(city: City) -> None:
    report = resolved(city)
    system = Actor.system()
    assert workflow.allowed_actions(report, system, session=city.session, at=T0 + timedelta(days=1)) == []
    assert workflow.allowed_actions(report, system, session=city.session, at=T0 + timedelta(days=8)) == ["close"]
    with pytest.raises(Conflict) as info:
        act(city, report, "close", Actor.system(), at=T0 + timedelta(days=1))
    assert info.value.code == "too-early"
    event = act(city, report, "close", Actor.system(), at=T0 + timedelta(days=8))
    assert event.data["automatic"] is True and report.status == State.CLOSED


def test_disallowed_transition_is_a_conflict(city: City) -> None:
    report = new(city)
    with pytest.raises(Conflict) as info:
        act(city, report, "resume")
    assert info.value.code == "invalid-transition"
    with pytest.raises(Conflict):
        act(city, report, "rate", city.resident(), rating=5)


def test_unknown_action_and_field(city: City) -> None:
    report = new(city)
    with pytest.raises(InvalidInput) as info:
        act(city, report, "explode")
    assert info.value.code == "unknown-action"
    with pytest.raises(InvalidInput) as info:
        act(city, report, "acknowledge", status="closed")
    assert info.value.code == "unknown-field"
    with pytest.raises(InvalidInput) as info:
        workflow.apply(city.session, report, "transfer", actor=city.actor("officer"), expected_version=1)
    assert info.value.code == "missing-field" and "đơn vị xử lý, lý do" in info.value.message
    with pytest.raises(InvalidInput) as info:
        workflow.apply(city.session, report, "reject", actor=city.actor("officer"), expected_version=1)
    assert info.value.code == "reason-required"


def _fail_inserts_of(session, kind: str) -> None:
    """A real database failure (a trigger) on inserting events of ``kind``; rolled back with the test."""
    if session.get_bind().dialect.name == "sqlite":
        session.exec(sql(f"CREATE TEMP TRIGGER fail_{kind} BEFORE INSERT ON report_events "
                          f"WHEN NEW.kind = '{kind}' BEGIN SELECT RAISE(ABORT, 'injected failure'); END"))
    else:
        session.exec(sql("CREATE FUNCTION fail_event() RETURNS trigger LANGUAGE plpgsql AS $$ "
                          "BEGIN RAISE EXCEPTION 'injected failure'; END $$"))
        session.exec(sql(f"CREATE TRIGGER fail_{kind} BEFORE INSERT ON report_events FOR EACH ROW "
                          f"WHEN (NEW.kind = '{kind}') EXECUTE FUNCTION fail_event()"))


def test_failure_after_the_version_bump_changes_nothing(session, city: City) -> None:
    report = new(city)
    act(city, report, "comment", city.resident(), text="Nguy hiểm lắm")
    _fail_inserts_of(session, "internal_note")
    before = counts(session)
    with pytest.raises(DBAPIError):
        act(city, report, "note", text="ghi chú")  # the version UPDATE ran, then the event insert failed
    assert counts(session) == before
    assert report.version == 2 and report.flags.get("comment_waiting") is True
    act(city, report, "reply", text="Đơn vị đã tiếp nhận.")
    assert report.version == 3 and "comment_waiting" not in report.flags


def test_public_timeline_and_labels(session, city: City) -> None:
    report = new(city)
    act(city, report, "acknowledge")
    act(city, report, "note", text="nội bộ: số điện thoại 0912345678")
    act(city, report, "comment", city.resident(), text="Bổ sung: nguy hiểm")
    act(city, report, "reject", reason="Đã có phản ánh khác")
    timeline = reports.public_timeline(session, report)
    assert [i["kind"] for i in timeline] == ["created", "routed", "status_changed", "resident_comment",
                                            "status_changed"]
    assert timeline[1]["unit"] == "Sở Xây dựng"
    assert timeline[2]["state_label"] == "Đơn vị đã tiếp nhận"
    assert timeline[-1]["reason"] == "Đã có phản ánh khác"
    assert "text" not in timeline[3]
    assert "0912345678" not in repr(timeline) and "Officer" not in repr(timeline)
    own = reports.public_timeline(session, report, include_comments=True, locale="en")
    assert own[3]["text"] == "Bổ sung: nguy hiểm" and own[2]["label"] == "Accepted by the unit"


def test_get_by_code_and_labels(session, city: City) -> None:
    report = new(city)
    assert reports.get_by_code(session, report.code.lower()) is report
    for bad in ("PA-ZZZZZZ", "", None, "hello"):
        with pytest.raises(NotFound):
            reports.get_by_code(session, bad)
    assert reports.state_label("on_hold") == "Gia hạn / Chờ phối hợp"
    assert reports.state_label("duplicate", "en") == "Duplicate"
    assert {reports.state_label(s) for s in State} >= {"Mới tiếp nhận", "Chờ phân loại", "Đã đóng"}
    assert reports.open311_status("resolved") == "closed" and reports.open311_status("reopened") == "open"


def test_close_resolved_sweeps_only_what_is_due(session, city: City) -> None:
    due, fresh, other = resolved(city), new(city), new(city)
    act(city, fresh, "resolve", reply="Xong", after_photo_ids=[city.photo(staff="officer")],
        at=T0 + timedelta(days=5))
    act(city, other, "reject", reason="Sai")
    assert workflow.close_resolved(session, now=T0 + timedelta(days=8)) == 1
    assert due.status == State.CLOSED and due.closed_at == T0 + timedelta(days=8)
    assert fresh.status == State.RESOLVED and other.status == State.REJECTED
    assert workflow.close_resolved(session, now=T0 + timedelta(days=8)) == 0
    event = session.exec(select(ReportEvent).where(ReportEvent.report_id == due.id)
                         .order_by(ReportEvent.id.desc())).first()
    assert (event.actor_kind, event.to_state, event.data["automatic"]) == ("system", "closed", True)


def test_priority_and_category_changes_reschedule_the_resolve_deadline(session, city: City) -> None:
    report = new(city)
    before = report.resolve_due_at
    act(city, report, "change_priority", priority="complex")
    assert report.resolve_due_at > before
    act(city, report, "change_priority", priority="urgent")
    assert report.resolve_due_at < before
    started = session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id,
                                                     ReportEvent.kind == "sla_started")).all()
    assert [e.data.get("rescheduled", False) for e in started if e.data["clock"] == "resolve"] == [False, True, True]
