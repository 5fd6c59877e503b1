"""Hostile input on the staff pages and exports (issue 21, findings 7 and 12): a Vietnamese error page
(or a flash on a form) with a 4xx, never a 5xx, a misleading 503 or a 200 that is cut mid-download;
and a signed-out caller is sent to the login page before its form is looked at."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import pytest
from web_seed import by_code, token


def html_error(resp: Any, status: int = 422) -> str:
    text = resp.get_data(as_text=True)
    assert resp.status_code == status, text[:300]
    assert resp.mimetype == "text/html"
    return text


@pytest.mark.parametrize("path", ["/exports/reports.csv", "/exports/reports.geojson"])
@pytest.mark.parametrize("value", ["0001-01-01", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_export_with_an_extreme_date_is_an_error_page_not_a_cut_download(login_as, city, path, value):
    resp = login_as("admin").get(path, query_string={"from": value})
    assert "nằm ngoài khoảng" in html_error(resp)
    resp = login_as("admin").get(path, query_string={"to": value})
    html_error(resp)


@pytest.mark.parametrize("path", ["/dashboard", "/dashboard/data.json", "/exports/kpis.csv"])
def test_dashboard_with_an_extreme_month_is_4xx(login_as, city, path):
    resp = login_as("admin").get(path, query_string={"from": "0001-01"})
    assert 400 <= resp.status_code < 500


@pytest.mark.parametrize("path", ["/inbox", "/inbox/rows", "/inbox/map.json", "/exports/reports.csv", "/dashboard"])
@pytest.mark.parametrize("param", ["q", "state", "unit_id", "category_id"])
def test_nul_in_a_query_parameter_is_a_page_not_a_503(login_as, city, path, param):
    resp = login_as("admin").get(f"{path}?{param}=r%00c")
    assert "ký tự không hợp lệ" in html_error(resp)


def test_nul_in_a_posted_reply_is_flashed_and_nothing_stored(login_as, city, session):
    client = login_as("ioc")
    code = city.reports["road"]
    before = by_code(session, code).version
    resp = client.post(f"/inbox/r/{code}/act", data={"action": "reply", "text": "Đã tiếp\x00 nhận",
                                                     "version": str(before),
                                                     "csrf_token": token(client, f"/inbox/r/{code}")},
                       headers={"Referer": f"http://localhost/inbox/r/{code}"})
    assert resp.status_code == 303
    session.expire_all()
    assert by_code(session, code).version == before
    page = client.get(urlparse(resp.headers["Location"]).path).get_data(as_text=True)
    assert "ký tự không hợp lệ" in page


def test_nul_in_the_login_form_is_refused_politely(client, city):
    resp = client.post("/auth/login", data={"email": "officer@demo.vn\x00", "password": "x",
                                            "csrf_token": token(client, "/auth/login")})
    assert 400 <= resp.status_code < 500


@pytest.mark.parametrize("path", ["/inbox/r/PA-AAAAAA/act", "/admin/staff", "/inbox/bulk", "/auth/password"])
def test_signed_out_post_goes_to_the_login_page_before_csrf_or_form_checks(client, city, path, session):
    resp = client.post(path, data={"action": "reply", "text": "\x00", "version": "x"})
    assert resp.status_code in (302, 303)
    assert urlparse(resp.headers["Location"]).path == "/auth/login"
