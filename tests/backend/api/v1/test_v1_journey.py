"""End to end, as a new app user: upload → report → my reports & map → comment → resolved → rate → reopen."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlmodel import select
from v1_helpers import INSIDE, jpeg_bytes

from backend.models import Photo, Report, ReportEvent, Staff
from backend.models.base import utcnow
from backend.services import photos
from backend.services.events import Actor
from backend.services.photos import storage
from backend.services.reports import workflow


def _resolve(session, settings, code: str, *, days_ago: int = 0) -> None:
    """Staff (the city dispatcher) resolves the report through the workflow service."""
    staff = Staff(email="dieu-phoi@example.vn", name="Điều phối viên", role="dispatcher")
    session.add(staff)
    session.flush()
    report = session.exec(select(Report).where(Report.code == code)).one()
    after = photos.accept_upload(session, data=jpeg_bytes(color="green"), storage=storage.get_storage(settings),
                                 staff_id=staff.id, role="after")
    workflow.apply(session, report, "resolve", actor=Actor.staff(staff), expected_version=report.version,
                   reply="Đã vá ổ gà, mặt đường đã thông thoáng.", after_photo_ids=[after.id],
                   at=utcnow() - timedelta(days=days_ago))
    session.flush()


def test_new_user_journey(client, session, settings, auth, upload, new_report, run_jobs):
    # 1. upload a photo and create a report with it
    media = upload("newbie")
    assert media.status_code == 201 and media.json["state"] == "pending"
    created = new_report("newbie", media_ids=[media.json["id"]], description="Ổ gà sâu giữa đường")
    assert created.status_code == 201, created.json
    code = created.json["code"]
    assert created.headers["Location"].endswith(code)
    assert created.json["is_mine"] is True and created.json["resolve_due_at"]
    run_jobs()  # the photo worker makes the public copy and thumbnails

    # 2. it is in my reports and on the public map, with a thumbnail and no private data
    mine = client.get("/api/v1/me/reports", headers=auth("newbie")).json
    assert [r["code"] for r in mine["items"]] == [code]
    box = f"{INSIDE['lon'] - 0.01},{INSIDE['lat'] - 0.01},{INSIDE['lon'] + 0.01},{INSIDE['lat'] + 0.01}"
    on_map = client.get(f"/api/v1/reports?bbox={box}&status=open").json
    assert code in [r["code"] for r in on_map["items"]]
    public = client.get(f"/api/v1/reports/{code}")
    text = public.get_data(as_text=True)
    assert "is_mine" not in public.json and "timeline" not in public.json
    assert public.json["photos"] and public.json["photos"][0]["url"]
    assert "orig/" not in text and "exif" not in text and "newbie" not in text

    # 3. a follow-up comment reaches the unit's queue as an event
    comment = client.post(f"/api/v1/reports/{code}/comments", json={"text": "Tối qua có xe máy ngã ở đây."},
                          headers=auth("newbie"))
    assert comment.status_code == 201, comment.json
    report = session.exec(select(Report).where(Report.code == code)).one()
    kinds = [e.kind for e in session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id))]
    assert "resident_comment" in kinds
    assert any(e["kind"] == "resident_comment" and "xe máy" in (e["text"] or "")
               for e in comment.json["timeline"])

    # 4. rating is refused before resolution
    early = client.post(f"/api/v1/reports/{code}/rating", json={"rating": 5}, headers=auth("newbie"))
    assert early.status_code == 409 and early.mimetype == "application/problem+json"

    # 5. staff resolves (10 days ago: the 7-day reopen window has passed)
    _resolve(session, settings, code, days_ago=10)
    owner = client.get(f"/api/v1/reports/{code}", headers=auth("newbie")).json
    assert owner["status"] == "resolved" and owner["can_rate"] is True and owner["can_reopen"] is False
    assert owner["public_reply"].startswith("Đã vá")

    # 6. rate: only the reporter
    assert client.post(f"/api/v1/reports/{code}/rating", json={"rating": 4},
                       headers=auth("stranger")).status_code == 403
    rated = client.post(f"/api/v1/reports/{code}/rating", json={"rating": 4, "text": "Sửa nhanh, cảm ơn"},
                        headers=auth("newbie"))
    assert rated.status_code == 200, rated.json
    assert rated.json["rating"] == 4 and rated.json["status"] == "closed"

    # 7. reopen is refused after the city's window, and nothing changes
    before = session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id)).all()
    late = client.post(f"/api/v1/reports/{code}/reopen", json={"reason": "Ổ gà lại xuất hiện"},
                       headers=auth("newbie"))
    assert late.status_code == 409 and late.mimetype == "application/problem+json"
    assert len(session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id)).all()) == len(before)
    assert json.loads(client.get(f"/api/v1/reports/{code}").get_data())["status"] == "closed"


def test_reopen_within_window(client, session, settings, auth, new_report, upload):
    code = new_report("rea").json["code"]
    assert client.post(f"/api/v1/reports/{code}/reopen", json={"reason": "Chưa xử lý"},
                       headers=auth("rea")).status_code == 403  # not resolved yet
    _resolve(session, settings, code)
    assert client.post(f"/api/v1/reports/{code}/reopen", json={"reason": "Chưa xử lý xong"},
                       headers=auth("someone")).status_code == 403
    photo = upload("rea").json["id"]
    r = client.post(f"/api/v1/reports/{code}/reopen", json={"reason": "Chưa xử lý xong", "media_ids": [photo]},
                    headers=auth("rea"))
    assert r.status_code == 200, r.json
    assert r.json["status"] == "reopened"
    assert r.json["timeline"][-1]["kind"] == "reopened"
    report = session.exec(select(Report).where(Report.code == code)).one()
    assert session.get(Photo, photo).report_id == report.id
