"""Staff sign-in security that outlives one request: the throttle counter of this app, the audit trail
of account security events, and server-side session revocation (the per-account session epoch).

Audit rows and epoch bumps are written in the caller's transaction, with the change they record; the
throttle counters in their own (see ``throttle``).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app, request
from sqlalchemy import update
from sqlmodel import Session, select

from backend.db import Database
from backend.models.staff import Staff, StaffAudit
from backend.web import throttle

log = logging.getLogger(__name__)

EXTENSION = "phananh.login_throttle"


def install(app: Flask) -> None:
    """Redis counters when ``REDIS_URL`` is set (falling back to the database), else the database."""
    settings = app.extensions["phananh.settings"]
    db: Database = app.extensions["phananh.db"]
    counter: throttle.Counter = throttle.DatabaseCounter(db)
    if settings.redis_url:
        from redis import Redis

        redis = Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
        counter = throttle.FallbackCounter(throttle.RedisCounter(redis), counter)
    app.extensions[EXTENSION] = counter


def counter() -> throttle.Counter:
    return current_app.extensions[EXTENSION]


def client_ip() -> str:
    """The client address as the WSGI server saw it (a proxy in front must set REMOTE_ADDR)."""
    return (request.remote_addr or "unknown")[:45]


def audit(session: Session, kind: str, *, staff_id: int | None = None, actor_id: int | None = None,
          email: str = "", **data: Any) -> None:
    """Append one security event in ``session`` (committed with the change it records; sign-in answers,
    401 and 429 included, commit): ``login_backoff``, ``sessions_ended``, ``totp_enabled``,
    ``totp_disabled``, ``recovery_code_used``."""
    session.add(StaffAudit(kind=kind, staff_id=staff_id, actor_id=actor_id, email=email[:255], ip=client_ip(),
                           data=data))
    session.flush()
    log.warning("staff security event %s (staff %s, actor %s, %s)", kind, staff_id, actor_id, data)


def end_sessions(session: Session, staff_id: int, *, actor_id: int | None = None, reason: str) -> int:
    """End every session of the account at once, in the caller's transaction (so with the password change
    or deactivation that causes it); returns the new epoch."""
    session.execute(update(Staff).where(Staff.id == staff_id).values(session_epoch=Staff.session_epoch + 1))
    epoch = session.exec(select(Staff.session_epoch).where(Staff.id == staff_id)).one()
    audit(session, "sessions_ended", staff_id=staff_id, actor_id=actor_id, reason=reason)
    return int(epoch)
