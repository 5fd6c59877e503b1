"""Side-by-side throughput against the bare hello app (the ratios of DESIGN §14), shared by
``bench/intake.py`` and ``bench/webhook.py``.

Both apps run under the same gunicorn settings at once; after a warm-up they are measured in
alternating rounds, so a busy machine slows both alike.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from bench import harness, loadgen


def add_arguments(parser: argparse.ArgumentParser, *, max_requests: int, warmup: int, subject: str) -> None:
    """The options both benchmarks share (``subject``: what is measured against hello)."""
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--processes", type=int, default=2, help="load-generator processes")
    parser.add_argument("--workers", type=int, default=harness.GUNICORN_WORKERS)
    parser.add_argument("--threads", type=int, default=harness.GUNICORN_THREADS)
    parser.add_argument("--max-requests", type=int, default=max_requests,
                        help=f"upper bound of measured {subject} requests")
    parser.add_argument("--warmup", type=int, default=warmup)
    parser.add_argument("--rounds", type=int, default=3, help=f"alternating hello/{subject} rounds")
    parser.add_argument("--database-url", default=None, help="existing PostgreSQL (default: a private cluster)")


def merge(results: Sequence[loadgen.Result]) -> loadgen.Result:
    return loadgen.Result(tasks=sum(r.tasks for r in results), elapsed=sum(r.elapsed for r in results),
                          samples=[s for r in results for s in r.samples])


@contextmanager
def apps(stack: harness.Stack, args: argparse.Namespace) -> Iterator[str]:
    """Serve the bare hello app and ours with the same gunicorn settings; yields hello's base URL."""
    hello_proc, hello_port = harness.gunicorn("bench.hello:app", stack.env, workers=args.workers,
                                              threads=args.threads, ready_path="/healthz")
    try:
        stack.start_app(workers=args.workers, threads=args.threads)
        yield f"http://127.0.0.1:{hello_port}"
    finally:
        stack.stop_app()
        harness.stop_process(hello_proc)


def alternate(hello_base: str, hello: list[loadgen.Req], base: str, warm: list[loadgen.Req],
              measured: list[loadgen.Req], args: argparse.Namespace) -> tuple[loadgen.Result, loadgen.Result]:
    """Warm both apps, then measure them in ``args.rounds`` alternating rounds; (hello, ours)."""
    loadgen.run(hello_base, loadgen.requests_task(hello), 500, seconds=2, connections=args.connections)
    loadgen.run(base, loadgen.requests_task(warm), len(warm), seconds=30, connections=args.connections)
    rounds = max(1, args.rounds)
    per_round, chunk = args.seconds / rounds, len(measured) // rounds
    hello_res, ours = [], []
    for k in range(rounds):
        hello_res.append(loadgen.run(hello_base, loadgen.requests_task(hello), len(hello), seconds=per_round,
                                     connections=args.connections, processes=args.processes))
        part = measured[k * chunk:(k + 1) * chunk]
        ours.append(loadgen.run(base, loadgen.requests_task(part), len(part), seconds=per_round,
                                connections=args.connections, processes=args.processes, collect=True))
    return merge(hello_res), merge(ours)


def header(args: argparse.Namespace) -> str:
    return (f"gunicorn gthread workers={args.workers} threads={args.threads}, {args.connections} connections, "
            f"<= {args.seconds:.0f} s or {args.max_requests} requests, postgresql + redis")


def load_line() -> str:
    return f"load average: {os.getloadavg()[0]:.1f} (other processes share the CPUs)"
