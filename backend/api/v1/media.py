"""``POST /api/v1/media``: upload one photo (multipart ``file``); answers a media id to attach.

The size limit is checked from Content-Length before the body is read; the type is sniffed from
the bytes by the photo service, which keeps the original privately and queues processing.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from backend import http
from backend.api.v1.auth import current_resident, ip_key, rate_key
from backend.api.v1.blueprint import bp
from backend.api.v1.openapi import BadRequest, dump, route
from backend.db import request_session
from backend.errors import Unsupported
from backend.schemas.media import MediaPublic
from backend.services import photos

MULTIPART = {"type": "object", "required": ["file"],
             "properties": {"file": {"type": "string", "format": "binary",
                                     "description": "JPEG, PNG, WebP or HEIC photo"}}}


@route(bp, "POST", "/media", summary="Tải ảnh lên / Upload a photo", tag="media", auth="required",
       responses={201: MediaPublic}, multipart=MULTIPART, errors=(401,))
@http.limiter.limit("60/hour;20/minute", key_func=rate_key)
@http.limiter.limit("120/hour", key_func=ip_key)
def upload_media() -> Any:
    settings = http.settings()
    photos.check_declared_length(request.content_length, settings.max_upload_bytes)
    resident = current_resident()
    if not request.mimetype.startswith("multipart/form-data"):
        raise Unsupported("Gửi ảnh bằng multipart/form-data, trường 'file'.", code="unsupported-media-type")
    upload = request.files.get("file")
    if upload is None:
        raise BadRequest("Thiếu trường 'file' chứa ảnh.", code="bad-request")
    data = upload.read(settings.max_upload_bytes + 1)
    photo = photos.accept_upload(request_session(), data=data, storage=photos.get_storage(settings),
                                 resident_id=resident.id, role="report", max_bytes=settings.max_upload_bytes)
    resp = jsonify(dump(MediaPublic, photo))
    resp.status_code = 201
    return resp
