"""Firebase: the firebase_admin app of this deployment and ID-token verification for residents.

``get_app(settings)`` initialises one named firebase_admin app per Settings object (project from
``FIREBASE_PROJECT_ID``, credentials from ``GOOGLE_APPLICATION_CREDENTIALS``; without a credential
file an anonymous credential is used, which is enough to verify tokens and never probes the GCE
metadata server). ``verify_token(token, settings=...)`` returns the verified claims or raises
``Unauthorized`` (401: bad, expired, forged token) / ``Unavailable`` (503: Google's certificates
could not be fetched). Verification itself is ``idtokens.verify`` (firebase-admin's checks with the
parsed public keys cached per process); only emulator tokens go through the SDK.

The Firebase Auth emulator (``FIREBASE_AUTH_EMULATOR_HOST``, read by the SDK on every call) is
honoured in development and tests only; production refuses to start with it
(``Settings.check_production``) and refuses to verify if it appears later.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import uuid
import weakref
from typing import Any

import firebase_admin
from firebase_admin import _token_gen, auth, credentials, exceptions

from backend.config import Settings
from backend.errors import Unauthorized, Unavailable
from backend.services.residents import idtokens

log = logging.getLogger(__name__)

EMULATOR_ENV = "FIREBASE_AUTH_EMULATOR_HOST"
EXPIRED = "Phiên đăng nhập đã hết hạn; vui lòng đăng nhập lại."
INVALID = "Mã xác thực không hợp lệ."
RETRY = "Không kiểm tra được mã xác thực lúc này; vui lòng thử lại."
_lock = threading.Lock()
_apps: dict[int, firebase_admin.App] = {}


def _credential(settings: Settings) -> Any:
    path = settings.google_application_credentials
    if path:
        return credentials.Certificate(path)
    from google.auth.credentials import AnonymousCredentials

    return AnonymousCredentials()


def get_app(settings: Settings) -> firebase_admin.App:
    """The firebase_admin app for ``settings`` (created once, thread-safe)."""
    app = _apps.get(id(settings))
    if app is not None:
        return app
    with _lock:
        app = _apps.get(id(settings))
        if app is None:
            _honour_emulator(settings)
            app = firebase_admin.initialize_app(
                _credential(settings), {"projectId": settings.firebase_project_id},
                name=f"phananh-{uuid.uuid4().hex[:8]}")
            _apps[id(settings)] = app
            weakref.finalize(settings, _forget, id(settings))
            log.info("firebase app %s for project %s", app.name, settings.firebase_project_id)
    return app


def delete_app(settings: Settings) -> None:
    """Forget the firebase_admin app of ``settings`` (tests; settings reload)."""
    with _lock:
        app = _apps.pop(id(settings), None)
    if app is not None:
        firebase_admin.delete_app(app)


def _forget(key: int) -> None:
    app = _apps.pop(key, None)
    if app is not None:
        with contextlib.suppress(ValueError):  # already deleted
            firebase_admin.delete_app(app)


def _honour_emulator(settings: Settings) -> None:
    if settings.firebase_auth_emulator_host and not settings.is_production:
        os.environ.setdefault(EMULATOR_ENV, settings.firebase_auth_emulator_host)


def verify_token(token: str, *, settings: Settings) -> dict[str, Any]:
    """Verify a Firebase ID token; return its claims (``uid``, ``firebase.sign_in_provider``, ...).

    Raises ``Unauthorized`` for any token that is not a valid, unexpired ID token of our project,
    ``Unavailable`` when the certificates (or the emulator) cannot be reached.
    """
    if settings.is_production and os.environ.get(EMULATOR_ENV):
        log.error("%s is set in production: refusing to verify tokens", EMULATOR_ENV)
        raise Unavailable("Dịch vụ xác thực đang bị cấu hình sai.", code="unavailable")
    if not token or len(token) > 8192:
        raise Unauthorized("Thiếu hoặc sai mã xác thực (Bearer token).", code="unauthorized")
    if os.environ.get(EMULATOR_ENV):  # development/tests only: unsigned emulator tokens, the SDK's path
        return _verify_with_sdk(token, settings)
    project = settings.firebase_project_id or get_app(settings).project_id
    if not project:
        log.error("no Firebase project id configured: refusing to verify tokens")
        raise Unavailable("Dịch vụ xác thực đang bị cấu hình sai.", code="unavailable")
    try:
        return idtokens.verify(token, project, _certs_url(settings))
    except idtokens.ExpiredToken as exc:
        raise Unauthorized(EXPIRED, code="unauthorized") from exc
    except idtokens.InvalidToken as exc:
        log.info("rejected id token: %s", exc)
        raise Unauthorized(INVALID, code="unauthorized") from exc
    except idtokens.KeysUnavailable as exc:
        log.warning("cannot fetch Firebase certificates: %s", exc)
        raise Unavailable(RETRY, code="unavailable") from exc


def _certs_url(settings: Settings) -> str:
    """Google's securetoken keys; a local signer's with FIREBASE_CERTS_URL outside production."""
    if settings.firebase_certs_url and not settings.is_production:
        return settings.firebase_certs_url
    return _token_gen.ID_TOKEN_CERT_URI  # the SDK's constant (tests point it at their fake Google)


def _verify_with_sdk(token: str, settings: Settings) -> dict[str, Any]:
    try:
        return auth.verify_id_token(token, app=get_app(settings))
    except auth.ExpiredIdTokenError as exc:
        raise Unauthorized(EXPIRED, code="unauthorized") from exc
    except (auth.InvalidIdTokenError, ValueError) as exc:
        log.info("rejected id token: %s", exc)
        raise Unauthorized(INVALID, code="unauthorized") from exc
    except exceptions.FirebaseError as exc:  # CertificateFetchError included
        log.warning("firebase verification failed: %s", exc)
        raise Unavailable(RETRY, code="unavailable") from exc
