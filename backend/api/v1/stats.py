"""Public KPI figures (``GET /api/v1/stats``) and the monthly ranking of units (``/stats/ranking``).

Same numbers as the dashboard and the CSV export: both come from ``services.deadlines`` (events only).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import jsonify

from backend import http
from backend.api.v1.blueprint import bp
from backend.api.v1.openapi import dump, query, route
from backend.db import request_session
from backend.schemas.stats import Ranking, RankingQuery, StatsPublic, StatsQuery
from backend.services import city, deadlines

_KEYS = ("start", "end", "received", "resolved", "open", "closures",
         "on_time_closures", "open_overdue", "on_time_rate", "resolutions",
         "backlog", "reopens", "reopen_rate", "transfer_rate", "time_to_acknowledge", "time_to_resolve",
         "satisfaction")


def _month(text: str | None, *, previous: bool) -> date:
    tz = ZoneInfo(city.timezone(request_session()))
    if text:
        return date(int(text[:4]), int(text[5:7]), 1)
    today = datetime.now(tz).date().replace(day=1)
    return (today - timedelta(days=1)).replace(day=1) if previous else today


def _range(month: date) -> tuple[datetime, datetime]:
    tz = ZoneInfo(city.timezone(request_session()))
    start = datetime(month.year, month.month, 1, tzinfo=tz)
    return start, (start.replace(day=28) + timedelta(days=4)).replace(day=1)


_MEMO: dict[tuple[Any, ...], tuple[float, Any]] = {}
_MEMO_TTL_S = 300.0


def _memo(key: tuple[Any, ...], compute: Any) -> Any:
    """City-wide figures replay many events: a burst of identical public requests computes them once
    per process while no new event arrives (the key carries the latest event id)."""
    import time

    now = time.monotonic()
    hit = _MEMO.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    value = compute()
    if len(_MEMO) > 256:
        _MEMO.clear()
    _MEMO[key] = (now + _MEMO_TTL_S, value)
    return value


def _data_version(session: Any) -> tuple[str, int]:
    """Changes whenever an event is written: cached figures are never stale."""
    from sqlalchemy import func, select

    from backend.models import ReportEvent

    latest = session.execute(select(func.max(ReportEvent.id))).scalar() or 0
    return str(session.get_bind().engine.url), latest


def _as_of(end: datetime) -> datetime:
    """Now, or ``end`` if the month is over (figures of a running month are cached for at most this minute)."""
    from backend.models.base import utcnow

    return min(end, utcnow())


def _minute(instant: datetime) -> datetime:
    return instant.replace(second=0, microsecond=0)


def _cached(resp: Any) -> Any:
    resp.headers["Cache-Control"] = "public, max-age=300"
    resp.headers["Vary"] = "Accept-Language"
    return resp


@route(bp, "GET", "/stats", summary="Chỉ số công khai / Public KPIs", tag="stats", query=StatsQuery,
       responses={200: StatsPublic}, description="Aggregates for one month (city time zone), events only.")
def public_stats() -> Any:
    q: StatsQuery = query(StatsQuery)
    session = request_session()
    category_id = city.category_id_for(session, q.category)
    month = _month(q.month, previous=False)
    start, end = _range(month)
    as_of = _as_of(end)
    result = _memo(("stats", _data_version(session), month, category_id, _minute(as_of)),
                   lambda: deadlines.figures(session, start=start, end=end, now=as_of, category_id=category_id))
    period = result["period"]
    body = {"month": f"{month:%Y-%m}", "category": q.category, "as_of": result["as_of"],
            **{k: period[k] for k in _KEYS}}
    return _cached(jsonify(dump(StatsPublic, body)))


@route(bp, "GET", "/stats/ranking", summary="Xếp hạng đơn vị theo tháng / Monthly ranking of units",
       tag="stats", query=RankingQuery, responses={200: Ranking})
def ranking() -> Any:
    q: RankingQuery = query(RankingQuery)
    month = _month(q.month, previous=True)
    en = http.locale() == "en"
    session = request_session()
    start, end = _range(month)
    as_of = _as_of(end)
    rows = _memo(("ranking", _data_version(session), month, _minute(as_of)),
                 lambda: deadlines.figures(session, start=start, end=end, now=as_of)["units"])
    items = [{"rank": r["rank"], "unit_code": r["unit_code"],
              "unit_name": (r["unit_name_en"] if en and r["unit_name_en"] else r["unit_name_vi"]),
              "closures": r["closures"], "on_time_closures": r["on_time_closures"],
              "open_overdue": r["open_overdue"], "on_time_rate": r["on_time_rate"],
              "satisfaction": r["satisfaction"]} for r in rows]
    return _cached(jsonify(dump(Ranking, {"month": f"{month:%Y-%m}", "items": items})))
