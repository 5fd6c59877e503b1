"""Bounded HTTP load: N connections (threads, optionally in several processes) with keep-alive.

Every run is limited by a request count AND a time limit, whichever comes first. A *task* is one
unit of work of one connection: ``task(i, client)`` makes one or more requests through
``client.request(...)``, each recorded with its label, status and latency. ``requests_task`` turns
a prepared list of requests into tasks. The client is plain ``http.client`` (cheap on the CPU the
servers share with it), so figures compare apps, not HTTP libraries.

Result: ``rps`` (tasks answered with an accepted status per second), p50/p99 latency (ms), errors
by status; ``collected`` keeps (tag, status, body) of responses when asked (to verify later).
"""

from __future__ import annotations

import http.client
import multiprocessing as mp
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

ACCEPTED = frozenset({200, 201, 202, 204, 302, 303, 304})


@dataclass
class Req:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    tag: Any = None
    label: str = ""


@dataclass
class Sample:
    label: str
    status: int  # -1: connection error
    ms: float
    tag: Any = None
    body: bytes | None = None


class Client:
    """One keep-alive connection; reconnects after an error. Records every request as a Sample."""

    def __init__(self, host: str, port: int, collect: bool, timeout: float = 30.0) -> None:
        self.host, self.port, self.collect, self.timeout = host, port, collect, timeout
        self.conn: http.client.HTTPConnection | None = None
        self.samples: list[Sample] = []

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None,
                *, label: str = "", tag: Any = None) -> tuple[int, bytes, dict[str, str]]:
        started = time.perf_counter()
        status, data, resp_headers = -1, b"", {}
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self.conn.request(method, path, body=body, headers=headers or {})
            resp = self.conn.getresponse()
            data = resp.read()
            status, resp_headers = resp.status, {k.lower(): v for k, v in resp.getheaders()}
            if resp.getheader("Connection", "").lower() == "close":
                self.close()
        except (OSError, http.client.HTTPException):
            self.close()
        ms = (time.perf_counter() - started) * 1000
        keep = self.collect and status != -1
        self.samples.append(Sample(label or method, status, ms, tag, data if keep else None))
        return status, data, resp_headers

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


Task = Callable[[int, Client], Any]


def requests_task(reqs: Sequence[Req]) -> Task:
    def task(i: int, client: Client) -> None:
        r = reqs[i]
        client.request(r.method, r.path, r.headers, r.body, label=r.label or r.method, tag=r.tag)

    return task


@dataclass
class Result:
    tasks: int
    elapsed: float
    samples: list[Sample]

    def of(self, label: str | None = None) -> list[Sample]:
        return [s for s in self.samples if label is None or s.label == label]

    def ok(self, label: str | None = None) -> int:
        return sum(1 for s in self.of(label) if s.status in ACCEPTED)

    def errors(self, label: str | None = None) -> int:
        return sum(1 for s in self.of(label) if s.status not in ACCEPTED)

    def statuses(self, label: str | None = None) -> dict[int, int]:
        out: dict[int, int] = {}
        for s in self.of(label):
            out[s.status] = out.get(s.status, 0) + 1
        return dict(sorted(out.items()))

    def rps(self, label: str | None = None) -> float:
        return self.ok(label) / self.elapsed if self.elapsed else 0.0

    def pct(self, q: float, label: str | None = None) -> float:
        ms = sorted(s.ms for s in self.of(label))
        if not ms:
            return 0.0
        return ms[min(len(ms) - 1, max(0, round(q * len(ms)) - 1))]

    def summary(self, label: str | None = None) -> str:
        return (f"{self.rps(label):8.1f} req/s  p50 {self.pct(0.50, label):6.1f} ms  "
                f"p99 {self.pct(0.99, label):6.1f} ms  ok={self.ok(label)} errors={self.errors(label)} "
                f"statuses={self.statuses(label)}")


def _run_threads(host: str, port: int, task: Task, indexes: Sequence[int], connections: int, deadline: float,
                 collect: bool) -> list[Sample]:
    lock = threading.Lock()
    cursor = [0]
    samples: list[Sample] = []

    def loop() -> None:
        client = Client(host, port, collect)
        while time.monotonic() < deadline:
            with lock:
                if cursor[0] >= len(indexes):
                    break
                i = indexes[cursor[0]]
                cursor[0] += 1
            task(i, client)
        client.close()
        with lock:
            samples.extend(client.samples)

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()) + 60)
    return samples


def _child(q: Any, *args: Any) -> None:
    q.put(_run_threads(*args))


def run(base: str, task: Task, count: int, *, seconds: float, connections: int = 16, processes: int = 1,
        collect: bool = False) -> Result:
    """Run at most ``count`` tasks for at most ``seconds`` over ``connections`` connections."""
    host, _, port = base.removeprefix("http://").rstrip("/").partition(":")
    deadline = time.monotonic() + seconds
    started = time.monotonic()
    processes = max(1, min(processes, connections))
    if processes == 1:
        samples = _run_threads(host, int(port), task, range(count), connections, deadline, collect)
    else:
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        per = [connections // processes + (1 if k < connections % processes else 0) for k in range(processes)]
        procs = [ctx.Process(target=_child, args=(q, host, int(port), task, range(k, count, processes), per[k],
                                                  deadline, collect), daemon=True) for k in range(processes)]
        for p in procs:
            p.start()
        samples = []
        for _ in procs:
            samples.extend(q.get(timeout=seconds + 120))
        for p in procs:
            p.join(10)
    elapsed = time.monotonic() - started
    return Result(tasks=count, elapsed=elapsed, samples=samples)
