"""Concurrent duplicates of one ``POST /reports`` (same Idempotency-Key) create one report."""

from __future__ import annotations

import threading

from sqlalchemy import func
from sqlmodel import select
from v1_helpers import INSIDE

from backend.app import create_app
from backend.models import IdempotencyKey, Report
from backend.services.city import loading as cities


def test_concurrent_same_key_creates_one_report(settings, live_db, runner, auth):
    with live_db.session_scope() as s:
        cities.load_demo(session=s)
    app = create_app(settings, database=live_db, runner=runner)
    headers = {**auth("racer"), "Idempotency-Key": "race-key-000001"}
    body = {"category": "duong-hu-hong", "description": "Ổ gà", "location": INSIDE}
    assert app.test_client().get("/api/v1/me/reports", headers=auth("racer")).status_code == 200
    results: list[tuple[int, dict]] = []
    barrier = threading.Barrier(4)

    def post() -> None:
        client = app.test_client()
        barrier.wait()
        r = client.post("/api/v1/reports", json=body, headers=headers)
        results.append((r.status_code, r.get_json()))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    with live_db.session() as s:
        assert s.exec(select(func.count()).select_from(Report)).one() == 1
        assert s.exec(select(func.count()).select_from(IdempotencyKey)).one() == 1
        code = s.exec(select(Report.code)).one()
    ok = [body for status, body in results if status == 201]
    assert ok and all(b["code"] == code for b in ok)
    # the losers either replayed the winner's answer or were told to retry (never a second report)
    assert all(status in (201, 409, 503) for status, _ in results), results
    replay = app.test_client().post("/api/v1/reports", json=body, headers=headers)
    assert replay.status_code == 201 and replay.json["code"] == code
