"""The city's public page (``/``) and its map feed (``/map.json``): public reports on a clustered map
with filters (category, status, ward, period), the newest below it, this month's headline figures, a
"tra cứu" box and the ways to report.

Anonymous and the same for everyone: no session is read or written, so a CDN may hold an answer for a
minute (``Cache-Control: public, max-age=60``). Which reports are public is decided in one place
(``reports.public_clause``); nothing here names or contacts a reporter.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, render_template, request
from flask_babel import lazy_gettext as _l
from sqlmodel import Session, col, select

from backend import http
from backend.db import request_session
from backend.errors import DomainError
from backend.http import mark_rollback
from backend.models.areas import Area
from backend.models.base import utcnow
from backend.services import city, deadlines, reports
from backend.web import common, forms, public

bp = Blueprint("web_home", __name__, template_folder="templates")

STATUS_LABELS = {"open": _l("Đang xử lý"), "resolved": _l("Đã xử lý"), "closed": _l("Đã đóng")}
PERIOD_LABELS = {"7": _l("7 ngày qua"), "30": _l("30 ngày qua"), "90": _l("3 tháng qua"), "365": _l("12 tháng qua")}
#: marker colour per group of states (the legend on the page says the same)
GROUP_OF = {**{s: "open" for s in reports.STATUS_GROUPS["open"]},
            **{s: "resolved" for s in reports.STATUS_GROUPS["resolved"]},
            **{s: "closed" for s in reports.STATUS_GROUPS["closed"]}}


# --------------------------------------------------------------------------- the headline figures

def month_bounds(session: Session, today: date | None = None) -> tuple[date, datetime, datetime]:
    """This month in the city's time zone: (first day, start, end) — the same period ``GET /api/v1/stats``
    uses without a ``month`` parameter."""
    tz = ZoneInfo(city.timezone(session))
    month = (today or datetime.now(tz).date()).replace(day=1)
    start = datetime(month.year, month.month, 1, tzinfo=tz)
    return month, start, (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def headline_figures(session: Session) -> dict[str, Any]:
    """This month's received / resolved counts and on-time rate for the whole city.

    All three are ``deadlines.figures(session, start=, end=, now=min(end, now))["period"]`` for the city's
    current month — the call ``GET /api/v1/stats`` makes without parameters, so both show the same numbers
    (``received``, ``resolved``, ``on_time_rate``). Computed at most once a minute per app (``_kept``, like
    the page a CDN may keep a minute): a city-wide month replays every report it touches (≈ 1–2 s at a
    million reports), and in a busy city a new event arrives every few seconds, so keying them by the
    newest event as the rest of the page is would recompute them on nearly every request.
    """
    month, start, end = month_bounds(session)

    def build() -> dict[str, Any]:
        period = deadlines.figures(session, start=start, end=end, now=min(end, utcnow()))["period"]
        return {"month": f"{month:%m/%Y}", "received": period["received"],
                "resolved": period["resolved"], "on_time_rate": period["on_time_rate"]}

    return dict(_kept(("headline", month), build))


# --------------------------------------------------------------------------- views


def _choices(session: Session) -> tuple[dict[int, str], dict[int, str]]:
    """Category names in the page's language (``name_en`` when English and set) and ward names; kept a minute
    per app (a renamed category shows within a minute, as on a CDN)."""
    loc = http.locale()

    def build() -> tuple[dict[int, str], dict[int, str]]:
        categories = {c.id: c.name(loc) for c in city.active_categories(session) if c.id is not None}
        wards = {row[0]: row[1] for row in session.exec(select(Area.id, Area.name).order_by(col(Area.name)))}
        return categories, wards

    return _kept(("choices", loc), build)


def _filter(session: Session) -> tuple[reports.PublicFilter, dict[int, str], dict[int, str]]:
    common.refuse_bad_parameters()
    categories, wards = _choices(session)
    flt = reports.parse_filter(request.args.to_dict(), category_ids=set(categories), area_ids=set(wards))
    return flt, categories, wards


#: at most this many answers kept per app (filters × locales in use within a minute)
_KEPT_MAX = 256


def _kept(key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    """``build()``, kept per app for ``PUBLIC_MAX_AGE`` seconds under ``key`` (what a CDN may keep anyway)."""
    store: dict[tuple[Any, ...], tuple[float, Any]] = current_app.extensions.setdefault("phananh.city_kept", {})
    hit = store.get(key)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    value = build()
    if len(store) >= _KEPT_MAX:
        store.clear()
    store[key] = (time.monotonic() + public.PUBLIC_MAX_AGE, value)
    return value


def _state_key(session: Session) -> tuple[bool, int, str]:
    """What every kept answer depends on besides its filters: the city's moderation setting, the newest event
    (every change to a report — created, hidden, moved, resolved — writes one, so a change shows at once) and
    the page's language."""
    return city.moderation_required(session), reports.latest_event_id(session), http.locale()


def _public(resp: Response) -> Response:
    return public.cacheable(resp)  # Cache-Control: public, max-age=60 (a CDN may hold it a minute)


@bp.get("/")
def index() -> Response:
    session = request_session()
    flt, categories, wards = _filter(session)
    state = _state_key(session)
    settings = http.settings()
    key = ("page", request.query_string, *state, settings.tile_url, settings.resident_app_url, settings.zalo_oa_url)
    page = _kept(key, lambda: _render_home(session, flt, categories, wards))
    return _public(Response(page, mimetype="text/html"))


def _render_home(session: Session, flt: reports.PublicFilter, categories: dict[int, str],
                 wards: dict[int, str]) -> str:
    points = reports.public_points(session, flt, moderated=city.moderation_required(session), now=utcnow(),
                                   limit=reports.LIST_LIMIT)
    settings = http.settings()
    return render_template("web/city/home.html", flt=flt, points=points, categories=categories, wards=wards,
                           figures=headline_figures(session), city_name=city.city_name(session),
                           status_labels=STATUS_LABELS, period_labels=PERIOD_LABELS, group_of=GROUP_OF,
                           state_label=lambda state: reports.state_label(state, http.locale()),
                           app_url=settings.resident_app_url, zalo_url=settings.zalo_oa_url,
                           tile_url=settings.tile_url if settings.tile_origin else "",
                           feed=request.query_string.decode("ascii", "replace"), bounds=forms.map_bounds(session))


@bp.get("/map.json")
def map_feed() -> Response:
    """GeoJSON of the newest public reports matching the filters (at most ``MAP_LIMIT``).

    Up to 2,000 features cost tens of milliseconds to read and serialize, so the answer (as the page ``/``)
    is kept per app for a minute while nothing happens to any report (``_state_key``)."""
    session = request_session()
    flt, categories, _wards = _filter(session)
    moderated, latest, locale = _state_key(session)

    def build() -> bytes:
        points = reports.public_points(session, flt, moderated=moderated, now=utcnow())
        return _geojson(points, categories, locale)

    return _public(Response(_kept(("feed", flt, moderated, latest, locale), build), mimetype="application/json"))


def _geojson(points: list[reports.PublicPoint], categories: dict[int, str], locale: str) -> bytes:
    """The feed as GeoJSON text, written directly: the same JSON ``json.dumps`` would give for these
    features (``test_map_feed_equivalence``), several times faster for 2,000 of them. Every free text
    (labels, category names) is escaped by ``json.dumps`` once; codes, states, groups and dates are ASCII
    letters, digits and ``-``/``/`` only."""
    text = {v: json.dumps(v, ensure_ascii=False) for v in categories.values()}
    labels: dict[str, str] = {}
    days: dict[Any, str] = {}
    parts = []
    for p in points:
        label = labels.get(p.status)
        if label is None:
            label = labels[p.status] = json.dumps(reports.state_label(p.status, locale), ensure_ascii=False)
        local = p.created_at.astimezone(common.TZ).date()
        day = days.get(local)
        if day is None:
            day = days[local] = f"{local:%d/%m/%Y}"
        category = text.get(categories.get(p.category_id or 0, ""), '""')
        parts.append(f'{{"type":"Feature","geometry":{{"type":"Point","coordinates":[{round(p.lon, 5)!r},'
                     f'{round(p.lat, 5)!r}]}},"properties":{{"code":"{p.code}","url":"/r/{p.code}",'
                     f'"state":"{p.status}","label":{label},"group":"{GROUP_OF.get(p.status, "open")}",'
                     f'"category":{category},"received":"{day}"}}}}')
    truncated = "true" if len(points) >= reports.MAP_LIMIT else "false"
    return (f'{{"type":"FeatureCollection","features":[{",".join(parts)}],"truncated":{truncated},'
            f'"limit":{reports.MAP_LIMIT}}}').encode()


def _error(exc: DomainError) -> Any:
    mark_rollback()
    if request.path.endswith(".json"):
        return http.problem(exc.status, exc.code, exc.message)
    return public.error_page(exc.status, exc.message)


bp.register_error_handler(DomainError, _error)
