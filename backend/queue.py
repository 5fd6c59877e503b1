"""Jobs: the JobSpec registry, the transactional outbox, and the runners. The only module touching rq.

How work leaves a transaction (DESIGN §2.1, §10):

1. a service calls :func:`enqueue` with the caller's session: an ``outbox`` row is written in the
   same transaction as the report (nothing is sent yet);
2. right after that session commits, the rows it wrote are dispatched to the runner (RQ queues, or
   the in-process thread in embedded mode) and marked ``dispatched_at``;
3. if dispatching fails (Redis down, process killed), the rows stay undispatched and
   ``relay.relay_outbox`` (periodic, and at worker start) sends them later;
4. :func:`execute` runs a job at most once to completion: it locks the outbox row, returns early if
   ``done_at`` is set, runs the handler with a session, and marks ``done_at`` in the same commit.

Handlers are ``def verb_noun(session, **args)``; arguments are JSON primitives (ids, strings).
"""

from __future__ import annotations

import contextvars
import importlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import event, insert, select, update
from sqlalchemy import inspect as sa_inspect
from sqlmodel import Session

from backend.db import Database
from backend.models.base import utcnow
from backend.models.outbox import Outbox

log = logging.getLogger(__name__)

QUEUES = ("bot", "default", "media", "bulk")


@dataclass(frozen=True)
class JobSpec:
    """A job declared once: dotted handler name, queue (by latency), timeout, retry intervals (s)."""

    name: str
    queue: str = "default"
    timeout: int = 60
    retry: tuple[int, ...] = (5, 30, 120)


@dataclass(frozen=True)
class PeriodicSpec:
    """A job run by the cron scheduler every ``interval`` seconds (not through the outbox)."""

    name: str
    interval: int
    queue: str = "default"
    timeout: int = 300


JOBS: dict[str, JobSpec] = {
    spec.name: spec
    for spec in (
        JobSpec("handlers.photos.process_photo", queue="media", timeout=120, retry=(5, 30, 120)),
        JobSpec("handlers.photos.fetch_photo", queue="media", timeout=60, retry=(10, 60, 300)),
        JobSpec("handlers.inbound.process_inbound", queue="bot", timeout=60, retry=(2, 10, 60)),
        JobSpec("handlers.notifications.notify_event", queue="default", timeout=60, retry=(5, 30, 120)),
        JobSpec("handlers.notifications.send_delivery", queue="default", timeout=60,
                retry=(10, 60, 300, 900)),
        JobSpec("handlers.sla.escalate_breach", queue="default", timeout=60),
        JobSpec("handlers.digests.send_unit_digest", queue="bulk", timeout=300),
        JobSpec("handlers.outbox.noop", queue="default", timeout=10, retry=()),
    )
}

PERIODIC: tuple[PeriodicSpec, ...] = (
    PeriodicSpec("handlers.outbox.relay", interval=15),
    PeriodicSpec("handlers.sla.sweep_deadlines", interval=60),
    PeriodicSpec("handlers.digests.sweep_digests", interval=300, queue="bulk"),
    PeriodicSpec("handlers.deliveries.sweep_deliveries", interval=600, queue="bulk"),
    PeriodicSpec("handlers.tokens.refresh_tokens", interval=1800),
    PeriodicSpec("handlers.workflow.close_resolved", interval=3600, queue="bulk"),
    PeriodicSpec("handlers.workflow.hand_over_ended_units", interval=900, queue="bulk"),
)


def register_job(spec: JobSpec) -> JobSpec:
    """Declare a job (for tests and plug-ins); the built-in ones are declared in ``JOBS`` above."""
    JOBS[spec.name] = spec
    return spec


def resolve(name: str) -> Callable[..., Any]:
    """Import ``handlers.x.verb_noun`` lazily (queue.py never imports handlers at module level)."""
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


# --------------------------------------------------------------------------- writing the outbox


def enqueue(session: Session, job_name: str, /, *, _delay: timedelta | None = None, **args: Any) -> Outbox:
    """Write one job to the outbox in the caller's transaction; it is dispatched after commit.

    ``_delay`` postpones the run (quiet hours). Raises ``KeyError`` for an undeclared job name
    (a programming error, not user input).
    """
    row = Outbox(args=args, **new_row_values(job_name, delay=_delay))
    session.add(row)
    session.flush()
    session.info.setdefault("outbox_rows", []).append(row)
    return row


def enqueue_many(session: Session, jobs: Sequence[tuple[str, dict[str, Any]]]) -> list[Committed]:
    """:func:`enqueue` for several ``(job name, args)`` at once: one Core ``INSERT … RETURNING id``
    (multi-row, no ORM unit of work), dispatched together after commit (one broker round trip).

    Returns the rows as :class:`Committed` (id, job name, ``available_at``), pushed after the session's
    commit; rows written inside a savepoint that is rolled back are forgotten with it.
    """
    if not jobs:
        return []
    values = [{"args": args, **new_row_values(name)} for name, args in jobs]
    ids = session.execute(_OUTBOX_INSERT, values).scalars().all()
    rows = [Committed(int(i), v["job_name"], v["available_at"]) for i, v in zip(ids, values, strict=True)]
    track(session, rows)
    return rows


def track(session: Session, rows: Sequence[Committed]) -> None:
    """Outbox rows the caller wrote itself in the session's transaction (columns from
    :func:`new_row_values`, e.g. by a CTE with its own rows): pushed after the commit like
    :func:`enqueue_many`'s, forgotten with a savepoint rolled back around them."""
    if rows:
        transaction = session.get_nested_transaction() or session.get_transaction()
        session.info.setdefault("outbox_rows", []).extend((row, transaction) for row in rows)


_OUTBOX_INSERT = (insert(Outbox.__table__)  # type: ignore[attr-defined]
                  .returning(Outbox.__table__.c.id, sort_by_parameter_order=True))  # type: ignore[attr-defined]


def new_row_values(job_name: str, *, delay: timedelta | None = None) -> dict[str, Any]:
    """Columns of a new outbox row except ``args`` (``KeyError`` for an undeclared job).

    Marked dispatched optimistically when a runtime will push it right after commit: the push needs
    no second transaction; a failed push clears the mark (relay within seconds), a crash before the
    push is caught as stale by the relay. Without a runtime the relay sends it.
    """
    spec = JOBS[job_name]
    now = utcnow()
    return {"job_name": job_name, "queue": spec.queue, "created_at": now, "attempts": 0,
            "dispatched_at": now if _runtime is not None else None,
            "available_at": now + delay if delay else None}


def pg_insert_with_job(insert_sql: str, arg: str) -> str:
    """One PostgreSQL statement: ``insert_sql`` (``INSERT ... RETURNING id``, may insert nothing) plus,
    for the row it inserted, the outbox row of a job called with ``{arg: id}``: both commit together.

    Parameters (psycopg ``%(name)s`` style): those of ``insert_sql`` and ``ob_<column>`` for each key
    of :func:`new_row_values`. Returns one row ``(inserted id, outbox id)``, or none when nothing
    was inserted (e.g. ``ON CONFLICT DO NOTHING``). Built once at import time from code constants.
    """
    if not arg.isidentifier():
        raise ValueError(f"job argument name {arg!r} is not an identifier")
    columns = ("job_name", "queue", "created_at", "attempts", "dispatched_at", "available_at")
    values = ", ".join(f"%(ob_{c})s" for c in columns)
    return (f"WITH src AS ({insert_sql}), "  # noqa: S608 - code constants only, values are parameters
            f"ob AS (INSERT INTO outbox ({', '.join(columns)}, args) "
            f"SELECT {values}, jsonb_build_object('{arg}', src.id) FROM src RETURNING id) "
            "SELECT src.id, ob.id FROM src CROSS JOIN ob")


@dataclass(frozen=True, slots=True)
class Committed:
    """An outbox row its writer committed without a Session (one statement): what a runner pushes."""

    id: int
    job_name: str
    available_at: datetime | None = None


def push_committed(rows: Sequence[Committed]) -> None:
    """Dispatch outbox rows the caller has just committed itself (no Session, so no after-commit hook).

    Same guarantees as the hook: a broker failure clears their ``dispatched_at`` mark and the relay
    sends them later; without a runtime (CLI) they were written undispatched and the relay sends them.
    """
    if rows and _runtime is not None:
        _push_committed(list(rows), _runtime)


def has_limited_push() -> bool:
    """Whether the runner can count a limit and push in one round trip (RQ: yes; embedded: no)."""
    return _runtime is not None and hasattr(_runtime.runner, "push_limited")


def push_committed_limited(row: Committed, *, counter: str, limit: int, window_s: int) -> bool | None:
    """Count a hit on ``counter`` and push ``row`` if within ``limit``, in one broker round trip.

    True: pushed (or left for the relay after a broker failure: the limit then lets it through, never
    losing a message). False: over the limit, not pushed (the caller undoes its rows). None: the runner
    cannot do both at once (embedded mode): nothing was counted or pushed.
    """
    rt = _runtime
    limited = getattr(rt.runner, "push_limited", None) if rt is not None else None
    if limited is None:
        return None
    try:
        return bool(limited(row, counter=counter, limit=limit, window_s=window_s))
    except Exception as exc:  # noqa: BLE001 - the relay sends it; the limit must not drop a message
        log.warning("outbox %s (%s) not dispatched: %s", row.id, row.job_name, exc)
        _push_committed([], rt, failed=[row.id])  # type: ignore[arg-type]
        return True


# --------------------------------------------------------------------------- runners


class Pushable(Protocol):
    """What a runner reads from an outbox row: an :class:`Outbox` or a :class:`Committed`."""

    @property
    def id(self) -> int | None: ...

    @property
    def job_name(self) -> str: ...

    @property
    def available_at(self) -> datetime | None: ...


class Runner(Protocol):
    """Where dispatched jobs go: RQ queues (production) or an in-process thread (embedded)."""

    def push(self, row: Pushable) -> None: ...

    def close(self) -> None: ...


@dataclass
class Runtime:
    """The process-wide job runtime: one database and one runner, installed by the app factory."""

    db: Database
    runner: Runner
    context: Callable[[], Any] | None = None  # app-context factory for handlers needing Flask config
    config: dict[str, Any] = field(default_factory=dict)
    pid: int = field(default_factory=os.getpid)


def _after_fork(rt: Runtime) -> None:
    """RQ forks a work-horse per job: never reuse the parent's pooled connections in the child."""
    if rt.pid != os.getpid():
        rt.db.engine.dispose(close=False)
        rt.pid = os.getpid()


_runtime: Runtime | None = None
_current_job: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("job", default=None)


def install(runtime: Runtime) -> Runtime:
    """Make ``runtime`` current and dispatch outbox rows after each commit of its sessions."""
    global _runtime
    _runtime = runtime
    factory = runtime.db.sessionmaker
    if not getattr(factory, "_phananh_outbox_hooked", False):
        event.listen(factory, "after_commit", _after_commit)
        event.listen(factory, "after_soft_rollback", _after_rollback)
        factory._phananh_outbox_hooked = True  # type: ignore[attr-defined]
    return runtime


def runtime() -> Runtime:
    if _runtime is None:
        raise RuntimeError("no job runtime installed (create_app() installs one)")
    return _runtime


def has_runtime() -> bool:
    """Whether a job runtime is installed in this process."""
    return _runtime is not None


def current_job() -> dict[str, Any] | None:
    """``{"outbox_id", "job_name", "attempt"}`` of the job running in this context, if any."""
    return _current_job.get()


def is_last_attempt() -> bool:
    """Whether the running job has no retry left (handlers then record a failure for the user instead
    of raising for a retry); True outside a job."""
    job = current_job()
    if not job:
        return True
    spec = JOBS.get(job["job_name"])
    return spec is None or job["attempt"] > len(spec.retry)


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # SQLAlchemy also calls this on SAVEPOINT release
        return
    rows = session.info.pop("outbox_rows", None)
    if rows and _runtime is not None:
        # rows written inside a savepoint that was rolled back are no longer persistent (ORM rows) or
        # were dropped by _after_rollback (Core rows, kept as (row, transaction))
        _push_committed([r[0] if isinstance(r, tuple) else r for r in rows
                         if isinstance(r, tuple) or sa_inspect(r).persistent], _runtime)


def _after_rollback(session: Session, previous: Any) -> None:
    if not previous.nested:
        session.info.pop("outbox_rows", None)
        return
    rows = session.info.get("outbox_rows")
    if rows:  # Core rows written inside the savepoint rolled back (or one nested in it) are gone
        rows[:] = [r for r in rows if not (isinstance(r, tuple) and _within(r[1], previous))]


def _within(transaction: Any, ancestor: Any) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


def _push_committed(rows: Sequence[Pushable], rt: Runtime, *, failed: list[int | None] | None = None) -> None:
    """Push rows just committed (several: one round trip when the runner has ``push_many``); on a
    broker failure (or for the ids in ``failed``), clear their mark so the relay sends them."""
    failed = list(failed or [])
    push_many = getattr(rt.runner, "push_many", None)
    if push_many is not None and len(rows) > 1:
        try:
            push_many(list(rows))
        except Exception as exc:  # noqa: BLE001 - any broker failure leaves the rows for the relay
            log.warning("outbox %s not dispatched: %s", [r.id for r in rows], exc)
            failed = [r.id for r in rows]
        rows = []
    for row in rows:
        if failed:
            failed.append(row.id)
            continue
        try:
            rt.runner.push(row)
        except Exception as exc:  # noqa: BLE001 - any broker failure leaves the row for the relay
            log.warning("outbox %s (%s) not dispatched: %s", row.id, row.job_name, exc)
            failed.append(row.id)
    if failed:
        try:
            with rt.db.session() as session:
                session.execute(update(Outbox).where(Outbox.id.in_(failed)).values(dispatched_at=None))
                session.commit()
        except Exception as exc:  # noqa: BLE001 - the stale sweep of the relay still finds them
            log.error("could not release outbox rows %s: %s", failed, exc)


def dispatch(ids: Iterable[int], rt: Runtime | None = None) -> int:
    """Push the given undispatched outbox rows to the runner; returns how many were pushed.

    A failure to push (Redis down) is logged and leaves the rows for the relay.
    """
    rt = rt or runtime()
    pushed = 0
    with rt.db.session() as session:
        rows = session.exec(select(Outbox).where(Outbox.id.in_(list(ids)), Outbox.dispatched_at.is_(None))
                            .order_by(Outbox.id)).scalars().all()
        for row in rows:
            try:
                rt.runner.push(row)
            except Exception as exc:  # noqa: BLE001 - any broker failure leaves the row for the relay
                log.warning("outbox %s (%s) not dispatched: %s", row.id, row.job_name, exc)
                break
            session.execute(update(Outbox).where(Outbox.id == row.id).values(dispatched_at=utcnow()))
            session.commit()
            pushed += 1
    return pushed


# --------------------------------------------------------------------------- executing


def execute(outbox_id: int) -> str:
    """Run the job of one outbox row to completion at most once. Raises to let the runner retry."""
    rt = runtime()
    _after_fork(rt)
    with rt.db.session() as session:
        stmt = select(Outbox).where(Outbox.id == outbox_id)
        if not rt.db.is_sqlite:
            stmt = stmt.with_for_update()
        row = session.exec(stmt).scalars().first()
        if row is None:
            return "missing"
        if row.done_at is not None:
            return "already-done"
        token = _current_job.set({"outbox_id": row.id, "job_name": row.job_name, "attempt": row.attempts + 1})
        started, ok = time.perf_counter(), False
        try:
            with _app_context(rt):
                resolve(row.job_name)(session, **row.args)
            row.done_at = utcnow()
            row.last_error = None
            session.add(row)
            session.commit()
            ok = True
        except Exception as exc:
            session.rollback()
            _record_failure(rt, outbox_id, exc)
            log.warning("job %s (outbox %s) failed: %s", row.job_name, outbox_id, exc)
            raise
        finally:
            _current_job.reset(token)
            _observe(row.job_name, row.queue, time.perf_counter() - started, ok)
    return "done"


def run_periodic(job_name: str) -> None:
    """Entry point of periodic jobs: resolve the handler and run it with a fresh session."""
    rt = runtime()
    started = time.perf_counter()
    ok = False
    try:
        with _app_context(rt), rt.db.session_scope() as session:
            resolve(job_name)(session)
        ok = True
    finally:
        _observe(job_name, "cron", time.perf_counter() - started, ok)


def _record_failure(rt: Runtime, outbox_id: int, exc: Exception) -> None:
    with rt.db.session() as session:
        session.execute(update(Outbox).where(Outbox.id == outbox_id)
                        .values(attempts=Outbox.attempts + 1, last_error=f"{type(exc).__name__}: {exc}"[:2000]))
        session.commit()


class _NullContext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _app_context(rt: Runtime) -> Any:
    return rt.context() if rt.context else _NullContext()


JobObserver = Callable[[str, str, float, bool], None]
_observers: list[JobObserver] = []


def add_observer(fn: JobObserver) -> None:
    """Called with (job name, queue, seconds, succeeded) after each job: metrics hook."""
    _observers.append(fn)


def _observe(name: str, queue_name: str, seconds: float, ok: bool) -> None:
    for fn in _observers:
        fn(name, queue_name, seconds, ok)
