"""KPI figures from the oracle's replays (definitions: docs/kpis.md), for one period as of ``min(end, now)``.

Reads ``report_events`` with plain SQL (the event log is the only input besides the test's SLA table).
"""

from __future__ import annotations

import json
import math
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from tests.oracle import calendar as cal
from tests.oracle.history import OPEN, Event, Replay


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def load_events(session: Any) -> dict[int, list[Event]]:
    rows = session.connection().execute(text(
        "SELECT report_id, at, kind, from_state, to_state, to_unit_id, data FROM report_events"
        " ORDER BY report_id, at, id"))
    out: dict[int, list[Event]] = {}
    for rid, at, kind, from_state, to_state, to_unit, data in rows:
        data = json.loads(data) if isinstance(data, str) else (data or {})
        out.setdefault(rid, []).append(Event(_aware(at), kind, from_state, to_state, to_unit, data))
    return out


def _p90(values: list[float]) -> float | None:
    return sorted(values)[max(0, math.ceil(0.9 * len(values)) - 1)] if values else None


def _durations(pairs: list[tuple[datetime, datetime]]) -> dict[str, Any]:
    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 2)

    work = [cal.working_minutes(a, b) / 60 for a, b in pairs]
    wall = [(b - a).total_seconds() / 3600 for a, b in pairs]
    return {"count": len(pairs), "median_working_hours": r(statistics.median(work)) if work else None,
            "p90_working_hours": r(_p90(work)), "median_hours": r(statistics.median(wall)) if wall else None,
            "p90_hours": r(_p90(wall))}


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def period_figures(replays: list[Replay], start: datetime, as_of: datetime, unit: int | None) -> dict[str, Any]:
    """The figures of [start, as_of) for ``unit`` (None: the whole city)."""
    def mine(u: int | None) -> bool:
        return unit is None or u == unit

    def inside(at: datetime) -> bool:
        return start <= at < as_of

    if unit is None:
        received = sum(1 for rp in replays if rp.r.created and inside(rp.r.created))
    else:
        received = sum(1 for rp in replays for at, u in rp.r.arrivals if u == unit and inside(at))
    acks = [(hop, at) for rp in replays for at, u, hop in rp.r.acks if mine(u) and inside(at)]
    closures = [c for rp in replays for c in rp.r.closures if mine(c.unit) and inside(c.at)]
    resolutions = [c for c in closures if c.resolved]
    reopens = sum(1 for rp in replays for at, u in rp.r.reopens if mine(u) and inside(at))
    ratings = [v for rp in replays for at, u, v in rp.r.ratings if mine(u) and inside(at)]
    held = [rp for rp in replays if rp.r.state in OPEN and mine(rp.r.unit)]
    overdue = sum(1 for rp in held if rp.overdue(as_of))
    on_time = sum(1 for c in closures if c.on_time)
    return {
        "received": received, "resolved": len(resolutions), "open": len(held), "open_overdue": overdue,
        "closures": len(closures), "on_time_closures": on_time,
        "on_time_rate": _rate(on_time, len(closures) + overdue),
        "time_to_acknowledge": _durations(acks),
        "time_to_resolve": _durations([(c.clock_start, c.at) for c in resolutions]),
        "reopens": reopens, "reopen_rate": _rate(reopens, len(resolutions)),
        "transfer_rate": _rate(sum(1 for c in closures if c.rerouted), len(closures)),
        "satisfaction": {"mean": round(statistics.fmean(ratings), 2) if ratings else None, "count": len(ratings)},
    }


def months(start: datetime, as_of: datetime) -> list[tuple[str, datetime, datetime]]:
    out, cursor = [], start.astimezone(cal.TZ)
    while cursor < as_of:
        nxt = (cursor.replace(day=28) + timedelta(days=4)).replace(day=1, hour=0, minute=0)
        out.append((cursor.strftime("%Y-%m"), cursor, min(nxt, as_of)))
        cursor = nxt
    return out
