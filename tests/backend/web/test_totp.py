"""The optional second factor (issue 21): TOTP from an authenticator app, recovery codes, mandatory for
admins when the city says so — driven through the pages, with codes computed by pyotp as an app would."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlparse

import pyotp
from sqlmodel import select
from web_seed import PASSWORD, login, token

from backend.models import StaffAudit
from backend.services.city import settings as city_settings


def _path(resp: Any) -> str:
    return urlparse(resp.headers.get("Location", "")).path


def _enrol(client: Any) -> tuple[str, list[str]]:
    page = client.get("/auth/totp/setup").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page  # the QR code
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    resp = client.post("/auth/totp/setup", data={"code": pyotp.TOTP(secret).now(),
                                                 "csrf_token": token(client, "/auth/totp/setup")})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    codes = re.findall(r"<li><code>([0-9a-f]{5}-[0-9a-f]{5})</code></li>", resp.get_data(as_text=True))
    assert len(codes) == 10
    return secret, codes


def _next_code(secret: str) -> str:
    """The code of the next 30-s step (accepted for clock drift): the current one was used to enrol."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def _second_step(client: Any, code: str) -> Any:
    return client.post("/auth/totp", data={"code": code, "csrf_token": token(client, "/auth/totp")})


def test_enrolled_officer_needs_a_code_after_the_password(app, login_as, city, session):
    secret, _ = _enrol(login_as("officer"))
    browser = app.test_client()
    first = login(browser, "officer")
    assert first.status_code == 303 and _path(first) == "/auth/totp"
    assert browser.get("/inbox").status_code == 302  # half signed in: no page yet
    assert _second_step(browser, "000000").status_code == 401
    assert _second_step(browser, pyotp.TOTP(secret).now()).status_code == 401  # used to enrol: spent
    ok = _second_step(browser, _next_code(secret))
    assert ok.status_code == 303 and _path(ok).startswith("/inbox")
    assert browser.get("/inbox").status_code == 200
    kinds = [a.kind for a in session.exec(select(StaffAudit))]
    assert "totp_enabled" in kinds


def test_a_code_is_accepted_once(app, login_as, city):
    secret, _ = _enrol(login_as("officer"))
    code = _next_code(secret)
    first, second = app.test_client(), app.test_client()
    login(first, "officer")
    login(second, "officer")
    assert _second_step(first, code).status_code == 303
    assert _second_step(second, code).status_code == 401  # a stolen or shoulder-surfed code is spent


def test_recovery_code_works_once(app, login_as, city, session):
    _, codes = _enrol(login_as("officer"))
    browser = app.test_client()
    login(browser, "officer")
    resp = _second_step(browser, codes[3].upper())
    assert resp.status_code == 303 and browser.get("/inbox").status_code == 200
    other = app.test_client()
    login(other, "officer")
    assert _second_step(other, codes[3]).status_code == 401
    assert "recovery_code_used" in [a.kind for a in session.exec(select(StaffAudit))]


def test_guessing_codes_is_throttled(app, login_as, city):
    _enrol(login_as("officer"))
    browser = app.test_client()
    login(browser, "officer")
    statuses = [_second_step(browser, f"{i:06d}").status_code for i in range(8)]
    assert statuses[:6] == [401] * 6 and statuses[6:] == [429, 429]


def test_admin_must_set_it_up_when_the_city_requires_it(login_as, city, session):
    city_settings.put(session, "admin_totp_required", True)
    session.flush()
    admin = login_as("admin")
    resp = admin.get("/admin/staff")
    assert resp.status_code == 302 and _path(resp) == "/auth/totp/setup"
    assert "Thành phố yêu cầu" in admin.get("/auth/totp/setup").get_data(as_text=True)
    _enrol(admin)
    assert admin.get("/admin/staff").status_code == 200
    # and cannot turn it off
    resp = admin.post("/auth/totp/disable", data={"password": PASSWORD, "csrf_token": token(admin, "/auth/totp/setup")})
    assert _path(resp) == "/auth/totp/setup"
    assert admin.get("/admin/staff").status_code == 200
    # an officer is not forced
    assert login_as("officer").get("/inbox").status_code == 200


def test_turning_it_off_needs_the_password(login_as, city, app):
    officer = login_as("officer")
    _enrol(officer)
    bad = officer.post("/auth/totp/disable", data={"password": "sai", "csrf_token": token(officer, "/auth/totp/setup")})
    assert _path(bad) == "/auth/totp/setup"
    officer = app.test_client()
    assert _path(login(officer, "officer")) == "/auth/totp"
