"""The dashboard: KPIs per unit/category/area and month, charts, heat map and unit ranking."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, jsonify, render_template, request

from backend.db import request_session
from backend.services import deadlines
from backend.web import common
from backend.web.inbox import options

bp = Blueprint("web_dashboard", __name__, url_prefix="/dashboard", template_folder="templates")
common.protect(bp)


@bp.get("")
@bp.get("/")
def index() -> Any:
    staff = common.require_staff()
    session = request_session()
    scope = deadlines.scope_for(session, staff=staff, args=request.args, now=common.now())
    result = deadlines.dashboard_figures(session, scope=scope)
    opts = options(session, staff=staff, unit_id=scope.unit_id)
    return render_template("web/dashboard.html", scope=scope, k=result["period"], months=result["months"],
                           ranking=result["units"], args=request.args, query=_query(),
                           month_to=common.localtime(scope.end - timedelta(seconds=1), "%Y-%m"),
                           as_of=result["as_of"], **opts)


def _query() -> dict[str, str]:
    return {k: v for k, v in request.args.items() if k in ("from", "to", "unit_id", "category_id", "area_id") and v}


@bp.get("/data.json")
def data() -> Any:
    """Chart series for Chart.js (same scope as the page)."""
    staff = common.require_staff()
    session = request_session()
    scope = deadlines.scope_for(session, staff=staff, args=request.args, now=common.now())
    return jsonify(deadlines.dashboard_figures(session, scope=scope)["series"])


@bp.get("/heat.json")
def heat() -> Any:
    staff = common.require_staff()
    session = request_session()
    scope = deadlines.scope_for(session, staff=staff, args=request.args, now=common.now())
    return jsonify({"points": deadlines.heat_points(session, scope=scope)})
