"""The signed-in resident: my reports, push devices, my notification feed."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from backend import http
from backend.api.v1 import render
from backend.api.v1.auth import current_resident, ip_key, rate_key
from backend.api.v1.blueprint import bp
from backend.api.v1.openapi import body, dump, query, route
from backend.db import request_session
from backend.schemas.common import Page, PageQuery, page_of
from backend.schemas.reports import ReportSummary
from backend.schemas.residents import DeviceCreate, DevicePublic, NotificationPublic
from backend.services import reports, residents


@route(bp, "GET", "/me/reports", summary="Phản ánh của tôi / My reports", tag="me", auth="required",
       query=PageQuery, responses={200: Page[ReportSummary]}, errors=(401,))
def my_reports() -> Any:
    q: PageQuery = query(PageQuery)
    resident = current_resident()
    session = request_session()
    rows = reports.list_reports(session, reports.ReportFilter(resident_id=resident.id),
                                page=q.page, per_page=q.per_page)
    return jsonify(dump(Page[ReportSummary], page_of(render.summaries(session, rows), page=q.page,
                                                     per_page=q.per_page)))


@route(bp, "POST", "/devices", summary="Đăng ký nhận thông báo / Register a device for push", tag="me",
       auth="required", body=DeviceCreate, responses={201: DevicePublic}, errors=(401,))
@http.limiter.limit("30/hour", key_func=rate_key)
@http.limiter.limit("120/hour", key_func=ip_key)
def register_device() -> Any:
    data: DeviceCreate = body(DeviceCreate)
    resident = current_resident()
    device = residents.register_device(request_session(), resident_id=resident.id, token=data.token,
                                       kind=data.kind, platform=data.platform, locale=data.locale)
    resp = jsonify(dump(DevicePublic, device))
    resp.status_code = 201
    return resp


@route(bp, "DELETE", "/devices/<int:device_id>", summary="Gỡ thiết bị / Remove a device", tag="me",
       auth="required", responses={204: None}, errors=(401, 404))
@http.limiter.limit("30/hour", key_func=rate_key)
def remove_device(device_id: int) -> Any:
    resident = current_resident()
    residents.remove_device(request_session(), resident_id=resident.id, device_id=device_id)
    return "", 204


@route(bp, "GET", "/me/notifications", summary="Thông báo của tôi / My notifications", tag="me",
       auth="required", query=PageQuery, responses={200: Page[NotificationPublic]}, errors=(401,))
def my_notifications() -> Any:
    q: PageQuery = query(PageQuery)
    resident = current_resident()
    rows = residents.notification_feed(request_session(), resident_id=resident.id, page=q.page, per_page=q.per_page)
    items = [{"id": d.id, "report_code": code, "template": d.template, "title": d.title, "body": d.body,
              "created_at": d.created_at, "read_at": d.read_at} for d, code in rows]
    return jsonify(dump(Page[NotificationPublic], page_of(items, page=q.page, per_page=q.per_page)))
