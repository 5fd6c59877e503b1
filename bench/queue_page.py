"""Queue page benchmark (DESIGN §14): a unit's triage queue page ≤ 15 ms p95 at 1,000,000 reports.

    python bench/generate.py --reports 1000000 --database-url postgresql://postgres@127.0.0.1/bench
    python bench/queue_page.py --database-url postgresql://postgres@127.0.0.1/bench

Measures, for the busiest unit, a median unit and the IOC triage queue:

- ``service``: ``services.inbox.queue`` (the SQL on ``ix_reports_queue`` plus the three small
  lookups for names, thumbnails and flags) — the database part of the budget;
- ``page``: the whole ``GET /inbox`` through the Flask app (authentication, filters, the queue,
  unit counts, saved views, Jinja rendering) — the server time of the page.

Also the same with filters (overdue, a category, a search word) and the second page (keyset cursor),
and prints the plan of the queue query. A temporary staff row is created for the page
measurement and deleted at the end; nothing else is written.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from backend.db import Database
from backend.models.staff import Staff
from backend.services import inbox

BUDGET_MS = 15.0


class DbClock:
    """Sums the time spent inside the database driver (execute + fetch) for each measured call."""

    def __init__(self, engine: object) -> None:
        from sqlalchemy import event

        self.spent = 0.0
        self._started = 0.0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *_args: object) -> None:
        self._started = time.perf_counter()

    def _after(self, *_args: object) -> None:
        self.spent += time.perf_counter() - self._started

    def timed(self, fn: Callable[[], object], repeat: int) -> tuple[list[float], list[float]]:
        for _ in range(3):
            fn()
        total, in_db = [], []
        for _ in range(repeat):
            self.spent = 0.0
            started = time.perf_counter()
            fn()
            total.append((time.perf_counter() - started) * 1000)
            in_db.append(self.spent * 1000)
        return total, in_db


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def line(label: str, values: list[float]) -> float:
    q = p95(values)
    flag = "ok" if q <= BUDGET_MS else "OVER BUDGET"
    print(f"  {label:<38} p50 {statistics.median(values):7.2f} ms   p95 {q:7.2f} ms   {flag}")
    return q


def pick_units(db: Database) -> list[tuple[str, int, int]]:
    with db.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT unit_id, count(*) FROM reports WHERE status NOT IN "
            "('resolved','rejected','not_competent','duplicate','closed') GROUP BY unit_id ORDER BY 2 DESC")).all()
        triage = conn.execute(text("SELECT id FROM units WHERE is_triage LIMIT 1")).scalar()
    rows = [r for r in rows if r[0] is not None]
    busiest, median = rows[0], rows[len(rows) // 2]
    out = [("busiest unit", busiest[0], busiest[1]), ("median unit", median[0], median[1])]
    if triage is not None:
        out.append(("IOC triage", triage, dict(rows).get(triage, 0)))
    return out


def explain(db: Database, unit_id: int) -> None:
    sql = ("EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM reports WHERE status NOT IN "
           "('resolved','rejected','not_competent','duplicate','closed') AND unit_id = :u "
           "ORDER BY resolve_due_at ASC NULLS LAST, id ASC LIMIT 51")
    with db.engine.connect() as conn:
        for (row,) in conn.execute(text(sql), {"u": unit_id}):
            print("   ", row)


def both(clock: DbClock, label: str, fn: Callable[[], object], repeat: int) -> None:
    total, in_db = clock.timed(fn, repeat)
    line(f"{label} — in database", in_db)
    print(f"  {'':<38} (server total incl. Python: p50 {statistics.median(total):.2f} ms, "
          f"p95 {p95(total):.2f} ms)")


def service_runs(db: Database, clock: DbClock, unit_id: int, category_id: int | None, repeat: int) -> None:
    staff = Staff(id=-1, email="bench@local", role="officer", unit_id=unit_id)
    now = datetime.now(UTC)
    session = db.session()

    def run(**args: str) -> Callable[[], object]:
        def go() -> object:
            page = inbox.queue(session, staff=staff, flt=inbox.parse_filter({"unit_id": str(unit_id), **args}),
                               now=now)
            session.rollback()
            return page
        return go

    both(clock, "queue: first page", run(), repeat)
    first = run()()
    cursor = first.next_cursor  # type: ignore[attr-defined]
    if cursor:
        both(clock, "queue: second page (cursor)", run(**cursor), repeat)
    both(clock, "queue: overdue only", run(overdue="1"), repeat)
    if category_id:
        both(clock, "queue: one category", run(category_id=str(category_id)), repeat)
    both(clock, "queue: search 'duong'", run(q="duong"), repeat)
    session.close()


def page_runs(db: Database, clock: DbClock, url: str, unit_id: int, repeat: int) -> None:
    from backend.app import create_app
    from backend.config import Settings
    from backend.runners import ThreadRunner

    settings = Settings(phananh_env="development", database_url=url, secret_key="bench-" + "x" * 40,
                        redis_url=None, ratelimit_enabled=False)
    app = create_app(settings, database=db, runner=ThreadRunner())
    with db.session_scope() as s:
        staff = Staff(email=f"bench-queue-{unit_id}@bench.local", name="Bench", role="officer", unit_id=unit_id,
                      password_hash="!")  # noqa: S106 - no usable password: signed in by cookie
        s.add(staff)
        s.flush()
        staff_id = staff.id
    try:
        client = app.test_client()
        with client.session_transaction() as sess:
            sess["staff_id"] = staff_id
            sess["pw"] = "-"
        status = client.get("/inbox").status_code
        assert status == 200, status
        both(clock, "page: GET /inbox", lambda: client.get("/inbox"), repeat)
        both(clock, "page: GET /inbox/rows (htmx refresh)", lambda: client.get("/inbox/rows"), repeat)
    finally:
        with db.session_scope() as s:
            s.exec(text("DELETE FROM staff WHERE id = :i").bindparams(i=staff_id))  # type: ignore[call-overload]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args(argv)
    db = Database(args.database_url)
    clock = DbClock(db.engine)
    with db.engine.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM reports")).scalar()
        category_id = conn.execute(text("SELECT category_id FROM reports WHERE category_id IS NOT NULL LIMIT 1")
                                   ).scalar()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"queue page benchmark — {total:,} reports, budget p95 ≤ {BUDGET_MS:.0f} ms in the database "
          f"(load average {load:.1f} on {os.cpu_count()} CPUs)")
    for label, unit_id, n_open in pick_units(db):
        print(f"\n{label} (unit {unit_id}, {n_open:,} open reports)")
        service_runs(db, clock, unit_id, category_id, args.repeat)
        page_runs(db, clock, args.database_url, unit_id, max(50, args.repeat // 2))
    print("\nplan of the queue query (busiest unit):")
    explain(db, pick_units(db)[0][1])
    db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
