"""Benchmark: routing a point among 3,500 ward polygons (budget: ≤ 0.5 ms per lookup, DESIGN §14).

Generates N synthetic wards in memory (a jittered grid over southern Vietnam whose shared edges are
noisy polylines, ~100 vertices per ward, so neighbours tile without gaps or overlaps), then measures:

1. the in-memory STRtree lookup (``AreaIndex.candidates``): the spatial part of routing;
2. ``routing.locate()`` end to end on a database (fingerprint check + row load), and
3. ``routing.route()`` with per-ward rules (rules query + unit load).

Database: a temporary SQLite file, or ``BENCH_DATABASE_URL`` (e.g. a scratch PostgreSQL database;
its areas/units/categories/rules tables are filled, so never point it at real data).
Usage: ``python -m bench.routing [--wards 3500] [--lookups 20000]``. Nothing is written to the repo.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from shapely.geometry import Polygon

BUDGET_MS = 0.5
BOX = (104.4, 8.6, 107.0, 11.4)   # lon/lat box roughly covering the Mekong delta
EDGE_POINTS = 24


def _grid_shape(n: int) -> tuple[int, int]:
    cols = max(round(n ** 0.5), 1)
    while n % cols:
        cols -= 1
    return cols, n // cols


def synthetic_wards(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """N area dicts (code, name, geometry, bbox) tiling BOX."""
    rnd = random.Random(seed)
    cols, rows = _grid_shape(n)
    dx, dy = (BOX[2] - BOX[0]) / cols, (BOX[3] - BOX[1]) / rows
    vert: dict[tuple[int, int], tuple[float, float]] = {}
    for i in range(cols + 1):
        for j in range(rows + 1):
            jx = 0 if i in (0, cols) else rnd.uniform(-0.15, 0.15) * dx
            jy = 0 if j in (0, rows) else rnd.uniform(-0.15, 0.15) * dy
            vert[(i, j)] = (BOX[0] + i * dx + jx, BOX[1] + j * dy + jy)
    edges: dict[tuple[tuple[int, int], tuple[int, int]], list[tuple[float, float]]] = {}

    def edge(a: tuple[int, int], b: tuple[int, int]) -> list[tuple[float, float]]:
        key = (a, b) if a < b else (b, a)
        if key not in edges:
            (x0, y0), (x1, y1) = vert[key[0]], vert[key[1]]
            vertical_border = key[0][0] == key[1][0] and key[0][0] in (0, cols)
            border = vertical_border or (key[0][1] == key[1][1] and key[0][1] in (0, rows))
            amp = 0 if border else 0.04
            pts = [vert[key[0]]]
            for k in range(1, EDGE_POINTS + 1):
                t = k / (EDGE_POINTS + 1)
                nx, ny = -(y1 - y0), x1 - x0      # normal, scaled by edge length
                off = rnd.uniform(-amp, amp) * math.sin(math.pi * t)   # taper to 0 at corners
                pts.append((x0 + t * (x1 - x0) + off * nx, y0 + t * (y1 - y0) + off * ny))
            pts.append(vert[key[1]])
            edges[key] = pts
        pts = edges[key]
        return pts if key[0] == a else pts[::-1]

    wards = []
    for i in range(cols):
        for j in range(rows):
            corners = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)]
            ring: list[tuple[float, float]] = []
            for a, b in zip(corners, corners[1:] + corners[:1], strict=True):
                ring.extend(edge(a, b)[:-1])
            ring.append(ring[0])
            poly = Polygon(ring)
            assert poly.is_valid, (i, j)
            x0, y0, x1, y1 = poly.bounds
            wards.append({"code": f"w{i:03d}-{j:03d}", "name": f"Phường mô phỏng {i}-{j}",
                          "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in ring]]},
                          "min_lon": x0, "min_lat": y0, "max_lon": x1, "max_lat": y1, "is_synthetic": True})
    return wards


def _points(count: int, seed: int = 11) -> list[tuple[float, float]]:
    rnd = random.Random(seed)
    return [(rnd.uniform(BOX[1], BOX[3]), rnd.uniform(BOX[0], BOX[2])) for _ in range(count)]


def _time(fn: Callable[[float, float], Any], points: list[tuple[float, float]]) -> dict[str, float]:
    for lat, lon in points[:200]:   # warm-up
        fn(lat, lon)
    samples = []
    for lat, lon in points:
        t0 = time.perf_counter()
        fn(lat, lon)
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {"median_ms": statistics.median(samples), "p95_ms": samples[int(len(samples) * 0.95)],
            "max_ms": samples[-1]}


def _database(url: str | None) -> tuple[Any, Callable[[], None]]:
    from backend import db as dbmod

    if url:
        dbmod.upgrade(url)
        return dbmod.Database(url), lambda: None
    tmp = tempfile.TemporaryDirectory(prefix="phananh-bench-")
    url = f"sqlite:///{tmp.name}/bench.db"
    dbmod.upgrade(url)
    return dbmod.Database(url), tmp.cleanup


def _fill(session: Any, wards: list[dict[str, Any]]) -> Any:
    from backend.models import Area, Category, RoutingRule, Unit
    from backend.services.city import settings as city_settings

    ioc = Unit(code="bench-ioc", name_vi="Trung tâm điều hành", kind="ioc", is_triage=True)
    dept = Unit(code="bench-dept", name_vi="Sở Xây dựng")
    session.add_all([ioc, dept])
    session.flush()
    cat = Category(code="bench-lan-chiem", name_vi="Lấn chiếm vỉa hè", default_unit_id=dept.id)
    session.add(cat)
    areas = [Area(**w) for w in wards]
    session.add_all(areas)
    session.flush()
    for k, area in enumerate(areas[: len(areas) // 2]):   # half the wards have their own rule
        unit = Unit(code=f"bench-ubnd-{k}", name_vi=f"UBND {area.name}", kind="ward")
        session.add(unit)
        session.flush()
        session.add(RoutingRule(category_id=cat.id, area_id=area.id, unit_id=unit.id))
    city_settings.put(session, "areas_version", 1)   # as the city-pack loader does
    session.flush()
    return cat


def run(wards: int = 3500, lookups: int = 20000, database_url: str | None = None) -> dict[str, Any]:
    """Run every measurement; returns the figures (also printed by ``main``)."""
    from backend.services.city import routing

    t0 = time.perf_counter()
    areas = synthetic_wards(wards)
    generated = time.perf_counter() - t0
    rows = [(k + 1, a["code"], a["geometry"]) for k, a in enumerate(areas)]
    t0 = time.perf_counter()
    index = routing.AreaIndex(rows)
    built = time.perf_counter() - t0
    points = _points(lookups)
    hits = sum(1 for lat, lon in points if index.candidates(lat, lon))
    result: dict[str, Any] = {"wards": len(areas), "lookups": lookups, "generate_s": generated,
                              "index_build_s": built, "hit_rate": hits / lookups,
                              "index_lookup": _time(index.candidates, points)}
    database, cleanup = _database(database_url)
    try:
        with database.session() as session:
            category = _fill(session, areas)
            routing.clear_cache()
            routing.locate(session, *points[0])   # builds and caches the index from the database
            db_points = points[: max(lookups // 4, 1000)]
            result["locate_db"] = _time(lambda lat, lon: routing.locate(session, lat, lon), db_points)
            result["route_db"] = _time(
                lambda lat, lon: routing.route(session, category=category, lat=lat, lon=lon), db_points)
            session.rollback()
        result["database"] = database.engine.dialect.name
    finally:
        database.dispose()
        cleanup()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wards", type=int, default=3500)
    parser.add_argument("--lookups", type=int, default=20000)
    args = parser.parse_args()
    r = run(args.wards, args.lookups, os.environ.get("BENCH_DATABASE_URL"))
    print(f"routing: {r['wards']} synthetic wards, generated in {r['generate_s']:.2f} s, "
          f"STRtree built in {r['index_build_s'] * 1000:.1f} ms, {r['hit_rate']:.1%} of points inside a ward")
    for key, label in (("index_lookup", "STRtree lookup (in memory)"), ("locate_db", f"locate() on {r['database']}"),
                       ("route_db", f"route() on {r['database']}")):
        t = r[key]
        verdict = "OK" if t["median_ms"] <= BUDGET_MS else "OVER BUDGET"
        print(f"  {label:32s} median {t['median_ms']:.3f} ms  p95 {t['p95_ms']:.3f} ms  "
              f"max {t['max_ms']:.2f} ms  [{verdict}: budget {BUDGET_MS} ms]")


if __name__ == "__main__":
    main()
