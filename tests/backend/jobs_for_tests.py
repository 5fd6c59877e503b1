"""Job functions used only by the queue tests (imported by dotted name, like real handlers)."""

from __future__ import annotations

from sqlmodel import Session

from backend.models import CitySetting

CALLS: list[str] = []


def touch(session: Session, *, key: str) -> None:
    """A side effect in the database: one row per key (a second run would violate the PK)."""
    session.add(CitySetting(key=key, value={"ran": True}))
    CALLS.append(key)


def flaky(session: Session, *, key: str, fail_times: int) -> None:
    """Fails the first ``fail_times`` calls for ``key``, then succeeds."""
    CALLS.append(key)
    if CALLS.count(key) <= fail_times:
        raise RuntimeError(f"planned failure {CALLS.count(key)}")
    session.add(CitySetting(key=key, value={"ran": True}))
