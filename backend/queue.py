"""Jobs: the JobSpec registry, the transactional outbox, and the runners. The only module touching rq.

How work leaves a transaction (DESIGN §2.1, §10):

1. a service calls :func:`enqueue` with the caller's session: an ``outbox`` row is written in the
   same transaction as the report (nothing is sent yet);
2. right after that session commits, the rows it wrote are dispatched to the runner (RQ queues, or
   the in-process thread in embedded mode) and marked ``dispatched_at``;
3. if dispatching fails (Redis down, process killed), the rows stay undispatched and
   :func:`relay_outbox` (periodic, and at worker start) sends them later;
4. :func:`execute` runs a job at most once to completion: it locks the outbox row, returns early if
   ``done_at`` is set, runs the handler with a session, and marks ``done_at`` in the same commit.

Handlers are ``def verb_noun(session, **args)``; arguments are JSON primitives (ids, strings).
"""

from __future__ import annotations

import contextvars
import importlib
import logging
import os
import queue as stdqueue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import event, select, update
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
    spec = JOBS[job_name]
    now = utcnow()
    # marked dispatched optimistically: the push after commit needs no second transaction; a failed
    # push clears the mark (relay within seconds), a crash before the push is caught as stale
    row = Outbox(job_name=job_name, args=args, queue=spec.queue,
                 dispatched_at=now if _runtime is not None else None,  # no runtime: the relay sends it
                 available_at=now + _delay if _delay else None)
    session.add(row)
    session.flush()
    session.info.setdefault("outbox_rows", []).append(row)
    return row


# --------------------------------------------------------------------------- runners


class Runner(Protocol):
    """Where dispatched jobs go: RQ queues (production) or an in-process thread (embedded)."""

    def push(self, row: Outbox) -> None: ...

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


def current_job() -> dict[str, Any] | None:
    """``{"outbox_id", "job_name", "attempt"}`` of the job running in this context, if any."""
    return _current_job.get()


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # SQLAlchemy also calls this on SAVEPOINT release
        return
    rows = session.info.pop("outbox_rows", None)
    if rows and _runtime is not None:
        # rows written inside a savepoint that was rolled back are no longer persistent
        _push_committed([r for r in rows if sa_inspect(r).persistent], _runtime)


def _after_rollback(session: Session, previous: Any) -> None:
    if not previous.nested:
        session.info.pop("outbox_rows", None)


def _push_committed(rows: list[Outbox], rt: Runtime) -> None:
    """Push rows just committed; on a broker failure, clear their mark so the relay sends them."""
    failed: list[int] = []
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


def relay_outbox(rt: Runtime | None = None, *, min_age_s: float = 5.0, limit: int = 500) -> int:
    """Dispatch rows left undispatched (Redis was down, a process died). Idempotent.

    Rows younger than ``min_age_s`` are skipped: their own after-commit dispatch is still running.
    Rows dispatched long ago but never done (the broker lost them, a worker was killed and RQ gave
    up) are dispatched again, at most ``len(retry) + 2`` times in all.
    """
    rt = rt or runtime()
    cutoff = utcnow() - timedelta(seconds=min_age_s)
    with rt.db.session() as session:
        _reset_stale(session)
        ids = session.exec(select(Outbox.id).where(Outbox.dispatched_at.is_(None), Outbox.created_at <= cutoff)
                           .order_by(Outbox.id).limit(limit)).scalars().all()
    if not ids:
        return 0
    pushed = dispatch(ids, rt)
    if pushed:
        log.info("outbox relay dispatched %d job(s)", pushed)
    return pushed


def _stale_after(spec: JobSpec) -> timedelta:
    return timedelta(seconds=spec.timeout + sum(spec.retry) + 120)


def _reset_stale(session: Session) -> None:
    """Mark dispatched-but-never-done rows past their time as undispatched again (counts an attempt)."""
    now = utcnow()
    rows = session.exec(select(Outbox).where(Outbox.dispatched_at.is_not(None), Outbox.done_at.is_(None),
                                             Outbox.dispatched_at < now - timedelta(seconds=130))
                        .limit(500)).scalars().all()
    for row in rows:
        spec = JOBS.get(row.job_name, JobSpec(row.job_name))
        if row.dispatched_at < now - _stale_after(spec) and row.attempts < len(spec.retry) + 2:
            row.dispatched_at = None
            row.attempts += 1
            row.last_error = (row.last_error or "")[:1900] + " | re-dispatched: never completed"
    session.commit()


def pending_outbox(rt: Runtime | None = None) -> int:
    """Number of rows not yet dispatched (the outbox lag, for /metrics and tests)."""
    rt = rt or runtime()
    with rt.db.session() as session:
        return len(session.exec(select(Outbox.id).where(Outbox.dispatched_at.is_(None))).scalars().all())


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


# --------------------------------------------------------------------------- RQ (production)


class RQRunner:
    """Push outbox rows to RQ queues; job id ``outbox-<id>`` makes a re-push replace, not duplicate."""

    def __init__(self, redis_url: str | None = None, *, connection: Any = None) -> None:
        from redis import Redis

        self.connection = connection if connection is not None else Redis.from_url(
            redis_url or "redis://127.0.0.1:6379/0", socket_connect_timeout=2, socket_timeout=5)
        self._queues: dict[str, Any] = {}

    def queue(self, name: str) -> Any:
        from rq import Queue

        if name not in self._queues:
            self._queues[name] = Queue(name, connection=self.connection)
        return self._queues[name]

    def push(self, row: Outbox) -> None:
        from rq import Retry

        spec = JOBS.get(row.job_name, JobSpec(row.job_name))
        retry = Retry(max=len(spec.retry), interval=list(spec.retry)) if spec.retry else None
        options = {"job_id": f"outbox-{row.id}", "job_timeout": spec.timeout, "retry": retry, "result_ttl": 3600,
                   "failure_ttl": 7 * 86400, "description": row.job_name}
        q = self.queue(spec.queue)
        if row.available_at is not None and row.available_at > utcnow():
            q.enqueue_at(row.available_at, "backend.queue.execute", row.id, **options)
        else:
            q.enqueue("backend.queue.execute", row.id, **options)

    def worker(self, queues: Iterable[str] = QUEUES, *, simple: bool = False) -> Any:
        from rq import SimpleWorker, Worker

        cls = SimpleWorker if simple else Worker
        return cls([self.queue(q) for q in queues], connection=self.connection)

    def run_burst(self, queues: Iterable[str] = QUEUES) -> None:
        """Run every queued job in this process until the queues are empty (tests, CLI)."""
        self.worker(queues, simple=True).work(burst=True, with_scheduler=True)

    def cron(self) -> Any:
        from rq.cron import CronScheduler

        scheduler = CronScheduler(connection=self.connection, name="phananh-cron")
        for spec in PERIODIC:
            scheduler.register(run_periodic, queue_name=spec.queue, kwargs={"job_name": spec.name},
                               interval=spec.interval, job_timeout=spec.timeout, name=spec.name)
        return scheduler

    def close(self) -> None:
        self.connection.close()


# --------------------------------------------------------------------------- embedded (no Redis)


class ThreadRunner:
    """Embedded mode: one background thread runs jobs, retries, the relay and the periodic jobs.

    Behaviour seen by users is the same as with RQ; only durability of *queued* jobs differs, and
    the outbox covers that: anything not done is re-dispatched by the relay after a restart.
    """

    def __init__(self, *, periodic: bool = False, tick_s: float = 1.0) -> None:
        self._queue: stdqueue.PriorityQueue[tuple[float, int, int]] = stdqueue.PriorityQueue()
        self._attempts: dict[int, int] = {}
        self._periodic = periodic
        self._tick_s = tick_s
        self._last_run: dict[str, float] = {}
        self._stop = threading.Event()
        self._busy = False
        self._seq = 0
        self._thread = threading.Thread(target=self._loop, name="phananh-jobs", daemon=True)
        self._thread.start()

    def enable_periodic(self) -> None:
        """Run the periodic jobs (relay, SLA sweep, digests) in this thread: ``phananh run``."""
        self._periodic = True

    def push(self, row: Outbox) -> None:
        self._seq += 1
        delay = (row.available_at - utcnow()).total_seconds() if row.available_at else 0.0
        self._queue.put((time.monotonic() + max(0.0, delay), self._seq, int(row.id)))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                due, _, outbox_id = self._queue.get(timeout=self._tick_s)
            except stdqueue.Empty:
                self._tick()
                continue
            wait = due - time.monotonic()
            if wait > 0:
                self._queue.put((due, self._seq, outbox_id))
                self._stop.wait(min(wait, self._tick_s))
                self._tick()
                continue
            self._busy = True
            try:
                self._run(outbox_id)
            finally:
                self._busy = False

    def _run(self, outbox_id: int) -> None:
        try:
            execute(outbox_id)
            self._attempts.pop(outbox_id, None)
        except Exception:  # noqa: BLE001 - retried below, logged by execute()
            self._retry(outbox_id)

    def _retry(self, outbox_id: int) -> None:
        attempt = self._attempts.get(outbox_id, 0)
        with runtime().db.session() as session:
            row = session.get(Outbox, outbox_id)
            spec = JOBS.get(row.job_name, JobSpec(row.job_name)) if row else None
        if spec is None or attempt >= len(spec.retry):
            self._attempts.pop(outbox_id, None)
            return
        self._attempts[outbox_id] = attempt + 1
        self._seq += 1
        self._queue.put((time.monotonic() + spec.retry[attempt], self._seq, outbox_id))

    def _tick(self) -> None:
        if not self._periodic or _runtime is None:
            return
        now = time.monotonic()
        for spec in PERIODIC:
            if now - self._last_run.get(spec.name, 0.0) >= spec.interval:
                self._last_run[spec.name] = now
                try:
                    run_periodic(spec.name)
                except Exception as exc:  # noqa: BLE001 - a periodic failure must not stop the runner
                    log.warning("periodic job %s failed: %s", spec.name, exc)

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until no job is queued or due (tests and CLI)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (self._busy or not self._queue.empty()):
            time.sleep(0.02)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
