"""Report endpoints: create (idempotent), the public map/list, nearby, one report, follow-ups."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Response, jsonify, request

from backend import http
from backend.api.v1 import render
from backend.api.v1.auth import current_resident, current_resident_id, ip_key, rate_key
from backend.api.v1.blueprint import bp
from backend.api.v1.openapi import body, dump, dump_json, optional_body, query, route
from backend.db import request_session
from backend.errors import InvalidInput, NotFound
from backend.models.reports import Report
from backend.schemas.common import Page, Schema, page_of
from backend.schemas.reports import (
    CommentCreate,
    FollowState,
    NearbyQuery,
    NearbyReport,
    RatingCreate,
    ReopenCreate,
    ReportCreate,
    ReportListQuery,
    ReportOwnerView,
    ReportPublic,
    ReportSummary,
)
from backend.services import city, reports, residents
from backend.services.events import Actor

WRITE_LIMIT = "30/hour;6/minute"
IP_WRITE_LIMIT = "120/hour;20/minute"
IDEMPOTENCY_HEADER = {"name": "Idempotency-Key", "in": "header", "required": False,
                      "schema": {"type": "string", "minLength": 8, "maxLength": 255, "pattern": "^[!-~]+$"},
                      "description": "Retry-safe key: the same key and body return the same report"}
CODE_PATH = "/reports/<code>"


def _report(code: str) -> Report:
    return reports.get_by_code(request_session(), code)


def _is_owner(report: Report) -> bool:
    resident = current_resident(required=False)
    return resident is not None and report.resident_id == resident.id


def _json(payload: dict[str, Any], status: int = 200) -> Response:
    resp = jsonify(payload)
    resp.status_code = status
    return resp


def _report_response(report: Report, *, status: int = 200) -> Response:
    session = request_session()
    if _is_owner(report):
        payload = dump(ReportOwnerView, render.owner_view(session, report))
    else:
        payload = dump(ReportPublic, render.public_view(session, report))
    return _json(payload, status)


# ---------------------------------------------------------------------------- create


@route(bp, "POST", "/reports", summary="Gửi phản ánh / Create a report", tag="reports", auth="required",
       body=ReportCreate, responses={200: ReportOwnerView, 201: ReportOwnerView},
       headers=[IDEMPOTENCY_HEADER], errors=(401, 409))
@http.limiter.limit(WRITE_LIMIT, key_func=rate_key)
@http.limiter.limit(IP_WRITE_LIMIT, key_func=ip_key)
def create_report() -> Any:
    data: ReportCreate = body(ReportCreate)
    resident_id = current_resident_id()
    session = request_session()
    key = request.headers.get("Idempotency-Key")
    digest = reports.request_hash(data.model_dump(mode="json"))
    if key is not None:
        stored = reports.claim_key(session, resident_id=resident_id, key=key, request_hash=digest)
        if stored is not None:
            resp = _json(stored.response_body, stored.response_status)
            resp.headers["Idempotent-Replayed"] = "true"
            return resp
    loc = data.location
    new = reports.submit(
        session, channel="app", actor=Actor.resident(resident_id), category_code=data.category,
        description=data.description, lat=loc.lat, lon=loc.lon, accuracy_m=loc.accuracy_m, address=loc.address,
        photo_ids=tuple(data.media_ids), resident_id=resident_id, is_anonymous=data.is_anonymous,
        attributes=data.attributes)
    report = new.report
    text = dump_json(ReportOwnerView, render.new_report_view(session, new))  # once: stored and answered
    if key is not None:
        reports.complete_key(session, resident_id=resident_id, key=key, status=201, report_id=report.id,
                             encoded=text)
    return Response(text + "\n", 201, {"Location": f"/api/v1/reports/{report.code}"}, mimetype="application/json")


# ---------------------------------------------------------------------------- public reads


@route(bp, "GET", "/reports", summary="Bản đồ / danh sách phản ánh / Public reports", tag="reports",
       query=ReportListQuery, responses={200: Page[ReportSummary]})
def list_reports() -> Any:
    q: ReportListQuery = query(ReportListQuery)
    session = request_session()
    category_id = city.category_id_for(session, q.category)
    flt = reports.ReportFilter(bbox=reports.parse_bbox(q.bbox) if q.bbox else None, status=q.status,
                               category_id=category_id, since=q.since)
    rows = reports.list_reports(session, flt, page=q.page, per_page=q.per_page)
    items = render.summaries(session, rows)
    return _json(dump(Page[ReportSummary], page_of(items, page=q.page, per_page=q.per_page)))


@route(bp, "GET", "/reports/nearby", summary="Phản ánh đang mở gần đây / Nearby open reports", tag="reports",
       query=NearbyQuery, responses={200: Page[NearbyReport]},
       description="Shown before submitting: if the problem is already reported, follow it instead.")
def nearby_reports() -> Any:
    q: NearbyQuery = query(NearbyQuery)
    session = request_session()
    category_id = city.category_id_for(session, q.category)
    hits = reports.nearby_open(session, lat=q.lat, lon=q.lon, radius_m=q.radius_m, category_id=category_id)
    items = render.summaries(session, [r for r, _ in hits], distances=[d for _, d in hits])
    return _json(dump(Page[NearbyReport], {"items": items, "page": 1, "per_page": reports.NEARBY_LIMIT,
                                           "next_page": None}))


@route(bp, "GET", CODE_PATH, summary="Xem phản ánh / One report", tag="reports",
       responses={200: ReportPublic, 304: None}, errors=(401, 404),
       description="Public view. The reporter (with a token) gets the owner view: the same fields plus "
                   "private ones and the timeline (schema ReportOwnerView).")
def get_report(code: str) -> Any:
    report = _report(code)
    if not reports.is_listed(report) and not _is_owner(report):  # hidden by staff: only its reporter sees it
        raise NotFound("Không tìm thấy phản ánh với mã này.", code="report-not-found")
    resp = _report_response(report)
    resp.set_etag(hashlib.sha256(resp.get_data()).hexdigest()[:32])
    resp.headers["Vary"] = "Authorization, Accept-Language"
    return resp.make_conditional(request)


# ---------------------------------------------------------------------------- follow-ups


def _act(code: str, action: str, status: int = 200, **fields: Any) -> Response:
    resident = current_resident()
    report = _report(code)
    session = request_session()
    reports.apply(session, report, action, actor=Actor.resident(resident.id), **fields)
    return _json(dump(ReportOwnerView, render.owner_view(session, report)), status)


@route(bp, "POST", CODE_PATH + "/comments", summary="Bổ sung thông tin / Add a comment", tag="reports",
       auth="required", body=CommentCreate, responses={201: ReportOwnerView}, errors=(401, 403, 404, 409))
@http.limiter.limit(WRITE_LIMIT, key_func=rate_key)
@http.limiter.limit(IP_WRITE_LIMIT, key_func=ip_key)
def comment_report(code: str) -> Any:
    data: CommentCreate = body(CommentCreate)
    return _act(code, "comment", 201, text=data.text, photo_ids=list(data.media_ids))


@route(bp, "POST", CODE_PATH + "/rating", summary="Đánh giá kết quả / Rate the resolution", tag="reports",
       auth="required", body=RatingCreate, responses={200: ReportOwnerView}, errors=(401, 403, 404, 409))
@http.limiter.limit(WRITE_LIMIT, key_func=rate_key)
def rate_report(code: str) -> Any:
    data: RatingCreate = body(RatingCreate)
    fields: dict[str, Any] = {"rating": data.rating}
    if data.text:
        fields["text"] = data.text
    return _act(code, "rate", **fields)


@route(bp, "POST", CODE_PATH + "/reopen", summary="Phản ánh lại / Reopen", tag="reports", auth="required",
       body=ReopenCreate, responses={200: ReportOwnerView}, errors=(401, 403, 404, 409))
@http.limiter.limit(WRITE_LIMIT, key_func=rate_key)
def reopen_report(code: str) -> Any:
    data: ReopenCreate = body(ReopenCreate)
    return _act(code, "reopen", reason=data.reason, photo_ids=list(data.media_ids))


def _follow(code: str, on: bool) -> Response:
    resident = current_resident()
    report = _report(code)
    session = request_session()
    if on:
        if report.resident_id == resident.id:
            raise InvalidInput("Bạn đã là người gửi phản ánh này.", code="own-report")
        residents.follow(session, resident_id=resident.id, report=report)
    else:
        residents.unfollow(session, resident_id=resident.id, report=report)
    return _json(dump(FollowState, {"code": report.code, "following": on,
                                    "followers": residents.follower_count(session, report)}))


@route(bp, "POST", CODE_PATH + "/follow", summary="Tôi cũng gặp / Me too (follow)", tag="reports",
       auth="required", responses={200: FollowState}, errors=(401, 404))
@http.limiter.limit(WRITE_LIMIT, key_func=rate_key)
def follow_report(code: str) -> Any:
    optional_body(_Empty)
    return _follow(code, True)


@route(bp, "DELETE", CODE_PATH + "/follow", summary="Bỏ theo dõi / Unfollow", tag="reports",
       auth="required", responses={200: FollowState}, errors=(401, 404))
@http.limiter.limit(WRITE_LIMIT, key_func=rate_key)
def unfollow_report(code: str) -> Any:
    return _follow(code, False)


class _Empty(Schema):
    """No body (or ``{}``)."""
