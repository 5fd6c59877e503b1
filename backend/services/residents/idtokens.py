"""Firebase ID-token verification with the parsed public keys cached per process.

``firebase_admin.auth.verify_id_token`` parses Google's X.509 certificates on every call (~1.8 ms of
CPU per request). This module keeps the parsed keys per certificate URL, keyed by ``kid``, for the
``max-age`` of the certificate response (``FALLBACK_MAX_AGE`` when Google sends none) and fetches
them again when a token names a ``kid`` it does not hold (key rotation) — such forced refetches at
most once per ``REFETCH_INTERVAL``, so that forged ``kid`` values cannot make us hammer Google.

The checks are firebase-admin's (``_JWTVerifier.verify`` + ``google.auth.jwt.decode``): a ``kid``
header, ``alg`` RS256 only, ``aud`` = project, ``iss`` = ``https://securetoken.google.com/<project>``,
``sub`` a non-empty string of at most 128 characters, an RS256 signature by the named key,
``iat``/``exp`` present with the SDK's default clock skew of 0 s (``now < iat`` → too early,
``exp < now`` → expired; ``now`` in whole seconds). Claims come back with ``uid`` = ``sub``.

Errors: ``InvalidToken`` (bad in any way), ``ExpiredToken`` (a subclass), ``KeysUnavailable``
(the certificates could not be fetched or parsed).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

GOOGLE_CERTS_URL = ("https://www.googleapis.com/robot/v1/metadata/x509/"
                    "securetoken@system.gserviceaccount.com")
ISSUER_PREFIX = "https://securetoken.google.com/"
CLOCK_SKEW_SECONDS = 0  # firebase_admin.auth.verify_id_token's default
FALLBACK_MAX_AGE = 300.0
REFETCH_INTERVAL = 10.0
FETCH_TIMEOUT = 10.0
_MAX_AGE = re.compile(r"max-age=(\d+)")


class InvalidToken(Exception):
    """The token is not a valid ID token of the project (message for the log only)."""


class ExpiredToken(InvalidToken):
    """The token was valid but its ``exp`` has passed."""


class KeysUnavailable(Exception):
    """The public keys could not be fetched or parsed."""


@dataclass
class _KeySet:
    keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)
    expires: float = 0.0
    forced: float = float("-inf")  # when an unknown kid last made us refetch
    lock: threading.Lock = field(default_factory=threading.Lock)


_sets: dict[str, _KeySet] = {}
_sets_lock = threading.Lock()


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _public_key(pem: str) -> rsa.RSAPublicKey:
    data = pem.encode()
    key = (x509.load_pem_x509_certificate(data).public_key() if b"BEGIN CERTIFICATE" in data
           else serialization.load_pem_public_key(data))
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeysUnavailable("certificate is not an RSA key")
    return key


def _fetch(url: str, ks: _KeySet) -> None:
    """Replace ``ks``'s keys with the ones served at ``url`` now (caller holds ``ks.lock``)."""
    try:
        resp = requests.get(url, timeout=FETCH_TIMEOUT)
        resp.raise_for_status()
        pems = resp.json()
        keys = {str(kid): _public_key(pem) for kid, pem in pems.items()}
    except (requests.RequestException, ValueError, AttributeError, TypeError) as exc:
        raise KeysUnavailable(f"cannot fetch {url}: {exc}") from exc
    match = _MAX_AGE.search(resp.headers.get("Cache-Control", ""))
    now = time.monotonic()
    ks.keys = keys
    ks.expires = now + (float(match.group(1)) if match else FALLBACK_MAX_AGE)


def public_key(kid: str, url: str = GOOGLE_CERTS_URL) -> rsa.RSAPublicKey | None:
    """The key ``kid`` of ``url``: cached, refreshed after max-age, refetched once if unknown."""
    with _sets_lock:
        ks = _sets.setdefault(url, _KeySet())
    key = ks.keys.get(kid)
    if key is not None and time.monotonic() < ks.expires:
        return key
    with ks.lock:
        now = time.monotonic()
        if now >= ks.expires:
            _fetch(url, ks)
        elif kid not in ks.keys and now - ks.forced >= REFETCH_INTERVAL:
            ks.forced = now
            _fetch(url, ks)
        return ks.keys.get(kid)


def forget(url: str | None = None) -> None:
    """Drop the cached keys (of ``url``, or all): tests, settings reload."""
    with _sets_lock:
        if url is None:
            _sets.clear()
        else:
            _sets.pop(url, None)


def _decode(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    try:
        head, body, sig = token.split(".")
        header, claims = json.loads(_b64(head)), json.loads(_b64(body))
        signature = _b64(sig)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidToken(f"malformed token: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidToken("malformed token: header or payload is not an object")
    return header, claims, f"{head}.{body}".encode(), signature


def _check_claims(header: dict[str, Any], claims: dict[str, Any], project: str) -> None:
    if not header.get("kid"):
        raise InvalidToken('no "kid" header')
    if header.get("alg") != "RS256":
        raise InvalidToken(f'algorithm {header.get("alg")!r}, expected RS256')
    if claims.get("aud") != project:
        raise InvalidToken(f'"aud" {claims.get("aud")!r}, expected {project!r}')
    if claims.get("iss") != ISSUER_PREFIX + project:
        raise InvalidToken(f'"iss" {claims.get("iss")!r}')
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 128:
        raise InvalidToken('"sub" missing, empty or longer than 128 characters')


def _check_times(claims: dict[str, Any]) -> None:
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int | float) or not isinstance(exp, int | float):
        raise InvalidToken('"iat" or "exp" missing')
    now = int(time.time())
    if now < iat - CLOCK_SKEW_SECONDS:
        raise InvalidToken("token used too early")
    if exp + CLOCK_SKEW_SECONDS < now:
        raise ExpiredToken("token expired")


def verify(token: str, project: str, url: str = GOOGLE_CERTS_URL) -> dict[str, Any]:
    """The verified claims of a Firebase ID token of ``project`` (``uid`` added), else raise."""
    header, claims, signed, signature = _decode(token)
    _check_claims(header, claims, project)
    key = public_key(str(header["kid"]), url)
    if key is None:
        raise InvalidToken(f'unknown "kid" {header["kid"]!r}')
    try:
        key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise InvalidToken("bad signature") from exc
    _check_times(claims)
    claims["uid"] = claims["sub"]
    return claims
