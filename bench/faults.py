"""Fault tests (``make faults``): break one piece of a real deployment under load, check nothing is lost.

    python -m bench.faults [--short] [--only NAME,...]   (names: FAULTS below)

Each fault runs on its own stack (private PostgreSQL cluster + private Redis + gunicorn + 2 RQ
workers, all on 127.0.0.1, see ``bench/harness.py``) and a fake Google (FCM) server that records
every push. Traffic: residents register a device, upload a photo and send a report with it. After
the fault the outbox relay runs (as the cron would) and we wait, bounded, until every job is done.
Checks: every report answered 201 is in the database (``lost``), no report without its created
event and photo (``half``), no push sent twice (``duplicated``), every outbox job done. Prints
``FAULT name: lost=0 duplicated=0 recovered_in=Ns`` per fault; exit status 1 if any check fails.

- ``redis_down``: Redis shut down (SHUTDOWN SAVE, as a restart would) during load, started again.
- ``redis_data_lost``: Redis loses its data during load (``FLUSHALL``: what a crash and restart without
  persistence does): queued jobs and RQ registries vanish; the relay re-dispatches the outbox rows whose
  job Redis no longer holds (after ``relay.LOST_AFTER_S``), each job still runs once.
- ``worker_sigkill``: RQ work-horses killed with SIGKILL in the middle of jobs (photo processing).
- ``postgres_restart``: PostgreSQL restarted (``pg_ctl -m fast``) during load: 503 + Retry-After
  while it is down, recovery without restarting gunicorn (dead pooled connections dropped at checkout).
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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bench import harness, intake, loadgen  # noqa: E402
from bench.fault_stack import FaultStack, Traffic, query_one, wait_for_success  # noqa: E402

FAULTS = ("redis_down", "redis_data_lost", "worker_sigkill", "postgres_restart", "media_unwritable")


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


def fault_redis_data_lost(stack: FaultStack, args: argparse.Namespace) -> Outcome:
    out = Outcome("redis_data_lost")
    traffic = Traffic(stack.base, "redis-lost")
    traffic.start(args.count, args.seconds)
    traffic.wait_progress()
    in_flight = int(query_one(stack.database_url, "SELECT count(*) FROM outbox WHERE dispatched_at IS NOT NULL "
                                                  "AND done_at IS NULL"))
    keys = stack.redis_flush()
    lost_at = time.monotonic()
    out.notes.append(f"Redis lost {keys} key(s) with {in_flight} dispatched job(s) not yet done")
    traffic.join(args.seconds + 120)
    check(stack, out, traffic, args.drain)
    out.recovered_in = time.monotonic() - lost_at
    redispatched = int(query_one(stack.database_url, "SELECT count(*) FROM outbox WHERE attempts > 0"))
    out.notes.append(f"outbox rows re-dispatched or retried: {redispatched}; every job done "
                     f"{out.recovered_in:.0f} s after the loss")
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
    "redis_down": fault_redis_down, "redis_data_lost": fault_redis_data_lost,
    "worker_sigkill": fault_worker_sigkill,
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
