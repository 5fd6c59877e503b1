"""uid → resident id, cached per process: the app's sign-in without an identity SELECT per request.

``resident_id_for_identity`` answers what :func:`~backend.services.residents.residents.resident_for_identity`
answers (the same resident, created on first use) but only the id, and from a per-process cache when it
can. The cache keeps the lookup's contracts:

- **stamping**: an entry lives at most :data:`INTERACTION_RESOLUTION` after the identity's
  ``last_interaction_at`` that the full lookup read or wrote, so every request served from the cache is
  within the resolution of the stored stamp (chat providers, whose stamp must be exact, are never cached);
- **committed state only**: an entry is published when the transaction of its full lookup commits
  (a rolled-back request, whose stamp or new resident was not stored, caches nothing);
- **claims**: an entry is used only for the same claims (sign-in provider, e-mail); others take the full
  lookup, which merges them into the identity row;
- **retention**: the scrub (``services/retention.py``) skips residents seen within twice the resolution —
  so no process can hold an entry for a resident it anonymises — and :func:`forget` drops this process's
  entries of the identities it deletes. A resident anonymised then using the app again gets a new resident.

Thread-safe (gunicorn gthread): reads are single dict lookups; writes and pruning hold a lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session as OrmSession

from backend.models.base import utcnow
from backend.models.residents import Identity
from backend.services.residents.residents import (
    EXACT_INTERACTION_PROVIDERS,
    INTERACTION_RESOLUTION,
    PROVIDERS,
    claims_change,
    identity_and_resident,
    stamp_due,
)
from backend.statements import DriverStatement

#: past this many entries, expired ones are dropped (all of them if none expired)
MAX_ENTRIES = 50_000
_STAGED = "phananh.known_identities"

#: (provider, subject) → (resident id, claims, expiry on the monotonic clock)
_entries: dict[tuple[str, str], tuple[int, tuple[tuple[str, Any], ...], float]] = {}
_lock = threading.Lock()


def resident_id_for_identity(session: OrmSession, *, provider: str, subject: str,
                             data: dict[str, Any] | None = None) -> int:
    """The id of the Resident behind ``provider:subject`` (created on first use); see the module doc.

    Raises what ``resident_for_identity`` raises (``invalid-identity``)."""
    key = (provider, subject)
    facts = tuple(sorted(data.items())) if data else ()
    entry = _entries.get(key)
    if entry is not None and entry[1] == facts and time.monotonic() < entry[2]:
        return entry[0]
    if provider not in EXACT_INTERACTION_PROVIDERS:
        found = _unchanged(session, provider, subject, data)
        if found is not None:  # known, same claims, stamp fresh: nothing to write, no row objects needed
            _stage(session, key, facts, *found)
            return found[0]
    identity, resident = identity_and_resident(session, provider=provider, subject=subject, data=data)
    assert resident.id is not None
    if provider not in EXACT_INTERACTION_PROVIDERS:
        _stage(session, key, facts, resident.id, identity.last_interaction_at)
    return resident.id


#: the identity's resident, claims and stamp: one indexed read (``uq_identity``)
_LOOKUP = DriverStatement(select(Identity.resident_id, Identity.data, Identity.last_interaction_at)  # type: ignore[call-overload]
                          .where(Identity.provider == bindparam("provider"), Identity.subject == bindparam("subject")))


def _unchanged(session: OrmSession, provider: str, subject: str, data: dict[str, Any] | None
               ) -> tuple[int, datetime] | None:
    """(resident id, stamp) of an identity the full lookup would neither change nor re-stamp, else None
    (unknown — an invalid provider or subject too, which the full lookup then refuses —, new claims, or a stamp
    due: the full lookup writes). Same rules as the full lookup (``claims_change``, ``stamp_due``)."""
    rows = _LOOKUP.rows(session, {"provider": provider, "subject": subject})  # type: ignore[arg-type]
    if not rows:
        return None
    resident_id, stored, seen = rows[0]
    if claims_change(stored, data) or stamp_due(provider, seen, utcnow()):
        return None
    return resident_id, seen


def _stage(session: OrmSession, key: tuple[str, str], facts: tuple[tuple[str, Any], ...], resident_id: int,
           seen: datetime | None) -> None:
    """Publish ``key`` → ``resident_id`` when this transaction commits, until the stamp's resolution ends."""
    if seen is None or seen.tzinfo is None:
        return
    ttl = (seen + INTERACTION_RESOLUTION - utcnow()).total_seconds()
    if ttl > 0:
        session.info.setdefault(_STAGED, {})[key] = (resident_id, facts, time.monotonic() + ttl)


def forget(subjects: Iterable[str] | None = None) -> None:
    """Drop this process's entries for these subjects (any provider) — their identities are being
    deleted — or every entry (``None``: a new app, e.g. bound to another database)."""
    with _lock:
        if subjects is None:
            _entries.clear()
            return
        for subject in subjects:
            for provider in PROVIDERS:
                _entries.pop((provider, subject), None)


@event.listens_for(OrmSession, "after_commit")
def _publish(session: OrmSession) -> None:
    if _STAGED not in session.info or session.in_nested_transaction():
        return
    staged = session.info.pop(_STAGED)
    with _lock:
        if len(_entries) + len(staged) > MAX_ENTRIES:
            _prune()
        _entries.update(staged)


@event.listens_for(OrmSession, "after_soft_rollback")
def _discard(session: OrmSession, _previous: Any) -> None:
    session.info.pop(_STAGED, None)  # a rolled-back savepoint too: its lookup's writes may be gone


def _prune() -> None:
    now = time.monotonic()
    for key in [k for k, v in _entries.items() if v[2] <= now]:
        del _entries[key]
    if len(_entries) >= MAX_ENTRIES:
        _entries.clear()
