"""``GET /api/v1/categories``: what residents can report, localized, emergencies flagged."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from backend import http
from backend.api.v1.blueprint import bp
from backend.api.v1.openapi import dump, route
from backend.db import request_session
from backend.schemas.categories import CategoryList
from backend.services import city


@route(bp, "GET", "/categories", summary="Danh mục phản ánh / Report categories", tag="categories",
       responses={200: CategoryList},
       description="Localized by Accept-Language (vi default). Emergency categories are not accepted: "
                   "the app shows `hotline` instead.")
def list_categories() -> Any:
    session = request_session()
    loc = http.locale()
    hotlines = city.hotlines(session)
    items = []
    for cat in city.active_categories(session):
        items.append({
            "code": cat.code, "name": cat.name(loc),
            "description": (cat.description_en if loc == "en" and cat.description_en else cat.description_vi),
            "group": {"code": cat.group_code,
                      "name": (cat.group_en if loc == "en" and cat.group_en else cat.group_vi) or cat.group_code},
            "is_emergency": cat.is_emergency,
            "hotline": (cat.hotline or hotlines.get("city")) if cat.is_emergency else cat.hotline,
            "requires_after_photo": cat.requires_after_photo,
            "attributes": city.localized_attributes(cat, loc),
        })
    resp = jsonify(dump(CategoryList, {"items": items, "hotlines": hotlines}))
    resp.headers["Cache-Control"] = "public, max-age=300"
    resp.headers["Vary"] = "Accept-Language"
    return resp
