"""Public report page benchmark (DESIGN §14): ``/r/<code>`` ≤ 20 ms p95 server time at 1,000,000
reports, and its page weight (< 250 KB before photos and map tiles).

    python bench/generate.py --reports 1000000 --database-url postgresql://postgres@127.0.0.1/bench
    python bench/report_page.py --database-url postgresql://postgres@127.0.0.1/bench

Measures ``GET /r/<code>`` through the Flask app (the code lookup, the public model: category, unit,
ward, photos, public timeline, deadline in working days; Jinja rendering) for codes drawn at random over
the whole history (a cold spread, not one hot row), with the time spent in the database driver
alongside; the JSON feed too. Page weight: the HTML plus every same-origin stylesheet and script it
loads (Leaflet included), without photos and tiles. Read-only: nothing is written.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from backend.db import Database

from bench.queue_page import DbClock, p95

BUDGET_MS = 20.0
WEIGHT_BUDGET = 250 * 1024
ASSET = re.compile(r'(?:href|src)="(/static/[^"]+\.(?:css|js))"')


def line(label: str, values: list[float]) -> float:
    q = p95(values)
    print(f"  {label:<48} p50 {statistics.median(values):7.2f} ms   p95 {q:7.2f} ms")
    return q


def codes(db: Database, n: int, seed: int) -> list[str]:
    """``n`` codes spread over the whole table (random ids, not the newest rows)."""
    with db.engine.connect() as conn:
        low, high = conn.execute(text("SELECT min(id), max(id) FROM reports")).one()
        rng = random.Random(seed)
        ids = [rng.randint(low, high) for _ in range(n * 2)]
        rows = conn.execute(text("SELECT code FROM reports WHERE id = ANY(:ids)"), {"ids": ids}).scalars().all()
    return list(rows)[:n]


def weight(client: object, code: str) -> None:
    page = client.get(f"/r/{code}")  # type: ignore[attr-defined]
    html = page.get_data()
    assets = sorted(set(ASSET.findall(html.decode())))
    sizes = {path: len(client.get(path).get_data()) for path in assets}  # type: ignore[attr-defined]
    total = len(html) + sum(sizes.values())
    print(f"page weight of /r/<code> before photos and tiles: {total / 1024:.1f} KB "
          f"(HTML {len(html) / 1024:.1f} KB + {len(assets)} assets: "
          + ", ".join(f"{p.rsplit('/', 1)[1]} {s / 1024:.1f} KB" for p, s in sizes.items())
          + f") — budget {WEIGHT_BUDGET // 1024} KB: {'met' if total < WEIGHT_BUDGET else 'NOT met'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args(argv)

    from backend.app import create_app
    from backend.config import Settings
    from backend.runners import ThreadRunner

    db = Database(args.database_url)
    clock = DbClock(db.engine)
    settings = Settings(phananh_env="development", database_url=args.database_url, secret_key="bench-" + "x" * 40,
                        redis_url=None, ratelimit_enabled=False)
    app = create_app(settings, database=db, runner=ThreadRunner())
    client = app.test_client()
    with db.engine.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM reports")).scalar()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    started = time.perf_counter()
    sum(range(1_000_000))
    print(f"reports: {total:,}; load average (1 min): {load:.1f}; a 1e6-step Python loop "
          f"{(time.perf_counter() - started) * 1000:.1f} ms")
    sample = codes(db, args.repeat, args.seed)
    for code in sample[:5]:
        assert client.get(f"/r/{code}").status_code == 200, code  # warm-up, and every code answers
    for label, path in (("GET /r/<code>", "/r/{}"), ("GET /r/<code>.json", "/r/{}.json")):
        total_ms, db_ms = [], []
        cpu_ms: list[float] = []
        for code in sample:
            clock.spent = 0.0
            started, cpu = time.perf_counter(), time.thread_time()
            resp = client.get(path.format(code))
            total_ms.append((time.perf_counter() - started) * 1000)
            cpu_ms.append((time.thread_time() - cpu) * 1000)
            db_ms.append(clock.spent * 1000)
            assert resp.status_code == 200, (code, resp.status_code)
        p95 = line(f"{label} server time", total_ms)
        line(f"{label}   of which in the database", db_ms)
        line(f"{label}   CPU time of the app (less load-bound)", cpu_ms)
        if label == "GET /r/<code>":
            print(f"budget {BUDGET_MS:.0f} ms p95: {'met' if p95 <= BUDGET_MS else 'NOT met'}")
    weight(client, sample[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
