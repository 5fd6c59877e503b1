"""CSV (UTF-8 with BOM) and GeoJSON exports for spreadsheets and the city's GIS platform."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, stream_with_context
from sqlmodel import Session

from backend.db import request_session
from backend.services import city, deadlines
from backend.services import exports as export_service
from backend.web import common

bp = Blueprint("web_exports", __name__, url_prefix="/exports", template_folder="templates")
common.protect(bp)


def _stream(make: Callable[[Session], Iterator[str]], *, mimetype: str, filename: str) -> Response:
    """Stream from a dedicated session that is closed when the download ends."""
    session = current_app.extensions["phananh.db"].session()

    def body() -> Iterator[bytes]:
        try:
            for chunk in make(session):
                yield chunk.encode("utf-8")
        finally:
            session.close()

    resp = Response(stream_with_context(body()), mimetype=mimetype)
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _query() -> export_service.ReportQuery:
    staff = common.require_staff()
    visible = city.visible_unit_ids(request_session(), staff=staff)
    return export_service.parse_query(request.args, unit_ids=visible)


@bp.get("/reports.csv")
def reports_csv() -> Any:
    query = _query()
    return _stream(lambda s: export_service.reports_csv(s, query=query), mimetype="text/csv",
                   filename="phan-anh.csv")


@bp.get("/reports.geojson")
def reports_geojson() -> Any:
    query = _query()
    return _stream(lambda s: export_service.reports_geojson(s, query=query), mimetype="application/geo+json",
                   filename="phan-anh.geojson")


@bp.get("/kpis.csv")
def kpis_csv() -> Any:
    staff = common.require_staff()
    session = request_session()
    scope = deadlines.scope_for(session, staff=staff, args=request.args, now=common.now())
    result = deadlines.figures(session, start=scope.start, end=scope.end, now=scope.now, unit_id=scope.unit_id,
                               category_id=scope.category_id, area_id=scope.area_id)
    body = "".join(export_service.kpis_csv(result)).encode("utf-8")
    resp = Response(body, mimetype="text/csv")
    resp.headers["Content-Disposition"] = 'attachment; filename="chi-so.csv"'
    return resp


@bp.get("/areas.geojson")
def areas_geojson() -> Any:
    resp = jsonify(export_service.areas_geojson(request_session()))
    resp.mimetype = "application/geo+json"
    if request.args.get("download"):
        resp.headers["Content-Disposition"] = 'attachment; filename="phuong-xa.geojson"'
    return resp
