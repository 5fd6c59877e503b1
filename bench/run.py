"""``make bench``: run every benchmark that exists and write ``bench/RESULTS.md``.

    python -m bench.run [--reports 1000000] [--only intake,webhook,...] [--big-database-url URL]

One private PostgreSQL cluster and one private Redis (``bench/harness.py``) serve every benchmark
of the run; the 1,000,000-report database for the queue, KPI and nearby figures is generated with
``bench/generate.py`` (COPY) unless ``--big-database-url`` points to one already generated.
Each benchmark script's output is kept verbatim (plans and indexes included); the figures DESIGN
§14 budgets are parsed from it into one table: figure, measured, budget, ratio to the budget, verdict.
The hand-written part of an existing RESULTS.md ("Gaps and plans" up to "Raw output") is kept.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
GAPS_HEADING = "## Gaps and plans"
RAW_HEADING = "## Raw output"


@dataclass
class Figure:
    label: str
    pattern: str
    budget: float
    unit: str
    higher_is_better: bool = False

    def parse(self, output: str) -> float | None:
        m = re.search(self.pattern, output, re.MULTILINE)
        return float(m.group(1)) if m else None

    def verdict(self, value: float | None) -> tuple[str, str]:
        if value is None:
            return "–", "not measured"
        if self.budget == 0:
            return "–", "OK" if value == 0 else "**OVER**"
        ratio = value / self.budget if self.budget else 0.0
        ok = value >= self.budget if self.higher_is_better else value <= self.budget
        return f"{ratio:.2f}", "OK" if ok else "**OVER**"

    def budget_text(self) -> str:
        if self.budget == 0:
            return "= 0"
        return f"{'≥' if self.higher_is_better else '≤'} {self.budget:g}{self.unit}"


@dataclass
class Bench:
    name: str
    script: str
    args: Callable[[argparse.Namespace, dict[str, str]], list[str]]
    figures: list[Figure]
    needs_big: bool = False
    output: str = ""
    seconds: float = 0.0
    status: str = "not run"
    values: dict[str, float | None] = field(default_factory=dict)


def _py(script: str) -> list[str]:
    """``python -m bench.x``: the repository root first on sys.path."""
    return [sys.executable, "-m", script.removesuffix(".py").replace("/", ".")]


BENCHES = [
    Bench("intake", "bench/intake.py",
          lambda a, u: ["--database-url", u["pg"], "--seconds", str(a.seconds), "--rounds", str(a.rounds)],
          [Figure("Intake throughput / reference, median of rounds (16 connections)",
                  r"intake_ref_ratio=([\d.]+)", 0.50, "", True),
           Figure("Intake p99 / reference p99 (16 connections)", r"intake_p99_vs_ref=([\d.]+)", 2, "×"),
           Figure("Intake single-request p50 / reference", r"intake_single_p50_vs_ref=([\d.]+)", 2, "×"),
           Figure("Accepted reports missing from the database", r"intake_missing=(\d+)", 0, "")]),
    Bench("webhook", "bench/webhook.py",
          lambda a, u: ["--database-url", u["pg"], "--seconds", str(a.seconds), "--rounds", str(a.rounds)],
          [Figure("Zalo webhook throughput / reference, median of rounds (16 connections)",
                  r"webhook_ref_ratio=([\d.]+)", 0.80, "", True),
           Figure("Zalo events answered 200 missing from the database", r"webhook_missing=(\d+)", 0, "")]),
    Bench("queue", "bench/queue_page.py", lambda a, u: ["--database-url", u["big"]],
          [Figure("Unit queue page p95 in the database (1M reports)",
                  r"busiest unit \(unit[^\n]*\n[^\n]*in database\s+p50\s+[\d.]+ ms\s+p95\s+([\d.]+) ms",
                  15, " ms")], needs_big=True),
    Bench("kpis", "bench/kpis.py", lambda a, u: ["--database-url", u["big"]],
          [Figure("Monthly KPIs of one unit, median (1M reports)",
                  r"last full month \S+, busiest unit .*?median\s+([\d.]+) ms", 200, " ms")], needs_big=True),
    Bench("nearby", "bench/nearby.py", lambda a, u: ["--database-url", u["big"]],
          [Figure("Nearby-duplicate lookup (1M reports)", r"(?i)nearby.*?p95\s*[=:]?\s*([\d.]+)\s*ms", 10, " ms")],
          needs_big=True),
    Bench("public", "bench/public_page.py", lambda a, u: ["--database-url", u["big"]],
          [Figure("City public page / and /map.json, worst p95 (1M reports)", r"worst p95 ([\d.]+) ms", 20, " ms")],
          needs_big=True),
    Bench("routing", "bench/routing.py", lambda a, u: [],
          [Figure("Routing a point among 3,500 wards (STRtree, median)",
                  r"STRtree lookup \(in memory\)\s+median ([\d.]+) ms", 0.5, " ms"),
           Figure("route() end to end on PostgreSQL (median)", r"route\(\) on \w+\s+median ([\d.]+) ms", 0.5,
                  " ms")]),
    Bench("photos", "bench/photos.py", lambda a, u: [],
          [Figure("Photo pipeline time / naive Pillow (12 MP)", r"ratio ours/naive \(wall\): ([\d.]+)", 0.40, ""),
           Figure("Worker peak RSS running the pipeline",
                  r"peak RSS, worker process running our pipeline: ([\d.]+) MB", 200, " MB")]),
]


def nearby_builtin(url: str, lookups: int = 300) -> str:
    """Used while no bench/nearby.py exists: ``queries.nearby_open`` (the duplicate check of intake)
    at points next to real reports of the big database; p50/p95 and the plan of the candidate query."""
    import random
    import statistics

    from sqlalchemy import text

    from backend.db import Database
    from backend.services.reports import lookup as queries

    db = Database(url)
    out = []
    with db.session() as session:
        points = session.execute(text("SELECT lat, lon, category_id FROM reports TABLESAMPLE SYSTEM (1) "
                                      "WHERE lat IS NOT NULL LIMIT :n"), {"n": lookups}).all()
        rnd = random.Random(5)
        for lat, lon, _ in points[:20]:
            queries.nearby_open(session, lat=lat, lon=lon)
        times, found = [], 0
        for lat, lon, category_id in points:
            lat, lon = lat + rnd.uniform(-0.0005, 0.0005), lon + rnd.uniform(-0.0005, 0.0005)
            started = time.perf_counter()
            hits = queries.nearby_open(session, lat=lat, lon=lon, radius_m=150,
                                       category_id=category_id if rnd.random() < 0.5 else None)
            times.append((time.perf_counter() - started) * 1000)
            found += bool(hits)
        times.sort()
        p95 = times[max(0, round(0.95 * len(times)) - 1)]
        total = session.execute(text("SELECT count(*) FROM reports")).scalar()
        out.append(f"nearby-duplicate lookup (queries.nearby_open, 150 m, half with a category), {total:,} reports, "
                   f"{len(times)} lookups near real reports ({found} with hits): p50 {statistics.median(times):.2f} ms "
                   f"p95 {p95:.2f} ms max {times[-1]:.2f} ms")
        lat, lon = points[0][0], points[0][1]
        plan = session.execute(text(
            "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT id, lat, lon FROM reports WHERE lat BETWEEN :a AND :b "
            "AND lon BETWEEN :c AND :d AND status IN ('received','triage','assigned','acknowledged','in_progress',"
            "'on_hold','reopened') AND duplicate_of_id IS NULL LIMIT 5000"),
            {"a": lat - 0.00135, "b": lat + 0.00135, "c": lon - 0.00137, "d": lon + 0.00137}).scalars().all()
        out.append("plan of the candidate query:\n  " + "\n  ".join(plan))
    db.dispose()
    return "\n".join(out)


def run_bench(b: Bench, args: argparse.Namespace, urls: dict[str, str]) -> None:
    path = ROOT / b.script
    if b.name == "nearby" and not path.exists() and urls.get("big"):
        started = time.monotonic()
        try:
            b.output = "(built-in measurement of bench/run.py: bench/nearby.py does not exist)\n" + \
                nearby_builtin(urls["big"])
            b.status = "ran"
        except Exception as exc:  # noqa: BLE001 - reported in RESULTS.md
            b.output, b.status = f"{type(exc).__name__}: {exc}", "failed"
        b.seconds = time.monotonic() - started
        for f in b.figures:
            b.values[f.label] = f.parse(b.output)
        print(b.output, flush=True)
        return
    if not path.exists():
        b.status = f"not run: {b.script} does not exist yet"
        return
    if b.needs_big and not urls.get("big"):
        b.status = "not run: no 1M-report database (generator missing or failed)"
        return
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_DATABASE_URL": urls["pg"], "BENCH_REDIS_URL": urls["redis"]}
    cmd = _py(b.script) + b.args(args, urls)
    print(f"== {b.name}: {' '.join(cmd[1:])}", flush=True)
    started = time.monotonic()
    try:
        res = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=args.timeout)
        b.output = (res.stdout + ("\n" + res.stderr[-3000:] if res.returncode not in (0, 1) else "")).strip()
        b.status = "ran" if res.returncode in (0, 1) else f"failed (exit {res.returncode})"
    except subprocess.TimeoutExpired as exc:
        b.output = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        b.status = f"timed out after {args.timeout} s"
    b.seconds = time.monotonic() - started
    for f in b.figures:
        b.values[f.label] = f.parse(b.output)
    print(b.output[-1500:], flush=True)


def generate_big(pg: harness.PrivatePostgres, reports: int, timeout: float) -> tuple[str | None, str]:
    script = ROOT / "bench" / "generate.py"
    if not script.exists():
        return None, "bench/generate.py does not exist"
    url = pg.create_database("bench_big")
    started = time.monotonic()
    res = subprocess.run([*_py("bench/generate.py"), "--reports", str(reports), "--database-url", url],
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, capture_output=True, text=True,
                         timeout=timeout, check=False)
    note = f"generate.py --reports {reports}: exit {res.returncode} in {time.monotonic() - started:.0f} s; " \
           f"{res.stdout.strip().splitlines()[-1] if res.stdout.strip() else res.stderr[-500:]}"
    return (url if res.returncode == 0 else None), note


def render(benches: list[Bench], machine: dict[str, str], notes: list[str], started: datetime,
           load: tuple[float, float], tail: str = "") -> str:
    lines = ["# Benchmark results", "",
             f"Run of `make bench` ({started:%Y-%m-%d %H:%M} UTC). Budgets: DESIGN §14. Ratio = measured / budget "
             "(for throughput ratios ≥ 1 is good, for times ≤ 1 is good).", "",
             "| Figure | Measured | Budget | Ratio | Verdict |", "|---|---|---|---|---|"]
    for b in benches:
        for f in b.figures:
            value = b.values.get(f.label)
            ratio, verdict = f.verdict(value)
            measured = f"{value:g}{f.unit}" if value is not None else f"– ({b.status})" if b.status != "ran" else "–"
            lines.append(f"| {f.label} | {measured} | {f.budget_text()} | {ratio} | {verdict} |")
    lines += ["", "## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in machine.items()]
    lines += [f"- load average (1 min) at start / end of the run: {load[0]:.1f} / {load[1]:.1f} "
              "(other processes shared the CPUs: absolute figures are noisy, ratios are measured side by side)",
              f"- gunicorn: gthread, workers={harness.GUNICORN_WORKERS}, threads={harness.GUNICORN_THREADS} "
              "(same settings for the bare hello app and ours)",
              "- PostgreSQL and Redis: private instances on 127.0.0.1 started by `bench/harness.py`", ""]
    if notes:
        lines += ["## Notes of this run", ""] + [f"- {n}" for n in notes] + [""]
    if tail:
        lines += [tail.rstrip(), ""]
    lines += [RAW_HEADING, ""]
    for b in benches:
        lines += [f"### {b.name} ({b.status}{f', {b.seconds:.0f} s' if b.seconds else ''})", ""]
        if b.output:
            lines += ["```", b.output.strip(), "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def kept_gaps() -> str:
    if not RESULTS.exists():
        return ""
    text = RESULTS.read_text()
    i = text.find(GAPS_HEADING)
    if i < 0:
        return ""
    j = text.find("\n" + RAW_HEADING, i)
    return text[i: j if j > 0 else len(text)].rstrip() + "\n"  # hand-written: gaps, load and fault figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(b.name for b in BENCHES))
    parser.add_argument("--reports", type=int, default=1_000_000, help="size of the generated database")
    parser.add_argument("--big-database-url", default=None, help="an already generated database")
    parser.add_argument("--seconds", type=float, default=15.0, help="measuring time of throughput benchmarks")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of the side-by-side benchmarks")
    parser.add_argument("--timeout", type=float, default=1800.0, help="per benchmark")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)
    harness.exit_on_sigterm()
    only = {n.strip() for n in args.only.split(",")}
    started = datetime.now(UTC)
    load_start = os.getloadavg()[0]
    notes: list[str] = []
    reason = harness.postgres_unavailable()
    if reason:
        print(f"bench: {reason}", file=sys.stderr)
        return 2
    pg = harness.PrivatePostgres().start()
    redis = harness.PrivateRedis().start()
    benches = [b for b in BENCHES if b.name in only]
    try:
        urls = {"pg": pg.url(), "redis": redis.url(0)}
        if any(b.needs_big and (ROOT / b.script).exists() for b in benches):
            if args.big_database_url:
                urls["big"] = args.big_database_url
            else:
                big, note = generate_big(pg, args.reports, args.timeout * 2)
                notes.append(note)
                if big:
                    urls["big"] = big
        for b in benches:
            run_bench(b, args, urls)
    finally:
        redis.cleanup()
        pg.cleanup()
    text = render(benches, harness.machine(), notes, started, (load_start, os.getloadavg()[0]), kept_gaps())
    Path(args.output).write_text(text)
    print(f"wrote {args.output}")
    over = [f.label for b in benches for f in b.figures if f.verdict(b.values.get(f.label))[1] == "**OVER**"]
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
