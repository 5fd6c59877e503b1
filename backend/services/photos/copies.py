"""The copies of a photo people see: public views and thumbnails, staff redaction, the private original.

The public copy (metadata stripped, <= 2048 px) and thumbnails are what anyone may see; the original is
private and each staff view of it is a ``pii_viewed`` event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from backend.errors import Forbidden, InvalidInput, NotFound
from backend.models.base import utcnow
from backend.models.photos import Photo, PhotoRole, PhotoState
from backend.models.reports import Report
from backend.services import events
from backend.services.events import Actor
from backend.services.photos import imaging
from backend.services.photos.pipeline import _store_rendition
from backend.services.photos.storage import Storage

ORIGINAL_VIEWERS = {"admin", "dispatcher"}  # plus head/officer of the report's current unit


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


def thumbnails(session: Session, *, report_ids: list[int]) -> dict[int, str]:
    """The first ready report photo's small thumbnail key per report (public copy)."""
    if not report_ids:
        return {}
    stmt = (select(Photo.report_id, Photo.thumb_keys, Photo.public_key)
            .where(col(Photo.report_id).in_(report_ids), Photo.role == PhotoRole.REPORT,
                   Photo.state == PhotoState.READY)
            .order_by(col(Photo.id)))
    out: dict[int, str] = {}
    for report_id, thumb_keys, public_key in session.exec(stmt):
        if report_id in out:
            continue
        key = smallest_thumb(thumb_keys, public_key)
        if key:
            out[report_id] = key
    return out


def smallest_thumb(thumb_keys: dict[str, Any] | None, public_key: str | None) -> str | None:
    """The smallest thumbnail key (keys are pixel sizes: ``{"256": ..., "512": ...}``), else the public copy."""
    sized = [(int(k), v) for k, v in (thumb_keys or {}).items() if str(k).isdigit() and isinstance(v, str)]
    if sized:
        return min(sized)[1]
    named = [v for v in (thumb_keys or {}).values() if isinstance(v, str)]
    return named[0] if named else public_key


def _thumb_key(photo: Photo) -> str | None:
    return smallest_thumb(photo.thumb_keys, photo.public_key)


def first_public_photos(session: Session, report_ids: list[int]) -> dict[int, Photo]:
    """The first ready report photo of each report (for thumbnails on the map/list)."""
    if not report_ids:
        return {}
    rows = session.exec(select(Photo).where(col(Photo.report_id).in_(report_ids), Photo.role == "report",
                                            Photo.state == PhotoState.READY).order_by(Photo.id))
    out: dict[int, Photo] = {}
    for photo in rows:
        out.setdefault(photo.report_id, photo)  # type: ignore[arg-type]
    return out


def public_report_photos(session: Session, report_ids: list[int]) -> dict[int, list[Photo]]:
    """``report_id -> report photos`` that have a public copy, oldest first."""
    if not report_ids:
        return {}
    rows = session.exec(select(Photo).where(col(Photo.report_id).in_(report_ids), Photo.role == PhotoRole.REPORT,
                                            col(Photo.public_key).is_not(None)).order_by(col(Photo.id)))
    found: dict[int, list[Photo]] = {}
    for photo in rows:
        found.setdefault(photo.report_id, []).append(photo)  # type: ignore[arg-type]
    return found


def public_photos(session: Session, photo_ids: list[int]) -> dict[int, Photo]:
    """``photo_id -> photo`` for those of ``photo_ids`` that have a public copy."""
    if not photo_ids:
        return {}
    rows = session.exec(select(Photo).where(col(Photo.id).in_(photo_ids), col(Photo.public_key).is_not(None)))
    return {p.id: p for p in rows}  # type: ignore[misc]


# --------------------------------------------------------------------------- staff: redaction, originals


#: at most this many rectangles in one redaction (a drag-select session on the report page)
MAX_RECTS = 20


def redact(session: Session, *, photo: Photo, actor: Actor, storage: Storage,
           rect: tuple[int, int, int, int] | None = None,
           rects: Sequence[tuple[int, int, int, int]] = (), reason: str | None = None) -> Photo:
    """Blur ``rect`` and/or every one of ``rects`` = (x, y, width, height) in public-copy pixels, in one
    new public copy (thumbnails regenerated); the unredacted copy is deleted, the original untouched.

    Raises Forbidden (not staff), InvalidInput (photo not ready, no rectangle, a bad one, more than
    :data:`MAX_RECTS`) — and then nothing is written. Records an internal ``photo_redacted`` event
    (who, the rectangles, the reason) when the photo belongs to a report.
    """
    if actor.kind != "staff":
        raise Forbidden("Chỉ cán bộ mới được che thông tin trên ảnh.", code="forbidden")
    if photo.state != PhotoState.READY or not photo.public_key:
        raise InvalidInput("Ảnh chưa xử lý xong.", code="photo-not-ready")
    boxes = _rects([*([rect] if rect is not None else []), *rects])
    old_keys = [photo.public_key, *(photo.thumb_keys or {}).values()]
    public, image = imaging.blur_rects(storage.get(photo.public_key), boxes)
    _store_rendition(photo, public, imaging.thumbnails_of(image), storage)
    photo.redacted_at = utcnow()
    session.add(photo)
    session.flush()
    _delete_unreferenced(session, old_keys, keep={photo.public_key, *photo.thumb_keys.values()}, storage=storage)
    if photo.report_id is not None:
        report = session.get(Report, photo.report_id)
        if report is not None:
            events.record(session, report, "photo_redacted", actor=actor, is_public=False,
                          data={"photo_id": photo.id, "rects": [list(b) for b in boxes],
                                **({"reason": reason} if reason else {}), "actor_name": actor.name})
    return photo


def _rects(raw: list[Any]) -> list[tuple[int, int, int, int]]:
    """Four integers each, at least one rectangle, at most :data:`MAX_RECTS` (InvalidInput otherwise)."""
    if not raw or len(raw) > MAX_RECTS:
        raise InvalidInput(f"Chọn từ 1 đến {MAX_RECTS} vùng cần che.", code="invalid-rect")
    out = []
    for one in raw:
        try:
            values = tuple(int(v) for v in one)
        except (TypeError, ValueError):
            values = ()
        if len(values) != 4:
            raise InvalidInput("Vùng cần che không hợp lệ.", code="invalid-rect")
        out.append(values)
    return out  # type: ignore[return-value]


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
