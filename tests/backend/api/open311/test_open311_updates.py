"""mySociety servicerequestupdates from a unit key: a department's own system drives its reports; the feed.

The status table and the update-id rule are in ``docs/open311.md`` §2.5–2.6; senders (the key that
created a report) are in ``test_open311_senders.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from o311_support import UPDATES_SCHEMA, assert_json_errors, jpeg_bytes, parse_xml, validate, xml_errors
from sqlalchemy import func
from sqlmodel import select

from backend.models import ApiClient, Delivery, ExternalUpdate, Photo, Report, ReportEvent, Unit
from backend.services import photos
from backend.services.city import clients, staff
from backend.services.events import Actor
from backend.services.photos.storage import get_storage
from backend.services.reports import workflow

NOW = "2026-11-21T09:00:00+07:00"


@pytest.fixture
def report(session, post_report) -> Report:
    code = post_report().get_json()[0]["service_request_id"]
    report = session.exec(select(Report).where(Report.code == code)).one()
    assert session.get(Unit, report.unit_id).code == "ctdt"
    return report


@pytest.fixture
def send(client, unit_key):
    def post(report: Report | str, status: str, fmt: str = "json", key: str | None = None, **extra):
        data = {"api_key": key or unit_key, "service_request_id": getattr(report, "code", report),
                "update_id": extra.pop("update_id", f"ext-{status}"), "status": status,
                "description": "Đã thu gom sạch rác.", "updated_datetime": NOW, **extra}
        return client.post(f"/open311/v2/servicerequestupdates.{fmt}", data=data)

    return post


def _events(session, report: Report) -> list[ReportEvent]:
    return list(session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id)
                             .order_by(ReportEvent.id)))


def test_fixed_resolves_the_report_with_the_client_as_actor(client, session, report, send, unit_key):
    r = send(report, "FIXED")
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert len(body) == 1 and body[0]["update_id"]
    session.refresh(report)
    assert report.status == "resolved"
    event = _events(session, report)[-1]
    api_client = session.exec(select(ApiClient).where(ApiClient.unit_id == report.unit_id)).one()
    assert (event.kind, event.to_state, event.actor_kind, event.actor_id) == (
        "status_changed", "resolved", "api_client", str(api_client.id))
    assert event.data["reply"] == "Đã thu gom sạch rác."
    assert event.data["actor_name"] == api_client.name
    rec = client.get(f"/open311/v2/requests/{report.code}.json").get_json()[0]
    assert rec["status"] == "closed" and rec["status_notes"] == "Đã thu gom sạch rác."
    # the feed shows it, lower case, with our event id
    since = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    feed = client.get(f"/open311/v2/servicerequestupdates.json?start_date={since}").get_json()
    validate(feed, UPDATES_SCHEMA)
    fixed = [u for u in feed if u["service_request_id"] == report.code and u["status"] == "fixed"]
    assert fixed and fixed[0]["update_id"] == str(event.id) == body[0]["update_id"]
    assert fixed[0]["description"] == "Đã thu gom sạch rác."


def test_same_update_id_twice_is_applied_once(session, report, send):
    first = send(report, "fixed", update_id="u-1").get_json()
    count = len(_events(session, report))
    second = send(report, "FIXED", update_id="u-1").get_json()
    assert first == second
    assert len(_events(session, report)) == count
    [row] = session.exec(select(ExternalUpdate)).all()
    assert row.external_updated_at == datetime.fromisoformat(NOW)  # the client's own time
    assert _events(session, report)[-1].at > row.external_updated_at  # the event: when we applied it


def test_key_bound_to_another_unit_is_refused(client, session, city, report, send):
    _, other = clients.create_client(session, name="Hệ thống Điện lực", unit_code="dien-luc")
    _, unbound = clients.create_client(session, name="Ứng dụng không gắn đơn vị")
    session.flush()
    before = len(_events(session, report))
    for key in (other, unbound):
        body = assert_json_errors(send(report, "FIXED", key=key), 403)
        assert body[0]["code"] == 403
    r = send(report, "FIXED", "xml", key=other)
    assert r.status_code == 403 and xml_errors(r.data)[0][0] == "403"
    session.refresh(report)
    assert report.status == "assigned" and len(_events(session, report)) == before
    assert_json_errors(send(report, "FIXED", key="pa_wrong"), 403)


@pytest.mark.parametrize(("status", "state"), [
    ("IN_PROGRESS", "in_progress"), ("in_progress", "in_progress"), ("ACTION_SCHEDULED", "in_progress"),
    ("PLANNED", "in_progress"), ("OPEN", "assigned"), ("INVESTIGATING", "acknowledged"),
    ("NOT_COUNCILS_RESPONSIBILITY", "not_competent"), ("NO_FURTHER_ACTION", "rejected"), ("CANCELLED", "rejected"),
    ("UNCHANGED", "assigned"), ("closed", "resolved"), ("INTERNAL_REFERRAL", "triage"), ("FOR_TRIAGE", "triage")])
def test_status_mapping(session, report, send, status, state):
    r = send(report, status)
    assert r.status_code == 200, r.get_data(as_text=True)
    session.refresh(report)
    assert report.status == state
    event = session.get(ReportEvent, int(r.get_json()[0]["update_id"]))
    assert event.report_id == report.id
    assert event.data["open311_status"] == status.upper(), "the sender's own word stays on the event"


def test_duplicate_with_the_original_code(client, session, report, send, post_report):
    original = post_report().get_json()[0]["service_request_id"]
    r = send(report, "DUPLICATE", description=f"Trùng với phản ánh {original}, đã gộp để xử lý chung.")
    assert r.status_code == 200, r.get_data(as_text=True)
    session.refresh(report)
    assert report.status == "duplicate"
    other = post_report().get_json()[0]["service_request_id"]
    r = send(other, "DUPLICATE", description="Đã gộp.", update_id="d-param", duplicate_of=original)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert session.exec(select(Report).where(Report.code == other)).one().status == "duplicate"
    r = send(original, "DUPLICATE", description="Không rõ trùng với phản ánh nào", update_id="d2")
    assert r.status_code == 200
    assert session.exec(select(Report).where(Report.code == original)).one().status == "assigned"
    feed = {u["update_id"]: u for u in client.get("/open311/v2/servicerequestupdates.json").get_json()}
    first = feed[str(_events(session, report)[-1].id)]
    assert (first["status"], first["description"]) == (
        "duplicate", f"Trùng với phản ánh {original}, đã gộp để xử lý chung."), "issue 19 #4: the text is kept"
    assert first["extras"] == {"duplicate_of": original}
    no_code = feed[r.get_json()[0]["update_id"]]
    assert (no_code["status"], no_code["description"]) == ("open", "Không rõ trùng với phản ánh nào")


def test_progression_and_repeats_become_replies(session, report, send):
    assert send(report, "IN_PROGRESS", update_id="a").status_code == 200
    assert send(report, "IN_PROGRESS", update_id="b", description="Đang thu gom").status_code == 200
    session.refresh(report)
    assert report.status == "in_progress"
    assert _events(session, report)[-1].kind == "public_reply"
    assert send(report, "FIXED", update_id="c").status_code == 200
    assert send(report, "REOPEN", update_id="d", description="Rác lại bị đổ").status_code == 200
    session.refresh(report)
    assert report.status == "reopened"


def test_bad_updates_are_4xx_arrays(client, session, report, send, post_report):
    assert_json_errors(send(report, "EXPLODED"), 400)
    assert_json_errors(send("PA-ZZZZZZ", "FIXED"), 404)
    assert_json_errors(send(report, "FIXED", description=""), 400)
    assert_json_errors(send(report, "FIXED", updated_datetime="hôm qua"), 400)
    body = assert_json_errors(send(report, "FIXED", update_id=""), 400)
    assert "update_id" in body[0]["description"]
    r = send(report, "", "xml")
    assert r.status_code == 400 and xml_errors(r.data)
    session.refresh(report)
    assert report.status == "assigned"
    assert session.exec(select(func.count()).select_from(ExternalUpdate)).one() == 0


def test_after_photo_required_category_refuses_fixed_without_photo(client, session, send, post_report):
    from o311_support import INSIDE

    code = post_report(service_code="duong-hu-hong").get_json()[0]["service_request_id"]
    report = session.exec(select(Report).where(Report.code == code)).one()
    unit = session.get(Unit, report.unit_id)
    _, key = clients.create_client(session, name="Hệ thống Sở Xây dựng", unit_code=unit.code)
    session.flush()
    body = assert_json_errors(send(report, "FIXED", key=key), 400)
    assert "ảnh" in body[0]["description"]
    assert INSIDE


def test_feed_window_and_xml(client, session, report, send):
    send(report, "IN_PROGRESS")
    r = client.get("/open311/v2/servicerequestupdates.xml")
    assert r.status_code == 200
    root = parse_xml(r.data)
    assert root.tag == "service_request_updates"
    updates = root.findall("request_update")
    assert updates and updates[-1].findtext("status") == "in_progress"
    assert [c.tag for c in updates[-1]] == ["update_id", "service_request_id", "status", "updated_datetime",
                                            "description", "media_url"]
    old = client.get("/open311/v2/servicerequestupdates.json?start_date=2020-01-01T00:00:00Z"
                     "&end_date=2020-01-02T00:00:00Z")
    assert old.get_json() == []
    assert parse_xml(client.get("/open311/v2/servicerequestupdates.xml?end_date=2020-01-02").data).tag \
        == "service_request_updates"
    assert_json_errors(client.get("/open311/v2/servicerequestupdates.json?start_date=x"), 400)
    assert client.get("/open311/v2/servicerequestupdates.json?start_date=&end_date=").status_code == 200


def test_fixed_notifies_the_resident(session, send, post_report, run_jobs):
    code = post_report(email="dan@example.vn", first_name="Lê", last_name="Dân").get_json()[0]["service_request_id"]
    report = session.exec(select(Report).where(Report.code == code)).one()
    assert send(report, "FIXED", description="Đã thu gom, cảm ơn anh/chị.").status_code == 200
    resolved = _events(session, report)[-1]
    assert resolved.to_state == "resolved" and resolved.actor_kind == "api_client"
    run_jobs()
    deliveries = session.exec(select(Delivery).where(Delivery.event_id == resolved.id,
                                                     Delivery.recipient_kind == "resident")).all()
    assert deliveries and {d.recipient_id for d in deliveries} == {report.resident_id}


def test_fixed_with_media_url_gives_the_after_photo_to_fetch(session, send, post_report):
    code = post_report(service_code="duong-hu-hong").get_json()[0]["service_request_id"]
    report = session.exec(select(Report).where(Report.code == code)).one()
    unit = session.get(Unit, report.unit_id)
    _, key = clients.create_client(session, name="Hệ thống Sở Xây dựng", unit_code=unit.code)
    session.flush()
    r = send(report, "FIXED", key=key, media_url="http://127.0.0.1:9/after.jpg")
    assert r.status_code == 200, r.get_data(as_text=True)
    session.refresh(report)
    assert report.status == "resolved"
    (photo,) = session.exec(select(Photo).where(Photo.report_id == report.id, Photo.role == "after")).all()
    assert photo.source_url == "http://127.0.0.1:9/after.jpg" and photo.state == "pending"


def test_feed_carries_the_public_after_photo(client, session, settings, post_report, run_jobs):
    code = post_report(service_code="duong-hu-hong").get_json()[0]["service_request_id"]
    report = session.exec(select(Report).where(Report.code == code)).one()
    unit = session.get(Unit, report.unit_id)
    officer = staff.create_staff(session, email="canbo.o311@example.vn", password="mat-khau-dai-12",
                                 role="officer", unit_code=unit.code, name="Cán bộ")
    photo = photos.accept_upload(session, data=jpeg_bytes(), storage=get_storage(settings), staff_id=officer.id,
                                 role="after")
    event = workflow.apply(session, report, "resolve", actor=Actor.staff(officer), expected_version=report.version,
                           reply="Đã vá ổ gà.", after_photo_ids=[photo.id])
    session.commit()  # jobs leave through the outbox after the commit
    run_jobs()
    feed = client.get("/open311/v2/servicerequestupdates.json").get_json()
    validate(feed, UPDATES_SCHEMA)
    (fixed,) = [u for u in feed if u["update_id"] == str(event.id)]
    assert fixed["status"] == "fixed" and fixed["description"] == "Đã vá ổ gà."
    assert fixed["media_url"].startswith("http://localhost/media/")
    assert client.get(f"/open311/v2/requests/{code}.json").get_json()[0]["status_notes"] == "Đã vá ổ gà."
    assert "Cán bộ" not in client.get("/open311/v2/servicerequestupdates.xml").get_data(as_text=True)


def test_post_update_xml_response(session, report, send):
    r = send(report, "fixed", "xml", update_id="xml-1")
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/xml; charset=utf-8"
    root = parse_xml(r.data)
    assert root.tag == "service_request_updates"
    (update,) = root.findall("request_update")
    assert update.findtext("update_id") == str(session.exec(select(ExternalUpdate.event_id)).one())


# --------------------------------------------------------------------------- issue 19: words, ids, statuses


def _feed(client) -> list[dict]:
    since = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    feed = client.get(f"/open311/v2/servicerequestupdates.json?start_date={since}").get_json()
    validate(feed, UPDATES_SCHEMA)
    return feed


@pytest.mark.parametrize(("status", "published", "state"), [
    ("INVESTIGATING", "investigating", "acknowledged"), ("IN_PROGRESS", "in_progress", "in_progress"),
    ("ACTION_SCHEDULED", "action_scheduled", "in_progress"), ("OPEN", "open", "assigned")])
def test_unit_status_updates_keep_their_text(client, session, report, send, status, published, state):
    """Issue 19 #1: the text of an INVESTIGATING / IN_PROGRESS / ACTION_SCHEDULED / OPEN update is kept."""
    text = f"Đội thu gom đã ghi nhận ({status.lower()}), dự kiến xử lý trong buổi chiều."
    r = send(report, status, description=text)
    assert r.status_code == 200, r.get_data(as_text=True)
    session.refresh(report)
    assert report.status == state
    (update,) = [u for u in _feed(client) if u["service_request_id"] == report.code]
    assert (update["update_id"], update["status"], update["description"]) == (
        r.get_json()[0]["update_id"], published, text)
    record = client.get(f"/open311/v2/requests/{report.code}.json").get_json()[0]
    assert record["status_notes"] == text


def test_the_id_a_post_returns_is_the_id_the_feed_publishes(client, session, report, send):
    """Issue 19 #2: one update, one id — in the POST's answer, in the feed (JSON and XML), on a repeat."""
    returned = [send(report, s, update_id=f"u-{s}", description=f"Cập nhật {s}").get_json()[0]["update_id"]
                for s in ("IN_PROGRESS", "FIXED")]
    published = [u["update_id"] for u in _feed(client) if u["service_request_id"] == report.code]
    assert published == returned
    root = parse_xml(client.get("/open311/v2/servicerequestupdates.xml").data)
    assert [u.findtext("update_id") for u in root.findall("request_update")
            if u.findtext("service_request_id") == report.code] == returned
    again = send(report, "FIXED", "xml", update_id="u-FIXED", description="Cập nhật FIXED")
    assert parse_xml(again.data).findtext("request_update/update_id") == returned[1]


def test_extended_statuses_are_published_as_posted(client, session, report, send, post_report):
    """Issue 19 #4: ACTION_SCHEDULED stays action_scheduled; a posted word untrue of our state is not used."""
    scheduled = send(report, "ACTION_SCHEDULED", description="Đã xếp lịch thu gom 14 giờ.").get_json()[0]
    investigating = send(report, "INVESTIGATING", update_id="i", description="Đang xác minh thêm.").get_json()[0]
    other = post_report().get_json()[0]["service_request_id"]
    cancelled = send(other, "CANCELLED", update_id="c", description="Người dân đã tự xử lý.").get_json()[0]
    feed = {u["update_id"]: u for u in _feed(client)}
    assert feed[scheduled["update_id"]]["status"] == "action_scheduled"
    assert feed[investigating["update_id"]]["status"] == "investigating"
    assert feed[cancelled["update_id"]]["status"] == "cancelled"
    assert session.exec(select(Report).where(Report.code == other)).one().status == "rejected"
    session.refresh(report)
    assert report.status == "in_progress"


def test_a_reply_is_published_with_the_state_it_was_made_in(client, session, report, send):
    """FixMyStreet applies a pulled update's status: an old reply must not carry today's state."""
    reply = send(report, "UNCHANGED", update_id="r", description="Chúng tôi đã nhận thông tin.").get_json()[0]
    fixed = send(report, "FIXED", update_id="f", description="Đã thu gom.").get_json()[0]
    feed = {u["update_id"]: u for u in _feed(client)}
    assert (feed[reply["update_id"]]["status"], feed[fixed["update_id"]]["status"]) == ("open", "fixed")
    assert "unchanged" not in {u["status"] for u in feed.values()}
