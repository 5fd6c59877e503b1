"""The outbox relay: sends jobs whose dispatch after commit never happened or was lost.

Rows stay undispatched when the broker was down at commit (the push cleared their mark); rows
dispatched but never done are sent again once past their time, or sooner when the broker no longer
holds their job (Redis restarted without its data). Runs periodically (``handlers.outbox.relay``),
at worker start and from ``phananh jobs relay``; ``queue.execute`` keeps every job at most once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlmodel import Session

from backend import queue as jobs
from backend.models.base import utcnow
from backend.models.outbox import Outbox

log = logging.getLogger(__name__)


def relay_outbox(rt: jobs.Runtime | None = None, *, min_age_s: float = 5.0, limit: int = 500) -> int:
    """Dispatch rows left undispatched (Redis was down, a process died). Idempotent.

    Rows younger than ``min_age_s`` are skipped: their own after-commit dispatch is still running.
    Rows dispatched but never done are dispatched again, at most ``len(retry) + 2`` times in all: after
    ``LOST_AFTER_S`` if the broker no longer holds their job (Redis lost its data), otherwise once past
    their time (a worker was killed and RQ gave up).
    """
    rt = rt or jobs.runtime()
    cutoff = utcnow() - timedelta(seconds=min_age_s)
    with rt.db.session() as session:
        _reset_stale(session, rt)
        ids = session.exec(select(Outbox.id).where(Outbox.dispatched_at.is_(None), Outbox.created_at <= cutoff)
                           .order_by(Outbox.id).limit(limit)).scalars().all()
    if not ids:
        return 0
    pushed = jobs.dispatch(ids, rt)
    if pushed:
        log.info("outbox relay dispatched %d job(s)", pushed)
    return pushed


#: a dispatched row not done after this long is checked against the broker (lost if it has no job)
LOST_AFTER_S = 30


def _stale_after(spec: jobs.JobSpec) -> timedelta:
    return timedelta(seconds=spec.timeout + sum(spec.retry) + 120)


def _reset_stale(session: Session, rt: jobs.Runtime | None = None) -> None:
    """Mark dispatched-but-never-done rows as undispatched again (each reset counts an attempt) when they
    are past their time, or sooner when the broker no longer holds their job (Redis restarted without
    its data: the rows were dispatched, their jobs are gone).

    An in-process runner (embedded mode) holds every job of its process and says when it started
    (``started_at``): a row dispatched before that, which it does not hold, belonged to a process that
    died (``kill -9``) and is re-dispatched on the first tick, without waiting ``LOST_AFTER_S``.
    """
    now = utcnow()
    lost_before = now - timedelta(seconds=LOST_AFTER_S)
    started_at = getattr(rt.runner, "started_at", None) if rt is not None else None
    if started_at is not None:
        lost_before = max(lost_before, started_at)
    rows = session.exec(select(Outbox).where(Outbox.dispatched_at.is_not(None), Outbox.done_at.is_(None),
                                             Outbox.dispatched_at < lost_before)
                        .order_by(Outbox.dispatched_at).limit(500)).scalars().all()
    held = _held_by_broker([r.id for r in rows], rt) if rows else set()
    for row in rows:
        spec = jobs.JOBS.get(row.job_name, jobs.JobSpec(row.job_name))
        if row.attempts >= len(spec.retry) + 2:
            continue
        if row.dispatched_at < now - _stale_after(spec):
            reason = "never completed"
        elif held is not None and row.id not in held:
            reason = "the broker no longer held the job"
        else:
            continue
        row.dispatched_at = None
        row.attempts += 1
        row.last_error = (row.last_error or "")[:1900] + f" | re-dispatched: {reason}"
    session.commit()


def _held_by_broker(ids: list[int], rt: jobs.Runtime | None) -> set[int] | None:
    """Ids whose job the runner still holds; None when it cannot tell (no ``holds``, broker down)."""
    holds = getattr(rt.runner, "holds", None) if rt is not None else None
    if holds is None:
        return None
    try:
        return set(holds(ids))
    except Exception as exc:  # noqa: BLE001 - the broker is down: only the time-based reset applies
        log.warning("outbox relay: cannot ask the broker about %d job(s): %s", len(ids), exc)
        return None


def pending_outbox(rt: jobs.Runtime | None = None) -> int:
    """Number of rows not yet dispatched (the outbox lag, for /metrics and tests)."""
    rt = rt or jobs.runtime()
    with rt.db.session() as session:
        return len(session.exec(select(Outbox.id).where(Outbox.dispatched_at.is_(None))).scalars().all())
