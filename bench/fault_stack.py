"""The fault-test environment: a deployment stack with a fake FCM server and outbox helpers, and the
resident traffic (device, photo upload, report) that runs while a piece is broken (``bench/faults.py``).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench import harness, intake, loadgen

# --------------------------------------------------------------------------- environment


class FaultStack(harness.Stack):
    """A Stack with a fake FCM server, Redis that persists on SHUTDOWN SAVE, and a relay helper."""

    def __init__(self, workers: int = 2, extra_env: dict[str, str] | None = None, *, split: bool = False) -> None:
        super().__init__()
        self.n_workers, self.split = workers, split
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
        self.start_workers(self.n_workers, split=self.split)

    def close(self) -> None:
        super().close()
        if self.google is not None:
            self.google.stop()

    # Redis -----------------------------------------------------------------
    def redis_stop(self) -> None:
        self.redis.shutdown_save()

    def redis_start(self) -> None:
        self.redis.start()

    def redis_flush(self) -> int:
        """Drop every key (queued jobs, registries, counters) as a restart without persistence does."""
        from redis import Redis

        conn = Redis.from_url(self.redis.url(0))
        try:
            keys = int(conn.dbsize())
            conn.flushall()
            return keys
        finally:
            conn.close()

    # workers ---------------------------------------------------------------
    def revive_workers(self) -> int:
        """Restart worker processes that exited (what systemd's Restart=always does), each with its own
        queues and mode. Returns how many."""
        dead = [p for p in self.workers if p.poll() is not None]
        for p in dead:
            self.workers.remove(p)
            queues, simple = getattr(p, "phananh_spec", ((), False))
            self.start_worker(queues=queues, simple=simple)
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
        from backend import relay

        try:
            return relay.relay_outbox(self.runtime(), min_age_s=0)
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
