"""The OpenAPI document and docs page, public KPI figures and ranking, rate limits."""

from __future__ import annotations

import re

import pytest
from v1_helpers import INSIDE


def test_openapi_document_is_3_1_and_complete(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    doc = r.json
    assert doc["openapi"] == "3.1.0"
    paths = doc["paths"]
    for path, method in [("/categories", "get"), ("/media", "post"), ("/reports", "post"), ("/reports", "get"),
                         ("/reports/nearby", "get"), ("/reports/{code}", "get"), ("/me/reports", "get"),
                         ("/reports/{code}/comments", "post"), ("/reports/{code}/follow", "post"),
                         ("/reports/{code}/follow", "delete"), ("/reports/{code}/rating", "post"),
                         ("/reports/{code}/reopen", "post"), ("/devices", "post"),
                         ("/devices/{device_id}", "delete"), ("/me/notifications", "get"), ("/stats", "get"),
                         ("/stats/ranking", "get")]:
        op = paths[path][method]
        assert "application/problem+json" in op["responses"]["default"]["content"]
    assert paths["/reports"]["post"]["security"] == [{"firebase": []}]
    assert "security" not in paths["/reports"]["get"]
    assert "ReportOwnerView" in doc["components"]["schemas"]


def test_openapi_document_is_valid(client):
    from jsonschema import Draft202012Validator

    doc = client.get("/api/v1/openapi.json").json
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_docs_page_uses_vendored_assets_only(client):
    r = client.get("/api/v1/docs")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert "http://" not in html and "https://" not in html and "<script>" not in html
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    for src in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert src.startswith("/api/v1/"), src
        assert client.get(src).status_code == 200, src
    assert client.get("/api/v1/static/swagger-ui/LICENSE").status_code == 200


def test_public_stats_are_aggregates(client, new_report):
    new_report()
    r = client.get("/api/v1/stats")
    assert r.status_code == 200
    assert r.json["backlog"] >= 0 and "time_to_resolve" in r.json
    text = r.get_data(as_text=True)
    assert "PA-" not in text and "alice" not in text
    assert client.get("/api/v1/stats?month=2026-01&category=duong-hu-hong").status_code == 200


@pytest.mark.parametrize("qs", ["month=2026-13", "month=26-01", "category=khong-co", "month=x", "junk=1"])
def test_stats_bad_query(client, demo_city, qs):
    r = client.get(f"/api/v1/stats?{qs}")
    assert r.status_code == 422 and r.mimetype == "application/problem+json"


def test_monthly_ranking(client, demo_city):
    r = client.get("/api/v1/stats/ranking?month=2026-10")
    assert r.status_code == 200 and r.json["month"] == "2026-10"
    assert r.json["items"] and {"rank", "unit_code", "unit_name", "on_time_rate"} <= set(r.json["items"][0])
    en = client.get("/api/v1/stats/ranking?month=2026-10", headers={"Accept-Language": "en"}).json
    assert en["items"][0]["unit_name"] != r.json["items"][0]["unit_name"] or en["items"][0]["unit_name"]
    assert client.get("/api/v1/stats/ranking?month=2026-1").status_code == 422


@pytest.fixture
def limited(settings):
    settings.ratelimit_enabled = True
    return settings


def test_write_rate_limit_per_resident(limited, client, auth, demo_city):
    body = {"description": "Rác thải", "location": INSIDE}
    statuses = [client.post("/api/v1/reports", json=body, headers=auth("spammer")).status_code for _ in range(7)]
    assert statuses[:6] == [201] * 6 and statuses[6] == 429
    r = client.post("/api/v1/reports", json=body, headers=auth("spammer"))
    assert r.status_code == 429 and r.mimetype == "application/problem+json"
    assert int(r.headers["Retry-After"]) > 0
    # Vietnamese, never Flask-Limiter's "6 per 1 minute"
    assert "thử lại sau" in r.json["detail"] and " per " not in r.json["detail"]
    # another resident is not affected
    assert client.post("/api/v1/reports", json=body, headers=auth("neighbour")).status_code == 201


def test_write_rate_limit_per_ip(limited, client, auth, demo_city):
    body = {"description": "Rác thải", "location": INSIDE}
    statuses = [client.post("/api/v1/reports", json=body, headers=auth(f"u{i}")).status_code for i in range(21)]
    assert statuses.count(429) == 1 and statuses[-1] == 429


def test_validation_messages_are_vietnamese(client, auth, demo_city):
    r = client.post("/api/v1/reports", json={"description": "Rác thải"}, headers=auth("thieu-vi-tri"))
    assert r.status_code == 422
    messages = [e["msg"] for e in r.json["errors"]]
    assert "Thiếu trường bắt buộc." in messages
    assert not any("required" in m or "Field" in m for m in messages)
