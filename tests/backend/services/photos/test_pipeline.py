"""The photo service: validation of the hostile corpus, processing, metadata stripping, provenance."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image
from sqlmodel import select

from backend.errors import Conflict, DomainError, Forbidden, InvalidInput, TooLarge, Unsupported
from backend.models import Outbox
from backend.models.photos import Photo
from backend.models.reports import Report, ReportEvent
from backend.models.residents import Resident
from backend.models.staff import Staff
from backend.services import photos
from backend.services.events import Actor
from backend.services.photos.storage import LocalStorage

from fixtures import images as corpus


@pytest.fixture
def storage(tmp_path):
    return LocalStorage(tmp_path / "media")


@pytest.fixture
def resident(session):
    r = Resident(display_name="Nguyễn Văn A")
    session.add(r)
    session.flush()
    return r


def make_report(session, code="PA-TEST01", lat=corpus.GPS_HANOI[0], lon=corpus.GPS_HANOI[1], **kw):
    report = Report(code=code, lat=lat, lon=lon, description="Ổ gà", **kw)
    session.add(report)
    session.flush()
    return report


def upload(session, storage, data, resident=None, **kw):
    return photos.accept_upload(session, data=data, storage=storage,
                                resident_id=resident.id if resident else None, **kw)


def ready(session, storage, data, resident=None, **kw):
    photo = upload(session, storage, data, resident, **kw)
    return photos.process(session, photo=photo, storage=storage)


# --------------------------------------------------------------------------- the hostile corpus


@pytest.mark.parametrize("name", sorted(corpus.HOSTILE))
def test_hostile_corpus_accepted_or_refused_as_specified(session, storage, name):
    build, expected = corpus.HOSTILE[name]
    data = build()
    before = session.exec(select(Photo)).all()
    if expected == "ok":
        photo = ready(session, storage, data)
        assert photo.state == "ready", photo.error
        assert max(photo.width, photo.height) <= 2048
        public = Image.open(io.BytesIO(storage.get(photo.public_key)))
        assert public.format == "JPEG" and public.mode == "RGB"
        return
    with pytest.raises(DomainError) as err:
        upload(session, storage, data)
    assert err.value.code == expected
    assert isinstance(err.value, (InvalidInput, Unsupported))
    assert err.value.message and any(c in err.value.message for c in "ảệđ")  # Vietnamese, with diacritics
    assert session.exec(select(Photo)).all() == before  # nothing stored
    assert not list((storage.root / "private").rglob("*.*")) if (storage.root / "private").exists() else True


def test_oversize_refused_before_any_work(session, storage):
    with pytest.raises(TooLarge):
        upload(session, storage, corpus.jpeg(), max_bytes=1000)
    with pytest.raises(TooLarge):
        photos.check_declared_length(10_000_000, 1_000_000)
    photos.check_declared_length(None, 1_000_000)


def test_unknown_role_refused(session, storage):
    with pytest.raises(InvalidInput):
        upload(session, storage, corpus.jpeg(), role="selfie")


def test_upload_keeps_original_private_and_enqueues_processing(session, storage, resident):
    data = corpus.jpeg()
    photo = upload(session, storage, data, resident)
    assert photo.state == "pending" and photo.mime == "image/jpeg" and photo.size_bytes == len(data)
    assert photo.original_key.startswith("orig/") and len(photo.original_key.rsplit("/", 1)[1]) > 30
    assert storage.get(photo.original_key) == data
    assert storage.url(photo.original_key) is None and not storage.is_public(photo.original_key)
    jobs = session.exec(select(Outbox).where(Outbox.job_name == "handlers.photos.process_photo")).all()
    assert [j.args for j in jobs] == [{"photo_id": photo.id}]


def test_sniffs_bytes_not_names(session, storage):
    photo = upload(session, storage, corpus.png())
    assert photo.mime == "image/png"
    photo = upload(session, storage, corpus.heic())
    assert photo.mime == "image/heic"


# --------------------------------------------------------------------------- processing


def test_public_copy_and_thumbnails_have_no_metadata_private_columns_keep_it(session, storage):
    data = corpus.photo_with_everything()
    assert corpus.metadata_segments(data)  # the original carries EXIF, XMP, ICC and a comment
    photo = ready(session, storage, data)
    assert photo.state == "ready"
    assert photo.has_exif is True
    assert photo.exif_lat == pytest.approx(corpus.GPS_HANOI[0], abs=1e-5)
    assert photo.exif_lon == pytest.approx(corpus.GPS_HANOI[1], abs=1e-5)
    assert photo.exif_taken_at == datetime(2026, 11, 20, 1, 30, tzinfo=UTC)  # 08:30 in Hà Nội
    for key in [photo.public_key, *photo.thumb_keys.values()]:
        blob = storage.get(key)
        assert corpus.metadata_segments(blob) == [], key
        im = Image.open(io.BytesIO(blob))
        assert not im.getexif() and "icc_profile" not in im.info and "xmp" not in im.info
        assert b"21.0285" not in blob and b"secret" not in blob and b"GPS" not in blob
    assert storage.get(photo.original_key) == data  # the original is kept intact, privately


def test_processing_outputs(session, storage):
    photo = ready(session, storage, corpus.jpeg(3000, 2000))
    assert (photo.width, photo.height) == (2048, 1365)
    assert set(photo.thumb_keys) == {"640", "160"}
    sizes = {k: Image.open(io.BytesIO(storage.get(v))).size for k, v in photo.thumb_keys.items()}
    assert sizes == {"640": (640, 427), "160": (160, 107)}
    assert len(photo.phash) == 16 and len(photo.sha256) == 64
    assert photo.public_key.startswith("p/") and storage.is_public(photo.public_key)
    assert photo.processed_at is not None


def test_exif_rotated_portrait_is_upright(session, storage):
    photo = ready(session, storage, corpus.rotated_portrait())
    assert (photo.width, photo.height) == (600, 800)
    im = Image.open(io.BytesIO(storage.get(photo.public_key))).convert("RGB")
    r, g, _b = im.getpixel((im.width - 10, 10))  # the red marker block ends up top-right
    assert r > 180 and g < 80


def test_png_alpha_flattened_on_white_and_cmyk_converted(session, storage):
    for data in (corpus.png(alpha=True), corpus.cmyk_jpeg()):
        photo = ready(session, storage, data)
        assert Image.open(io.BytesIO(storage.get(photo.public_key))).mode == "RGB"


def test_processing_is_idempotent(session, storage):
    photo = ready(session, storage, corpus.jpeg())
    keys = (photo.public_key, dict(photo.thumb_keys))
    again = photos.process(session, photo=photo, storage=storage)
    assert (again.public_key, again.thumb_keys) == keys


def test_corrupt_body_found_by_worker_is_rejected_not_crashed(session, storage):
    data = bytearray(corpus.jpeg(800, 600))
    data[len(data) // 3: len(data) // 3 + 400] = b"\xff\x00" * 200  # damaged entropy data, intact EOI
    photo = upload(session, storage, bytes(data))
    photo = photos.process(session, photo=photo, storage=storage)
    assert photo.state in ("ready", "rejected")  # libjpeg may conceal damage; never an exception
    if photo.state == "rejected":
        assert photo.error


def test_public_view_never_shows_private_data(session, storage):
    photo = ready(session, storage, corpus.photo_with_everything())
    view = photos.public_view(photo, storage)
    assert set(view) == {"id", "url", "thumbnails", "width", "height", "state"}
    assert view["url"] == f"/media/{photo.public_key}"
    assert set(view["thumbnails"]) == {"640", "160"}
    assert "orig" not in str(view) and "21.02" not in str(view)
    pending = upload(session, storage, corpus.jpeg())
    assert photos.public_view(pending, storage)["url"] is None


# --------------------------------------------------------------------------- attach and provenance


def test_attach_checks_ownership(session, storage, resident):
    other = Resident(display_name="B")
    session.add(other)
    session.flush()
    report = make_report(session)
    mine = upload(session, storage, corpus.jpeg(), resident)
    theirs = upload(session, storage, corpus.jpeg(seed=3), other)
    with pytest.raises(Forbidden):
        photos.attach(session, photo_ids=[theirs.id], report=report, resident_id=resident.id)
    with pytest.raises(InvalidInput):
        photos.attach(session, photo_ids=[999_999], report=report, resident_id=resident.id)
    assert photos.attach(session, photo_ids=[mine.id], report=report, resident_id=resident.id) == [mine]
    assert mine.report_id == report.id
    second = make_report(session, code="PA-TEST02")
    with pytest.raises(InvalidInput):
        photos.attach(session, photo_ids=[mine.id], report=second, resident_id=resident.id)


def test_flags_far_old_and_no_exif(session, storage, resident):
    old = datetime(2026, 1, 2, 9, 0)
    far = corpus.jpeg(exif=corpus.make_exif(lat=10.7769, lon=106.7009, taken=old))  # Sài Gòn, months ago
    photo = ready(session, storage, far, resident)
    report = make_report(session)
    photos.attach(session, photo_ids=[photo.id], report=report, resident_id=resident.id)
    flags = report.flags
    assert flags["photo_far_from_location"]["distance_m"] > 1_000_000
    assert flags["photo_old"]["days"] > 300
    assert "photo_no_exif" not in flags and "photo_reused" not in flags

    plain = ready(session, storage, corpus.png(seed=7), resident)  # chat apps strip EXIF
    report2 = make_report(session, code="PA-TEST02")
    photos.attach(session, photo_ids=[plain.id], report=report2, resident_id=resident.id)
    assert report2.flags == {"photo_no_exif": True}


def test_near_location_and_recent_photo_not_flagged(session, storage, resident):
    taken = (datetime.now(UTC) - timedelta(hours=2)).astimezone(corpus_tz()).replace(tzinfo=None)
    data = corpus.jpeg(exif=corpus.make_exif(lat=21.0287, lon=105.8545, taken=taken))
    photo = ready(session, storage, data, resident)
    report = make_report(session)
    photos.attach(session, photo_ids=[photo.id], report=report, resident_id=resident.id)
    assert report.flags == {}


def corpus_tz():
    from backend.services.photos.imaging import VN_TZ

    return VN_TZ


def test_reused_photo_flagged_exact_and_near(session, storage, resident):
    original = corpus.jpeg(1600, 1200, quality=92)
    first = ready(session, storage, original, resident)
    report1 = make_report(session, code="PA-FIRST1")
    photos.attach(session, photo_ids=[first.id], report=report1, resident_id=resident.id)

    again = ready(session, storage, original, resident)  # the very same file
    report2 = make_report(session, code="PA-AGAIN2")
    photos.attach(session, photo_ids=[again.id], report=report2, resident_id=resident.id)
    assert report2.flags["photo_reused"]["report_code"] == "PA-FIRST1"
    assert report2.flags["photo_reused"]["exact"] is True

    buf = io.BytesIO()  # re-encoded and downscaled: another file, the same picture
    Image.open(io.BytesIO(original)).resize((800, 600)).save(buf, "JPEG", quality=60)
    near = ready(session, storage, buf.getvalue(), resident)
    report3 = make_report(session, code="PA-NEAR03")
    photos.attach(session, photo_ids=[near.id], report=report3, resident_id=resident.id)
    reused = report3.flags["photo_reused"]
    assert reused["exact"] is False and reused["distance"] <= photos.REUSE_DISTANCE

    different = ready(session, storage, corpus.png(seed=11), resident)
    report4 = make_report(session, code="PA-OTHER4")
    photos.attach(session, photo_ids=[different.id], report=report4, resident_id=resident.id)
    assert "photo_reused" not in report4.flags


def test_flags_set_when_processing_finishes_after_attach(session, storage, resident):
    photo = upload(session, storage, corpus.png(), resident)
    report = make_report(session)
    photos.attach(session, photo_ids=[photo.id], report=report, resident_id=resident.id)
    assert report.flags == {}
    photos.process(session, photo=photo, storage=storage)
    session.refresh(report)
    assert report.flags == {"photo_no_exif": True}


# --------------------------------------------------------------------------- staff: redaction, originals


def make_staff(session, role="officer", unit_id=None, email="canbo@example.vn"):
    staff = Staff(email=email, name="Cán bộ", role=role, unit_id=unit_id)
    session.add(staff)
    session.flush()
    return staff


def test_redaction_replaces_public_copy_and_is_an_event(session, storage, resident):
    photo = ready(session, storage, corpus.jpeg(800, 600), resident)
    report = make_report(session)
    photos.attach(session, photo_ids=[photo.id], report=report, resident_id=resident.id)
    old_keys = [photo.public_key, *photo.thumb_keys.values()]
    before = Image.open(io.BytesIO(storage.get(photo.public_key))).convert("RGB")
    staff = make_staff(session, role="dispatcher")
    photos.redact(session, photo=photo, rect=(300, 200, 200, 150), actor=Actor.staff(staff), storage=storage)
    assert photo.redacted_at is not None and photo.public_key not in old_keys
    for key in old_keys:
        assert not storage.exists(key)  # the unredacted copy is gone, not kept beside
    after = Image.open(io.BytesIO(storage.get(photo.public_key))).convert("RGB")
    assert after.getpixel((10, 10)) == pytest.approx(before.getpixel((10, 10)), abs=12)
    inside = after.crop((300, 200, 500, 350))
    assert inside.getextrema() != before.crop((300, 200, 500, 350)).getextrema()
    assert corpus.metadata_segments(storage.get(photo.public_key)) == []
    ev = session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id)).all()
    assert [(e.kind, e.is_public) for e in ev] == [("photo_redacted", False)]


def test_redaction_refuses_bad_rect_and_non_staff(session, storage, resident):
    photo = ready(session, storage, corpus.jpeg(), resident)
    staff = make_staff(session)
    with pytest.raises(InvalidInput):
        photos.redact(session, photo=photo, rect=(5000, 5000, 10, 10), actor=Actor.staff(staff), storage=storage)
    with pytest.raises(InvalidInput):
        photos.redact(session, photo=photo, rect=(0, 0, -5, 10), actor=Actor.staff(staff), storage=storage)
    with pytest.raises(Forbidden):
        photos.redact(session, photo=photo, rect=(0, 0, 50, 50), actor=Actor.resident(resident.id), storage=storage)
    for bad in (("a", 0, 1, 1), (1, 2, 3), None):
        with pytest.raises(InvalidInput):
            photos.redact(session, photo=photo, rect=bad, actor=Actor.staff(staff), storage=storage)
    with pytest.raises(InvalidInput):
        photos.attach(session, photo_ids=["x"], report=make_report(session), resident_id=resident.id)


def test_original_only_for_authorised_staff_and_each_view_is_an_event(session, storage, resident):
    from backend.models.units import Unit

    unit, other_unit = Unit(code="GT", name_vi="Sở Xây dựng"), Unit(code="MT", name_vi="Sở Nông nghiệp")
    session.add_all([unit, other_unit])
    session.flush()
    data = corpus.photo_with_everything()
    photo = ready(session, storage, data, resident)
    report = make_report(session, unit_id=unit.id)
    photos.attach(session, photo_ids=[photo.id], report=report, resident_id=resident.id)
    officer = make_staff(session, "officer", unit.id, "a@example.vn")
    stranger = make_staff(session, "officer", other_unit.id, "b@example.vn")
    viewer = make_staff(session, "viewer", unit.id, "c@example.vn")
    assert photos.original_for_staff(session, photo=photo, actor=Actor.staff(officer), storage=storage) == data
    for who in (stranger, viewer):
        with pytest.raises(Forbidden):
            photos.original_for_staff(session, photo=photo, actor=Actor.staff(who), storage=storage)
    with pytest.raises(Forbidden):
        photos.original_for_staff(session, photo=photo, actor=Actor.resident(resident.id), storage=storage)
    ev = session.exec(select(ReportEvent).where(ReportEvent.kind == "pii_viewed")).all()
    assert len(ev) == 1 and ev[0].actor_id == str(officer.id) and ev[0].data["photo_id"] == photo.id
    assert ev[0].is_public is False


@pytest.mark.parametrize("name", sorted(corpus.HOSTILE))
def test_worker_survives_every_hostile_file_even_past_the_upload_check(session, storage, name):
    """Defence in depth: an original that skipped validation is rejected by the worker, never raised."""
    data = corpus.HOSTILE[name][0]()
    storage.put(f"orig/test/{name}", data, content_type="application/octet-stream", public=False)
    photo = Photo(original_key=f"orig/test/{name}", state="pending", sha256="x")
    session.add(photo)
    session.flush()
    photo = photos.process(session, photo=photo, storage=storage)
    expected = corpus.HOSTILE[name][1]
    if expected == "ok":
        assert photo.state == "ready"
    elif name in ("polyglot-jpeg-zip", "jpeg-with-script", "apng-animation", "animated-webp"):
        assert photo.state == "ready"  # valid pixels: the public copy is re-encoded, the payload dropped
    else:
        assert photo.state == "rejected" and photo.error
    if photo.state == "ready":
        assert corpus.metadata_segments(storage.get(photo.public_key)) == []


def test_provenance_thresholds_from_city_settings(session, storage, resident):
    from backend.services.city import settings as city_settings

    near = corpus.jpeg(exif=corpus.make_exif(lat=21.0330, lon=105.8542))  # ~500 m north
    photo = ready(session, storage, near, resident)
    report = make_report(session)
    photos.attach(session, photo_ids=[photo.id], report=report, resident_id=resident.id)
    assert "photo_far_from_location" in report.flags
    city_settings.put(session, "photo_far_m", 2000)
    assert "photo_far_from_location" not in photos.check_provenance(session, report)
    city_settings.put(session, "photo_far_m", "nonsense")
    assert "photo_far_from_location" in photos.check_provenance(session, report)


def test_two_reports_racing_for_one_photo_second_gets_conflict(live_db):
    if live_db.is_sqlite:
        pytest.skip("SQLite transactions take the write lock at BEGIN: writers never interleave")
    with live_db.session_scope() as s:
        first, second = make_report(s, code="PA-RACE01"), make_report(s, code="PA-RACE02")
        photo = Photo(state="ready", mime="image/jpeg", role="before")
        s.add(photo)
        s.flush()
        ids = first.id, second.id, photo.id
    with live_db.session() as slow, live_db.session() as fast:
        stale = slow.get(Photo, ids[2])                       # read while still unattached
        assert stale.report_id is None
        photos.link(fast, photos=[fast.get(Photo, ids[2])], report=fast.get(Report, ids[1]))
        fast.commit()
        with pytest.raises(Conflict):
            photos.link(slow, photos=[stale], report=slow.get(Report, ids[0]))
        slow.rollback()
    with live_db.session() as s:
        assert s.get(Photo, ids[2]).report_id == ids[1]      # the first claim stands
