"""Zalo OA tokens in the database (``channel_tokens``), refreshed single-flight.

Zalo refresh tokens are **single use**: a successful refresh invalidates the old one. Two workers
must therefore never spend the same refresh token. ``refresh(stale=...)`` runs in its own
transaction holding a lock — ``SELECT ... FOR UPDATE`` on the ``channel_tokens`` row on PostgreSQL
(works across processes and machines), a process-local lock on SQLite (embedded mode, one process)
— and refreshes only if the row still holds the token the caller found stale; otherwise the other
worker already refreshed and its new token is returned. The new pair is committed *before* it is
used, so a crash after the refresh cannot lose the only valid refresh token.

The first row is bootstrapped from ``ZALO_ACCESS_TOKEN`` / ``ZALO_REFRESH_TOKEN``. Access tokens are
refreshed proactively ``margin`` before ``expires_at`` and reactively on -216/-220 (client.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import select

from backend.db import Database
from backend.models.base import utcnow
from backend.models.conversations import ChannelToken
from bots.zalo.types import TokenPair, ZaloRefreshError

log = logging.getLogger(__name__)

_local_locks: dict[tuple[str, str], threading.Lock] = {}
_locks_guard = threading.Lock()


def _local_lock(key: tuple[str, str]) -> threading.Lock:
    with _locks_guard:
        return _local_locks.setdefault(key, threading.Lock())


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


class TokenStore:
    """Implements ``client.TokenProvider`` on the ``channel_tokens`` row of ``channel``."""

    def __init__(self, db: Database, *, refresher: Callable[[str], TokenPair], bootstrap_access: str = "",
                 bootstrap_refresh: str = "", channel: str = "zalo", margin: timedelta = timedelta(hours=1)) -> None:
        self.db = db
        self.refresher = refresher
        self.bootstrap_access = bootstrap_access
        self.bootstrap_refresh = bootstrap_refresh
        self.channel = channel
        self.margin = margin

    def access_token(self) -> str:
        """The current access token; refreshed first if missing or about to expire."""
        with self.db.session() as session:
            row = session.get(ChannelToken, self.channel)
            if row is None:
                self._bootstrap(session)
                row = session.get(ChannelToken, self.channel)
            token = row.access_token if row else ""
            expiring = bool(row and row.expires_at and row.expires_at - utcnow() < self.margin)
        if token and not expiring:
            return token
        return self.refresh(stale=token)

    def refresh(self, *, stale: str) -> str:
        """Refresh unless someone else already replaced ``stale``; returns the token to use."""
        lock = _local_lock((self.db.url, self.channel)) if self.db.is_sqlite else _NoLock()
        with lock, self.db.session() as session:
            stmt = select(ChannelToken).where(ChannelToken.channel == self.channel)
            if not self.db.is_sqlite:
                stmt = stmt.with_for_update()
            row = session.exec(stmt).first()
            if row is None:
                self._bootstrap(session)
                row = session.exec(stmt).first()
            fresh = row.access_token and not (row.expires_at and row.expires_at - utcnow() < self.margin)
            if row.access_token != stale and fresh:
                session.commit()
                return row.access_token
            if not row.refresh_token:
                session.rollback()
                raise ZaloRefreshError(-216, "no Zalo refresh token stored (set ZALO_REFRESH_TOKEN)")
            pair = self.refresher(row.refresh_token)
            row.access_token = pair.access_token
            row.refresh_token = pair.refresh_token
            row.expires_at = pair.expires_at
            row.version += 1
            row.updated_at = utcnow()
            session.add(row)
            session.commit()
            log.info("zalo: access token refreshed (version %s)", row.version)
            return pair.access_token

    def reset(self, *, access_token: str, refresh_token: str) -> None:
        """Replace the stored pair (after an OA admin re-consented; e.g. from a CLI command)."""
        with self.db.session() as session:
            row = session.get(ChannelToken, self.channel)
            if row is None:
                row = ChannelToken(channel=self.channel)
            row.access_token, row.refresh_token, row.expires_at = access_token, refresh_token, None
            row.version += 1
            row.updated_at = utcnow()
            session.add(row)
            session.commit()
        log.info("zalo: tokens reset by an administrator")

    def _bootstrap(self, session: object) -> None:
        values = {"channel": self.channel, "access_token": self.bootstrap_access,
                  "refresh_token": self.bootstrap_refresh, "expires_at": None, "version": 0,
                  "updated_at": utcnow()}
        insert = sqlite_insert if self.db.is_sqlite else pg_insert
        stmt = insert(ChannelToken).values(**values).on_conflict_do_nothing(index_elements=["channel"])
        session.execute(stmt)  # type: ignore[attr-defined]
        session.commit()  # type: ignore[attr-defined]
