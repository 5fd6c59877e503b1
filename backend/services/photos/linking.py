"""Photos given with a report, a comment, a reopen or a resolution: ownership check, then attach.

``check_photos`` only reads (call it before writing anything); ``attach_photos`` links the rows
to the report with their role (``report`` | ``after`` | ``comment``); the caller's event lists
the photo ids. A report intake has just inserted takes its photos with :func:`claim_for_new_report`:
one ``UPDATE … RETURNING`` both checks and links them, ``check_photos`` naming the fault when it fails.

A photo may be attached by whoever uploaded it: the resident (``resident_id``) or the staff
member (``staff_id``); photos uploaded by neither (Open311 media fetched by a worker, bots acting
for a resident use the resident's id) may be attached by a caller that is neither.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import ARRAY, Integer, any_, bindparam, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, or_, select

from backend.errors import Conflict, Forbidden, InvalidInput
from backend.models.base import construct
from backend.models.photos import Photo, PhotoRole, PhotoState
from backend.models.reports import Report
from backend.services.city import settings as city_settings

log = logging.getLogger(__name__)

MAX_PHOTOS = 10
FAR_M = 500  # photo taken farther than this from the reported point
OLD_DAYS = 7  # photo taken more than this before the report
REUSE_DISTANCE = 6  # phash Hamming distance counted as "the same picture"
PROVENANCE_FLAGS = ("photo_far_from_location", "photo_old", "photo_reused", "photo_no_exif")


def check_photos(session: Session, *, photo_ids: list[int], resident_id: int | None,
                 staff_id: int | None, report: Report | None = None) -> list[Photo]:
    """The photo rows, in the given order. Raises InvalidInput (too many, unknown, rejected) or
    Forbidden ``foreign-photo`` (uploaded by someone else)."""
    if not photo_ids:
        return []
    check_count(photo_ids)
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


def check_count(photo_ids: list[int]) -> None:
    """InvalidInput ``too-many-photos`` beyond :data:`MAX_PHOTOS` (no query)."""
    if len(photo_ids) > MAX_PHOTOS:
        raise InvalidInput(f"Tối đa {MAX_PHOTOS} ảnh cho mỗi lần gửi.", code="too-many-photos")


def claim_for_new_report(session: Session, *, photo_ids: list[int], report: Report, resident_id: int | None,
                         staff_id: int | None, role: str, returned: list[tuple[Any, ...]] | None = None) -> list[Photo]:
    """Check and attach the photos of a report just inserted (``report.id`` set), in one statement; returns
    them in the given order with ``role``. Call :func:`check_count` first, before writing.

    ``UPDATE photos SET report_id WHERE id IN (…) AND report_id IS NULL AND <uploaded by exactly this
    resident/staff> AND <not rejected/failed> RETURNING photos.*`` — the rules of :func:`check_photos`,
    and the claim is atomic like :func:`link`'s. When a photo does not qualify, the photos it did claim are
    released again (nothing of this call stays written), then :func:`check_photos` reads them as they are
    and raises its error for the first one at fault (``unknown-photo``, ``foreign-photo``,
    ``photo-already-attached``, ``photo-rejected``); Conflict ``photo-already-attached`` when it finds none
    (another report claimed one meanwhile). The provenance flags are recomputed when a photo is ready, as
    :func:`attach_photos` does. ``returned``: the rows :func:`claim_statement` gave when the caller ran it
    itself (with the report's INSERT), in ``photos`` column order; the claim is not run again.
    """
    if not photo_ids:
        return []
    if returned is None:
        params = {**claim_params(photo_ids, resident_id=resident_id, staff_id=staff_id), "new_report_id": report.id}
        returned = [tuple(row) for row in session.execute(_CLAIM, params)]
    claimed = {row[0]: dict(zip(_KEYS, row, strict=True)) for row in returned}
    if len(claimed) != len(photo_ids):
        if claimed:
            session.execute(_RELEASE, {"ids": list(claimed)})
        for photo_id in photo_ids:  # read them as they are now, not as this session last saw them
            held = session.identity_map.get(identity_key(Photo, photo_id))
            if held is not None:
                session.expire(held)
        check_photos(session, photo_ids=photo_ids, resident_id=resident_id, staff_id=staff_id)
        raise Conflict("Ảnh này vừa được gắn vào một phản ánh khác.", code="photo-already-attached")
    photos = [_photo(session, claimed[i]) for i in photo_ids]
    other_role = [p.id for p in photos if p.role != role]
    if other_role:  # uploads have this role already: no statement in the common case
        session.execute(_SET_ROLE, {"ids": other_role, "new_role": role})
        for photo in photos:
            set_committed_value(photo, "role", role)
    if any(p.state == PhotoState.READY for p in photos):
        check_provenance(session, report)
    return photos


def _photo(session: Session, row: dict[str, Any]) -> Photo:
    """The claimed row as a Photo: the session's own object when it holds one (its ``report_id`` set, as
    loaded), else a new one outside the session (read only: the report's view)."""
    held = session.identity_map.get(identity_key(Photo, row["id"]))
    if held is not None:
        set_committed_value(held, "report_id", row["report_id"])
        return held  # type: ignore[return-value]
    return construct(Photo, row)


_PHOTOS = Photo.__table__  # type: ignore[attr-defined]
_KEYS = tuple(c.key for c in _PHOTOS.c)


def claim_statement(new_report_id: Any, *, ids: Any = None) -> Any:
    """The claim of :func:`claim_for_new_report`: ``report_id`` set to ``new_report_id`` (a parameter or an
    expression), parameters :func:`claim_params`; returns the claimed rows (all ``photos`` columns).
    ``ids``: the id condition (default ``id IN (:ids)``, the list expanded per execution)."""
    return (update(_PHOTOS)
            .where(_PHOTOS.c.id.in_(bindparam("ids", expanding=True)) if ids is None else ids,
                   _PHOTOS.c.report_id.is_(None),
                   _PHOTOS.c.resident_id.is_not_distinct_from(bindparam("owner_resident")),
                   _PHOTOS.c.staff_id.is_not_distinct_from(bindparam("owner_staff")),
                   _PHOTOS.c.state.not_in([PhotoState.REJECTED.value, PhotoState.FAILED.value]))
            .values(report_id=new_report_id)
            .returning(*_PHOTOS.c))


def claim_statement_with(new_report_id: Any) -> Any:
    """:func:`claim_statement` for a report INSERTed by the same statement (PostgreSQL): ``new_report_id`` is
    the id column of its CTE (read by a subquery, so no cartesian FROM); nothing is claimed when it inserted
    nothing. The ids are one array parameter (``id = ANY(:ids)``: one SQL text for any number of photos)."""
    new_id = select(new_report_id).scalar_subquery()
    ids = _PHOTOS.c.id == any_(bindparam("ids", type_=ARRAY(Integer)))
    return claim_statement(new_id, ids=ids).where(new_id.is_not(None))


def claim_statement_with_one(new_report_id: Any) -> Any:
    """:func:`claim_statement_with` for exactly one photo (``id = :photo_id``): PostgreSQL keeps one generic plan
    for it, where a list parameter's plan is made anew on every run (its length is unknown)."""
    new_id = select(new_report_id).scalar_subquery()
    return claim_statement(new_id, ids=_PHOTOS.c.id == bindparam("photo_id", type_=Integer)).where(new_id.is_not(None))


def claim_params(photo_ids: list[int], *, resident_id: int | None, staff_id: int | None) -> dict[str, Any]:
    """Parameters of the claim statements (``photo_id``: the one photo, for :func:`claim_statement_with_one`)."""
    return {"ids": photo_ids, "photo_id": photo_ids[0] if len(photo_ids) == 1 else None,
            "owner_resident": resident_id, "owner_staff": staff_id}


#: built once: values are parameters, the compiled form is cached
_CLAIM = claim_statement(bindparam("new_report_id"))
_SET_ROLE = update(_PHOTOS).where(_PHOTOS.c.id.in_(bindparam("ids", expanding=True))).values(role=bindparam("new_role"))
_RELEASE = update(_PHOTOS).where(_PHOTOS.c.id.in_(bindparam("ids", expanding=True))).values(report_id=None)


def attach_photos(session: Session, *, photo_ids: list[int], report: Report, resident_id: int | None,
                  staff_id: int | None, role: str) -> list[Photo]:
    """``photos.attach`` (links, provenance flags; checks ownership again) and set ``role``. Flushes.

    Call :func:`check_photos` first, in the validation phase, so a foreign photo is refused
    before anything else is written.
    """
    if not photo_ids:
        return []
    attached = attach(session, photo_ids=photo_ids, report=report, resident_id=resident_id,
                             staff_id=staff_id)
    _set_role(session, attached, role)
    check_provenance(session, report)  # roles are final now: flags judge report photos only
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
