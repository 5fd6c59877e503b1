"""FixMyStreet's part, end to end: a sender and an updates puller (``fixmystreet.py``) against a live server.

The sender's problems, comments and states are its own; the test compares them with ours through
:data:`FMS_STATES`, the mapping FixMyStreet's ``map_state`` gives our published statuses
(``docs/open311.md`` §2.5) — written here independently of the server's table.
"""

from __future__ import annotations

from typing import Any

import pytest
from fixmystreet import FixMyStreet, Problem
from sqlmodel import select

from backend.models import ActorKind, ExternalUpdate, Report, ReportEvent, Resident
from backend.services.city import settings as city_settings
from backend.services.events import Actor
from backend.services.reports import workflow

JURISDICTION = "soctrang.demo.phananh.vn"
POINT = {"lat": 9.6031, "lon": 105.9739}
DISPATCHER = Actor(ActorKind.STAFF, "0", role="dispatcher", name="Điều phối viên")

#: our state -> the FixMyStreet states that agree with it (the second: a unit's own word, kept)
FMS_STATES: dict[str, set[str]] = {
    "received": {"confirmed"}, "triage": {"confirmed"}, "assigned": {"confirmed"}, "reopened": {"confirmed"},
    "acknowledged": {"investigating"}, "in_progress": {"in progress", "action scheduled"},
    "on_hold": {"action scheduled"}, "resolved": {"fixed - council"}, "closed": {"closed"},
    "rejected": {"unable to fix"}, "not_competent": {"not responsible"}, "duplicate": {"duplicate"},
}


@pytest.fixture(params=["xml", "json"])
def fms(request: Any, live_open311: Any) -> FixMyStreet:
    return FixMyStreet(live_open311.endpoint, api_key=live_open311.api_key, jurisdiction=JURISDICTION,
                       fmt=request.param)


def _report(live: Any, code: str) -> Report:
    with live.db.session() as s:
        return s.exec(select(Report).where(Report.code == code)).one()


def _events(live: Any, code: str) -> list[ReportEvent]:
    with live.db.session() as s:
        report = s.exec(select(Report).where(Report.code == code)).one()
        return list(s.exec(select(ReportEvent).where(ReportEvent.report_id == report.id).order_by(ReportEvent.id)))


def _act(live: Any, code: str, action: str, **fields: Any) -> None:
    """A dispatcher in the triage inbox."""
    with live.db.session_scope() as s:
        report = s.exec(select(Report).where(Report.code == code)).one()
        workflow.apply(s, report, action, actor=DISPATCHER, expected_version=report.version, **fields)


def _unit_update(live: Any, code: str, update_id: str, status: str, text: str) -> dict[str, Any]:
    """The unit's own system posts an update with its unit key (JSON)."""
    import requests

    resp = requests.post(live.endpoint + "/servicerequestupdates.json", timeout=10, data={
        "api_key": live.unit_key, "service_request_id": code, "update_id": update_id, "status": status,
        "description": text, "updated_datetime": "2026-11-21T09:00:00+07:00"})
    assert resp.status_code == 200, resp.text
    return resp.json()[0]


def _assert_states_match(live: Any, *problems: Problem) -> None:
    for problem in problems:
        ours = _report(live, problem.external_id).status  # type: ignore[arg-type]
        assert problem.state in FMS_STATES[ours], (problem.external_id, ours, problem.state)


def _council_texts(problem: Problem) -> list[str]:
    return [c.text for c in problem.visible_comments() if c.user == "council"]


def _send_two(fms: FixMyStreet) -> tuple[Problem, Problem]:
    one = fms.report(title="Rác đổ trộm", detail="Rác chất đống ở góc chợ, bốc mùi.", category="rac-thai",
                     name="Lê Văn Dân", email="dan@example.vn", **POINT)
    two = fms.report(title="Rác tràn ra đường", detail="Thùng rác đầy, tràn ra lòng đường.", category="rac-thai",
                     name="Phạm Thị Bốn", email="bon@example.vn", **POINT)
    assert fms.send_reports() == 2, fms.errors
    assert one.external_id and two.external_id and one.external_id != two.external_id
    return one, two


def test_reports_arrive_with_their_words_and_their_sender(fms, live_open311):
    one, _two = _send_two(fms)
    report = _report(live_open311, one.external_id)
    assert report.channel == "open311" and report.status == "assigned"
    assert report.description.startswith("Rác đổ trộm\n\nRác chất đống ở góc chợ") \
        and f"/report/{one.id}" in report.description
    with live_open311.db.session() as s:
        resident = s.get(Resident, report.resident_id)
        assert resident.email == "dan@example.vn" and resident.display_name == "Lê Văn Dân"
    _assert_states_match(live_open311, one)


def test_resident_comments_stay_comments_and_never_come_back(fms, live_open311):
    one, two = _send_two(fms)
    mine = fms.comment(one, "Rác lại nhiều hơn, có mùi hôi.", name="Lê Văn Dân", email="dan@example.vn")
    neighbour = fms.comment(one, "Tôi cũng thấy, ngay cạnh hàng cá.", name="Trần Thị Hai", email="hai@example.vn")
    assert fms.send_comments() == 2, fms.errors
    assert mine.external_id and neighbour.external_id and mine.external_id != neighbour.external_id
    report = _report(live_open311, one.external_id)
    assert report.status == "assigned", "an OPEN comment changes no state"
    comments = [e for e in _events(live_open311, one.external_id) if e.kind == "resident_comment"]
    assert [(c.data["text"], c.is_public, c.actor_kind) for c in comments] == [
        ("Rác lại nhiều hơn, có mùi hôi.", True, "resident"), ("Tôi cũng thấy, ngay cạnh hàng cá.", True, "resident")]
    assert comments[0].actor_id == str(report.resident_id), "the reporter's own comment is the reporter's"
    assert comments[1].actor_id not in (None, str(report.resident_id)), "the neighbour is another resident"
    assert [str(c.id) for c in comments] == [mine.external_id, neighbour.external_id], "update_id = our event id"
    with live_open311.db.session() as s:
        assert s.exec(select(ExternalUpdate.event_id).where(ExternalUpdate.external_id == str(mine.id))).one() \
            == comments[0].id
    assert fms.fetch_comments() == 0, "our feed never echoes a sender's update"
    assert fms.fetch_comments() == 0
    assert _council_texts(one) == [] and _council_texts(two) == []
    # the same comment sent again (its answer was lost): same id, nothing new
    mine.send_state, before = "unprocessed", mine.external_id
    assert fms.send_comments() == 1 and mine.external_id == before
    assert len([e for e in _events(live_open311, one.external_id) if e.kind == "resident_comment"]) == 2


def test_city_updates_reach_the_sender_once_with_their_words(fms, live_open311):
    one, two = _send_two(fms)
    _act(live_open311, one.external_id, "acknowledge", reply="Đội thu gom đã nhận, sẽ đến trong ngày.")
    posted = _unit_update(live_open311, one.external_id, "ctdt-77", "ACTION_SCHEDULED",
                          "Đã xếp lịch thu gom lúc 14 giờ.")
    _act(live_open311, two.external_id, "reply", text="Cảm ơn anh/chị, chúng tôi đang kiểm tra.")
    assert fms.fetch_comments() == 3
    assert fms.fetch_comments() == 0, "a second pull imports nothing new"
    assert _council_texts(one) == ["Đội thu gom đã nhận, sẽ đến trong ngày.", "Đã xếp lịch thu gom lúc 14 giờ."]
    assert _council_texts(two) == ["Cảm ơn anh/chị, chúng tôi đang kiểm tra."]
    assert one.comments[-1].external_id == posted["update_id"], "the id the POST returned is the id published"
    assert (one.state, two.state) == ("action scheduled", "confirmed")
    _assert_states_match(live_open311, one, two)
    # a resident comments while the work is scheduled: FixMyStreet sends its own state, not a change
    fms.comment(one, "Mong sớm dọn giúp.", name="Lê Văn Dân", email="dan@example.vn")
    assert fms.send_comments() == 1, fms.errors
    assert _report(live_open311, one.external_id).status == "in_progress"
    assert fms.fetch_comments() == 0


def test_fixed_and_reopened_keep_both_sides_in_step(fms, live_open311):
    one, _two = _send_two(fms)
    with live_open311.db.session_scope() as s:
        city_settings.put(s, "open311_sender_status_changes", True)
    _act(live_open311, one.external_id, "start", reply="Đang thu gom.")
    _act(live_open311, one.external_id, "resolve", reply="Đã thu gom sạch, cảm ơn anh/chị.")
    assert fms.fetch_comments() == 2
    assert one.state == "fixed - council" and _council_texts(one)[-1] == "Đã thu gom sạch, cảm ơn anh/chị."
    _assert_states_match(live_open311, one)
    # the reporter says it is not fixed: FixMyStreet reopens its problem and sends OPEN
    not_fixed = fms.comment(one, "Chưa dọn hết, vẫn còn một đống sau cột điện.", name="Lê Văn Dân",
                            email="dan@example.vn", mark_open=True)
    assert fms.send_comments() == 1, fms.errors
    report = _report(live_open311, one.external_id)
    assert report.status == "reopened"
    (reopened,) = [e for e in _events(live_open311, one.external_id) if str(e.id) == not_fixed.external_id]
    assert (reopened.kind, reopened.data["reason"], reopened.data["open311_status"]) == (
        "reopened", "Chưa dọn hết, vẫn còn một đống sau cột điện.", "OPEN")
    assert fms.fetch_comments() == 0, "the reopening is the sender's own update"
    _assert_states_match(live_open311, one)
    _act(live_open311, one.external_id, "resolve", reply="Đã dọn nốt phần sau cột điện.")
    assert fms.fetch_comments() == 1
    assert one.state == "fixed - council"
    _assert_states_match(live_open311, one)
    closed = fms.fetch_comments()
    assert closed == 0


def test_a_reporters_fixed_is_a_comment_for_staff_to_check(fms, live_open311):
    one, _two = _send_two(fms)
    fms.comment(one, "Đã có người dọn rồi.", name="Lê Văn Dân", email="dan@example.vn", mark_fixed=True)
    assert fms.send_comments() == 1, fms.errors
    report = _report(live_open311, one.external_id)
    assert report.status == "assigned" and report.flags.get("comment_waiting") is True
    last = _events(live_open311, one.external_id)[-1]
    assert (last.kind, last.data["text"], last.data["open311_status"]) == (
        "resident_comment", "Đã có người dọn rồi.", "FIXED")
    _act(live_open311, one.external_id, "resolve", reply="Đơn vị đã kiểm tra: rác đã được dọn.")
    assert fms.fetch_comments() == 1
    assert one.state == "fixed - user", "FixMyStreet keeps its own fixed state (no change between fixed states)"
    assert _council_texts(one) == ["Đơn vị đã kiểm tra: rác đã được dọn."]


def test_closed_outcomes_and_a_sender_without_extended_statuses(live_open311):
    plain = FixMyStreet(live_open311.endpoint, api_key=live_open311.api_key, jurisdiction=JURISDICTION,
                        extended_statuses=False)
    one, two = _send_two(plain)
    _act(live_open311, one.external_id, "not_competent", reason="Thuộc khu công nghiệp",
         guidance="Vui lòng liên hệ Ban quản lý khu công nghiệp.")
    _act(live_open311, two.external_id, "mark_duplicate", of_code=one.external_id)
    assert plain.fetch_comments() == 2
    assert one.state == "not responsible" and _council_texts(one) == ["Vui lòng liên hệ Ban quản lý khu công nghiệp."]
    assert two.state == "duplicate" and one.external_id in _council_texts(two)[0]
    _assert_states_match(live_open311, one, two)
    # a resident thanks them on a closed problem: FixMyStreet without extended statuses sends CLOSED
    plain.comment(one, "Cảm ơn đã hướng dẫn.", name="Lê Văn Dân", email="dan@example.vn")
    assert plain.status_for(one.comments[-1]) == "CLOSED"
    assert plain.send_comments() == 1, plain.errors
    assert _report(live_open311, one.external_id).status == "not_competent"
