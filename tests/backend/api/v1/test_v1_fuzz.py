"""Fuzzing the mobile API (issue 21, finding 7): hostile strings, nesting and dates never give a 5xx, and
a refused request writes nothing."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from backend.models import Outbox, Report, ReportEvent

from fixtures.hostile import date, json_text, number, query_value, text

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _counts(session):
    return tuple(session.scalar(select(func.count()).select_from(m)) for m in (Report, ReportEvent, Outbox))


@FUZZ
@given(description=text, category=text, attr=text, lat=number, since=date)
def test_create_report_never_5xx(client, auth, demo_city, session, description, category, attr, lat, since):
    body = {"category": category, "description": description, "location": {"lat": lat, "lon": 105.975},
            "attributes": {attr: attr}, "since": since}
    before = _counts(session)
    resp = client.post("/api/v1/reports", data=json.dumps(body), content_type="application/json", headers=auth())
    assert resp.status_code < 500, resp.get_data(as_text=True)[:300]
    assert resp.mimetype == "application/problem+json"
    assert _counts(session) == before


@FUZZ
@given(raw=json_text)
def test_hostile_json_never_5xx(client, auth, demo_city, session, raw):
    before = _counts(session)
    resp = client.post("/api/v1/reports", data=raw, content_type="application/json", headers=auth())
    assert 400 <= resp.status_code < 500
    assert _counts(session) == before


@FUZZ
@given(name=st.sampled_from(["since", "category", "status", "bbox", "page", "per_page"]), value=st.one_of(text, date))
def test_list_query_never_5xx(client, demo_city, name, value):
    resp = client.get(f"/api/v1/reports?{name}={query_value(value)}")
    assert resp.status_code < 500, resp.get_data(as_text=True)[:300]
