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
import secrets

from sqlmodel import Session

from backend import queue
from backend.errors import DomainError, InvalidInput, TooLarge
from backend.models.base import utcnow
from backend.models.photos import Photo, PhotoRole, PhotoState
from backend.models.reports import Report
from backend.services.photos import imaging
from backend.services.photos.linking import check_provenance
from backend.services.photos.storage import Storage

log = logging.getLogger(__name__)



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
    from backend.services.photos import remote as fetch

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


