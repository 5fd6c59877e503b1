"""Hostile input on the mobile API (issue 21, findings 7 and 12): a problem+json 4xx, nothing stored, never
a 5xx; and the caller is authenticated before the body is read (401 first).

Every case listed in the issue is a regression test here; ``test_v1_fuzz.py`` generates more.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from backend.api.v1.openapi import OPERATIONS
from backend.models import Report

DEEP = b'{"a":' * 5000 + b"1" + b"}" * 5000


def problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)[:300]
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert body["status"] == status and body["title"]
    return body


def report_count(session: Any) -> int:
    return session.scalar(select(func.count()).select_from(Report))


# --------------------------------------------------------------------------- 12: 401 before validation


AUTHENTICATED = sorted({(op.method.upper(), op.path) for op in OPERATIONS if op.auth == "required"})


def _path(path: str) -> str:
    return path.replace("<code>", "PA-AAAAAA").replace("<int:device_id>", "1")


@pytest.mark.parametrize(("method", "path"), AUTHENTICATED)
@pytest.mark.parametrize("bad_body", [b'{"description": 5}', b"not json", DEEP], ids=["invalid", "garbage", "deep"])
def test_no_token_is_401_whatever_the_body(client, demo_city, method, path, bad_body):
    resp = client.open("/api/v1" + _path(path), method=method, data=bad_body, content_type="application/json")
    problem(resp, 401)
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_create_without_token_and_with_an_invalid_body_is_401_not_422(client, demo_city, session):
    resp = client.post("/api/v1/reports", json={"category": 1})
    problem(resp, 401)
    assert report_count(session) == 0


def test_bad_token_is_401_before_the_body(client, demo_city):
    resp = client.post("/api/v1/reports", data=DEEP, content_type="application/json",
                       headers={"Authorization": "Bearer not-a-token"})
    problem(resp, 401)


# --------------------------------------------------------------------------- 7: the listed cases


def test_json_nested_5000_deep_is_400(client, auth, demo_city, session):
    resp = client.post("/api/v1/reports", data=DEEP, content_type="application/json", headers=auth())
    problem(resp, 400)
    assert report_count(session) == 0


@pytest.mark.parametrize("value", ["\udc00", "\ud800x", "a\udfffb"])
def test_lone_surrogate_in_attributes_is_422(client, auth, demo_city, session, value):
    raw = json.dumps({"category": "duong-hu-hong", "description": "Ổ gà", "location": {"lat": 9.603, "lon": 105.975},
                      "attributes": {"a": value}})  # json.dumps writes the \\udc00 escape a client would send
    resp = client.post("/api/v1/reports", data=raw, content_type="application/json", headers=auth())
    body = problem(resp, 422)
    assert body["errors"]
    assert report_count(session) == 0


@pytest.mark.parametrize("field", ["description", "category"])
def test_lone_surrogate_or_nul_in_text_fields_is_422(client, auth, demo_city, session, field):
    for value in ("\ud800", "Ổ gà\x00 lớn"):
        payload = {"category": "duong-hu-hong", "description": "Ổ gà", "location": {"lat": 9.603, "lon": 105.975}}
        payload[field] = value
        resp = client.post("/api/v1/reports", data=json.dumps(payload), content_type="application/json",
                           headers=auth())
        problem(resp, 422)
    assert report_count(session) == 0


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01",
                                   "10000-01-01T00:00:00Z"])
def test_extreme_since_is_422(client, demo_city, since):
    problem(client.get("/api/v1/reports", query_string={"since": since}), 422)


@pytest.mark.parametrize(("name", "value"), [("category", "duong%00"), ("status", "open%00"),
                                             ("bbox", "105.9,9.5,106%00,9.7"), ("category", "%ED%A0%80"),
                                             ("since", "2026-01-01T00:00:00%00")])
def test_nul_or_surrogate_in_query_is_4xx_not_503(client, demo_city, name, value):
    resp = client.get(f"/api/v1/reports?{name}={value}")
    assert 400 <= resp.status_code < 500, resp.get_data(as_text=True)[:200]
    assert resp.mimetype == "application/problem+json"


def test_nul_in_nearby_category_is_4xx(client, demo_city):
    resp = client.get("/api/v1/reports/nearby", query_string={"lat": "9.6", "lon": "105.9", "category": "x\x00"})
    assert 400 <= resp.status_code < 500
    assert resp.mimetype == "application/problem+json"


@pytest.mark.parametrize("code", ["PA-\x00AAAA", "%00", "PA-%ED%A0%80"])
def test_nul_in_a_report_code_is_404(client, demo_city, code):
    resp = client.get(f"/api/v1/reports/{code}")
    assert resp.status_code in (400, 404), resp.get_data(as_text=True)[:200]
    assert resp.mimetype == "application/problem+json"


def test_nul_in_a_comment_is_422_and_nothing_stored(client, auth, new_report, session):
    code = new_report().get_json()["code"]
    before = session.exec(select(Report.version).where(Report.code == code)).one()
    resp = client.post(f"/api/v1/reports/{code}/comments", data='{"text": "Thêm\\u0000 ảnh"}',
                       content_type="application/json", headers=auth())
    problem(resp, 422)
    session.expire_all()
    assert session.exec(select(Report.version).where(Report.code == code)).one() == before
