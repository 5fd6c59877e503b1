"""Firebase-style ID tokens signed with a local RS256 key, and the certificate endpoint that publishes it.

Production verifies residents' tokens with RS256 against Google's published keys; the benchmarks do the
same against a key of their own: :class:`Signer` makes a key pair, serves ``{kid: public PEM}`` on
127.0.0.1 (``Cache-Control: max-age``, like Google) and mints tokens. The app under test is pointed at
it with ``FIREBASE_CERTS_URL`` (refused in production); the reference app gets the public key itself.
One token per uid is kept for its lifetime, as an app does.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bench import harness

KID = "bench-kid"


class Signer:
    """A local RS256 signer plus its certificate endpoint (``with Signer() as s: s.certs_url``)."""

    def __init__(self, project: str = harness.PROJECT) -> None:
        self.project = project
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        self._tokens: dict[str, str] = {}
        body = json.dumps({KID: self.public_pem}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "public, max-age=3600")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Signer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def certs_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/certs"

    def token(self, uid: str) -> str:
        """A valid ID token of ``uid`` (the same one for an hour, as the app keeps it)."""
        token = self._tokens.get(uid)
        if token is None:
            now = int(time.time())
            claims = {"iss": f"https://securetoken.google.com/{self.project}", "aud": self.project, "sub": uid,
                      "user_id": uid, "iat": now - 5, "auth_time": now - 5, "exp": now + 3600,
                      "email": f"{uid}@example.com", "email_verified": True,
                      "firebase": {"identities": {}, "sign_in_provider": "password"}}
            token = self._tokens[uid] = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": KID})
        return token

    def env(self) -> dict[str, str]:
        """Environment for the app under test (real verification) and the reference (its key)."""
        return {"FIREBASE_CERTS_URL": self.certs_url, "BENCH_PUBLIC_KEY": self.public_pem}
