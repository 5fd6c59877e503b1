"""No input makes an Open311 endpoint fail: random parameters get a 2xx or the error array, never a 5xx."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from o311_support import INSIDE

WORDS = ["OPEN", "CLOSED", "FIXED", "IN_PROGRESS", "ACTION_SCHEDULED", "DUPLICATE", "REOPEN", "UNCHANGED",
         "NOT_COUNCILS_RESPONSIBILITY", "INTERNAL_REFERRAL", "fixed", "", "ÁÂ", "open\x00"]
TEXT = st.one_of(st.text(max_size=60), st.sampled_from(["", " ", "PA-", "PA-ZZZZZZ", "2026-02-30T25:00:00Z",
                                                        "http://127.0.0.1:9/a.jpg", "javascript:x", "-1", "1e309",
                                                        "x" * 4100]))
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _ok(resp: Any) -> None:
    assert resp.status_code < 500, resp.get_data(as_text=True)[:300]
    if resp.status_code >= 400:
        body = resp.get_json(silent=True) if resp.mimetype == "application/json" else None
        assert resp.mimetype in ("application/json", "text/xml"), resp.mimetype
        assert body is None or (isinstance(body, list) and body and "description" in body[0])


@FUZZ
@given(status=st.one_of(st.sampled_from(WORDS), st.text(max_size=20)), description=TEXT, update_id=TEXT,
       when=TEXT, media=TEXT, duplicate_of=TEXT, email=TEXT, fmt=st.sampled_from(["json", "xml"]))
def test_posted_updates_never_fail(client, post_report, api_key, unit_key, status, description, update_id, when,
                                   media, duplicate_of, email, fmt):
    code = post_report().get_json()[0]["service_request_id"]
    for key in (api_key, unit_key):
        resp = client.post(f"/open311/v2/servicerequestupdates.{fmt}", data={
            "api_key": key, "service_request_id": code, "status": status, "description": description,
            "update_id": update_id, "updated_datetime": when, "media_url": media, "duplicate_of": duplicate_of,
            "email": email, "first_name": email})
        _ok(resp)


@FUZZ
@given(fields=st.dictionaries(st.sampled_from(["service_code", "lat", "long", "address_string", "address_id",
                                               "description", "email", "external_id", "idempotency_key",
                                               "attribute[fixmystreet_id]", "attribute[kich-thuoc]", "media_url",
                                               "jurisdiction_id"]), TEXT, max_size=6),
       fmt=st.sampled_from(["json", "xml"]))
def test_posted_requests_never_fail(client, city, api_key, fields, fmt):
    data = {"api_key": api_key, "service_code": "rac-thai", **INSIDE, **fields}
    _ok(client.post(f"/open311/v2/requests.{fmt}", data=data))


@FUZZ
@given(query=st.dictionaries(st.sampled_from(["start_date", "end_date", "status", "service_code", "page",
                                              "page_size", "service_request_id", "updated_after", "extensions",
                                              "locale"]), TEXT, max_size=4),
       path=st.sampled_from(["requests", "servicerequestupdates", "services", "discovery"]),
       fmt=st.sampled_from(["json", "xml"]))
def test_reads_never_fail(client, city, query, path, fmt):
    _ok(client.get(f"/open311/v2/{path}.{fmt}", query_string=query))
