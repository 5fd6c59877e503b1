"""KPI benchmark (DESIGN §14): one unit's monthly KPIs at 1,000,000 reports in ≤ 200 ms.

    python bench/generate.py --reports 1000000 --database-url postgresql://postgres@127.0.0.1/bench
    python bench/kpis.py --database-url postgresql://postgres@127.0.0.1/bench

Measures the one KPI call every screen makes, ``services.deadlines.figures`` (issue 16: the stats API, the
dashboard cards, the unit ranking, the monthly table, ``kpis.csv``), end to end (SQL + event replay +
working-time arithmetic), for the busiest unit, a median unit and the IOC, for the last full month and two
older ones (about 5 months and 4.5 years back: the cost must not grow with a month's age); also the running
month as of now (the dashboard's default), and with ``--city`` the public monthly ranking and the city-wide
month. Prints the plans of the candidate queries and the indexes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

# run as a script: the repository root replaces bench/ on the path
sys.path[0] = str(Path(__file__).resolve().parents[1])

from sqlalchemy import text  # noqa: E402

from backend.db import Database  # noqa: E402
from backend.services import deadlines  # noqa: E402
from backend.services.city.calendar import load_calendar  # noqa: E402
from backend.services.deadlines import candidates, kpis, ranking  # noqa: E402

BUDGET_MS = 200.0


def timed(fn, repeat: int) -> list[float]:
    fn()  # warm the caches once
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return f"median {statistics.median(ordered):7.1f} ms   p95 {p95:7.1f} ms   max {ordered[-1]:7.1f} ms"


def calibration(session) -> None:
    """Fixed Python and SQL workloads timed in the same run: shows how loaded the machine is."""
    python = timed(lambda: sum(i * i for i in range(1_000_000)), 3)
    sql = timed(lambda: session.execute(text("SELECT count(*) FROM generate_series(1, 1000000)")).scalar(), 3)
    print(f"calibration: 1e6-step Python loop {statistics.median(python):.0f} ms, "
          f"1e6-row SQL count {statistics.median(sql):.0f} ms, load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")


def units_by_volume(session, start: datetime, end: datetime, *, triage: bool = False) -> list[tuple[int, int]]:
    rows = session.execute(text(
        "SELECT e.to_unit_id, count(*) FROM report_events e JOIN units u ON u.id = e.to_unit_id "
        "WHERE e.kind IN ('routed', 'transferred') AND e.at >= :s AND e.at < :e AND u.is_triage = :t "
        "GROUP BY 1 ORDER BY 2 DESC"), {"s": start, "e": end, "t": triage})
    return [(int(u), int(n)) for u, n in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--month", help="YYYY-MM (default: last full month)")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--city", action="store_true", help="also time the ranking and the city-wide month (slow)")
    args = parser.parse_args(argv)
    db = Database(args.database_url)
    with db.session() as session:
        calendar = load_calendar(session)
        today = datetime.now(calendar.tz).date()
        month = (date.fromisoformat(args.month + "-01") if args.month
                 else (today.replace(day=1) - timedelta(days=1)).replace(day=1))
        older = (month.replace(day=1) - timedelta(days=160)).replace(day=1)
        oldest = (month.replace(day=1) - timedelta(days=1650)).replace(day=1)  # ~4.5 years back
        counts = session.execute(text("SELECT (SELECT count(*) FROM reports), (SELECT count(*) FROM report_events), "
                                      "(SELECT count(*) FROM photos)")).one()
        print(f"data: {counts[0]:,} reports, {counts[1]:,} events, {counts[2]:,} photos")
        calibration(session)
        failed = False
        now = datetime.now(calendar.tz)
        for label, m in (("last full month", month), ("older month", older), ("oldest month", oldest),
                         ("running month", today)):
            start, end = kpis.month_range(m, calendar)
            volume = units_by_volume(session, start, min(end, now))
            if not volume:
                print(f"{m:%Y-%m}: no data")
                continue
            picks = {"busiest unit": volume[0], "median unit": volume[len(volume) // 2]}
            for ioc in units_by_volume(session, start, end, triage=True)[:1]:
                picks["IOC (triage)"] = ioc
            for name, (unit_id, n) in picks.items():
                def call(u: int = unit_id, s: datetime = start, e: datetime = end) -> dict:
                    return deadlines.figures(session, start=s, end=e, now=now, unit_id=u)

                samples = timed(call, args.repeat)
                figures = call()["period"]
                ok = statistics.median(samples) <= BUDGET_MS
                failed |= not ok and label == "last full month" and name != "IOC (triage)"
                print(f"{label} {m:%Y-%m}, {name} {unit_id} ({n} routings): {summary(samples)}  "
                      f"[{'OK' if ok else 'OVER'} ≤ {BUDGET_MS:.0f} ms]  closures={figures['closures']} "
                      f"on_time_rate={figures['on_time_rate']} backlog={figures['backlog']}")
        start, end = kpis.month_range(month, calendar)
        if args.city:
            samples = timed(lambda: ranking.monthly(session, month=month), 2)
            print(f"public ranking {month:%Y-%m} (all units): {summary(samples)}")
            samples = timed(lambda: deadlines.figures(session, start=start, end=end, now=now), 2)
            print(f"city-wide month {month:%Y-%m} (GET /api/v1/stats): {summary(samples)}")
        start, end = kpis.month_range(oldest, calendar)
        unit_id = units_by_volume(session, start, end)[0][0]
        ioc = units_by_volume(session, start, end, triage=True)[0][0]
        horizon = end + candidates.LONG_LIVED
        queries = {  # the candidate search of deadlines/candidates.py for the oldest month
            f"held by the busiest unit {unit_id}": (
                "SELECT id FROM reports WHERE created_at < :e AND unit_id = :u AND ((updated_at >= :s AND "
                "updated_at < :h) OR status NOT IN ('resolved','rejected','not_competent','duplicate','closed'))"),
            f"left the IOC {ioc} within 31 days of the end": (
                "SELECT e.report_id FROM report_events e JOIN reports r ON r.id = e.report_id WHERE "
                "e.from_unit_id = :i AND e.kind IN ('routed','transferred') AND e.at >= :e AND e.at < :h "
                "AND r.created_at < :e"),
            "long-lived (created before the end, changed 31+ days after it)": " AND ".join((
                "SELECT id, unit_id FROM reports WHERE created_at < :e", "updated_at >= :h",
                candidates.LONG_LIVED_SQL)),
        }
        for name, sql in queries.items():
            plan = session.execute(text("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql),
                                   {"u": unit_id, "i": ioc, "s": start, "e": end, "h": horizon}).scalars().all()
            print(f"candidate query plan, {oldest:%Y-%m}, {name}:\n  " + "\n  ".join(plan))
        indexes = session.execute(text("SELECT indexdef FROM pg_indexes WHERE tablename IN ('reports', "
                                       "'report_events') ORDER BY indexname")).scalars().all()
        print("indexes:\n  " + "\n  ".join(indexes))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
