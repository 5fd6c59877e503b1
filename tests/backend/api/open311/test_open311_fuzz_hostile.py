"""Fuzzing Open311 (issue 21, finding 7): hostile parameters never give a 5xx, errors come as the Open311
error array, and a refused POST writes nothing."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from o311_support import INSIDE
from sqlalchemy import func, select

from backend.models import Outbox, Report

from fixtures.hostile import date, query_value, text

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FIELDS = ["service_code", "description", "address_string", "email", "first_name", "attribute[so-luong]", "lat",
          "long", "device_id", "media_url"]


def _counts(session):
    return tuple(session.scalar(select(func.count()).select_from(m)) for m in (Report, Outbox))


@FUZZ
@given(feed=st.sampled_from(["requests", "servicerequestupdates"]),
       name=st.sampled_from(["start_date", "end_date", "updated_after", "service_code", "status", "page_size"]),
       value=st.one_of(date, text))
def test_feeds_never_5xx(client, city, feed, name, value):
    resp = client.get(f"/open311/v2/{feed}.json?{name}={query_value(value)}")
    assert resp.status_code < 500, resp.get_data(as_text=True)[:300]
    if resp.status_code >= 400:
        assert isinstance(resp.get_json(), list)


@FUZZ
@given(field=st.sampled_from(FIELDS), value=text)
def test_post_request_never_5xx_and_refusals_write_nothing(client, city, api_key, session, field, value):
    data = {"api_key": api_key, "service_code": "rac-thai", "description": "Rác đổ trộm", **INSIDE, field: value}
    body = "&".join(f"{k}={query_value(v)}" for k, v in data.items())
    before = _counts(session)
    resp = client.post("/open311/v2/requests.json", data=body, content_type="application/x-www-form-urlencoded")
    assert resp.status_code < 500, resp.get_data(as_text=True)[:300]
    if resp.status_code >= 400:
        assert isinstance(resp.get_json(), list)
        assert _counts(session) == before
