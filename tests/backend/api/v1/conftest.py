"""Fixtures for the mobile API tests: a loopback Google (certs, OAuth, FCM) and Firebase ID tokens.

Every test runs the real ``firebase_admin.auth.verify_id_token`` path: RS256 tokens signed by a
test key, certificates served by ``tests/fakes/google.py`` (the SDK's cert URL is pointed there
before the first ``auth`` call). Emulator-style unsigned tokens only in ``emulator_token``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from firebase_admin import _token_gen, messaging
from v1_helpers import INSIDE, PROJECT, jpeg_bytes

from backend.services.residents import firebase

from fakes.google import FakeGoogle, emulator_id_token, signed_id_token


@pytest.fixture
def fake_google() -> Iterator[FakeGoogle]:
    with FakeGoogle() as fg:
        yield fg


@pytest.fixture(autouse=True)
def _firebase_offline(fake_google: FakeGoogle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FIREBASE_AUTH_EMULATOR_HOST", raising=False)
    monkeypatch.setattr(_token_gen, "ID_TOKEN_CERT_URI", fake_google.certs_url)
    monkeypatch.setattr(messaging._MessagingService, "FCM_URL", fake_google.fcm_url_template)


@pytest.fixture
def settings(settings: Any) -> Iterator[Any]:
    settings.firebase_project_id = PROJECT
    yield settings
    firebase.delete_app(settings)


@pytest.fixture
def token() -> Callable[..., str]:
    """A real RS256 Firebase ID token for ``uid`` (extra claims as keyword arguments)."""
    def mint(uid: str = "alice", **kw: Any) -> str:
        return signed_id_token(PROJECT, uid, **kw)

    return mint


@pytest.fixture
def auth(token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    """``auth("bob")`` → headers with a valid bearer token for bob."""
    def headers(uid: str = "alice", **kw: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {token(uid, **kw)}"}

    return headers


@pytest.fixture
def emulator_token(monkeypatch: pytest.MonkeyPatch, _firebase_offline: None) -> Callable[..., str]:
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9")  # nothing listens: no calls made
    return lambda uid="alice", **kw: emulator_id_token(PROJECT, uid, **kw)


@pytest.fixture
def upload(client: Any, auth: Callable[..., dict[str, str]]) -> Callable[..., Any]:
    def post(uid: str = "alice", data: bytes | None = None, filename: str = "p.jpg") -> Any:
        payload = {"file": (io.BytesIO(jpeg_bytes() if data is None else data), filename)}
        return client.post("/api/v1/media", data=payload, headers=auth(uid), content_type="multipart/form-data")

    return post


@pytest.fixture
def new_report(client: Any, auth: Callable[..., dict[str, str]], demo_city: Any) -> Callable[..., Any]:
    """Create a report through the API; returns the response."""
    def create(uid: str = "alice", **over: Any) -> Any:
        body = {"category": "duong-hu-hong", "description": "Ổ gà lớn trước nhà số 12",
                "location": {**INSIDE, "accuracy_m": 8}, **over}
        return client.post("/api/v1/reports", json=body, headers=auth(uid))

    return create

