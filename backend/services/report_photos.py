"""Photos given with a report, a comment, a reopen or a resolution: ownership check, then attach.

``check_photos`` only reads (call it before writing anything); ``attach_photos`` links the rows
to the report with their role (``report`` | ``after`` | ``comment``); the caller's event lists
the photo ids.

A photo may be attached by whoever uploaded it: the resident (``resident_id``) or the staff
member (``staff_id``); photos uploaded by neither (Open311 media fetched by a worker, bots acting
for a resident use the resident's id) may be attached by a caller that is neither.
"""

from __future__ import annotations

import logging

from sqlmodel import Session, select

from backend.errors import Forbidden, InvalidInput
from backend.models.photos import Photo, PhotoState
from backend.models.reports import Report
from backend.services import photos

log = logging.getLogger(__name__)

MAX_PHOTOS = 10


def check_photos(session: Session, *, photo_ids: list[int], resident_id: int | None,
                 staff_id: int | None, report: Report | None = None) -> list[Photo]:
    """The photo rows, in the given order. Raises InvalidInput (too many, unknown, rejected) or
    Forbidden ``foreign-photo`` (uploaded by someone else)."""
    if not photo_ids:
        return []
    if len(photo_ids) > MAX_PHOTOS:
        raise InvalidInput(f"Tối đa {MAX_PHOTOS} ảnh cho mỗi lần gửi.", code="too-many-photos")
    rows = {p.id: p for p in session.exec(select(Photo).where(Photo.id.in_(photo_ids))).all()}  # type: ignore[union-attr]
    found = []
    for photo_id in photo_ids:
        photo = rows.get(photo_id)
        if photo is None:
            raise InvalidInput("Ảnh không tồn tại hoặc đã bị xoá.", code="unknown-photo",
                               details={"photo_id": photo_id})
        if photo.resident_id != resident_id or photo.staff_id != staff_id:
            raise Forbidden("Ảnh này không phải do bạn tải lên.", code="foreign-photo",
                            details={"photo_id": photo_id})
        if photo.report_id is not None and (report is None or photo.report_id != report.id):
            raise InvalidInput("Ảnh này đã được gửi kèm một phản ánh khác.", code="photo-already-attached",
                               details={"photo_id": photo_id})
        if photo.state in (PhotoState.REJECTED, PhotoState.FAILED):
            raise InvalidInput("Ảnh không hợp lệ, vui lòng chụp và gửi lại.", code="photo-rejected",
                               details={"photo_id": photo_id})
        found.append(photo)
    return found


def attach_photos(session: Session, *, photo_ids: list[int], report: Report, resident_id: int | None,
                  staff_id: int | None, role: str, checked: list[Photo] | None = None) -> list[Photo]:
    """``photos.attach`` (links, provenance flags; checks ownership again) and set ``role``. Flushes.

    Call :func:`check_photos` first, in the validation phase, so a foreign photo is refused
    before anything else is written. A *new* report may pass the rows that returned as
    ``checked``: they are linked without being read again, and the provenance flags (computed from
    ready photos only) are recomputed only when one of them is ready.
    """
    if not photo_ids:
        return []
    if checked is not None:
        return _attach_checked(session, checked, report, role)
    attached = photos.attach(session, photo_ids=photo_ids, report=report, resident_id=resident_id,
                             staff_id=staff_id)
    _set_role(session, attached, role)
    photos.check_provenance(session, report)  # roles are final now: flags judge report photos only
    return attached


def _attach_checked(session: Session, checked: list[Photo], report: Report, role: str) -> list[Photo]:
    attached = list({id(p): p for p in checked}.values())
    for photo in attached:
        if photo.role != role:
            photo.role = role
    photos.link(session, photos=attached, report=report)
    if any(p.state == PhotoState.READY for p in attached):
        photos.check_provenance(session, report)
    return attached


def _set_role(session: Session, attached: list[Photo], role: str) -> None:
    for photo in attached:
        if photo.role != role:
            photo.role = role
            session.add(photo)
    session.flush()


def has_photo(session: Session, report: Report, role: str) -> bool:
    """Does ``report`` already have a photo with ``role``?"""
    row = session.exec(select(Photo.id).where(Photo.report_id == report.id, Photo.role == role)).first()
    return row is not None
