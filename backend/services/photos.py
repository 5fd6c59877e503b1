"""The photo pipeline: every photo (app upload, Zalo attachment, Open311 media, staff "after" photo).

1. :func:`accept_upload` / :func:`accept_remote` — validate before any work (type sniffed from the
   bytes, polyglots, bombs, truncation, size), keep the original **privately** under an unguessable
   key, create a ``pending`` Photo and enqueue ``handlers.photos.process_photo`` (or ``fetch_photo``).
2. :func:`process` (worker, idempotent) — orient, read EXIF GPS/time into private columns, store the
   stripped public copy (<= 2048 px) and thumbnails under content-hash names, phash + sha256, then
   :func:`check_provenance` when the photo already belongs to a report.
3. :func:`attach`, :func:`public_view`, :func:`redact`, :func:`original_for_staff` for the callers.

Pixel work lives in ``imaging.py``; downloads in ``fetch.py``; bytes in ``storage.py``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, or_, select

from backend import queue
from backend.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, TooLarge
from backend.models.base import utcnow
from backend.models.photos import Photo, PhotoRole, PhotoState
from backend.models.reports import Report
from backend.services import events, imaging
from backend.services import settings as city_settings
from backend.services.events import Actor
from backend.services.storage import Storage

log = logging.getLogger(__name__)

FAR_M = 500  # photo taken farther than this from the reported point
OLD_DAYS = 7  # photo taken more than this before the report
REUSE_DISTANCE = 6  # phash Hamming distance counted as "the same picture"
PROVENANCE_FLAGS = ("photo_far_from_location", "photo_old", "photo_reused", "photo_no_exif")
ORIGINAL_VIEWERS = {"admin", "dispatcher"}  # plus head/officer of the report's current unit


def check_declared_length(content_length: int | None, max_bytes: int) -> None:
    """For views: refuse an oversize upload from its Content-Length, before reading the body."""
    if content_length is not None and content_length > max_bytes:
        raise _too_large(max_bytes)


def _too_large(max_bytes: int) -> TooLarge:
    return TooLarge(f"Ảnh quá lớn; tối đa {max_bytes // (1024 * 1024)} MB.", code="photo-too-large")


# --------------------------------------------------------------------------- accepting


def accept_upload(session: Session, *, data: bytes, storage: Storage, resident_id: int | None = None,
                  staff_id: int | None = None, role: str = PhotoRole.REPORT,
                  max_bytes: int | None = None) -> Photo:
    """Validate ``data``, store the original privately and create a pending Photo (processing enqueued).

    Raises TooLarge (bytes), Unsupported (not JPEG/PNG/WebP/HEIC, polyglot, animation) or
    InvalidInput (empty, truncated, bomb, dimensions, unknown role). Nothing is stored on error.
    """
    if role not in {r.value for r in PhotoRole}:
        raise InvalidInput("Loại ảnh không hợp lệ.", code="invalid-photo-role")
    if max_bytes is not None and len(data) > max_bytes:
        raise _too_large(max_bytes)
    probe = imaging.probe(data)
    photo = Photo(resident_id=resident_id, staff_id=staff_id, role=role, state=PhotoState.PENDING)
    _store_original(photo, data, probe, storage)
    session.add(photo)
    session.flush()
    queue.enqueue(session, "handlers.photos.process_photo", photo_id=photo.id)
    log.info("photo %s accepted (%s, %d bytes)", photo.id, probe.mime, len(data))
    return photo


def _store_original(photo: Photo, data: bytes, probe: imaging.Probe, storage: Storage) -> None:
    now = utcnow()
    key = f"orig/{now:%Y/%m}/{secrets.token_hex(20)}.{imaging.image_ext(probe.format)}"
    storage.put(key, data, content_type=probe.mime, public=False)
    photo.original_key = key
    photo.mime = probe.mime
    photo.size_bytes = len(data)
    photo.sha256 = hashlib.sha256(data).hexdigest()


def accept_remote(session: Session, *, url: str, resident_id: int | None = None, role: str = PhotoRole.REPORT,
                  source: str) -> Photo:
    """Create a pending Photo for a remote image (Zalo attachment, Open311 ``media_url``).

    The download happens on a worker (``handlers.photos.fetch_photo``) with the policy of ``source``
    ("zalo": allow-listed hosts; "open311": any public host). Raises InvalidInput for a malformed URL
    or an unknown source.
    """
    from backend.services import fetch

    if source not in fetch.SOURCES:
        raise InvalidInput("Nguồn ảnh không hợp lệ.", code="invalid-photo-source")
    fetch.check_url_syntax(url)
    photo = Photo(resident_id=resident_id, role=role, state=PhotoState.PENDING, source_url=url[:2000],
                  original_key="")
    session.add(photo)
    session.flush()
    queue.enqueue(session, "handlers.photos.fetch_photo", photo_id=photo.id, source=source)
    return photo


def store_fetched(session: Session, *, photo: Photo, data: bytes, storage: Storage,
                  max_bytes: int | None = None) -> None:
    """Validate downloaded bytes like an upload and keep them as the original (worker side).

    Raises the same domain errors as :func:`accept_upload`; the caller marks the photo rejected.
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise _too_large(max_bytes)
    probe = imaging.probe(data)
    _store_original(photo, data, probe, storage)
    session.add(photo)
    session.flush()


# --------------------------------------------------------------------------- processing (worker)


def process(session: Session, *, photo: Photo, storage: Storage) -> Photo:
    """Render a pending photo (idempotent: a photo not pending is returned as is).

    A file that turns out broken is marked ``rejected`` with the reason (no retry); storage or other
    unexpected errors propagate so the job is retried.
    """
    if photo.state != PhotoState.PENDING or not photo.original_key:
        return photo
    data = storage.get(photo.original_key)
    try:
        out = imaging.render(data)
    except DomainError as exc:
        return reject(session, photo=photo, error=exc)
    _store_rendition(photo, out.public, out.thumbs, storage)
    photo.width, photo.height, photo.phash = out.width, out.height, out.phash
    photo.has_exif = out.exif.has_exif
    photo.exif_lat, photo.exif_lon, photo.exif_taken_at = out.exif.lat, out.exif.lon, out.exif.taken_at
    photo.state, photo.error, photo.processed_at = PhotoState.READY, None, utcnow()
    session.add(photo)
    session.flush()
    if photo.report_id is not None:
        report = session.get(Report, photo.report_id)
        if report is not None:
            check_provenance(session, report)
    return photo


def reject(session: Session, *, photo: Photo, error: DomainError | str, state: str = PhotoState.REJECTED) -> Photo:
    """Record a permanent failure on the photo (``rejected`` bad file, ``failed`` gave up)."""
    photo.state = state
    photo.error = (f"{error.code}: {error.message}" if isinstance(error, DomainError) else str(error))[:500]
    photo.processed_at = utcnow()
    session.add(photo)
    session.flush()
    log.info("photo %s %s: %s", photo.id, state, photo.error)
    return photo


def _store_rendition(photo: Photo, public: bytes, thumbs: dict[int, bytes], storage: Storage) -> None:
    """Content-hash names: identical bytes share one object; changed bytes get a new URL (immutable cache)."""
    digest = hashlib.sha256(public).hexdigest()[:32]
    public_key = f"p/{digest}.jpg"
    storage.put(public_key, public, content_type="image/jpeg", public=True)
    ext = imaging.image_ext(imaging.THUMB_FORMAT)
    keys: dict[str, str] = {}
    for size, data in thumbs.items():
        key = f"t/{hashlib.sha256(data).hexdigest()[:32]}-{size}.{ext}"
        storage.put(key, data, content_type=f"image/{ext.replace('jpg', 'jpeg')}", public=True)
        keys[str(size)] = key
    photo.public_key = public_key
    photo.thumb_keys = keys


# --------------------------------------------------------------------------- attaching and viewing


def attach(session: Session, *, photo_ids: list[int], report: Report, resident_id: int | None = None,
           staff_id: int | None = None) -> list[Photo]:
    """Attach the caller's unattached photos to ``report``; runs provenance checks for ready ones.

    "The caller's" means uploaded by exactly this resident/staff (photos fetched for Open311 have
    neither, and are attached by a caller giving neither).

    Raises InvalidInput (unknown, rejected or already attached photo) or Forbidden (someone else's).
    """
    try:
        ids = list(dict.fromkeys(int(i) for i in photo_ids))
    except (TypeError, ValueError):
        raise InvalidInput("Mã ảnh không hợp lệ.", code="unknown-photo") from None
    if len(ids) > 10:
        raise InvalidInput("Tối đa 10 ảnh cho một phản ánh.", code="too-many-photos")
    rows = {p.id: p for p in session.exec(select(Photo).where(Photo.id.in_(ids))).all()} if ids else {}
    photos: list[Photo] = []
    for pid in ids:
        photo = rows.get(pid)
        if photo is None:
            raise InvalidInput(f"Không tìm thấy ảnh {pid}.", code="unknown-photo")
        if photo.resident_id != resident_id or photo.staff_id != staff_id:
            raise Forbidden(f"Ảnh {pid} không phải của bạn.", code="photo-not-yours")
        if photo.report_id is not None and photo.report_id != report.id:
            raise InvalidInput(f"Ảnh {pid} đã thuộc một phản ánh khác.", code="photo-already-attached")
        if photo.state in (PhotoState.REJECTED, PhotoState.FAILED):
            raise InvalidInput(f"Ảnh {pid} không hợp lệ: {photo.error or ''}".strip(), code="photo-rejected")
        photos.append(photo)
    link(session, photos=photos, report=report)
    if any(p.state == PhotoState.READY for p in photos):
        check_provenance(session, report)
    return photos


def link(session: Session, *, photos: list[Photo], report: Report) -> None:
    """Point photos already checked by the caller at ``report``; no provenance check.

    The claim is atomic (``UPDATE … WHERE report_id IS NULL``): when two reports race for the same
    unattached photo, the second raises Conflict instead of silently taking it from the first.
    """
    if not photos:
        return
    if report.id is None:
        session.flush()
    ids = [p.id for p in photos]
    claimed = session.execute(update(Photo).where(Photo.id.in_(ids), Photo.report_id.is_(None))
                              .values(report_id=report.id).execution_options(synchronize_session=False))
    if claimed.rowcount != len(ids):
        raise Conflict("Ảnh này vừa được gắn vào một phản ánh khác.", code="photo-already-attached")
    for photo in photos:
        set_committed_value(photo, "report_id", report.id)


def public_view(photo: Photo, storage: Storage) -> dict[str, Any]:
    """What anyone may see: public copy and thumbnail URLs, size, state. Never keys, EXIF or the original."""
    ready = photo.state == PhotoState.READY
    return {
        "id": photo.id,
        "url": storage.url(photo.public_key) if ready and photo.public_key else None,
        "thumbnails": {size: storage.url(key) for size, key in (photo.thumb_keys or {}).items()} if ready else {},
        "width": photo.width if ready else None,
        "height": photo.height if ready else None,
        "state": photo.state,
    }


def photos_of(session: Session, report: Report, *, roles: Iterable[str] | None = None) -> list[Photo]:
    stmt = select(Photo).where(Photo.report_id == report.id).order_by(Photo.id)
    if roles is not None:
        stmt = stmt.where(Photo.role.in_(list(roles)))
    return list(session.exec(stmt).all())


# --------------------------------------------------------------------------- provenance


def check_provenance(session: Session, report: Report, *, far_m: float | None = None, old_days: int | None = None,
                     reuse_distance: int = REUSE_DISTANCE) -> dict[str, Any]:
    """Recompute the photo flags of ``report`` from its ready photos; returns (and sets) ``report.flags``.

    Flags (informational for staff, never shown publicly): ``photo_far_from_location``,
    ``photo_old``, ``photo_reused`` (exact or near-duplicate of a photo in another report) and
    ``photo_no_exif`` (normal for chat apps). Thresholds: arguments, else the city settings
    ``photo_far_m`` / ``photo_old_days``, else FAR_M / OLD_DAYS.
    """
    far_m = far_m if far_m is not None else _number(session, "photo_far_m", FAR_M)
    old_days = old_days if old_days is not None else int(_number(session, "photo_old_days", OLD_DAYS))
    flags = {k: v for k, v in (report.flags or {}).items() if k not in PROVENANCE_FLAGS}
    ready = [p for p in photos_of(session, report) if p.state == PhotoState.READY]
    evidence = [p for p in ready if p.role == PhotoRole.REPORT]
    for p in evidence:
        far = _distance_m(p, report)
        if far is not None and far > far_m and "photo_far_from_location" not in flags:
            flags["photo_far_from_location"] = {"photo_id": p.id, "distance_m": round(far)}
        if p.exif_taken_at and report.created_at and "photo_old" not in flags:
            age = report.created_at - p.exif_taken_at
            if age > timedelta(days=old_days):
                flags["photo_old"] = {"photo_id": p.id, "taken_at": p.exif_taken_at.isoformat(), "days": age.days}
    if evidence and any(not p.has_exif for p in evidence):
        flags["photo_no_exif"] = True
    reused = _reused(session, report, ready, reuse_distance)
    if reused:
        flags["photo_reused"] = reused
    report.flags = flags
    session.add(report)
    session.flush()
    return flags


def _number(session: Session, key: str, default: float) -> float:
    value = city_settings.get(session, key, default)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else default


def _distance_m(photo: Photo, report: Report) -> float | None:
    if None in (photo.exif_lat, photo.exif_lon, report.lat, report.lon):
        return None
    lat1, lon1, lat2, lon2 = map(math.radians, (photo.exif_lat, photo.exif_lon, report.lat, report.lon))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000 * math.asin(min(1.0, math.sqrt(h)))


def _reused(session: Session, report: Report, photos: list[Photo], max_distance: int) -> dict[str, Any] | None:
    """Same sha256, same phash, or a phash sharing its first 16 bits within ``max_distance`` bits."""
    for p in photos:
        conds = [Photo.sha256 == p.sha256]
        if p.phash:
            conds += [Photo.phash == p.phash, Photo.phash.like(p.phash[:4] + "%")]
        stmt = (select(Photo, Report.code).join(Report, Report.id == Photo.report_id)
                .where(Photo.report_id != report.id, Photo.state == PhotoState.READY, or_(*conds))
                .order_by(Photo.id).limit(200))
        for other, code in session.exec(stmt).all():
            exact = bool(p.sha256) and other.sha256 == p.sha256
            dist = 0 if exact else _hamming(p.phash, other.phash)
            if dist is not None and dist <= max_distance:
                return {"photo_id": p.id, "report_code": code, "other_photo_id": other.id, "exact": exact,
                        "distance": dist}
    return None


def _hamming(a: str | None, b: str | None) -> int | None:
    if not a or not b or len(a) != len(b):
        return None
    try:
        return (int(a, 16) ^ int(b, 16)).bit_count()
    except ValueError:
        return None


# --------------------------------------------------------------------------- staff: redaction, originals


def redact(session: Session, *, photo: Photo, rect: tuple[int, int, int, int], actor: Actor,
           storage: Storage) -> Photo:
    """Blur ``rect`` = (x, y, width, height) in public-copy pixels; the unredacted copy is deleted.

    Raises Forbidden (not staff), InvalidInput (photo not ready, bad rectangle). Records an internal
    ``photo_redacted`` event when the photo belongs to a report.
    """
    if actor.kind != "staff":
        raise Forbidden("Chỉ cán bộ mới được che thông tin trên ảnh.", code="forbidden")
    if photo.state != PhotoState.READY or not photo.public_key:
        raise InvalidInput("Ảnh chưa xử lý xong.", code="photo-not-ready")
    try:
        rect = tuple(int(v) for v in rect)  # type: ignore[assignment]
    except (TypeError, ValueError):
        rect = ()  # type: ignore[assignment]
    if len(rect) != 4:
        raise InvalidInput("Vùng cần che không hợp lệ.", code="invalid-rect")
    old_keys = [photo.public_key, *(photo.thumb_keys or {}).values()]
    public, image = imaging.blur_rect(storage.get(photo.public_key), tuple(rect))  # type: ignore[arg-type]
    _store_rendition(photo, public, imaging.thumbnails_of(image), storage)
    photo.redacted_at = utcnow()
    session.add(photo)
    session.flush()
    _delete_unreferenced(session, old_keys, keep={photo.public_key, *photo.thumb_keys.values()}, storage=storage)
    if photo.report_id is not None:
        report = session.get(Report, photo.report_id)
        if report is not None:
            events.record(session, report, "photo_redacted", actor=actor, is_public=False,
                          data={"photo_id": photo.id, "rect": [int(v) for v in rect]})
    return photo


def _delete_unreferenced(session: Session, keys: list[str], *, keep: set[str], storage: Storage) -> None:
    """Delete the replaced public copy and thumbnails unless another photo (same bytes) still uses them.

    Thumbnails derive deterministically from the public copy, so the public key decides for all.
    """
    if not keys or keys[0] in keep:
        return
    if session.exec(select(Photo.id).where(Photo.public_key == keys[0])).first() is not None:
        return
    for key in keys:
        if key and key not in keep:
            storage.delete(key)


def original_for_staff(session: Session, *, photo: Photo, actor: Actor, storage: Storage) -> bytes:
    """The private original, for authorised staff only; each view is a ``pii_viewed`` event.

    Authorised: admin and dispatcher; head/officer of the report's current unit; the staff member who
    uploaded it. Raises Forbidden otherwise, NotFound when the original is missing.
    """
    report = session.get(Report, photo.report_id) if photo.report_id is not None else None
    if not _may_see_original(actor, photo, report):
        raise Forbidden("Bạn không có quyền xem ảnh gốc.", code="forbidden")
    if not photo.original_key:
        raise NotFound("Ảnh gốc không còn.", code="photo-original-missing")
    data = storage.get(photo.original_key)
    if report is not None:
        events.record(session, report, "pii_viewed", actor=actor, is_public=False,
                      data={"what": "photo_original", "photo_id": photo.id})
    return data


def _may_see_original(actor: Actor, photo: Photo, report: Report | None) -> bool:
    if actor.kind != "staff":
        return False
    if actor.role in ORIGINAL_VIEWERS or (photo.staff_id is not None and actor.staff_id == photo.staff_id):
        return True
    return bool(report and actor.role in ("head", "officer") and actor.unit_id == report.unit_id)
