"""Generate a realistic city history on PostgreSQL with COPY, for the benchmarks (DESIGN §14).

    python bench/generate.py --database-url postgresql://postgres@127.0.0.1/bench

Ten years (``--months``) of 1,000,000 reports (``--reports``) ending now, as issue 10 specifies:
units (IOC, departments, wards), categories with SLA policies, wards, residents; each report gets its
event history replayed the way the workflow writes it (created, routed, triage dispatch, transfers,
acknowledgement, on-hold pauses, extensions of the clocks, breaches, resolution, reopen, rating,
closure) and its photos as rows. Deadlines come from the real working calendar.
Generated data is never committed to the repository.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# run as a script: the repository root replaces bench/ on the path (imported as bench.generate: left alone)
if Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import psycopg

from backend import db as dbmod
from backend.services.city.calendar import WorkingCalendar
from backend.services.reports.codes import ALPHABET, LENGTH, PREFIX, normalize_code

N_DEPARTMENTS, N_WARDS, N_CATEGORIES, N_RESIDENTS = 20, 60, 25, 50_000
BATCH = 20_000
REPORT_COLS = ("id", "code", "channel", "category_id", "unit_id", "status", "priority", "description", "lat", "lon",
               "area_id", "resident_id", "is_anonymous", "attributes", "flags", "search_text", "ack_due_at",
               "resolve_due_at", "sla_paused_at", "ack_breached_at", "resolve_breached_at", "routed_at",
               "acknowledged_at", "resolved_at", "closed_at", "reopen_count", "rating", "version", "created_at",
               "updated_at")
EVENT_COLS = ("report_id", "at", "actor_kind", "actor_id", "kind", "is_public", "from_state", "to_state",
              "from_unit_id", "to_unit_id", "data")
PHOTO_COLS = ("report_id", "resident_id", "role", "state", "mime", "size_bytes", "sha256", "width", "height",
              "original_key", "public_key", "thumb_keys", "created_at", "processed_at")
PUBLIC = {"created", "routed", "transferred", "status_changed", "rated", "reopened"}
CODE_SPACE = len(ALPHABET) ** LENGTH
CODE_STEP = 7_919_113  # coprime with 30 (not divisible by 2, 3 or 5): id -> code is a bijection
OPEN = {"received", "triage", "assigned", "acknowledged", "in_progress", "on_hold", "reopened"}


class Stop(Exception):
    """The simulated history reached the present."""


class Sim:
    """One report's life, event by event, stopping at ``now``."""

    def __init__(self, rid: int, ctx: dict, rng: random.Random) -> None:
        self.rid, self.ctx, self.rng, self.cal, self.now = rid, ctx, rng, ctx["cal"], ctx["now"]
        self.events: list[tuple] = []
        self.state = "received"
        self.unit: int | None = None
        self.r: dict = {"ack_due_at": None, "resolve_due_at": None, "sla_paused_at": None, "ack_breached_at": None,
                        "resolve_breached_at": None, "routed_at": None, "acknowledged_at": None,
                        "resolved_at": None, "closed_at": None, "reopen_count": 0, "rating": None}

    def emit(self, at: datetime, kind: str, *, to_state: str | None = None, to_unit: int | None = None,
             actor: str = "staff", data: dict | None = None) -> datetime:
        if at > self.now:
            raise Stop
        from_state = self.state if to_state else None
        from_unit = self.unit if to_unit else None
        self.events.append((self.rid, at, actor, None, kind, kind in PUBLIC, from_state, to_state, from_unit,
                            to_unit, json.dumps(data or {})))
        if to_state:
            self.state = to_state
        if to_unit:
            self.unit = to_unit
        return at

    def work(self, start: datetime, minutes: float) -> datetime:
        return self.cal.add_minutes(start, max(1.0, minutes))

    def lognormal(self, median: float, sigma: float) -> float:
        return median * math.exp(self.rng.gauss(0, sigma))

    def clock(self, at: datetime, name: str, budget: str) -> datetime:
        due = self.cal.add(at, budget)
        self.r[f"{name}_due_at"], self.r[f"{name}_breached_at"] = due, None
        self.emit(at, "sla_started", actor="system", data={"clock": name, "budget": budget, "due_at": due.isoformat(),
                                                           "unit_id": self.unit})
        return due

    def breach(self, name: str, due: datetime, until: datetime) -> None:
        if due < until and due <= self.now and self.r[f"{name}_breached_at"] is None:
            self.r[f"{name}_breached_at"] = due
            self.emit(due, "sla_breached", actor="system", data={"clock": name, "due_at": due.isoformat()})


def simulate(sim: Sim, created: datetime, cat: dict, priority: str, unit: int) -> None:
    rng, ctx = sim.rng, sim.ctx
    sim.emit(created, "created", to_state="received", actor="resident")
    t = created + timedelta(seconds=rng.randint(1, 5))
    budget = cat["sla"][priority]
    if rng.random() < 0.12:
        sim.emit(t, "routed", to_state="triage", to_unit=ctx["ioc"], actor="system")
        sim.r["routed_at"] = t
        sim.clock(t, "ack", "8h")
        due = sim.clock(t, "resolve", budget)
        t = sim.work(t, sim.lognormal(60, 0.8))
        sim.emit(t, "transferred", to_state="assigned", to_unit=unit)
    else:
        sim.emit(t, "routed", to_state="assigned", to_unit=unit, actor="system")
        sim.r["routed_at"] = t
        due = None
    ack_due = sim.clock(t, "ack", "8h")
    if due is None:
        due = sim.clock(t, "resolve", budget)
    clock_start = t
    if rng.random() < 0.08:
        t = sim.work(t, sim.lognormal(120, 0.7))
        sim.breach("ack", ack_due, t)
        sim.emit(t, "transferred", to_state="assigned", to_unit=rng.choice(ctx["units"]))
        ack_due = sim.clock(t, "ack", "8h")
    ack_at = sim.work(t, sim.lognormal(150, 1.0))
    sim.breach("ack", ack_due, ack_at)
    sim.r["acknowledged_at"] = sim.emit(ack_at, "status_changed", to_state="acknowledged")
    t = sim.emit(sim.work(ack_at, rng.uniform(5, 60)), "status_changed", to_state="in_progress")
    roll = rng.random()
    if roll < 0.07:
        closing = "rejected" if roll < 0.03 else "not_competent" if roll < 0.05 else "duplicate"
        sim.emit(sim.work(t, sim.lognormal(60, 0.5)), "status_changed", to_state=closing,
                 data={"reason": "Không thuộc phạm vi xử lý"})
        sim.r["closed_at"] = sim.events[-1][1]
        return
    resolve_and_close(sim, t, clock_start, due, cat, priority)


def resolve_and_close(sim: Sim, t: datetime, clock_start: datetime, due: datetime, cat: dict, priority: str) -> None:
    rng = sim.rng
    for round_ in range(2):
        budget_min = max(60, sim.cal.between(clock_start, due))
        resolve_at = max(sim.work(clock_start, budget_min * sim.lognormal(0.55, 0.55)),
                         sim.work(t, rng.uniform(20, 240)))  # never before the work started
        if rng.random() < 0.10 and resolve_at > t:
            pause_at = sim.work(t, rng.uniform(30, 600))
            if pause_at < resolve_at:
                sim.breach("resolve", due, pause_at)
                sim.emit(pause_at, "status_changed", to_state="on_hold", data={"reason": "Chờ phối hợp liên ngành"})
                sim.r["sla_paused_at"] = pause_at
                sim.emit(pause_at, "sla_paused", actor="system", data={"clock": "resolve", "reason": "Chờ phối hợp"})
                paused = sim.lognormal(900, 0.6)
                back = sim.work(pause_at, paused)
                sim.emit(back, "status_changed", to_state="in_progress")
                if pause_at < due:
                    due = sim.cal.add_minutes(due, sim.cal.between(pause_at, back))
                sim.r["sla_paused_at"], sim.r["resolve_due_at"] = None, due
                sim.emit(back, "sla_resumed", actor="system", data={"clock": "resolve", "due_at": due.isoformat()})
                resolve_at = sim.work(back, rng.uniform(60, 900))
        if rng.random() < 0.03 and resolve_at > due and t < due:
            extend_at = sim.work(t, 30)
            if extend_at < due:
                new_due = sim.cal.add(due, "2d")
                sim.emit(extend_at, "sla_extended", data={"clock": "resolve", "budget": "2d", "reason": "Chờ vật tư",
                                                          "due_at": new_due.isoformat()})
                due = sim.r["resolve_due_at"] = new_due
        sim.breach("resolve", due, resolve_at)
        sim.emit(resolve_at, "status_changed", to_state="resolved", data={"reply": "Đã xử lý xong."})
        sim.r["resolved_at"] = resolve_at
        if round_ == 0 and rng.random() < 0.04:
            t = sim.emit(resolve_at + timedelta(hours=sim.lognormal(20, 0.6)), "reopened", to_state="reopened",
                         actor="resident", data={"reason": "Vẫn chưa khắc phục"})
            sim.r["reopen_count"] += 1
            sim.r["resolved_at"] = None
            sim.r["resolve_breached_at"] = None
            clock_start, due = t, sim.clock(t, "resolve", cat["sla"][priority])
            t = sim.emit(sim.work(t, 30), "status_changed", to_state="in_progress")
            continue
        break
    if rng.random() < 0.4:
        rating = rng.choices([1, 2, 3, 4, 5], [5, 7, 15, 33, 40])[0]
        sim.emit(resolve_at + timedelta(hours=sim.lognormal(10, 1.0)), "rated", to_state="closed", actor="resident",
                 data={"rating": rating})
        sim.r["rating"] = rating
    else:
        sim.emit(resolve_at + timedelta(days=7), "status_changed", to_state="closed", actor="system")
    sim.r["closed_at"] = sim.events[-1][1]


def finish_open(sim: Sim) -> None:
    """A report still open now: the minute sweep has marked whatever clock expired."""
    if sim.state in {"received", "triage", "assigned"} and sim.r["ack_due_at"]:
        sim.breach("ack", sim.r["ack_due_at"], sim.now)
    if sim.state in OPEN and sim.r["sla_paused_at"] is None and sim.r["resolve_due_at"]:
        sim.breach("resolve", sim.r["resolve_due_at"], sim.now)


# ---------------------------------------------------------------------- base data


def seed_base(conn: psycopg.Connection, rng: random.Random) -> dict:
    cur = conn.cursor()
    cur.execute("INSERT INTO units (code, name_vi, name_en, kind, is_triage, created_at) VALUES "
                "('ioc', 'Trung tâm Điều hành đô thị thông minh', 'IOC', 'ioc', true, now()) RETURNING id")
    ioc = cur.fetchone()[0]
    units = []
    for i in range(N_DEPARTMENTS + N_WARDS):
        kind = "department" if i < N_DEPARTMENTS else "ward"
        name = f"Phòng chuyên môn {i + 1}" if kind == "department" else f"UBND phường {i - N_DEPARTMENTS + 1}"
        cur.execute("INSERT INTO units (code, name_vi, name_en, kind, is_triage, created_at) "
                    "VALUES (%s, %s, %s, %s, false, now()) RETURNING id", (f"u{i:03d}", name, name, kind))
        units.append(cur.fetchone()[0])
    areas = []
    for i in range(N_WARDS):
        lon, lat = 106.6 + (i % 10) * 0.01, 10.7 + (i // 10) * 0.01
        geom = {"type": "Polygon", "coordinates": [[[lon, lat], [lon + 0.01, lat], [lon + 0.01, lat + 0.01],
                                                    [lon, lat + 0.01], [lon, lat]]]}
        cur.execute("INSERT INTO areas (code, name, kind, geometry, min_lon, min_lat, max_lon, max_lat, is_synthetic) "
                    "VALUES (%s, %s, 'ward', %s, %s, %s, %s, %s, true) RETURNING id",
                    (f"w{i:03d}", f"Phường {i + 1}", json.dumps(geom), lon, lat, lon + 0.01, lat + 0.01))
        areas.append((cur.fetchone()[0], units[N_DEPARTMENTS + i], lon, lat))
    cats = []
    for i in range(N_CATEGORIES):
        sla = {"ack": "8h", "urgent": rng.choice(["4h", "8h"]), "normal": rng.choice(["2d", "3d", "5d"]),
               "complex": rng.choice(["10d", "15d"])}
        default_unit = units[i % N_DEPARTMENTS] if i % 3 else None
        cur.execute("INSERT INTO categories (code, name_vi, name_en, description_vi, description_en, group_code, "
                    "group_vi, group_en, default_unit_id, priority_default, sla, attributes, keywords, "
                    "requires_after_photo, is_emergency, active, sort_order, created_at) VALUES (%s, %s, %s, '', '', "
                    "'other', '', '', %s, 'normal', %s, '[]', '', false, false, true, %s, now()) RETURNING id",
                    (f"c{i:02d}", f"Loại phản ánh {i + 1}", f"Category {i + 1}", default_unit, json.dumps(sla), i))
        cats.append({"id": cur.fetchone()[0], "sla": sla, "default_unit": default_unit, "weight": 1 / (i + 1)})
    with cur.copy("COPY residents (display_name, locale, is_anonymous_account, created_at) FROM STDIN") as copy:
        for i in range(N_RESIDENTS):
            copy.write_row((f"Cư dân {i}", "vi", False, datetime.now(UTC)))
    cur.execute("SELECT min(id), max(id) FROM residents")
    rmin, rmax = cur.fetchone()
    return {"ioc": ioc, "units": units, "areas": areas, "cats": cats, "residents": (rmin, rmax)}


def make_report(rid: int, ctx: dict, rng: random.Random) -> tuple[tuple, list[tuple], list[tuple]]:
    now, span = ctx["now"], ctx["span_s"]
    created = now - timedelta(seconds=rng.uniform(3600, span))
    if rng.random() < 0.7:
        created = ctx["cal"].next_opening(created) + timedelta(minutes=rng.uniform(0, 90))
        created = min(created, now - timedelta(minutes=5))
    created = created.astimezone(UTC)
    cat = rng.choices(ctx["cats"], ctx["cat_weights"])[0]
    area_id, ward_unit, lon, lat = rng.choice(ctx["areas"])
    unit = cat["default_unit"] if cat["default_unit"] and rng.random() < 0.7 else ward_unit
    priority = rng.choices(["urgent", "normal", "complex"], [15, 75, 10])[0]
    sim = Sim(rid, ctx, rng)
    try:
        simulate(sim, created, cat, priority, unit)
    except Stop:
        finish_open(sim)
    rmin, rmax = ctx["residents"]
    resident = rng.randint(rmin, rmax) if rng.random() < 0.85 else None
    code = report_code(rid)
    last = max(e[1] for e in sim.events)
    r = sim.r
    report = (rid, code, rng.choices(["app", "zalo", "open311", "staff"], [50, 35, 10, 5])[0], cat["id"],
              sim.unit, sim.state, priority, "Phản ánh hiện trường được tạo tự động", lat + rng.random() * 0.01,
              lon + rng.random() * 0.01, area_id, resident, resident is None, "{}", "{}", code.lower(),
              r["ack_due_at"], r["resolve_due_at"], r["sla_paused_at"], r["ack_breached_at"], r["resolve_breached_at"],
              r["routed_at"], r["acknowledged_at"], r["resolved_at"], r["closed_at"], r["reopen_count"], r["rating"],
              len(sim.events), created, last)
    photos = []
    for n in range(rng.choice([1, 1, 2, 3])):
        photos.append(_photo(rid, resident, "report", created, rng, n))
    if r["resolved_at"] and rng.random() < 0.6:
        photos.append(_photo(rid, None, "after", r["resolved_at"], rng, 9))
    return report, sim.events, photos


def report_code(rid: int) -> str:
    """The product's code format (``PA-`` + 6 symbols of the product's alphabet, see
    ``reports.codes``), unique per id: ``rid`` is spread over the code space by a multiplication
    modulo 30**6 (a bijection, so no two reports share a code and no retry is needed)."""
    n = (rid * CODE_STEP + 123_457) % CODE_SPACE
    body = []
    for _ in range(LENGTH):
        n, digit = divmod(n, len(ALPHABET))
        body.append(ALPHABET[digit])
    code = PREFIX + "".join(body)
    assert normalize_code(code) == code, code
    return code


def _photo(rid: int, resident: int | None, role: str, at: datetime, rng: random.Random, n: int) -> tuple:
    sha = f"{rng.getrandbits(256):064x}"
    return (rid, resident, role, "ready", "image/jpeg", rng.randint(200_000, 4_000_000), sha, 4000, 3000,
            f"orig/{sha[:2]}/{sha}.jpg", f"pub/{sha[:2]}/{sha}.jpg",
            json.dumps({"256": f"t/{sha}-256.jpg", "1024": f"t/{sha}-1024.jpg"}), at, at + timedelta(seconds=5 + n))


def copy_rows(cur: psycopg.Cursor, table: str, cols: tuple[str, ...], rows: list[tuple]) -> None:
    with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--months", type=int, default=120,
                        help="history length; fewer months make a denser, harder month for the KPI bench")
    args = parser.parse_args(argv)
    url = dbmod.normalize_url(args.database_url)
    dbmod.upgrade(url)
    rng = random.Random(args.seed)
    started = time.perf_counter()
    pg_url = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(pg_url) as conn:
        cur = conn.cursor()
        cur.execute("SELECT count(*) FROM reports")
        if cur.fetchone()[0]:
            print("the database already holds reports; use an empty database", file=sys.stderr)
            return 2
        ctx = seed_base(conn, rng)
        ctx.update(cal=WorkingCalendar(), now=datetime.now(UTC).replace(microsecond=0),
                   span_s=args.months * 30.4 * 86400, cat_weights=[c["weight"] for c in ctx["cats"]])
        cur.execute("SET session_replication_role = replica")  # skip FK triggers while bulk loading
        n_events = n_photos = 0
        for first in range(1, args.reports + 1, BATCH):
            reports, evs, photos = [], [], []
            for rid in range(first, min(first + BATCH, args.reports + 1)):
                report, report_events, report_photos = make_report(rid, ctx, rng)
                reports.append(report)
                evs += report_events
                photos += report_photos
            copy_rows(cur, "reports", REPORT_COLS, reports)
            copy_rows(cur, "report_events", EVENT_COLS, evs)
            copy_rows(cur, "photos", PHOTO_COLS, photos)
            n_events += len(evs)
            n_photos += len(photos)
            conn.commit()
            print(f"{first + len(reports) - 1} reports, {n_events} events, {n_photos} photos "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
        cur.execute("SET session_replication_role = origin")
        cur.execute("SELECT setval(pg_get_serial_sequence('reports', 'id'), (SELECT max(id) FROM reports))")
        conn.commit()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE reports")
        cur.execute("VACUUM ANALYZE report_events")
        cur.execute("VACUUM ANALYZE photos")
    print(f"done: {args.reports} reports, {n_events} events, {n_photos} photos in "
          f"{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
