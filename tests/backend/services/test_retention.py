"""Decree 13/2023 retention: old closed reports lose personal data, KPIs stay exactly the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from backend.errors import InvalidInput
from backend.models import Device, Identity, Photo, Report, ReportEvent, Resident
from backend.services import retention
from backend.services.deadlines import kpis
from backend.services.events import Actor
from backend.services.photos.storage import LocalStorage
from backend.services.reports import intake, workflow

T0 = datetime(2024, 5, 2, 2, 0, tzinfo=UTC)  # 09:00 in Hồ Chí Minh City


@pytest.fixture
def storage(tmp_path):
    return LocalStorage(tmp_path / "media")


def _closed_report(session, storage, *, at, rating=4):
    resident = Resident(display_name="Nguyễn Văn A", phone="0912345678", email="a@example.vn")
    session.add(resident)
    session.flush()
    session.add_all([Identity(resident_id=resident.id, provider="firebase", subject=f"uid-{resident.id}"),
                     Device(resident_id=resident.id, token=f"tok-{resident.id}")])
    storage.put(f"orig/{resident.id}", b"original-bytes", content_type="image/jpeg", public=False)
    photo = Photo(resident_id=resident.id, original_key=f"orig/{resident.id}", state="ready",
                  exif_lat=9.6, exif_lon=105.97, exif_taken_at=at, public_key=f"pub/{resident.id}.jpg")
    session.add(photo)
    session.flush()
    me = Actor.resident(resident.id)
    report = intake.create_report(session, channel="app", actor=me, category_code="duong-hu-hong",
                                  description="Ổ gà lớn trước chợ", lat=9.603, lon=105.975,
                                  photo_ids=[photo.id], resident_id=resident.id, at=at)
    from backend.models import Staff

    officer = Staff(email=f"o{report.id}@x.vn", role="officer", unit_id=report.unit_id, name="Cán bộ")
    session.add(officer)
    session.flush()
    staff = Actor.staff(officer)
    workflow.apply(session, report, "acknowledge", actor=staff, expected_version=report.version,
                   at=at + timedelta(hours=2))
    after = Photo(staff_id=officer.id, role="after", state="ready", public_key=f"pub/after-{report.id}.jpg")
    session.add(after)
    session.flush()
    workflow.apply(session, report, "resolve", actor=staff, reply="Đã vá xong ổ gà.", expected_version=report.version,
                   after_photo_ids=[after.id], at=at + timedelta(days=1))
    workflow.apply(session, report, "rate", actor=me, rating=rating, text="Tốt", at=at + timedelta(days=2))
    session.flush()
    return report, resident, photo


def test_anonymize_removes_personal_data_and_keeps_kpis(session, demo_city, storage):
    old, old_resident, old_photo = _closed_report(session, storage, at=T0)
    recent_at = datetime.now(UTC) - timedelta(days=30)
    recent, recent_resident, _ = _closed_report(session, storage, at=recent_at)
    period = {"start": T0 - timedelta(days=1), "end": datetime.now(UTC)}
    before = kpis.compute(session, **period)

    counts = retention.anonymize(session, older_than="24m", storage=storage)
    session.flush()
    assert counts == {"reports": 1, "photos": 2, "residents": 1, "chat_messages": 0}

    assert kpis.compute(session, **period) == before
    session.refresh(old)
    assert old.resident_id is None
    gone = session.get(Resident, old_resident.id)
    assert (gone.display_name, gone.phone, gone.email) == (None, None, None) and gone.anonymized_at
    assert session.exec(select(Identity).where(Identity.resident_id == old_resident.id)).all() == []
    assert session.exec(select(Device).where(Device.resident_id == old_resident.id)).all() == []
    photo = session.get(Photo, old_photo.id)
    assert (photo.exif_lat, photo.exif_lon, photo.exif_taken_at, photo.original_key) == (None, None, None, "")
    assert not storage.exists(f"orig/{old_resident.id}")
    assert photo.public_key  # the public, metadata-free copy stays
    actor_ids = session.exec(select(ReportEvent.actor_id).where(ReportEvent.report_id == old.id,
                                                                ReportEvent.actor_kind == "resident")).all()
    assert actor_ids and set(actor_ids) == {None}
    # the recent report keeps its reporter
    assert session.get(Report, recent.id).resident_id == recent_resident.id
    # idempotent
    assert retention.anonymize(session, older_than="24m", storage=storage)["reports"] == 0


def test_a_reporter_using_the_app_right_now_is_not_scrubbed(session, demo_city, storage):
    """Their old report is anonymised, but an app process may map their uid to them from its cache
    (issue 20): their identity stays until they are idle; without the recent use they are scrubbed."""
    from backend.services.residents import INTERACTION_RESOLUTION

    old, active, _ = _closed_report(session, storage, at=T0)
    _, idle, _ = _closed_report(session, storage, at=T0)
    identity = session.exec(select(Identity).where(Identity.resident_id == active.id)).one()
    identity.last_interaction_at = datetime.now(UTC) - INTERACTION_RESOLUTION
    session.add(identity)
    session.flush()
    counts = retention.anonymize(session, older_than="24m", storage=storage)
    session.flush()
    assert counts["reports"] == 2 and counts["residents"] == 1
    session.refresh(old)
    assert old.resident_id is None
    assert session.exec(select(Identity).where(Identity.resident_id == active.id)).one().subject == identity.subject
    assert session.get(Resident, active.id).anonymized_at is None
    assert session.get(Resident, idle.id).anonymized_at is not None


@pytest.mark.parametrize("bad", ["", "24", "m", "-3m", "0m", "24 weeks", "9999m", "24m; DROP TABLE reports"])
def test_bad_periods_are_refused(session, bad):
    with pytest.raises(InvalidInput):
        retention.parse_period(bad)


def test_anonymize_erases_a_phone_shared_for_zns(session, demo_city, storage):
    from backend.services.residents import phones

    _, resident, _ = _closed_report(session, storage, at=T0)
    session.add(Identity(resident_id=resident.id, provider="zalo", subject=f"zalo-{resident.id}"))
    session.flush()
    assert phones.share(session, provider="zalo", subject=f"zalo-{resident.id}", phone="84912345678")
    retention.anonymize(session, older_than="24m", storage=storage)
    session.flush()
    left = session.exec(select(Identity.phone).where(Identity.phone.is_not(None))).all()
    assert left == [] and session.exec(select(Identity).where(Identity.subject == f"zalo-{resident.id}")).all() == []
