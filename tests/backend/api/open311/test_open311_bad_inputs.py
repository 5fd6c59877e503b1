"""Hostile input on Open311 (issue 21, finding 7): the Open311 error array with a 4xx, nothing stored,
never a 5xx or a misleading 503; the api_key is checked before the parameters (403 first)."""

from __future__ import annotations

from typing import Any

import pytest
from o311_support import INSIDE, assert_json_errors, xml_errors
from sqlalchemy import func, select

from backend.models import Report

FEEDS = ("requests", "servicerequestupdates")


def count(session: Any) -> int:
    return session.scalar(select(func.count()).select_from(Report))


@pytest.mark.parametrize("feed", FEEDS)
@pytest.mark.parametrize("param", ["start_date", "end_date"])
@pytest.mark.parametrize("value", ["0001-01-05", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                                   "1969-12-31T23:59:59Z", "2100-01-01"])
def test_extreme_dates_are_400(client, city, feed, param, value):
    errors = assert_json_errors(client.get(f"/open311/v2/{feed}.json", query_string={param: value}), 400)
    assert param in errors[0]["description"]


def test_extreme_date_in_xml_is_an_xml_error(client, city):
    resp = client.get("/open311/v2/requests.xml", query_string={"end_date": "0001-01-05"})
    assert resp.status_code == 400 and xml_errors(resp.get_data())[0][0] == "400"


@pytest.mark.parametrize(("param", "value"), [("service_code", "rac-thai%00"), ("status", "open%00"),
                                              ("service_request_id", "PA-%00"),
                                              ("jurisdiction_id", "soctrang%00")])
def test_nul_in_a_query_parameter_is_400_not_503(client, city, param, value):
    resp = client.get(f"/open311/v2/requests.json?{param}={value}")
    assert resp.status_code in (400, 404), resp.get_data(as_text=True)[:200]
    assert resp.get_json()[0]["code"] == resp.status_code


def test_nul_in_a_report_path_is_404(client, city):
    resp = client.get("/open311/v2/requests/PA-%00AAAA.json")
    assert resp.status_code in (400, 404)
    assert resp.mimetype == "application/json" and isinstance(resp.get_json(), list)


@pytest.mark.parametrize("field", ["service_code", "description", "address_string", "email", "first_name",
                                   "attribute[so-luong]", "device_id"])
def test_nul_in_a_posted_field_is_400_and_nothing_stored(client, city, api_key, session, field):
    data = {"api_key": api_key, "service_code": "rac-thai", "description": "Rác đổ trộm", **INSIDE}
    data[field] = (data.get(field) or "giá trị") + "\x00"
    before = count(session)
    resp = client.post("/open311/v2/requests.json", data=data)
    assert_json_errors(resp, 400)
    assert count(session) == before


def test_a_wrong_key_is_refused_before_the_parameters(client, city):
    resp = client.post("/open311/v2/requests.json", data={"api_key": "sai\x00", "service_code": "\x00",
                                                          "lat": "x"})
    assert_json_errors(resp, 403)
    resp = client.post("/open311/v2/servicerequestupdates.json", data={"updated_datetime": "0001-01-01"})
    assert_json_errors(resp, 403)


def test_extreme_updated_datetime_is_400(client, city, unit_key):
    resp = client.post("/open311/v2/servicerequestupdates.json",
                       data={"api_key": unit_key, "service_request_id": "PA-AAAAAA", "update_id": "u1",
                             "status": "OPEN", "updated_datetime": "0001-01-01T00:00:00+14:00"})
    assert_json_errors(resp, 400)
