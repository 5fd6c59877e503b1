"""servicerequestupdates from a report's sender: the key that created a report speaks for its residents.

A sender's update is a resident comment (public, attributed to the resident it names), never a state
change — except a reopening by the reporter where the city allows it (``docs/open311.md`` §2.4).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from o311_support import UPDATES_SCHEMA, assert_json_errors, validate, xml_errors
from sqlmodel import select

from backend.models import ActorKind, ExternalUpdate, Identity, Report, ReportEvent, Resident
from backend.services.city import clients
from backend.services.city import settings as city_settings
from backend.services.events import Actor
from backend.services.reports import workflow

NOW = "2026-11-21T09:00:00+07:00"
DISPATCHER = Actor(ActorKind.STAFF, "0", role="dispatcher", name="Điều phối viên")
REPORTER = {"email": "dan@example.vn", "first_name": "Lê", "last_name": "Văn Dân"}


@pytest.fixture
def report(session, post_report) -> Report:
    """Rubbish (unit ctdt) posted by the ``api_key`` client for a named resident."""
    code = post_report(**REPORTER).get_json()[0]["service_request_id"]
    return session.exec(select(Report).where(Report.code == code)).one()


@pytest.fixture
def comment(client, api_key):
    def post(report: Report, status: str = "OPEN", fmt: str = "json", key: str | None = None, **extra):
        data = {"api_key": key or api_key, "service_request_id": report.code, "status": status,
                "update_id": extra.pop("update_id", "fms-1"), "updated_datetime": NOW,
                "description": "Rác lại nhiều hơn, có mùi hôi.", **REPORTER, **extra}
        return client.post(f"/open311/v2/servicerequestupdates.{fmt}", data={k: v for k, v in data.items()
                                                                              if v is not None})

    return post


def _events(session, report: Report) -> list[ReportEvent]:
    return list(session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id).order_by(ReportEvent.id)))


def _feed(client) -> list[dict]:
    since = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    feed = client.get(f"/open311/v2/servicerequestupdates.json?start_date={since}").get_json()
    validate(feed, UPDATES_SCHEMA)
    return feed


def test_the_reports_sender_may_comment_on_it(client, session, report, comment):
    """Issue 19 #3: the key that created the report posts on it without being bound to its unit."""
    r = comment(report)
    assert r.status_code == 200, r.get_data(as_text=True)
    event = _events(session, report)[-1]
    assert r.get_json() == [{"update_id": str(event.id)}]
    assert (event.kind, event.is_public, event.data["text"]) == ("resident_comment", True,
                                                                 "Rác lại nhiều hơn, có mùi hôi.")
    assert report.api_client_id is not None and event.data["via_api_client_id"] == report.api_client_id


def test_an_open_comment_keeps_its_text_and_changes_no_state(client, session, report, comment):
    """Issue 19 #1: a resident comment sent as OPEN on an assigned report stays a comment, with its text."""
    assert comment(report).status_code == 200
    session.refresh(report)
    assert report.status == "assigned" and report.flags.get("comment_waiting") is True
    event = _events(session, report)[-1]
    assert (event.actor_kind, event.actor_id) == ("resident", str(report.resident_id))
    assert event.data["open311_status"] == "OPEN"
    assert report.code not in {u["service_request_id"] for u in _feed(client)}, "never echoed as the city's"


@pytest.mark.parametrize("status", ["IN_PROGRESS", "ACTION_SCHEDULED", "INVESTIGATING", "FIXED", "CLOSED",
                                    "DUPLICATE", "NOT_COUNCILS_RESPONSIBILITY", "NO_FURTHER_ACTION",
                                    "INTERNAL_REFERRAL", "REOPEN"])
def test_a_senders_status_word_is_kept_but_changes_nothing(session, report, comment, status):
    city_settings.put(session, "open311_sender_status_changes", True)
    r = comment(report, status, description=f"Cập nhật của người dân ({status}) PA-ABCDEF")
    assert r.status_code == 200, r.get_data(as_text=True)
    session.refresh(report)
    assert report.status == "assigned"
    event = _events(session, report)[-1]
    assert (event.kind, event.data["open311_status"]) == ("resident_comment", status)


def test_another_resident_of_the_sender_is_another_resident(session, report, comment):
    r = comment(report, update_id="fms-2", email="hai@example.vn", first_name="Trần", last_name="Thị Hai")
    assert r.status_code == 200, r.get_data(as_text=True)
    event = _events(session, report)[-1]
    neighbour = session.get(Resident, int(event.actor_id))
    assert neighbour.id != report.resident_id and neighbour.display_name == "Trần Thị Hai"
    assert session.exec(select(Identity.provider).where(Identity.resident_id == neighbour.id)).one() == "open311"
    anonymous = comment(report, update_id="fms-3", email=None, first_name=None, last_name=None)
    assert anonymous.status_code == 200, anonymous.get_data(as_text=True)
    event = _events(session, report)[-1]
    assert (event.kind, event.actor_kind, event.actor_id) == ("resident_comment", "resident", None)


def _resolve(session, report: Report) -> None:
    workflow.apply(session, report, "resolve", actor=DISPATCHER, expected_version=report.version,
                   reply="Đã thu gom sạch.")
    session.flush()


def test_a_reporter_reopens_only_where_the_city_allows(client, session, report, comment):
    _resolve(session, report)
    r = comment(report, "OPEN", update_id="no", description="Chưa dọn hết.")
    assert r.status_code == 200
    session.refresh(report)
    assert report.status == "resolved" and _events(session, report)[-1].kind == "resident_comment"
    city_settings.put(session, "open311_sender_status_changes", True)
    neighbour = comment(report, "OPEN", update_id="n", description="Vẫn còn rác.", email="hai@example.vn")
    assert neighbour.status_code == 200
    session.refresh(report)
    assert report.status == "resolved", "only the reporter reopens"
    r = comment(report, "REOPEN", update_id="yes", description="Vẫn còn một đống sau cột điện.")
    assert r.status_code == 200, r.get_data(as_text=True)
    session.refresh(report)
    assert report.status == "reopened"
    event = session.get(ReportEvent, int(r.get_json()[0]["update_id"]))
    assert (event.kind, event.actor_id, event.data["reason"], event.data["open311_status"]) == (
        "reopened", str(report.resident_id), "Vẫn còn một đống sau cột điện.", "REOPEN")
    assert str(event.id) not in {u["update_id"] for u in _feed(client)}, "the sender's reopening is not echoed"


def test_the_reopen_window_applies_to_a_senders_reporter(session, report, comment):
    city_settings.put(session, "open311_sender_status_changes", True)
    city_settings.put(session, "reopen_window_days", 0)
    _resolve(session, report)
    r = comment(report, "OPEN", update_id="late", description="Chưa dọn.")
    assert r.status_code == 200
    session.refresh(report)
    assert report.status == "resolved" and _events(session, report)[-1].kind == "resident_comment"


def test_other_keys_are_refused_and_nothing_is_stored(session, city, report, comment):
    _, stranger = clients.create_client(session, name="Ứng dụng khác")
    _, other_unit = clients.create_client(session, name="Hệ thống Điện lực", unit_code="dien-luc")
    session.flush()
    before = len(_events(session, report))
    for key in (stranger, other_unit):
        body = assert_json_errors(comment(report, key=key), 403)
        assert body[0]["code"] == 403
    r = comment(report, "OPEN", "xml", key=stranger)
    assert r.status_code == 403 and xml_errors(r.data)[0][0] == "403"
    assert len(_events(session, report)) == before
    assert session.exec(select(ExternalUpdate)).all() == []


def test_bad_sender_updates_are_400_arrays(session, report, comment):
    before = len(_events(session, report))
    assert_json_errors(comment(report, description=""), 400)
    assert_json_errors(comment(report, "EXPLODED"), 400)
    assert_json_errors(comment(report, description="x" * 4001), 400)
    assert_json_errors(comment(report, media_url="ftp://example.org/a.jpg"), 400)
    assert len(_events(session, report)) == before


def test_a_senders_photo_is_fetched_as_a_comment_photo(session, report, comment):
    from backend.models import Photo

    r = comment(report, description="", media_url="http://127.0.0.1:9/comment.jpg")
    assert r.status_code == 200, r.get_data(as_text=True)
    (photo,) = session.exec(select(Photo).where(Photo.report_id == report.id, Photo.role == "comment")).all()
    assert photo.source_url == "http://127.0.0.1:9/comment.jpg" and photo.state == "pending"
    assert _events(session, report)[-1].data["photo_ids"] == [photo.id]
