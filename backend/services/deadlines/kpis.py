"""Resolution KPIs, derived from ``report_events`` only, so any figure can be recomputed and audited.

One implementation feeds ``GET /api/v1/stats``, the dashboard, the CSV export and the public ranking.
Each report's events are replayed in order (``created``, ``routed``, ``transferred``, ``reopened``,
``rated``, resolve-clock ``sla_*`` and every event carrying a state change); the mutable report columns are only used to
narrow the candidate reports (see ``candidates.candidate_ids``) and for the category/area filters.

Definitions (a "period" is [start, end); an event belongs to the unit holding the report at that
moment, i.e. the ``to_unit_id`` of the last ``routed``/``transferred`` event before it):

- **acknowledgement**: the first state change out of received/triage/assigned after a routing hop;
  *time to acknowledge* runs from that hop's routing to it.
- **closure**: a state change (``status_changed``, ``duplicate_linked``…) from an open state to a
  non-open one (resolved, rejected, not_competent, duplicate, closed); a **resolution** is a closure into ``resolved``.
  *time to resolve* runs from the first routing (or creation) to the resolution; after a reopen,
  from the reopen (each reopen starts a new resolve clock, see services/deadlines/sla.py).
- **on time**: closed no later than the resolve deadline in force (the ``due_at`` of the last
  ``sla_started``/``sla_resumed``/``sla_extended`` resolve event; a closure while paused is on time
  if the pause began before the deadline; no deadline → on time).
- **open overdue**: open at the end of the period with its deadline passed (a paused clock is
  overdue only if the pause began after the deadline).
- ``on_time_rate`` = on-time closures / (closures + open overdue).
- ``backlog``: reports open at the end of the period (held by the unit at that moment).
- ``reopen_rate`` = reopens in the period / resolutions in the period.
- ``transfer_rate`` = closures of reports transferred at least once (dispatch out of the triage unit
  is not a transfer) / closures.
- ``first_unit_share`` = resolutions by the first non-triage unit the report was routed to / resolutions.
- ``satisfaction``: mean and count of ``rated`` events in the period.
- durations: ``median`` and ``p90`` (nearest rank) in working hours (city calendar) and calendar hours.

Rates are ``None`` when their denominator is 0.
"""

from __future__ import annotations

import contextlib
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_
from sqlmodel import Session, select

from backend.errors import InvalidInput
from backend.models.reports import OPEN_STATES, ReportEvent, State
from backend.models.units import Unit
from backend.services.city.calendar import WorkingCalendar, load_calendar
from backend.services.deadlines.candidates import HOP_KINDS, candidate_ids, of_ids

AWAITING_ACK = frozenset({State.RECEIVED, State.TRIAGE, State.ASSIGNED})
CLOCK_KINDS = ("sla_started", "sla_resumed", "sla_extended")
KPI_KINDS = ("created", "routed", "transferred", "status_changed", "reopened", "rated",
             "sla_started", "sla_paused", "sla_resumed", "sla_extended")
CHUNK = 5000
MAX_PERIOD_DAYS = 3 * 366


@dataclass(slots=True)
class Snapshot:
    state: str | None
    unit_id: int | None
    due: datetime | None
    paused_at: datetime | None


@dataclass(slots=True)
class Facts:
    """What one report did, replayed from its events."""

    acks: list[tuple[datetime, int | None, datetime]] = field(default_factory=list)  # at, unit, hop start
    closures: list[dict[str, Any]] = field(default_factory=list)
    reopens: list[tuple[datetime, int | None]] = field(default_factory=list)
    ratings: list[tuple[datetime, int | None, float]] = field(default_factory=list)
    created: datetime | None = None
    arrivals: list[tuple[datetime, int | None]] = field(default_factory=list)  # routing hops: at, to unit
    snapshots: list[Snapshot] = field(default_factory=list)  # one per bucket end


def _parse_dt(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


class _Replay:
    __slots__ = ("acked", "clock_start", "created_at", "due", "ends", "facts", "first_unit", "hop_start",
                 "next_end", "paused_at", "reopen_ats", "state", "transfers", "triage", "unit")

    def __init__(self, triage_units: set[int], ends: Sequence[datetime]) -> None:
        self.triage = triage_units
        self.ends = ends
        self.next_end: datetime | None = ends[0] if ends else None
        self.facts = Facts()
        self.state: str | None = None
        self.unit: int | None = None
        self.hop_start: datetime | None = None
        self.created_at: datetime | None = None
        self.clock_start: datetime | None = None
        self.first_unit: int | None = None
        self.transfers = 0
        self.acked = True
        self.due: datetime | None = None
        self.paused_at: datetime | None = None
        self.reopen_ats: set[datetime] = set()

    def snapshot_until(self, at: datetime | None) -> None:
        snaps = self.facts.snapshots
        while self.next_end is not None and (at is None or at >= self.next_end):
            snaps.append(Snapshot(self.state, self.unit, self.due, self.paused_at))
            self.next_end = self.ends[len(snaps)] if len(snaps) < len(self.ends) else None

    def apply(self, kind: str, at: datetime, from_state: str | None, to_state: str | None, to_unit: int | None,
              value: Any) -> None:
        if self.next_end is not None and at >= self.next_end:
            self.snapshot_until(at)
        if kind == "created":
            self.state = to_state or self.state or State.RECEIVED
            self.created_at = self.created_at or at
            self.facts.created = self.facts.created or at
            return
        if kind in HOP_KINDS:
            self._hop(kind, at, to_unit, to_state)
            return
        if kind == "reopened":
            self._reopen(at)
        elif kind == "rated" and value is not None:
            with contextlib.suppress(TypeError, ValueError):
                self.facts.ratings.append((at, self.unit, float(value)))
        elif kind in CLOCK_KINDS:
            self.due = _parse_dt(value) or self.due
            if kind == "sla_resumed":
                self.paused_at = None
        elif kind == "sla_paused":
            self.paused_at = at
        if to_state:  # status_changed, and any other event carrying a state change (rated, reopened…)
            self._status(at, from_state or self.state, to_state)  # the recorded from_state wins

    def _hop(self, kind: str, at: datetime, to_unit: int | None, to_state: str | None) -> None:
        if kind == "transferred" and self.unit is not None and self.unit not in self.triage:
            self.transfers += 1
        if to_unit is not None and to_unit != self.unit:
            self.facts.arrivals.append((at, to_unit))
        self.unit = to_unit
        self.hop_start = at
        self.clock_start = self.clock_start or at
        if self.first_unit is None and to_unit is not None and to_unit not in self.triage:
            self.first_unit = to_unit
        self.acked = False
        if to_state:
            self.state = to_state
        elif self.state is None:
            self.state = State.ASSIGNED

    def _status(self, at: datetime, from_state: str | None, to_state: str) -> None:
        if not self.acked and from_state in AWAITING_ACK and to_state not in AWAITING_ACK:
            self.facts.acks.append((at, self.unit, self.hop_start or at))
            self.acked = True
        if from_state in OPEN_STATES and to_state not in OPEN_STATES:
            on_time = self.due is None or at <= self.due or (
                self.paused_at is not None and self.paused_at <= self.due)
            self.facts.closures.append({
                "at": at, "unit": self.unit, "on_time": on_time, "resolved": to_state == State.RESOLVED,
                "start": self.clock_start or self.created_at or at, "transferred": self.transfers > 0,
                "first_unit": self.unit is not None and self.unit == self.first_unit})
        if to_state == State.REOPENED:
            self._reopen(at)
        self.state = to_state

    def _reopen(self, at: datetime) -> None:
        if at not in self.reopen_ats:
            self.reopen_ats.add(at)
            self.clock_start = at
            self.facts.reopens.append((at, self.unit))


# ---------------------------------------------------------------------- loading


def _events(session: Session, ids: list[int], end: datetime) -> Iterable[Any]:
    """(report_id, at, kind, from_state, to_state, to_unit_id, value) in replay order; ``value`` is the rating of
    ``rated`` and the ``due_at`` of resolve-clock events. Acknowledge-clock events are not needed."""
    kind, data = ReportEvent.kind, ReportEvent.data
    value = case((kind == "rated", data["rating"].as_string()),
                 (kind.in_(CLOCK_KINDS), data["due_at"].as_string()), else_=None)
    wanted = or_(kind.in_(KPI_KINDS), ReportEvent.to_state.is_not(None))
    not_ack = or_(kind != "sla_started", func.coalesce(data["clock"].as_string(), "resolve") != "ack")
    cols = (ReportEvent.report_id, ReportEvent.at, kind, ReportEvent.from_state, ReportEvent.to_state,
            ReportEvent.to_unit_id, value)
    for i in range(0, len(ids), CHUNK):
        of_chunk = of_ids(session, ReportEvent.report_id, ids[i:i + CHUNK])
        stmt = (select(*cols).where(of_chunk, ReportEvent.at < end, wanted, not_ack)
                .order_by(ReportEvent.report_id, ReportEvent.at, ReportEvent.id))
        yield from session.connection().execute(stmt).all()  # Core rows, fetched at once


def replay_facts(session: Session, ids: list[int], end: datetime, ends: Sequence[datetime]) -> list[Facts]:
    triage = set(session.exec(select(Unit.id).where(Unit.is_triage.is_(True))).all())
    out: list[Facts] = []
    current: int | None = None
    replay: _Replay | None = None
    for row in _events(session, ids, end):
        if row[0] != current:
            if replay is not None:
                replay.snapshot_until(None)
                out.append(replay.facts)
            current, replay = row[0], _Replay(triage, ends)
        assert replay is not None
        replay.apply(row[2], row[1], row[3], row[4], row[5], row[6])
    if replay is not None:
        replay.snapshot_until(None)
        out.append(replay.facts)
    return out


# ---------------------------------------------------------------------- aggregation


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _durations(pairs: list[tuple[datetime, datetime]], calendar: WorkingCalendar) -> dict[str, Any]:
    working = [calendar.between_seconds(a, b) / 3600 for a, b in pairs]
    wall = [(b - a).total_seconds() / 3600 for a, b in pairs]

    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 2)

    return {"count": len(pairs),
            "median_working_hours": r(statistics.median(working)) if working else None,
            "p90_working_hours": r(_pct(working, 0.9)),
            "median_hours": r(statistics.median(wall)) if wall else None,
            "p90_hours": r(_pct(wall, 0.9))}


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _overdue(snap: Snapshot, end: datetime) -> bool:
    if snap.state not in OPEN_STATES or snap.due is None:
        return False
    return snap.due < end if snap.paused_at is None else snap.paused_at > snap.due


@dataclass
class Bucket:
    """The facts of one unit (or of everyone) inside one period."""

    acks: list[tuple[datetime, datetime]] = field(default_factory=list)
    closures: list[dict[str, Any]] = field(default_factory=list)
    reopens: int = 0
    received: int = 0
    ratings: list[float] = field(default_factory=list)
    held: list[Snapshot] = field(default_factory=list)


def buckets(facts: list[Facts], idx: int, start: datetime, end: datetime, by_unit: bool) -> dict[Any, Bucket]:
    """One pass over the facts: {unit_id: Bucket} (``by_unit``) or {None: Bucket}."""
    out: dict[Any, Bucket] = {}

    def get(unit: int | None) -> Bucket:
        key = unit if by_unit else None
        bucket = out.get(key)
        if bucket is None:
            bucket = out[key] = Bucket()
        return bucket

    for f in facts:
        if by_unit:
            for at, unit in f.arrivals:
                if start <= at < end:
                    get(unit).received += 1
        elif f.created is not None and start <= f.created < end:
            get(None).received += 1
        for at, unit, hop in f.acks:
            if start <= at < end:
                get(unit).acks.append((hop, at))
        for c in f.closures:
            if start <= c["at"] < end:
                get(c["unit"]).closures.append(c)
        for at, unit in f.reopens:
            if start <= at < end:
                get(unit).reopens += 1
        for at, unit, value in f.ratings:
            if start <= at < end:
                get(unit).ratings.append(value)
        if idx < len(f.snapshots) and f.snapshots[idx].state in OPEN_STATES:
            get(f.snapshots[idx].unit_id).held.append(f.snapshots[idx])
    return out


def figures(b: Bucket, start: datetime, end: datetime, calendar: WorkingCalendar) -> dict[str, Any]:
    resolutions = [c for c in b.closures if c["resolved"]]
    overdue = sum(1 for s in b.held if _overdue(s, end))
    on_time = sum(1 for c in b.closures if c["on_time"])
    return {
        "start": calendar.local(start).isoformat(), "end": calendar.local(end).isoformat(),
        "time_to_acknowledge": _durations(b.acks, calendar),
        "time_to_resolve": _durations([(c["start"], c["at"]) for c in resolutions], calendar),
        "received": b.received, "resolved": len(resolutions), "open": len(b.held),
        "closures": len(b.closures), "on_time_closures": on_time, "open_overdue": overdue,
        "on_time_rate": _ratio(on_time, len(b.closures) + overdue),
        "resolutions": len(resolutions), "backlog": len(b.held),
        "reopens": b.reopens, "reopen_rate": _ratio(b.reopens, len(resolutions)),
        "transfer_rate": _ratio(sum(1 for c in b.closures if c["transferred"]), len(b.closures)),
        "first_unit_share": _ratio(sum(1 for c in resolutions if c["first_unit"]), len(resolutions)),
        "satisfaction": {"mean": round(statistics.fmean(b.ratings), 2) if b.ratings else None,
                         "count": len(b.ratings)},
    }


def aggregate(facts: list[Facts], idx: int, start: datetime, end: datetime, unit_id: int | None,
               calendar: WorkingCalendar) -> dict[str, Any]:
    bucket = buckets(facts, idx, start, end, by_unit=unit_id is not None).get(unit_id) or Bucket()
    return figures(bucket, start, end, calendar)


def month_buckets(start: datetime, end: datetime, calendar: WorkingCalendar) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at the first instant of each calendar month in the city zone."""
    buckets: list[tuple[datetime, datetime]] = []
    cursor = start
    local = calendar.local(start)
    while cursor < end:
        nxt_month = (local.replace(day=28) + timedelta(days=4)).replace(day=1, hour=0, minute=0, second=0,
                                                                         microsecond=0)
        bucket_end = min(nxt_month, end)
        buckets.append((cursor, bucket_end))
        cursor, local = bucket_end, nxt_month
    return buckets


def check_period(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("Khoảng thời gian phải có múi giờ.", code="naive-datetime")
    if end <= start:
        raise InvalidInput("Thời điểm kết thúc phải sau thời điểm bắt đầu.", code="invalid-period")
    if end - start > timedelta(days=MAX_PERIOD_DAYS):
        raise InvalidInput("Khoảng thời gian tối đa là 3 năm.", code="period-too-long")


def compute(session: Session, *, unit_id: int | None = None, category_id: int | None = None,
            area_id: int | None = None, start: datetime, end: datetime,
            group_by_month: bool = False) -> dict[str, Any]:
    """KPIs for [start, end) (see the module docstring); with ``group_by_month`` also one entry per
    city month in ``"months"``. Aggregates only (no report data). Raises InvalidInput for a bad period."""
    check_period(start, end)
    calendar = load_calendar(session)
    buckets = month_buckets(start, end, calendar) if group_by_month else []
    ends = [end] + [b_end for _s, b_end in buckets]
    ids = candidate_ids(session, unit_id=unit_id, category_id=category_id, area_id=area_id,
                         start=start, end=end)
    facts = replay_facts(session, ids, end, sorted(set(ends)))
    order = sorted(set(ends))
    result: dict[str, Any] = {
        "filters": {"unit_id": unit_id, "category_id": category_id, "area_id": area_id},
        "period": aggregate(facts, order.index(end), start, end, unit_id, calendar),
    }
    if group_by_month:
        result["months"] = [
            {"month": calendar.local(b_start).strftime("%Y-%m"),
             **aggregate(facts, order.index(b_end), b_start, b_end, unit_id, calendar)}
            for b_start, b_end in buckets]
    return result


def month_range(month: date, calendar: WorkingCalendar) -> tuple[datetime, datetime]:
    first = datetime(month.year, month.month, 1, tzinfo=calendar.tz)
    return first, (first.replace(day=28) + timedelta(days=4)).replace(day=1)
