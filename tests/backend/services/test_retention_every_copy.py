"""Retention removes every copy (issue 21, finding 6): a marker phone number is planted in every place that
can hold a reporter's personal data (the data map of ``docs/privacy.md``) for a report closed long ago;
after ``anonymize`` no column of any table and no file of the media store contains it.

The oracle is independent of the code under test: it reads every row of every table of the schema (not
the ones ``anonymize`` knows about) and every byte of every stored file.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import text
from sqlmodel import SQLModel, select

from backend.models import (
    Conversation,
    Delivery,
    Device,
    IdempotencyKey,
    Identity,
    InboundMessage,
    Photo,
    Resident,
    Staff,
)
from backend.models.base import utcnow
from backend.services import retention
from backend.services.events import Actor
from backend.services.photos import pipeline
from backend.services.photos.storage import LocalStorage
from backend.services.reports import intake, workflow

MARKER = "0987654321"
SPACED = "0987 654 321"  # the same number as people type it
ZALO_ID = "84" + MARKER  # a Zalo user id that carries the marker too
T0 = datetime(2023, 3, 6, 2, 0, tzinfo=UTC)


def _jpeg_with_exif() -> bytes:
    """A camera JPEG whose EXIF names the marker (ImageDescription, Artist) and has GPS."""
    img = Image.new("RGB", (320, 240), (120, 140, 90))
    exif = Image.Exif()
    exif[0x010E] = f"Gọi {MARKER}"  # ImageDescription
    exif[0x013B] = f"Chủ máy {MARKER}"  # Artist
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes())
    return buf.getvalue()


def _plant(session: Any, storage: LocalStorage) -> Any:
    resident = Resident(display_name=f"Người dân {MARKER}", phone=MARKER, email=f"{MARKER}@example.vn")
    session.add(resident)
    session.flush()
    session.add_all([
        Identity(resident_id=resident.id, provider="zalo", subject=ZALO_ID, data={"phone": SPACED},
                 phone=MARKER, last_interaction_at=T0),  # consented for ZNS (issue 17)
        Identity(resident_id=resident.id, provider="phone", subject=MARKER, phone=MARKER),
        Identity(resident_id=resident.id, provider="open311", subject=f"{MARKER}@example.vn",
                 data={"phone": MARKER}),
        Device(resident_id=resident.id, token=f"fcm-{MARKER}"),
        Conversation(channel="zalo", external_user_id=ZALO_ID, resident_id=resident.id, state="awaiting_photo",
                     draft={"description": f"liên hệ {SPACED}"}),
        InboundMessage(channel="zalo", external_id="msg-marker-1", event_name="user_send_text",
                       external_user_id=ZALO_ID, received_at=T0, processed_at=T0,
                       payload={"sender": {"id": ZALO_ID}, "message": {"text": f"số tôi {MARKER}"}}),
    ])
    photo = pipeline.accept_upload(session, data=_jpeg_with_exif(), storage=storage, resident_id=resident.id)
    pipeline.process(session, photo=photo, storage=storage)
    photo.source_url = f"https://zdn.vn/anh.jpg?sdt={MARKER}"
    session.add(photo)
    me = Actor.resident(resident.id)
    report = intake.create_report(
        session, channel="zalo", actor=me, category_code="duong-hu-hong", description=f"Ổ gà, gọi {SPACED}",
        lat=9.603, lon=105.975, address=f"Số 12 Trần Hưng Đạo (ĐT {MARKER})", photo_ids=[photo.id],
        resident_id=resident.id, attributes={"ghi_chu": f"lh {MARKER}"}, at=T0)
    officer = Staff(email="canbo-marker@demo.vn", role="officer", unit_id=report.unit_id, name="Cán bộ")
    session.add(officer)
    session.flush()
    staff = Actor.staff(officer)
    workflow.apply(session, report, "comment", actor=me, text=f"Nhà tôi số {MARKER}", at=T0 + timedelta(hours=1))
    workflow.apply(session, report, "acknowledge", actor=staff, expected_version=report.version,
                   at=T0 + timedelta(hours=2))
    after = Photo(staff_id=officer.id, role="after", state="ready", public_key="pub/after-marker.jpg")
    session.add(after)
    session.flush()
    workflow.apply(session, report, "resolve", actor=staff, reply=f"Đã gọi anh theo số {SPACED}, đã vá.",
                   expected_version=report.version, after_photo_ids=[after.id], at=T0 + timedelta(days=1))
    workflow.apply(session, report, "rate", actor=me, rating=5, text=f"Cảm ơn, {MARKER}", at=T0 + timedelta(days=2))
    session.add_all([
        IdempotencyKey(resident_id=resident.id, key="idem-marker-0001", request_hash="0" * 64, report_id=report.id,
                       response_status=201, response_body={"reporter": {"phone": MARKER}}),
        Delivery(dedupe_key="marker:report", report_id=report.id, recipient_kind="resident",
                 recipient_id=resident.id, channel="zalo", target=ZALO_ID, template="resolved",
                 body=f"Phản ánh đã xử lý; gọi {MARKER}", payload={"to": ZALO_ID}, send_state="sent",
                 last_error=f"user {ZALO_ID}"),
        Delivery(dedupe_key="marker:chat", recipient_kind="resident", channel="zalo", target=ZALO_ID,
                 template="chat_reply", body=f"Bạn đã gửi số {MARKER}", payload={"text": MARKER}, send_state="sent"),
        Delivery(dedupe_key="marker:push", recipient_kind="resident", recipient_id=resident.id, channel="fcm",
                 target=f"token:fcm-{MARKER}", template="routed", body="Phản ánh đã được chuyển", send_state="sent"),
    ])
    session.flush()
    report.closed_at = T0 + timedelta(days=10)
    report.status = "closed"
    session.add(report)
    session.flush()
    return report


def _everywhere(session: Any, media: Path) -> list[str]:
    """``table.column`` of every stored value, and every media file, that still holds the marker."""
    found = []
    for table in SQLModel.metadata.sorted_tables:
        rows = session.execute(text(f'SELECT * FROM "{table.name}"')).mappings().all()  # noqa: S608
        for row in rows:
            for column, value in row.items():
                shown = str(value)
                if MARKER in shown or SPACED in shown:
                    found.append(f"{table.name}.{column}")
    for path in media.rglob("*"):
        if path.is_file() and MARKER.encode() in path.read_bytes():
            found.append(f"file {path.relative_to(media)}")
    return sorted(set(found))


def test_a_marker_phone_number_planted_everywhere_does_not_survive(session, demo_city, tmp_path):
    storage = LocalStorage(tmp_path / "media")
    _plant(session, storage)
    planted = _everywhere(session, tmp_path / "media")
    for place in ("residents.phone", "identities.subject", "identities.phone", "devices.token", "reports.description",
                  "reports.address", "reports.attributes", "report_events.data", "photos.source_url",
                  "idempotency_keys.response_body", "conversations.external_user_id", "conversations.draft",
                  "inbound_messages.payload", "inbound_messages.external_user_id", "deliveries.target",
                  "deliveries.body", "deliveries.payload"):
        assert place in planted, f"the test did not plant the marker in {place}"
    assert any(p.startswith("file private/") for p in planted), "the private original carries the EXIF marker"

    counts = retention.anonymize(session, older_than="24m", storage=storage, now=utcnow())
    session.flush()
    assert counts["reports"] == 1 and counts["residents"] == 1
    assert _everywhere(session, tmp_path / "media") == []


def test_a_user_who_only_chatted_is_forgotten_too_and_a_recent_one_is_kept(session, demo_city):
    """No report at all: a Zalo follower who chatted years ago (and an anonymous one) leave nothing behind;
    someone who wrote last week keeps their conversation."""
    old, recent = "84" + MARKER, "84912000111"
    resident = Resident(display_name=f"Người dân {MARKER}", phone=MARKER, created_at=T0)
    session.add(resident)
    session.flush()
    now = utcnow()
    session.add_all([
        Identity(resident_id=resident.id, provider="zalo", subject=old, phone=MARKER, last_interaction_at=T0),
        Conversation(channel="zalo", external_user_id=old, resident_id=resident.id, state="idle",
                     draft={"description": f"gọi {SPACED}"}, updated_at=T0),
        Conversation(channel="zalo", external_user_id=f"anon-{MARKER}", state="idle", updated_at=T0),
        InboundMessage(channel="zalo", external_id="msg-chat-only", event_name="user_send_text",
                       external_user_id=old, received_at=T0, payload={"message": {"text": f"số {MARKER}"}}),
        Delivery(dedupe_key="chat-only:reply", recipient_kind="resident", channel="zalo", target=old,
                 template="chat_reply", body=f"Đã nhận số {MARKER}", send_state="sent", created_at=T0),
        Conversation(channel="zalo", external_user_id=recent, state="awaiting_photo", draft={"description": "ổ gà"},
                     updated_at=now - timedelta(days=7)),
        InboundMessage(channel="zalo", external_id="msg-recent", event_name="user_send_text",
                       external_user_id=recent, received_at=now - timedelta(days=7),
                       payload={"message": {"text": "ổ gà"}}),
    ])
    session.flush()
    assert retention.anonymize(session, older_than="24m", now=now, dry_run=True)["chat_messages"] == 1
    planted = _everywhere(session, Path("/nonexistent"))
    for place in ("residents.phone", "identities.phone", "conversations.draft", "conversations.external_user_id",
                  "inbound_messages.payload", "deliveries.body"):
        assert place in planted

    counts = retention.anonymize(session, older_than="24m", now=now)
    session.flush()
    assert counts["residents"] == 1 and counts["chat_messages"] == 1
    assert _everywhere(session, Path("/nonexistent")) == []
    kept = session.exec(select(Conversation).where(Conversation.external_user_id == recent)).one()
    assert kept.draft == {"description": "ổ gà"}
    assert session.exec(select(InboundMessage).where(InboundMessage.external_id == "msg-recent")).one().payload
