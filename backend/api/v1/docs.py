"""The OpenAPI 3.1 document (``/api/v1/openapi.json``) and a Swagger UI page (``/api/v1/docs``).

Swagger UI is vendored from the ``swagger-ui-dist`` npm package under ``static/swagger-ui``
(Apache-2.0, LICENSE alongside); nothing is loaded from a CDN and the page has no inline script.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, url_for

from backend import http
from backend.api.v1.blueprint import bp
from backend.api.v1.openapi import cached_document

TITLE = "phananh — mobile app API"
VERSION = "1.0.0"

PAGE = """<!doctype html>
<html lang="vi">
<head>
<meta charset="utf-8">
<title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{css}">
<link rel="icon" href="{icon}">
</head>
<body>
<div id="swagger-ui" data-spec-url="{spec}"></div>
<script src="{bundle}"></script>
<script src="{preset}"></script>
<script src="{init}"></script>
</body>
</html>
"""


@bp.get("/openapi.json")
def openapi_json() -> Any:
    base = http.settings().base_url.rstrip("/") + "/api/v1"
    resp = jsonify(cached_document(TITLE, VERSION, base))
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp


@bp.get("/docs")
def docs_page() -> Response:
    def asset(name: str) -> str:
        return url_for("api_v1.static", filename=f"swagger-ui/{name}")

    html = PAGE.format(title=TITLE, css=asset("swagger-ui.css"), icon=asset("favicon-32x32.png"),
                       bundle=asset("swagger-ui-bundle.js"), preset=asset("swagger-ui-standalone-preset.js"),
                       init=asset("init.js"), spec=url_for("api_v1.openapi_json"))
    resp = Response(html, mimetype="text/html")
    resp.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
    return resp
