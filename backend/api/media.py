"""``GET /media/<key>``: public photo copies and thumbnails, immutable and long-cached.

Keys are content-hash names, so a changed image (redaction) gets a new URL and old URLs may be
cached for a year. Only public objects are served: private originals and unknown or malformed
keys are the same 404 problem+json (nothing reveals that an original exists).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request, send_file

from backend import http
from backend.errors import NotFound
from backend.services import photos

bp = Blueprint("media", __name__, url_prefix="/media")

CACHE_FOREVER = "public, max-age=31536000, immutable"


@bp.get("/<path:key>")
def media(key: str) -> Any:
    store = photos.get_storage(http.settings())
    try:
        photos.check_key(key)
    except NotFound:
        raise _not_found() from None
    if not store.is_public(key):
        raise _not_found()
    etag = key.rsplit("/", 1)[-1].split(".", 1)[0]
    if request.if_none_match and request.if_none_match.contains(etag):
        resp = Response(status=304)
    else:
        path = getattr(store, "path", None)
        file = path(key) if path else None
        source: Any = file if file is not None else store.open(key)
        resp = send_file(source, mimetype=photos.content_type_for(key), conditional=False, etag=False,
                         max_age=None)
    resp.set_etag(etag)
    resp.headers["Cache-Control"] = CACHE_FOREVER
    resp.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


def _not_found() -> NotFound:
    return NotFound("Không tìm thấy ảnh.", code="not-found")
