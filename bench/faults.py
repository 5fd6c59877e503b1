"""Fault tests (``make faults``): break one piece of a real deployment under load, check nothing is lost.

    python -m bench.faults [--short] [--only redis_down,worker_sigkill,postgres_restart,media_unwritable]

Each fault runs on its own stack (private PostgreSQL cluster + private Redis + gunicorn + 2 RQ
workers, all on 127.0.0.1, see ``bench/harness.py``) and a fake Google (FCM) server that records
every push. Traffic: residents register a device, upload a photo and send a report with it. After
the fault the outbox relay runs (as the cron would) and we wait, bounded, until every job is done.
Checks: every report answered 201 is in the database (``lost``), no report without its created
event and photo (``half``), no push sent twice (``duplicated``), every outbox job done. Prints
``FAULT name: lost=0 duplicated=0 recovered_in=Ns`` per fault; exit status 1 if any check fails.

- ``redis_down``: Redis shut down (SHUTDOWN SAVE, as a restart would) during load, started again.
- ``worker_sigkill``: RQ work-horses killed with SIGKILL in the middle of jobs (photo processing).
- ``postgres_restart``: PostgreSQL restarted (``pg_ctl -m fast``) during load: 503 + Retry-After
  while it is down, recovery without restarting gunicorn (pool_pre_ping).
- ``media_unwritable``: the media directory replaced by a file (root ignores permissions) or made
  read-only: uploads fail with a clear 4xx/5xx problem, no photo row without its file.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bench import harness, intake, loadgen  # noqa: E402

FAULTS = ("redis_down", "worker_sigkill", "postgres_restart", "media_unwritable")


@dataclass
class Outcome:
    name: str
    lost: int = 0
    duplicated: int = 0
    half: int = 0
    recovered_in: float = 0.0
    pending_jobs: int = 0
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and self.lost == 0 and self.duplicated == 0 and self.half == 0 \
            and self.pending_jobs == 0

    def line(self) -> str:
        return f"FAULT {self.name}: lost={self.lost} duplicated={self.duplicated} recovered_in={self.recovered_in:.1f}s"


# --------------------------------------------------------------------------- environment


class FaultStack(harness.Stack):
    """A Stack with a fake FCM server, Redis that persists on SHUTDOWN SAVE, and a relay helper."""

    def __init__(self, workers: int = 2, extra_env: dict[str, str] | None = None) -> None:
        super().__init__()
        self.n_workers = workers
        self.extra_env = extra_env or {}
        self.google: Any = None
        self._rt: Any = None

    def start(self) -> None:
        from fakes.google import FakeGoogle

        self.google = FakeGoogle().start()
        super().start()
        sa = self.tmp / "service-account.json"
        sa.write_text(json.dumps(self.google.service_account_info(harness.PROJECT)))
        self.env.update(GOOGLE_APPLICATION_CREDENTIALS=str(sa), FCM_ENDPOINT=self.google.fcm_url_template)
        self.env.update(self.extra_env)
        self.start_app()
        self.start_workers(self.n_workers)

    def close(self) -> None:
        super().close()
        if self.google is not None:
            self.google.stop()

    # Redis -----------------------------------------------------------------
    def redis_stop(self) -> None:
        self.redis.shutdown_save()

    def redis_start(self) -> None:
        self.redis.start()

    # workers ---------------------------------------------------------------
    def revive_workers(self) -> int:
        """Restart worker processes that exited (what systemd's Restart=always does). Returns how many."""
        dead = [p for p in self.workers if p.poll() is not None]
        for p in dead:
            self.workers.remove(p)
        if dead:
            self.start_workers(len(dead))
        return len(dead)

    def work_horses(self) -> list[int]:
        pids = []
        for w in self.workers:
            try:
                children = Path(f"/proc/{w.pid}/task/{w.pid}/children").read_text().split()
            except OSError:
                continue
            for c in map(int, children):
                try:  # a work-horse leads its own process group (os.setpgrp); the scheduler process does not
                    if os.getpgid(c) == c:
                        pids.append(c)
                except ProcessLookupError:
                    pass
        return pids

    # outbox ----------------------------------------------------------------
    def runtime(self) -> Any:
        from backend import queue, runners
        from backend.db import Database

        if self._rt is None:
            self._rt = queue.Runtime(db=Database(self.database_url), runner=runners.RQRunner(self.redis.url(0)))
        return self._rt

    def relay(self) -> int:
        from backend import queue

        try:
            return queue.relay_outbox(self.runtime(), min_age_s=0)
        except Exception as exc:  # noqa: BLE001 - the relay is retried by the drain loop
            print(f"  relay failed: {exc}", file=sys.stderr)
            return 0

    def pending(self) -> dict[str, int]:
        return query_one(self.database_url, """
            SELECT count(*) FILTER (WHERE done_at IS NULL AND (available_at IS NULL OR available_at <= now())),
                   count(*) FILTER (WHERE dispatched_at IS NULL), count(*)
            FROM outbox""", keys=("not_done", "undispatched", "total"))

    def drain(self, timeout: float) -> tuple[bool, float]:
        """Relay every 2 s until every due job is done (bounded). Returns (drained, seconds)."""
        started = time.monotonic()
        while True:
            self.revive_workers()
            self.relay()
            if self.pending()["not_done"] == 0:
                return True, time.monotonic() - started
            if time.monotonic() - started >= timeout:
                return False, time.monotonic() - started
            time.sleep(2)


def query_one(url: str, sql: str, params: dict | None = None, keys: tuple[str, ...] = ()) -> Any:
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute(sql, params or {}).fetchone()
    return dict(zip(keys, row, strict=True)) if keys else row[0]


# --------------------------------------------------------------------------- traffic


class Traffic:
    """Residents: register a device, upload a photo, send a report with it (in a background thread)."""

    def __init__(self, base: str, run_id: str) -> None:
        self.base = base
        self.run_id = run_id
        self.photo = intake.photo_bytes(3)
        self.codes: list[str] = []
        self.result: loadgen.Result | None = None
        self._thread: threading.Thread | None = None
        self.retry_after_missing = 0

    def task(self, i: int, client: loadgen.Client) -> None:
        import random

        auth = {"Authorization": "Bearer " + intake.id_token(f"{self.run_id}-{i}")}
        token = json.dumps({"token": f"fcm-{self.run_id}-{i}-{uuid.uuid4().hex[:8]}"}).encode()
        status, _, headers = client.request("POST", "/api/v1/devices", {**auth, "Content-Type": "application/json"},
                                            token, label="device")
        self._check_503(status, headers)
        if status != 201:
            return
        body, ctype = intake.multipart(self.photo)
        status, data, headers = client.request("POST", "/api/v1/media", {**auth, "Content-Type": ctype}, body,
                                               label="media")
        self._check_503(status, headers)
        if status != 201:
            return
        media_id = json.loads(data)["id"]
        report = intake.report_body(i, media_id, random.Random(i))
        headers_ = {**auth, "Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
        status, data, headers = client.request("POST", "/api/v1/reports", headers_, report, label="report")
        self._check_503(status, headers)
        if status == 201:
            self.codes.append(json.loads(data)["code"])

    def _check_503(self, status: int, headers: dict[str, str]) -> None:
        if status == 503 and "retry-after" not in headers:
            self.retry_after_missing += 1
        if status in (-1, 503):  # a polite client waits (Retry-After, capped) before its next request
            time.sleep(0.5)

    def wait_progress(self, reports: int = 3, timeout: float = 90.0) -> None:
        """Break things only once the traffic is flowing (some reports acknowledged)."""
        deadline = time.monotonic() + timeout
        while len(self.codes) < reports and time.monotonic() < deadline:
            time.sleep(0.2)

    def start(self, count: int, seconds: float, connections: int = 8) -> None:
        def run() -> None:
            self.result = loadgen.run(self.base, self.task, count, seconds=seconds, connections=connections)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> loadgen.Result:
        assert self._thread is not None
        self._thread.join(timeout)
        if self.result is None:
            raise TimeoutError("traffic did not finish in time")
        return self.result


def wait_for_success(base: str, timeout: float, run_id: str) -> float | None:
    """Seconds until one full intake (upload + report) succeeds again, or None."""
    started = time.monotonic()
    probe = Traffic(base, run_id)
    host, _, port = base.removeprefix("http://").partition(":")
    client = loadgen.Client(host, int(port), collect=False, timeout=10)
    i = 0
    while time.monotonic() - started < timeout:
        before = len(probe.codes)
        probe.task(i, client)
        i += 1
        if len(probe.codes) > before:
            return time.monotonic() - started
        time.sleep(0.25)
    return None


# --------------------------------------------------------------------------- checks


def check(stack: FaultStack, out: Outcome, traffic: Traffic, drain_timeout: float) -> None:
    drained, seconds = stack.drain(drain_timeout)
    if not drained:
        out.pending_jobs = stack.pending()["not_done"]
        out.failures.append(f"outbox not drained after {seconds:.0f} s: {stack.pending()}")
    codes = list(set(traffic.codes))
    found = query_one(stack.database_url, "SELECT count(*) FROM reports WHERE code = ANY(%(c)s)", {"c": codes})
    out.lost = len(codes) - int(found)
    out.half = int(query_one(stack.database_url, """
        SELECT count(*) FROM reports r
        WHERE NOT EXISTS (SELECT 1 FROM report_events e WHERE e.report_id = r.id AND e.kind = 'created')
           OR NOT EXISTS (SELECT 1 FROM photos p WHERE p.report_id = r.id)
           OR r.unit_id IS NULL"""))
    msgs = stack.google.sent_messages()
    keys = [json.dumps(m, sort_keys=True) for m in msgs]
    out.duplicated = len(keys) - len(set(keys))
    unprocessed = int(query_one(stack.database_url, "SELECT count(*) FROM photos WHERE report_id IS NOT NULL "
                                                    "AND processed_at IS NULL"))
    if unprocessed:
        out.failures.append(f"{unprocessed} attached photo(s) never processed")
    res = traffic.result
    statuses = res.statuses() if res else {}
    if 500 in statuses:
        out.failures.append(f"{statuses[500]} answer(s) 500")
    if traffic.retry_after_missing:
        out.failures.append(f"{traffic.retry_after_missing} 503 answer(s) without Retry-After")
    out.notes.append(f"reports acknowledged={len(codes)} in db={found}; pushes sent={len(msgs)}; "
                     f"statuses={statuses}; outbox={stack.pending()}")


# --------------------------------------------------------------------------- the faults


def fault_redis_down(stack: FaultStack, args: argparse.Namespace) -> Outcome:
    out = Outcome("redis_down")
    traffic = Traffic(stack.base, "redis")
    traffic.start(args.count, args.seconds)
    traffic.wait_progress()
    stack.redis_stop()
    time.sleep(args.down)
    waiting = stack.pending()["undispatched"]
    stack.redis_start()
    up = time.monotonic()
    while time.monotonic() - up < args.drain:  # the relay (cron every 15 s; here every 1 s) empties the outbox
        stack.revive_workers()
        stack.relay()
        if stack.pending()["undispatched"] == 0:
            break
        time.sleep(1)
    out.recovered_in = time.monotonic() - up
    out.notes.append(f"outbox rows waiting for Redis when it came back: {waiting}; all dispatched "
                     f"{out.recovered_in:.1f} s after the restart")
    traffic.join(args.seconds + 120)
    revived = stack.revive_workers()
    if revived:
        out.notes.append(f"{revived} worker(s) exited while Redis was down and were restarted (supervisor)")
    started = time.monotonic()
    check(stack, out, traffic, args.drain)
    out.notes.append(f"every job done {time.monotonic() - started:.0f} s after the traffic ended")
    return out


def fault_worker_sigkill(stack: FaultStack, args: argparse.Namespace) -> Outcome:
    out = Outcome("worker_sigkill")
    traffic = Traffic(stack.base, "kill")
    from bench.photos import make_photo

    traffic.photo = make_photo(12.0)  # a 12 MP photo: processing takes long enough to be killed mid-job
    traffic.start(args.count, args.seconds)
    traffic.wait_progress(1)
    kills, last_kill, deaths = 0, time.monotonic(), 0
    stop_at = time.monotonic() + args.seconds
    while time.monotonic() < stop_at and deaths < args.kills:
        horses = stack.work_horses()
        if horses:
            time.sleep(0.02)  # a few ms into the job
            try:
                os.kill(horses[0], signal.SIGKILL)
                kills += 1
                last_kill = time.monotonic()
            except ProcessLookupError:
                pass
            time.sleep(0.5)
            deaths = horse_deaths(stack)
        else:
            time.sleep(0.01)
    traffic.join(args.seconds + 120)
    drained, _ = stack.drain(args.drain)
    out.recovered_in = time.monotonic() - last_kill
    deaths = horse_deaths(stack)
    out.notes.append(f"{kills} SIGKILL(s) sent to work-horses")
    retried = int(query_one(stack.database_url, "SELECT count(*) FROM outbox WHERE done_at IS NOT NULL "
                                                "AND (attempts > 0 OR last_error IS NOT NULL)"))
    out.notes.append(f"RQ saw {deaths} work-horse(s) die mid-job and retried those jobs; outbox rows done "
                     f"after a recorded failure: {retried}")
    if deaths == 0:
        out.failures.append("no work-horse was caught mid-job")
    check(stack, out, traffic, 0 if drained else 5)
    return out


def horse_deaths(stack: FaultStack) -> int:
    return sum(f.read_text(errors="replace").count("terminated unexpectedly") for f in stack.logs.glob("worker*.log"))


def fault_postgres_restart(stack: FaultStack, args: argparse.Namespace) -> Outcome:
    out = Outcome("postgres_restart")
    traffic = Traffic(stack.base, "pg")
    traffic.start(args.count * 4, args.seconds)  # refused tasks end early: keep traffic going after recovery
    traffic.wait_progress()
    stack.pg.stop("fast")
    time.sleep(args.down)
    stack.pg.start()
    up = time.monotonic()
    first_ok = wait_for_success(stack.base, 60, "pg-probe")
    out.recovered_in = first_ok if first_ok is not None else time.monotonic() - up
    if first_ok is None:
        out.failures.append("no intake succeeded within 60 s after PostgreSQL came back (gunicorn not restarted)")
    traffic.join(args.seconds + 120)
    res = traffic.result
    n503 = res.statuses().get(503, 0) if res else 0
    out.notes.append(f"503 answers while PostgreSQL was down: {n503} (all with Retry-After: "
                     f"{'yes' if not traffic.retry_after_missing else 'NO'})")
    stack.revive_workers()
    check(stack, out, traffic, args.drain)
    return out


def fault_media_unwritable(stack: FaultStack, args: argparse.Namespace) -> Outcome:
    out = Outcome("media_unwritable")
    media = stack.media
    before = int(query_one(stack.database_url, "SELECT count(*) FROM photos"))
    moved = media.with_name("media.saved")
    if os.geteuid() == 0:  # root writes through any permission: put a file where the directory was
        media.rename(moved)
        media.write_text("not a directory")
    else:
        media.chmod(0o555)
    statuses: dict[int, int] = {}
    bodies: list[str] = []
    try:
        client = loadgen.Client("127.0.0.1", stack.port, collect=False)
        auth = {"Authorization": "Bearer " + intake.id_token("media-fault")}
        for _ in range(args.media_attempts):
            body, ctype = intake.multipart(intake.photo_bytes(5))
            status, data, headers = client.request("POST", "/api/v1/media", {**auth, "Content-Type": ctype}, body)
            statuses[status] = statuses.get(status, 0) + 1
            if status != 201 and len(bodies) < 1:
                bodies.append(f"{status} {headers.get('content-type')} {data[:300].decode(errors='replace')}")
        stored = int(query_one(stack.database_url, "SELECT count(*) FROM photos")) - before
    finally:
        if os.geteuid() == 0:
            media.unlink()
            moved.rename(media)
        else:
            media.chmod(0o755)
    up = time.monotonic()
    first_ok = wait_for_success(stack.base, 30, "media-probe")
    out.recovered_in = first_ok if first_ok is not None else time.monotonic() - up
    out.half = stored  # photo rows written while the files could not be
    out.notes.append(f"uploads while unwritable: {statuses}; first refusal: {bodies[0] if bodies else '-'}")
    if statuses.get(201):
        out.failures.append(f"{statuses[201]} upload(s) acknowledged although the media directory was unwritable")
    if statuses.get(500):
        out.failures.append("unwritable media answered 500 (expected a clear problem, e.g. 503 with Retry-After)")
    if first_ok is None:
        out.failures.append("uploads did not recover after the directory came back")
    drained, _ = stack.drain(args.drain)
    if not drained:
        out.failures.append(f"outbox not drained: {stack.pending()}")
    return out


RUNNERS: dict[str, Callable[[FaultStack, argparse.Namespace], Outcome]] = {
    "redis_down": fault_redis_down, "worker_sigkill": fault_worker_sigkill,
    "postgres_restart": fault_postgres_restart, "media_unwritable": fault_media_unwritable,
}


def run_fault(name: str, args: argparse.Namespace) -> Outcome:
    started = time.monotonic()
    try:
        with FaultStack(workers=args.workers) as stack:
            out = RUNNERS[name](stack, args)
    except Exception as exc:  # noqa: BLE001 - reported as a failed fault
        out = Outcome(name, failures=[f"{type(exc).__name__}: {exc}"])
    out.notes.append(f"took {time.monotonic() - started:.0f} s")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="small counts (CI)")
    parser.add_argument("--only", default=",".join(FAULTS))
    parser.add_argument("--count", type=int, default=120, help="max intakes per fault")
    parser.add_argument("--seconds", type=float, default=45.0, help="max traffic time per fault")
    parser.add_argument("--down", type=float, default=5.0, help="seconds the broken piece stays down")
    parser.add_argument("--drain", type=float, default=600.0, help="max seconds to wait for the outbox")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--media-attempts", type=int, default=10)
    args = parser.parse_args(argv)
    harness.exit_on_sigterm()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the fake Google server's access log
    if args.short:
        args.count, args.seconds, args.down, args.kills, args.drain = 40, 20.0, 3.0, 2, 300.0
    reason = harness.postgres_unavailable()
    if reason:
        print(f"faults skipped: {reason}")
        return 0
    failed = 0
    for name in [n.strip() for n in args.only.split(",") if n.strip()]:
        out = run_fault(name, args)
        print(out.line(), flush=True)
        for note in out.notes:
            print(f"  {note}")
        for failure in out.failures:
            print(f"  FAILED: {failure}")
        if not out.ok:
            failed += 1
            if out.half:
                print(f"  FAILED: {out.half} half-written record(s)")
    print(f"faults: {'all passed' if not failed else f'{failed} failed'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
