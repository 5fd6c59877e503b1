"""Side-by-side measurement of DESIGN §14, shared by ``bench/intake.py`` and ``bench/webhook.py``.

Three apps under the same gunicorn settings at once: the bare hello (the stack's ceiling), the
reference doing the same durable work with the least Python (``bench/reference.py``) and ours.
After a warm-up they are measured in ``--rounds`` alternating rounds (hello, reference, ours), so a
busy machine slows all alike; each round gives one ratio ours/reference, quoted as min/median/max.
Then single-request latency: one connection, the reference and ours alternating in small batches.
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from bench import harness, loadgen

SIDES = ("hello", "reference", "ours")


def add_arguments(parser: argparse.ArgumentParser, *, max_requests: int, warmup: int, subject: str) -> None:
    """The options both benchmarks share (``subject``: what is measured)."""
    parser.add_argument("--seconds", type=float, default=15.0, help="measuring time per side, all rounds")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--processes", type=int, default=2, help="load-generator processes")
    parser.add_argument("--workers", type=int, default=harness.GUNICORN_WORKERS)
    parser.add_argument("--threads", type=int, default=harness.GUNICORN_THREADS)
    parser.add_argument("--max-requests", type=int, default=max_requests,
                        help=f"upper bound of measured {subject} requests per side")
    parser.add_argument("--warmup", type=int, default=warmup)
    parser.add_argument("--rounds", type=int, default=5, help="alternating hello/reference/ours rounds")
    parser.add_argument("--single", type=int, default=300, help="single-connection requests per side")
    parser.add_argument("--database-url", default=None, help="existing PostgreSQL (default: a private cluster)")


def merge(results: Sequence[loadgen.Result]) -> loadgen.Result:
    return loadgen.Result(tasks=sum(r.tasks for r in results), elapsed=sum(r.elapsed for r in results),
                          samples=[s for r in results for s in r.samples])


@dataclass
class Rounds:
    """Per-side results of every round, and of the single-connection run."""

    rounds: dict[str, list[loadgen.Result]] = field(default_factory=lambda: {s: [] for s in SIDES})
    single: dict[str, loadgen.Result] = field(default_factory=dict)

    def merged(self, side: str) -> loadgen.Result:
        return merge(self.rounds[side])

    def ratios(self, side: str = "ours", to: str = "reference") -> list[float]:
        return [a.rps() / b.rps() if b.rps() else 0.0 for a, b in zip(self.rounds[side], self.rounds[to],
                                                                       strict=True)]

    def spread(self, side: str = "ours", to: str = "reference") -> tuple[float, float, float]:
        """(min, median, max) of the per-round throughput ratio ``side`` / ``to``."""
        values = self.ratios(side, to) or [0.0]
        return min(values), statistics.median(values), max(values)


@contextmanager
def apps(stack: harness.Stack, args: argparse.Namespace) -> Iterator[dict[str, str]]:
    """Serve hello, the reference and ours with the same gunicorn settings; yields their base URLs."""
    procs = []
    try:
        bases = {}
        for side, target in (("hello", "bench.hello:app"), ("reference", "bench.reference:app")):
            proc, port = harness.gunicorn(target, stack.env, workers=args.workers, threads=args.threads,
                                          ready_path="/healthz", log=stack.logs / f"{side}.log")
            procs.append(proc)
            bases[side] = f"http://127.0.0.1:{port}"
        stack.start_app(workers=args.workers, threads=args.threads)
        bases["ours"] = stack.base
        yield bases
    finally:
        stack.stop_app()
        for proc in procs:
            harness.stop_process(proc)


def alternate(bases: dict[str, str], warm: dict[str, list[loadgen.Req]], measured: dict[str, list[loadgen.Req]],
              args: argparse.Namespace) -> Rounds:
    """Warm every side, then ``args.rounds`` alternating rounds of ``args.seconds / rounds`` each."""
    for side in SIDES:
        loadgen.run(bases[side], loadgen.requests_task(warm[side]), len(warm[side]), seconds=30,
                    connections=args.connections)
    rounds = max(1, args.rounds)
    per_round = args.seconds / rounds
    out = Rounds()
    for k in range(rounds):
        for side in SIDES:
            reqs = measured[side]
            chunk = len(reqs) // rounds
            part = reqs[k * chunk:(k + 1) * chunk]
            out.rounds[side].append(loadgen.run(bases[side], loadgen.requests_task(part), len(part),
                                                seconds=per_round, connections=args.connections,
                                                processes=args.processes, collect=side != "hello"))
    return out


def single(bases: dict[str, str], measured: dict[str, list[loadgen.Req]], out: Rounds, batch: int = 25) -> None:
    """Single-request latency: one connection, reference and ours alternating in batches of ``batch``."""
    got: dict[str, list[loadgen.Result]] = {"reference": [], "ours": []}
    n = min(len(measured["reference"]), len(measured["ours"]))
    for start in range(0, n, batch):
        for side in got:
            part = measured[side][start:start + batch]
            got[side].append(loadgen.run(bases[side], loadgen.requests_task(part), len(part), seconds=60,
                                         connections=1, collect=True))
    out.single = {side: merge(results) for side, results in got.items()}


def header(args: argparse.Namespace) -> str:
    return (f"gunicorn gthread workers={args.workers} threads={args.threads}, {args.connections} connections, "
            f"{args.rounds} alternating rounds of <= {args.seconds / max(1, args.rounds):.1f} s per side, "
            "postgresql + redis")


def report_lines(name: str, res: Rounds) -> list[str]:
    """Human-readable lines plus the machine-readable ``RESULT`` figures (parsed by ``bench/run.py``)."""
    ours, ref, hello = res.merged("ours"), res.merged("reference"), res.merged("hello")
    lo, med, hi = res.spread()
    hlo, hmed, hhi = res.spread("ours", "hello")
    lines = [f"hello     : {hello.summary()}", f"reference : {ref.summary()}", f"{name:<10}: {ours.summary()}",
             "per-round ratio ours/reference: " + " ".join(f"{r:.2f}" for r in res.ratios()),
             f"ratio ours/reference: min {lo:.2f} median {med:.2f} max {hi:.2f}",
             f"ratio ours/hello (the stack's ceiling): min {hlo:.3f} median {hmed:.3f} max {hhi:.3f}"]
    figures = {f"{name}_ref_ratio": med, f"{name}_ref_ratio_min": lo, f"{name}_ref_ratio_max": hi,
               f"{name}_hello_ratio": hmed, f"{name}_rps": ours.rps(), f"{name}_ref_rps": ref.rps(),
               f"{name}_p99_ms": ours.pct(0.99), f"{name}_ref_p99_ms": ref.pct(0.99),
               f"{name}_p99_vs_ref": ours.pct(0.99) / ref.pct(0.99) if ref.pct(0.99) else 0.0}
    if res.single:
        s_ours, s_ref = res.single["ours"], res.single["reference"]
        lines += [f"single request, reference: p50 {s_ref.pct(0.5):.1f} ms p99 {s_ref.pct(0.99):.1f} ms "
                  f"({len(s_ref.samples)} requests)",
                  f"single request, {name}: p50 {s_ours.pct(0.5):.1f} ms p99 {s_ours.pct(0.99):.1f} ms "
                  f"({len(s_ours.samples)} requests)"]
        figures.update({f"{name}_single_p50_ms": s_ours.pct(0.5), f"{name}_single_p99_ms": s_ours.pct(0.99),
                        f"{name}_ref_single_p50_ms": s_ref.pct(0.5), f"{name}_ref_single_p99_ms": s_ref.pct(0.99),
                        f"{name}_single_p50_vs_ref": s_ours.pct(0.5) / s_ref.pct(0.5) if s_ref.pct(0.5) else 0.0})
    lines.append("RESULT " + " ".join(f"{k}={v:.3f}" for k, v in figures.items()))
    return lines


def load_line() -> str:
    return f"load average: {os.getloadavg()[0]:.1f} (other processes share the CPUs: ratios of alternating " \
           "rounds are meaningful, absolute figures less so)"
