"""Secrets never reach the logs (issue 10, security).

One representative flow with every kind of secret configured — SECRET_KEY, the Zalo app secret,
OA secret key, access and refresh tokens, a Firebase service-account private key (used for FCM
pushes through the loopback Google), Firebase ID tokens, an SMTP password, an Open311 API key and
a staff password — while every log record is captured at DEBUG (including urllib3/requests,
which log request lines). No secret value may appear in any message, argument or traceback.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.app import create_app
from backend.config import Settings

from fakes import zalo as fz
from fakes.google import FakeGoogle, emulator_id_token, keypair

PROJECT = "demo-phananh"
SECRET_KEY = "sk-LEAKCHECK-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
SMTP_PASSWORD = "smtp-LEAKCHECK-pw-7731"
STAFF_PASSWORD = "staff-LEAKCHECK-pw-5512"
INSIDE = {"lat": 9.603, "lon": 105.975}


@pytest.fixture
def fake_google() -> Iterator[FakeGoogle]:
    with FakeGoogle() as fg:
        yield fg


@pytest.fixture
def fake_zalo() -> Iterator[fz.FakeZalo]:
    fake = fz.FakeZalo().start()
    yield fake
    fake.stop()


@pytest.fixture
def leak_settings(settings: Settings, fake_google: FakeGoogle, fake_zalo: fz.FakeZalo, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    from firebase_admin import messaging

    from backend.services.residents import firebase

    sa = tmp_path / "service-account.json"
    sa.write_text(json.dumps(fake_google.service_account_info(PROJECT)))
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9")  # unsigned ID tokens, no calls made
    monkeypatch.setattr(messaging._MessagingService, "FCM_URL", fake_google.fcm_url_template)
    s = settings.model_copy(update={
        "secret_key": SECRET_KEY, "log_level": "DEBUG", "firebase_project_id": PROJECT,
        "firebase_auth_emulator_host": "127.0.0.1:9", "google_application_credentials": str(sa),
        "fcm_endpoint": fake_google.fcm_url_template, "smtp_url": f"smtp://mailer:{SMTP_PASSWORD}@127.0.0.1:9",
        "zalo_app_id": fz.APP_ID, "zalo_app_secret": fz.APP_SECRET, "zalo_oa_secret_key": fz.OA_SECRET_KEY,
        "zalo_access_token": "at-initial", "zalo_refresh_token": "rt-initial", "zalo_api_base": fake_zalo.base,
        "zalo_oauth_base": fake_zalo.base, "zalo_media_hosts": fake_zalo.host})
    yield s
    firebase.delete_app(s)


def _log_text(records: list[logging.LogRecord]) -> str:
    out = []
    fmt = logging.Formatter()
    for r in records:
        out.append(r.getMessage())
        out.append(repr(r.args))
        if r.exc_info:
            out.append(fmt.formatException(r.exc_info))
        out.append(repr({k: v for k, v in r.__dict__.items() if k not in ("msg", "args", "exc_info")}))
    return "\n".join(out)


def _secrets(fake_zalo: fz.FakeZalo, extra: list[str]) -> dict[str, str]:
    key_body = re.sub(r"-----[A-Z ]+-----|\s", "", keypair("service-account")[0])
    values = {"SECRET_KEY": SECRET_KEY, "ZALO_APP_SECRET": fz.APP_SECRET, "ZALO_OA_SECRET_KEY": fz.OA_SECRET_KEY,
              "SMTP password": SMTP_PASSWORD, "staff password": STAFF_PASSWORD,
              "service-account private key": key_body[40:100], "FCM OAuth access token": "fake-access-token"}
    tokens = fake_zalo.access_tokens | fake_zalo.refresh_tokens | fake_zalo.spent_refresh_tokens
    for i, tok in enumerate(sorted(tokens)):
        values[f"zalo token {i}"] = tok
    for i, value in enumerate(extra):
        values[f"value {i}"] = value
    return values


def test_no_secret_in_any_log_record(leak_settings: Settings, db: Any, runner: Any, run_jobs: Any,
                                     session: Any, fake_google: FakeGoogle, fake_zalo: fz.FakeZalo,
                                     caplog: pytest.LogCaptureFixture) -> None:
    from backend.services.city import clients, staff
    from backend.services.city import loading as cities
    from backend.services.city import settings as city_settings

    cities.load_demo(session=session)
    city_settings.put(session, "quiet_hours", [])  # the push goes now, whatever the time of day in the city
    staff.create_staff(session, email="leak@demo.phananh.vn", password=STAFF_PASSWORD, role="dispatcher",
                       unit_code="ioc", name="Kiểm tra rò rỉ")
    _, api_key = clients.create_client(session, name="leak-check", unit_code=None)
    session.flush()

    app = create_app(leak_settings, database=db, runner=runner)
    app.config.update(TESTING=True)
    client = app.test_client()
    caplog.set_level(logging.DEBUG)
    id_token = emulator_id_token(PROJECT, "leak-resident")
    bearer = {"Authorization": f"Bearer {id_token}"}

    # mobile app: device, photo, report -> notification jobs -> FCM push with the service account
    device = client.post("/api/v1/devices", json={"token": "fcm-device-token-0001"}, headers=bearer)
    assert device.status_code == 201, device.data
    media = client.post("/api/v1/media", data={"file": (io.BytesIO(fz.tiny_jpeg()), "p.jpg")}, headers=bearer,
                        content_type="multipart/form-data")
    assert media.status_code == 201, media.data
    report = client.post("/api/v1/reports", headers={**bearer, "Idempotency-Key": "leak-check-0001"},
                         json={"category": "duong-hu-hong", "description": "Ổ gà lớn", "location": INSIDE,
                               "media_ids": [media.get_json()["id"]]})
    assert report.status_code == 201, report.data
    assert client.get("/api/v1/me/reports", headers={"Authorization": "Bearer x" + id_token[1:]}).status_code == 401

    # Zalo: a signed event (OA secret), the bot's reply with the access token
    raw, headers = fz.signed(fz.text_event("leak-user", "Xin chào"))
    assert client.post("/bots/zalo/webhook", data=raw, headers=headers).status_code == 200
    raw, headers = fz.signed(fz.text_event("leak-user", "giả mạo"), secret="wrong-secret")
    assert client.post("/bots/zalo/webhook", data=raw, headers=headers).status_code in (401, 403)

    # staff sign-in: a wrong and a right password
    def login(password: str) -> int:
        page = client.get("/auth/login").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        form = {"email": "leak@demo.phananh.vn", "password": password, "csrf_token": csrf.group(1) if csrf else ""}
        return client.post("/auth/login", data=form).status_code

    assert login(STAFF_PASSWORD + "x") in (400, 401, 403)
    assert login(STAFF_PASSWORD) == 303

    # Open311: the API key in the query string, and a wrong one
    o311 = {"service_code": "duong-hu-hong", "description": "Ổ gà", "lat": "9.6031", "long": "105.9739"}
    client.post(f"/open311/v2/requests.json?api_key={api_key}", data=o311)
    client.post("/open311/v2/requests.json", data={**o311, "api_key": api_key + "x"})

    run_jobs()
    run_jobs()
    assert fake_google.fcm_calls, "the flow must send a push (service-account OAuth + FCM)"
    assert fake_zalo.requests, "the flow must call the Zalo API with the access token"

    text = _log_text(caplog.records)
    assert len(caplog.records) > 10
    leaked = {name: value for name, value in _secrets(fake_zalo, [id_token, api_key]).items() if value in text}
    assert not leaked, f"secrets found in log records: {sorted(leaked)}"
