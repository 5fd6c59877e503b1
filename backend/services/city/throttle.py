"""Staff sign-in throttling that holds under concurrency: atomic counters per account+address and per address,
exponential back-off instead of a lockout an attacker can set off for someone else.

Every attempt is counted *before* its password is checked (Redis ``INCR``, or one atomic upsert in
embedded mode), so parallel guesses cannot all slip in while a counter is read and written back.
Past ``free`` attempts a key needs a *ticket* to check a password: one ``SET NX EX`` (or one conditional
``UPDATE``) per back-off period, the period doubling with each further attempt (5 s, 10 s, … 15 min);
every other attempt in the period is answered 429 without looking at the password. A success clears the
account+address key and gives its attempt back to the address key, so an office behind one address only
pays for its failures.

Known and unknown e-mails go through the same keys and answers. The Redis backend is used when
``REDIS_URL`` is set; if Redis fails the database backend answers (never fail open). Build the counter
of a process with :func:`make_counter`.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Integer, bindparam, text

from backend.db import Database
from backend.models.base import UTCDateTime, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Policy:
    """Attempts allowed without back-off (``free``) within ``window_s``; first back-off ``base_s``,
    doubling per attempt up to ``max_s``."""

    free: int
    window_s: int = 3600
    base_s: float = 5.0
    max_s: float = 900.0

    def backoff_s(self, attempts: int) -> int:
        """Seconds of back-off that the ``attempts``-th attempt (past ``free``) opens."""
        over = max(1, attempts - self.free)
        return int(min(self.max_s, self.base_s * 2 ** min(over - 1, 30)))


ACCOUNT = Policy(free=5)  # per e-mail typed + client address
ADDRESS = Policy(free=30, base_s=10.0)  # per client address, whatever the e-mails (spraying)


@dataclass(frozen=True)
class Verdict:
    """``allowed`` to check the password, else wait ``retry_after`` seconds; ``locked`` marks the
    attempt that opened a back-off (audited)."""

    allowed: bool
    retry_after: int = 0
    locked: str | None = None  # "account" | "address"


class Counter(Protocol):
    def attempt(self, key: str, policy: Policy, now: datetime) -> tuple[bool, int, bool]:
        """Count one attempt: (may check the password, seconds to wait if not, opened a back-off)."""

    def succeeded(self, key: str, *, clear: bool) -> None:
        """After a right password: clear the key, or give one attempt back."""


def account_key(email: str, ip: str) -> str:
    """The counter key of an e-mail typed from an address: a digest, so neither the e-mail (perhaps a
    resident's, typed by mistake) nor the address is stored in the table or in Redis."""
    return "acct:" + _digest(f"{email.strip().lower()[:255]}|{ip[:45]}")


def address_key(ip: str) -> str:
    """The counter key of a client address (a digest, see :func:`account_key`)."""
    return "ip:" + _digest(ip[:45])


def _digest(value: str) -> str:
    return hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=16,
                           person=b"phananh.login").hexdigest()


def check(counter: Counter, *, email: str, ip: str, now: datetime | None = None) -> Verdict:
    """Count this attempt on both keys; the verdict of the stricter one."""
    now = now or utcnow()
    ok_ip, wait_ip, opened_ip = counter.attempt(address_key(ip), ADDRESS, now)
    ok_acct, wait_acct, opened_acct = counter.attempt(account_key(email, ip), ACCOUNT, now)
    locked = "address" if opened_ip else "account" if opened_acct else None
    if ok_ip and ok_acct:
        return Verdict(True, locked=locked)
    return Verdict(False, max(wait_ip, wait_acct, 1), locked)


def succeeded(counter: Counter, *, email: str, ip: str) -> None:
    counter.succeeded(account_key(email, ip), clear=True)
    counter.succeeded(address_key(ip), clear=False)


# --------------------------------------------------------------------------- Redis (production)


class RedisCounter:
    """``INCR`` + ``EXPIRE NX`` in one MULTI; the ticket is ``SET lock:<key> NX EX <back-off>``."""

    def __init__(self, connection: Any) -> None:
        self.redis = connection

    def attempt(self, key: str, policy: Policy, now: datetime) -> tuple[bool, int, bool]:
        count_key, lock_key = f"login:n:{key}", f"login:lock:{key}"
        with self.redis.pipeline() as pipe:
            pipe.incr(count_key)
            pipe.expire(count_key, policy.window_s, nx=True)
            pipe.ttl(lock_key)
            attempts, _, lock_ttl = pipe.execute()
        if lock_ttl is not None and lock_ttl > 0:
            return False, int(lock_ttl), False
        if attempts <= policy.free:
            return True, 0, False
        backoff = policy.backoff_s(attempts)
        if self.redis.set(lock_key, attempts, nx=True, ex=backoff):
            return True, 0, True  # this attempt holds the ticket of the period
        return False, max(1, int(self.redis.ttl(lock_key) or backoff)), False

    def succeeded(self, key: str, *, clear: bool) -> None:
        count_key = f"login:n:{key}"
        if clear:
            self.redis.delete(count_key, f"login:lock:{key}")
        else:
            self.redis.eval("if redis.call('GET', KEYS[1]) and tonumber(redis.call('GET', KEYS[1])) > 0 "
                            "then return redis.call('DECR', KEYS[1]) end return 0", 1, count_key)


# --------------------------------------------------------------------------- database (embedded)


_UPSERT = text(
    "INSERT INTO login_throttle (key, attempts, window_ends_at, locked_until) VALUES (:key, 1, :window_end, NULL) "
    "ON CONFLICT (key) DO UPDATE SET "
    "attempts = CASE WHEN login_throttle.window_ends_at < :now THEN 1 ELSE login_throttle.attempts + 1 END, "
    "locked_until = CASE WHEN login_throttle.window_ends_at < :now THEN NULL ELSE login_throttle.locked_until END, "
    "window_ends_at = CASE WHEN login_throttle.window_ends_at < :now THEN :window_end "
    "ELSE login_throttle.window_ends_at END "
    "RETURNING attempts, locked_until"
).bindparams(bindparam("now", type_=UTCDateTime()), bindparam("window_end", type_=UTCDateTime())
             ).columns(attempts=Integer(), locked_until=UTCDateTime())
_TICKET = text("UPDATE login_throttle SET locked_until = :until "
               "WHERE key = :key AND (locked_until IS NULL OR locked_until <= :now)"
               ).bindparams(bindparam("until", type_=UTCDateTime()), bindparam("now", type_=UTCDateTime()))

_EXPIRED = text("DELETE FROM login_throttle WHERE window_ends_at < :now "
                "AND (locked_until IS NULL OR locked_until < :now)").bindparams(bindparam("now", type_=UTCDateTime()))


class DatabaseCounter:
    """One atomic upsert per attempt (row lock on PostgreSQL, the database lock on SQLite), its own
    commit: the count survives the request's rollback. Each attempt first deletes the counters whose
    window and back-off are over, so the table holds only the last hour's."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def attempt(self, key: str, policy: Policy, now: datetime) -> tuple[bool, int, bool]:
        with self.db.begin() as conn:
            conn.execute(_EXPIRED, {"now": now})  # counters whose window and back-off are over
            attempts, locked_until = conn.execute(_UPSERT, {
                "key": key, "now": now, "window_end": now + timedelta(seconds=policy.window_s)}).one()
            if locked_until is not None and locked_until > now:
                return False, math.ceil((locked_until - now).total_seconds()), False
            if attempts <= policy.free:
                return True, 0, False
            backoff = policy.backoff_s(attempts)
            until = now + timedelta(seconds=backoff)
            won = conn.execute(_TICKET, {"key": key, "until": until, "now": now}).rowcount == 1
        return (True, 0, True) if won else (False, backoff, False)

    def succeeded(self, key: str, *, clear: bool) -> None:
        with self.db.begin() as conn:
            if clear:
                conn.execute(text("DELETE FROM login_throttle WHERE key = :key"), {"key": key})
            else:
                conn.execute(text("UPDATE login_throttle SET attempts = attempts - 1 "
                                  "WHERE key = :key AND attempts > 0"), {"key": key})


def make_counter(db: Database, redis_url: str | None) -> Counter:
    """Redis counters (falling back to the database) when ``redis_url`` is set, else the database."""
    counter: Counter = DatabaseCounter(db)
    if redis_url:
        from redis import Redis

        redis = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
        counter = FallbackCounter(RedisCounter(redis), counter)
    return counter


class FallbackCounter:
    """Redis first; the database when Redis cannot answer (a broken broker never opens the door)."""

    def __init__(self, primary: Counter, fallback: Counter) -> None:
        self.primary, self.fallback = primary, fallback

    def attempt(self, key: str, policy: Policy, now: datetime) -> tuple[bool, int, bool]:
        try:
            return self.primary.attempt(key, policy, now)
        except Exception as exc:  # noqa: BLE001 - Redis down: count in the database instead
            log.warning("login throttle: Redis unavailable (%s); counting in the database", exc)
            return self.fallback.attempt(key, policy, now)

    def succeeded(self, key: str, *, clear: bool) -> None:
        for counter in (self.primary, self.fallback):
            try:
                counter.succeeded(key, clear=clear)
            except Exception as exc:  # noqa: BLE001
                log.warning("login throttle: could not reset %s: %s", key, exc)
