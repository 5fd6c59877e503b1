"""A loopback stand-in for Google: OAuth token endpoint, securetoken certificates and FCM v1 send.

One Flask server on ``127.0.0.1:<free port>`` (see reference/firebase-testing.md §C):

- ``POST /token``: the service-account JWT-bearer exchange (the assertion is verified with the
  service account's public key; ``aud`` is always Google's token URL). ``token_error`` injects a
  failure, ``token_calls`` records the forms.
- ``GET /certs``: the securetoken ``{kid: pem}`` map (``certs``), ``certs_status`` to fail it,
  ``cert_calls`` counts fetches. Served with ``Cache-Control: max-age`` like Google.
- ``POST /v1/projects/<project>/messages:send``: FCM v1. ``fcm_calls`` records every request
  (project, headers, body); ``failures[token_or_fid] = fcm_error(...)`` fails one target
  (``fail_times`` limits how often), ``default_failure`` fails every target.

Helpers: ``keypair()`` (cached RSA keys), ``fcm_error()``, ``FakeGoogle.service_account_info()``
for a fake service account whose ``token_uri`` points here, ``signed_id_token()`` for real RS256
Firebase ID tokens and ``emulator_id_token()`` for unsigned emulator-style ones.
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import threading
import time
from typing import Any

import jwt as pyjwt
from flask import Flask, jsonify, request
from werkzeug.serving import make_server

FCM_ERR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
GOOGLE_TOKEN_AUD = "https://oauth2.googleapis.com/token"
ACCESS_TOKEN = "fake-access-token"


@functools.cache
def keypair(name: str = "default") -> tuple[str, str]:
    """(private PKCS8 PEM, public key PEM), generated once per name per test session."""
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric import rsa

    del name
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return (key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption()).decode(),
            key.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo).decode())


def fcm_error(http: int, status: str, message: str, fcm_code: str | None = None) -> tuple[dict[str, Any], int]:
    """An FCM v1 error body (google.rpc.Status + FcmError detail) and its HTTP status."""
    err: dict[str, Any] = {"code": http, "message": message, "status": status}
    if fcm_code:
        err["details"] = [{"@type": FCM_ERR, "errorCode": fcm_code}]
    return {"error": err}, http


def id_token_claims(project: str, uid: str = "alice", exp_in: int = 3600, *, provider: str = "password",
                    **extra: Any) -> dict[str, Any]:
    """The claim set of a real securetoken / emulator Firebase ID token."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": f"https://securetoken.google.com/{project}", "aud": project, "sub": uid, "user_id": uid,
        "iat": now - 5, "auth_time": now - 5, "exp": now + exp_in,
        "firebase": {"identities": {}, "sign_in_provider": provider},
    }
    if provider != "anonymous":
        claims.update(email=f"{uid}@example.com", email_verified=True)
    claims.update(extra)
    return claims


def signed_id_token(project: str, uid: str = "alice", *, key: str | None = None, kid: str = "test-kid",
                    exp_in: int = 3600, **extra: Any) -> str:
    """A real RS256 ID token signed by the test securetoken key (or ``key``)."""
    return pyjwt.encode(id_token_claims(project, uid, exp_in, **extra), key or keypair("securetoken")[0],
                        algorithm="RS256", headers={"kid": kid})


def emulator_id_token(project: str, uid: str = "alice", exp_in: int = 3600, **extra: Any) -> str:
    """An unsigned token like the Auth emulator issues (accepted only in emulator mode)."""
    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    return f'{b64({"alg": "none", "typ": "JWT"})}.{b64(id_token_claims(project, uid, exp_in, **extra))}.'


class FakeGoogle:
    """Loopback Google: ``/token``, ``/certs``, ``/v1/projects/<p>/messages:send``."""

    def __init__(self, sa_public_pem: str | None = None) -> None:
        self.sa_public_pem = sa_public_pem or keypair("service-account")[1]
        self.certs: dict[str, str] = {"test-kid": keypair("securetoken")[1]}
        self.certs_status = 200
        self.cert_calls = 0
        self.token_error: tuple[dict[str, Any], int] | None = None
        self.token_calls: list[dict[str, str]] = []
        self.failures: dict[str, tuple[dict[str, Any], int]] = {}
        self.fail_times: dict[str, int] = {}
        self.default_failure: tuple[dict[str, Any], int] | None = None
        self.fcm_calls: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.url = ""
        self.app = self._build()

    # ------------------------------------------------------------------ server

    def _build(self) -> Flask:
        app = Flask("fakegoogle")

        @app.post("/token")
        def token() -> Any:
            self.token_calls.append(request.form.to_dict())
            if self.token_error:
                return jsonify(self.token_error[0]), self.token_error[1]
            try:
                pyjwt.decode(request.form["assertion"], self.sa_public_pem, algorithms=["RS256"],
                             audience=GOOGLE_TOKEN_AUD)
            except (KeyError, pyjwt.PyJWTError) as exc:
                return jsonify(error="invalid_grant", error_description=str(exc)), 400
            return jsonify(access_token=ACCESS_TOKEN, expires_in=3600, token_type="Bearer")

        @app.get("/certs")
        def certs() -> Any:
            self.cert_calls += 1
            if self.certs_status != 200:
                return jsonify(error="unavailable"), self.certs_status
            resp = jsonify(self.certs)
            resp.headers["Cache-Control"] = "public, max-age=600"
            return resp

        @app.post("/v1/projects/<project>/messages:send")
        def send(project: str) -> Any:
            body = request.get_json(silent=True) or {}
            with self._lock:
                self.fcm_calls.append({"project": project, "headers": dict(request.headers), "body": body})
            if request.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
                err, st = fcm_error(401, "UNAUTHENTICATED", "bad credentials")
                return jsonify(err), st
            message = body.get("message") or {}
            target = message.get("token") or message.get("fid") or message.get("topic")
            failure = self._failure_for(target)
            if failure:
                return jsonify(failure[0]), failure[1]
            return jsonify(name=f"projects/{project}/messages/{next(self._ids)}")

        return app

    def _failure_for(self, target: str | None) -> tuple[dict[str, Any], int] | None:
        with self._lock:
            failure = self.failures.get(target or "")
            if failure and target in self.fail_times:
                self.fail_times[target] -= 1
                if self.fail_times[target] <= 0:
                    self.failures.pop(target, None)
                    self.fail_times.pop(target, None)
            return failure or self.default_failure

    def start(self) -> FakeGoogle:
        self._srv = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self._srv.server_port}"
        threading.Thread(target=self._srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._srv.shutdown()
        self._srv.server_close()

    def __enter__(self) -> FakeGoogle:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ helpers

    @property
    def certs_url(self) -> str:
        return self.url + "/certs"

    @property
    def fcm_url_template(self) -> str:
        """For ``messaging._MessagingService.FCM_URL`` (keeps the ``{0}`` project placeholder)."""
        return self.url + "/v1/projects/{0}/messages:send"

    def service_account_info(self, project: str) -> dict[str, str]:
        """A fake service-account JSON whose token_uri is this server."""
        return {"type": "service_account", "project_id": project, "private_key_id": "fake-key-1",
                "private_key": keypair("service-account")[0],
                "client_email": f"firebase-adminsdk@{project}.iam.gserviceaccount.com",
                "client_id": "1", "token_uri": self.url + "/token"}

    def sent_messages(self) -> list[dict[str, Any]]:
        """The ``message`` objects FCM accepted or refused, in order."""
        return [c["body"].get("message", {}) for c in self.fcm_calls]

    def fail(self, target: str, http: int, status: str, message: str = "failure",
             fcm_code: str | None = None, times: int | None = None) -> None:
        """Make sends to ``target`` fail (``times`` times, or always)."""
        self.failures[target] = fcm_error(http, status, message, fcm_code)
        if times:
            self.fail_times[target] = times

    def unregister(self, target: str) -> None:
        """FCM's answer for a stale registration token: 404 + UNREGISTERED."""
        self.fail(target, 404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
