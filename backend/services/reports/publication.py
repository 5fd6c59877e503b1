"""What the city publishes: the one rule for which reports appear on the public page and map (``/``,
``/map.json``), and the bounded reads behind them.

The rule (:func:`public_clause`) is the only place it is written: a report is public when it has a
point, is not a duplicate (its original is shown) and was not rejected as invalid; when the city's
``moderation_required`` is on, a report is public only once a unit has taken it on (not while it is
``received``, ``triage`` or ``assigned``). Public reads return codes, categories, states, wards and
points — never the reporter, contact details, notes or reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func
from sqlmodel import Session, col, select

from backend.errors import InvalidInput
from backend.models.reports import CLOSED_STATES, FIXED_STATES, OPEN_STATES, Report, ReportEvent, State
from backend.services.reports import visibility

#: at most this many points in one map answer (newest first; the page says when the list is cut)
MAP_LIMIT = 2000
LIST_LIMIT = 20
#: period filter values (days back from now); "" = all time
PERIODS: dict[str, int] = {"7": 7, "30": 30, "90": 90, "365": 365}
#: status filter values → states
STATUS_GROUPS: dict[str, frozenset[str]] = {
    "open": frozenset(OPEN_STATES), "resolved": frozenset(FIXED_STATES),
    "closed": frozenset(CLOSED_STATES) - {State.REJECTED, State.DUPLICATE},
}
_UNMODERATED = (State.RECEIVED, State.TRIAGE, State.ASSIGNED)


def public_clause(*, moderated: bool) -> Any:
    """The SQL condition "this report is on the city's map and list" (see the module docstring);
    ``moderated`` is the city's ``moderation_required``. Reports staff hid are never shown
    (``visibility.listed``, the one rule every public channel applies)."""
    parts = [visibility.listed(), col(Report.lat).is_not(None), col(Report.lon).is_not(None),
             col(Report.duplicate_of_id).is_(None), col(Report.status) != State.REJECTED]
    if moderated:
        parts.append(col(Report.status).not_in(_UNMODERATED))
    return and_(*parts)


@dataclass(frozen=True)
class PublicFilter:
    """The filters of the public page (all optional)."""

    category_id: int | None = None
    status: str | None = None   # a key of STATUS_GROUPS
    area_id: int | None = None
    period: str | None = None   # a key of PERIODS


def parse_filter(args: dict[str, str], *, category_ids: set[int], area_ids: set[int]) -> PublicFilter:
    """Query parameters → :class:`PublicFilter`; unknown values raise InvalidInput (Vietnamese)."""
    def ident(name: str, known: set[int], message: str) -> int | None:
        raw = (args.get(name) or "").strip()
        if not raw:
            return None
        if not raw.isdigit() or int(raw) not in known:
            raise InvalidInput(message, code=f"invalid-{name}")
        return int(raw)

    status = (args.get("status") or "").strip() or None
    if status is not None and status not in STATUS_GROUPS:
        raise InvalidInput("Trạng thái lọc không hợp lệ.", code="invalid-status")
    period = (args.get("period") or "").strip() or None
    if period is not None and period not in PERIODS:
        raise InvalidInput("Khoảng thời gian không hợp lệ.", code="invalid-period")
    return PublicFilter(category_id=ident("category", category_ids, "Lĩnh vực không hợp lệ."),
                        status=status, area_id=ident("ward", area_ids, "Phường/xã không hợp lệ."), period=period)


def _filtered(stmt: Any, flt: PublicFilter, *, moderated: bool, now: datetime) -> Any:
    stmt = stmt.where(public_clause(moderated=moderated))
    if flt.category_id is not None:
        stmt = stmt.where(Report.category_id == flt.category_id)
    if flt.area_id is not None:
        stmt = stmt.where(Report.area_id == flt.area_id)
    if flt.status is not None:
        stmt = stmt.where(col(Report.status).in_(sorted(STATUS_GROUPS[flt.status])))
    if flt.period is not None:
        stmt = stmt.where(col(Report.created_at) >= now - timedelta(days=PERIODS[flt.period]))
    return stmt.order_by(col(Report.created_at).desc(), col(Report.id).desc())


@dataclass(frozen=True)
class PublicPoint:
    """One report as the public sees it on the map and in the list."""

    code: str
    lat: float
    lon: float
    status: str
    category_id: int | None
    area_id: int | None
    created_at: datetime


def public_points(session: Session, flt: PublicFilter, *, moderated: bool, now: datetime,
                  limit: int = MAP_LIMIT) -> list[PublicPoint]:
    """The newest public reports matching ``flt`` (at most ``limit``), newest first."""
    stmt = select(Report.code, Report.lat, Report.lon, Report.status, Report.category_id, Report.area_id,
                  Report.created_at)
    rows = session.exec(_filtered(stmt, flt, moderated=moderated, now=now).limit(max(1, min(limit, MAP_LIMIT))))
    return [PublicPoint(*row) for row in rows]


def latest_event_id(session: Session) -> int:
    """The newest event's id (0 without events): changes whenever anything happens to any report."""
    return int(session.exec(select(func.max(ReportEvent.id))).one() or 0)
