"""Runners: where dispatched outbox rows go — RQ queues (production) or one in-process thread (embedded).

Split from ``backend/queue.py`` (the outbox, the JobSpec registry and ``execute``); these two modules are
the only ones touching ``rq``. A runner only pushes; ``jobs.execute`` runs each job at most once.
"""

from __future__ import annotations

import logging
import os
import queue as stdqueue
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from backend import queue as jobs
from backend.models.base import utcnow
from backend.models.outbox import Outbox

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- RQ (production)


@dataclass(eq=False)
class _Group:
    rows: list[Any] = field(default_factory=list)
    done: bool = False
    error: Exception | None = None


_GROUPS: weakref.WeakSet[GroupPush] = weakref.WeakSet()


def _reset_groups_after_fork() -> None:
    for group_push in list(_GROUPS):
        group_push._reset()


os.register_at_fork(after_in_child=_reset_groups_after_fork)


class GroupPush:
    """Group commit for broker pushes: a caller that finds no push in flight sends every row queued so
    far in one round trip; callers arriving meanwhile wait and go together in the next one.

    Each caller returns only once its own row is in the broker, or raises the error of its group,
    so callers keep the synchronous contract of ``push`` (nothing is acknowledged before it is sent).
    """

    def __init__(self, push_many: Callable[[list[Any]], None]) -> None:
        self._push_many = push_many
        self._reset()
        _GROUPS.add(self)  # reset in a forked child: it never inherits a push in flight

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._open = _Group()
        self._busy = False

    def push(self, row: Any) -> None:
        sending = False
        try:
            with self._cond:
                group = self._open
                group.rows.append(row)
                while not group.done and self._busy:
                    self._cond.wait()
                if group.done:  # sent by another caller of the same group
                    if group.error is not None:
                        raise group.error
                    return
                sending, self._busy, self._open = True, True, _Group()  # this caller sends its own group
            self._push_many(group.rows)
        except BaseException as exc:
            if sending:  # every member gets an error; SystemExit, timeouts… stay the sender's own
                group.error = exc if isinstance(exc, Exception) else RuntimeError(f"push interrupted: {exc!r}")
            raise
        finally:
            if sending:  # always release the group, whatever ended the push
                with self._cond:
                    group.done, self._busy = True, False
                    self._cond.notify_all()


#: KEYS[1] the counter; ARGV: limit, window (s), number of commands, then each command as its length
#: followed by its words. Over the limit: 0 and nothing else runs; else the commands run and 1.
_LIMITED_PUSH = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2])) end
if count > tonumber(ARGV[1]) then return 0 end
local i = 4
for _ = 1, tonumber(ARGV[3]) do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return 1
"""


class RQRunner:
    """Push outbox rows to RQ queues; job id ``outbox-<id>`` makes a re-push replace, not duplicate."""

    def __init__(self, redis_url: str | None = None, *, connection: Any = None) -> None:
        from redis import Redis

        self.connection = connection if connection is not None else Redis.from_url(
            redis_url or "redis://127.0.0.1:6379/0", socket_connect_timeout=2, socket_timeout=5)
        self._queues: dict[str, Any] = {}
        self._retries: dict[jobs.JobSpec, Any] = {}
        self._group = GroupPush(self._push_many)

    def queue(self, name: str) -> Any:
        from rq import Queue

        if name not in self._queues:
            self._queues[name] = Queue(name, connection=self.connection)
        return self._queues[name]

    def push(self, row: jobs.Pushable) -> None:
        """Returns once the job is in Redis (raises if not). Concurrent pushes of this process share one
        round trip (one MULTI/EXEC pipeline): see :class:`GroupPush`."""
        self._group.push(row)

    def push_many(self, rows: Sequence[jobs.Pushable]) -> None:
        """The rows of one commit in one round trip (one MULTI/EXEC pipeline); raises if not sent."""
        self._push_many(rows)

    def _push_many(self, rows: Sequence[jobs.Pushable]) -> None:
        due = []
        for row in rows:
            spec = jobs.JOBS.get(row.job_name) or jobs.JobSpec(row.job_name)
            options = {"job_id": f"outbox-{row.id}", "retry": self._retry(spec), "result_ttl": 3600,
                       "failure_ttl": 7 * 86400, "description": row.job_name}
            q = self.queue(spec.queue)
            if row.available_at is not None and row.available_at > utcnow():
                q.enqueue_at(row.available_at, "backend.queue.execute", row.id, job_timeout=spec.timeout, **options)
            else:
                due.append((q, q.create_job("backend.queue.execute", args=(row.id,), timeout=spec.timeout, **options)))
        if due:
            with self.connection.pipeline() as pipe:
                for q, job in due:
                    q.enqueue_job(job, pipeline=pipe)
                pipe.execute()

    def push_limited(self, row: jobs.Pushable, *, counter: str, limit: int, window_s: int) -> bool:
        """Count one hit on ``counter`` (a fixed window of ``window_s`` seconds) and, if the count is within
        ``limit``, push ``row``'s job — one round trip (a Lua script runs both atomically). False: over the
        limit, nothing pushed. Raises if Redis cannot be reached (then nothing is counted or pushed)."""
        spec = jobs.JOBS.get(row.job_name) or jobs.JobSpec(row.job_name)
        q = self.queue(spec.queue)
        job = q.create_job("backend.queue.execute", args=(row.id,), timeout=spec.timeout, job_id=f"outbox-{row.id}",
                           retry=self._retry(spec), result_ttl=3600, failure_ttl=7 * 86400, description=row.job_name)
        with self.connection.pipeline() as pipe:  # collects RQ's enqueue commands without sending them
            q.enqueue_job(job, pipeline=pipe)
            commands = [args for args, _options in pipe.command_stack]
            pipe.reset()
        flat: list[Any] = [limit, window_s, len(commands)]
        for command in commands:  # the words are encoded once, by the client, when it sends them
            flat += [len(command), *command]
        return bool(self.connection.eval(_LIMITED_PUSH, 1, counter, *flat))

    def holds(self, ids: Sequence[int]) -> set[int]:
        """Outbox ids whose RQ job still exists in Redis (queued, scheduled, running or failed)."""
        from rq.job import Job

        with self.connection.pipeline(transaction=False) as pipe:
            for outbox_id in ids:
                pipe.exists(Job.key_for(f"outbox-{outbox_id}"))
            found = pipe.execute()
        return {i for i, present in zip(ids, found, strict=True) if present}

    def _retry(self, spec: jobs.JobSpec) -> Any:
        from rq import Retry

        if not spec.retry:
            return None
        if spec not in self._retries:
            self._retries[spec] = Retry(max=len(spec.retry), interval=list(spec.retry))
        return self._retries[spec]

    def worker(self, queues: Iterable[str] = jobs.QUEUES, *, simple: bool = False) -> Any:
        from rq import SimpleWorker, Worker

        cls = SimpleWorker if simple else Worker
        return cls([self.queue(q) for q in queues], connection=self.connection)

    def run_burst(self, queues: Iterable[str] = jobs.QUEUES) -> None:
        """Run every queued job in this process until the queues are empty (tests, CLI).

        No command channel: a burst ends by itself, and RQ's listener thread (a Redis read of up to 60 s)
        could hold the burst's end for up to a minute while its connection was being closed."""
        worker = self.worker(queues, simple=True)
        worker.subscribe = worker.unsubscribe = _no_command_channel
        worker.work(burst=True, with_scheduler=True)

    def cron(self) -> Any:
        from rq.cron import CronScheduler

        scheduler = CronScheduler(connection=self.connection, name="phananh-cron")
        for spec in jobs.PERIODIC:
            scheduler.register(jobs.run_periodic, queue_name=spec.queue, kwargs={"job_name": spec.name},
                               interval=spec.interval, job_timeout=spec.timeout, name=spec.name)
        return scheduler

    def close(self) -> None:
        self.connection.close()


def _no_command_channel() -> None:
    """A burst worker's (un)subscription to RQ's command channel: nothing to do."""


# --------------------------------------------------------------------------- embedded (no Redis)


class ThreadRunner:
    """Embedded mode: one background thread runs jobs, retries, the relay and the periodic jobs.

    Behaviour seen by users is the same as with RQ; only durability of *queued* jobs differs, and
    the outbox covers that: the runner knows every job it holds (:meth:`holds`) and when it started
    (``started_at``), so the relay's first tick after a restart (``kill -9`` included) re-dispatches
    the rows the dead process had dispatched but never finished, within seconds.
    """

    def __init__(self, *, periodic: bool = False, tick_s: float = 1.0) -> None:
        self._queue: stdqueue.PriorityQueue[tuple[float, int, int]] = stdqueue.PriorityQueue()
        self._attempts: dict[int, int] = {}
        self._held: set[int] = set()
        self.started_at = utcnow()
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

    def push(self, row: jobs.Pushable) -> None:
        self._seq += 1
        self._held.add(int(row.id))
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

    def holds(self, ids: Sequence[int]) -> set[int]:
        """Outbox ids this runner has queued, scheduled for a retry or running."""
        return set(ids) & self._held

    def _run(self, outbox_id: int) -> None:
        try:
            jobs.execute(outbox_id)
            self._attempts.pop(outbox_id, None)
            self._held.discard(outbox_id)
        except Exception:  # noqa: BLE001 - retried below, logged by jobs.execute()
            self._retry(outbox_id)

    def _retry(self, outbox_id: int) -> None:
        attempt = self._attempts.get(outbox_id, 0)
        with jobs.runtime().db.session() as session:
            row = session.get(Outbox, outbox_id)
            spec = jobs.JOBS.get(row.job_name, jobs.JobSpec(row.job_name)) if row else None
        if spec is None or attempt >= len(spec.retry):
            self._attempts.pop(outbox_id, None)
            self._held.discard(outbox_id)
            return
        self._attempts[outbox_id] = attempt + 1
        self._seq += 1
        self._queue.put((time.monotonic() + spec.retry[attempt], self._seq, outbox_id))

    def _tick(self) -> None:
        if not self._periodic or not jobs.has_runtime():
            return
        now = time.monotonic()
        for spec in jobs.PERIODIC:
            if now - self._last_run.get(spec.name, 0.0) >= spec.interval:
                self._last_run[spec.name] = now
                try:
                    jobs.run_periodic(spec.name)
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
