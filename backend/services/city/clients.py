"""Open311 API clients: keys created once (shown once, stored as a SHA-256 hash) and authenticated.

A client may be bound to a unit (``unit_code``): that unit's own system can then drive the
unit's reports through ``servicerequestupdates`` (see ``services/open311/updates.py``). Keys look like
``pa_<random>``; only the first characters (``key_prefix``) are kept in clear, to identify a key
in listings and logs.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from sqlmodel import Session, select

from backend.errors import Forbidden, InvalidInput, NotFound
from backend.models.base import utcnow
from backend.models.clients import ApiClient
from backend.services.city import catalog as queries

log = logging.getLogger(__name__)

KEY_PREFIX = "pa_"
PREFIX_CHARS = 10
MAX_KEY_CHARS = 200


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_client(session: Session, *, name: str, unit_code: str | None = None) -> tuple[ApiClient, str]:
    """Create an API client and return it with its key — the only time the key is ever visible.

    Raises InvalidInput (empty or too long name) or NotFound (unknown unit code).
    """
    name = (name or "").strip()
    if not name or len(name) > 255:
        raise InvalidInput("Tên ứng dụng phải có từ 1 đến 255 ký tự.", code="invalid-client-name")
    unit_id = queries.unit_id_for(session, unit_code)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    client = ApiClient(name=name, key_prefix=key[:PREFIX_CHARS], key_hash=hash_key(key), unit_id=unit_id)
    session.add(client)
    session.flush()
    log.info("api client %s created (id=%s, unit=%s)", name, client.id, unit_code)
    return client, key


def authenticate(session: Session, key: str | None) -> ApiClient:
    """The active client owning ``key``. Raises Forbidden when the key is missing, unknown or revoked."""
    key = (key or "").strip()
    if not key or len(key) > MAX_KEY_CHARS:
        raise Forbidden("Thiếu api_key hoặc api_key không hợp lệ.", code="invalid-api-key")
    digest = hash_key(key)
    client = session.exec(select(ApiClient).where(ApiClient.key_prefix == key[:PREFIX_CHARS])
                          .where(ApiClient.key_hash == digest)).first()
    if client is None or not hmac.compare_digest(client.key_hash, digest) or not client.is_active:
        raise Forbidden("api_key không hợp lệ hoặc đã bị thu hồi.", code="invalid-api-key")
    client.last_used_at = utcnow()
    session.add(client)
    return client


def revoke(session: Session, *, client_id: int) -> ApiClient:
    """Deactivate a client: its key stops working at once."""
    client = session.get(ApiClient, client_id)
    if client is None:
        raise NotFound(f"Không có ứng dụng số {client_id}.", code="unknown-client")
    client.is_active = False
    session.add(client)
    session.flush()
    return client
