"""Short fault tests for CI (the full ones are ``make faults`` / ``bench/faults.py``).

- Redis down during intake: every acknowledged report is stored, the outbox rows wait, the relay
  dispatches them once Redis is back, every job runs once, a second relay sends nothing again.
  Needs ``redis-server`` (a private instance on a free port; the shared one is never touched).
- PostgreSQL restarted: 503 + ``Retry-After`` while it is down, then intake works again in the
  same app (dead pooled connections dropped at checkout), nothing half-written. Needs the PostgreSQL
  server binaries (a private cluster in a temporary directory); skipped with the reason otherwise.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from backend import relay, runners
from backend.app import create_app
from backend.config import Settings
from backend.db import Database

from bench import harness
from bench.intake import id_token
from fakes.zalo import tiny_jpeg as jpeg

PROJECT = harness.PROJECT
INSIDE = {"lat": 9.603, "lon": 105.975}  # inside the demo city (Sóc Trăng)

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")


@pytest.fixture
def private_redis() -> Iterator[harness.PrivateRedis]:
    redis = harness.PrivateRedis().start()
    yield redis
    redis.cleanup()


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9")  # unsigned tokens; nothing is called


def _app(settings: Settings, database: Database, redis_url: str, tmp_path: Any) -> tuple[Any, runners.RQRunner]:
    s = settings.model_copy(update={"redis_url": redis_url, "firebase_project_id": PROJECT,
                                    "firebase_auth_emulator_host": "127.0.0.1:9", "media_dir": tmp_path / "media",
                                    "ratelimit_enabled": False})
    runner = runners.RQRunner(redis_url)
    app = create_app(s, database=database, runner=runner)
    app.config["TESTING"] = True
    return app, runner


def _intake(client: Any, uid: str) -> Any:
    """Upload a photo and send a report with it, as the app does; returns the report response."""
    auth = {"Authorization": f"Bearer {id_token(uid)}"}
    media = client.post("/api/v1/media", data={"file": (io.BytesIO(jpeg()), "p.jpg")}, headers=auth,
                        content_type="multipart/form-data")
    if media.status_code != 201:
        return media
    return client.post("/api/v1/reports", headers={**auth, "Idempotency-Key": f"fault-{uid}-0001"},
                       json={"category": "duong-hu-hong", "description": "Ổ gà lớn giữa đường", "location": INSIDE,
                             "media_ids": [media.get_json()["id"]]})


def _seed(database: Database) -> None:
    from backend.services.city import loading as cities

    with database.session_scope() as session:
        cities.load_demo(session=session)


def _count(database: Database, sql: str, **params: Any) -> int:
    with database.engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar() or 0)


def test_redis_down_during_intake_loses_nothing(settings: Settings, live_db: Database, private_redis: Any,
                                                emulator: None, tmp_path: Any) -> None:
    _seed(live_db)
    app, runner = _app(settings, live_db, private_redis.url(), tmp_path)
    client = app.test_client()
    acked = [_intake(client, f"before-{i}") for i in range(3)]
    runner.run_burst()

    private_redis.stop()  # a crash: whatever Redis held is gone
    during = [_intake(client, f"during-{i}") for i in range(4)]
    assert [r.status_code for r in during] == [201] * 4, [r.get_data(as_text=True)[:200] for r in during]
    waiting = _count(live_db, "SELECT count(*) FROM outbox WHERE dispatched_at IS NULL")
    assert waiting >= 8  # each intake left at least its photo job and its notification job

    private_redis.start()
    assert relay.relay_outbox(min_age_s=0) == waiting
    runner.run_burst()
    runner.run_burst()
    assert relay.relay_outbox(min_age_s=0) == 0  # nothing sent twice

    codes = [r.get_json()["code"] for r in acked + during]
    assert _count(live_db, "SELECT count(*) FROM reports") == len(set(codes)) == 7
    assert _count(live_db, "SELECT count(*) FROM outbox WHERE done_at IS NULL") == 0
    assert _count(live_db, "SELECT count(*) FROM photos WHERE processed_at IS NULL") == 0
    # every report has exactly one "created" event and one reporter delivery per event: no duplicates
    assert _count(live_db, "SELECT count(*) FROM report_events WHERE kind = 'created'") == 7
    assert _count(live_db, "SELECT count(*) FROM (SELECT dedupe_key FROM deliveries GROUP BY dedupe_key "
                           "HAVING count(*) > 1) d") == 0


@pytest.fixture
def private_postgres() -> Iterator[harness.PrivatePostgres]:
    reason = harness.postgres_unavailable()
    if reason:
        pytest.skip(reason)
    pg = harness.PrivatePostgres(settings={"shared_buffers": "32MB", "fsync": "off"}).start()
    yield pg
    pg.cleanup()


def test_postgres_restart_answers_503_then_recovers(settings: Settings, private_postgres: Any, private_redis: Any,
                                                    emulator: None, tmp_path: Any) -> None:
    from backend import db as dbmod

    url = private_postgres.create_database("faults")
    dbmod.upgrade(url)
    database = Database(url)
    try:
        _seed(database)
        app, _ = _app(settings.model_copy(update={"database_url": url}), database, private_redis.url(), tmp_path)
        client = app.test_client()
        assert _intake(client, "pg-before").status_code == 201

        private_postgres.stop("fast")
        down = _intake(client, "pg-down")
        assert down.status_code == 503, down.get_data(as_text=True)[:300]
        assert down.headers.get("Retry-After")
        assert down.mimetype == "application/problem+json"

        private_postgres.start()
        again = _intake(client, "pg-after")  # the same app: stale pooled connections are replaced
        assert again.status_code == 201, again.get_data(as_text=True)[:300]
        assert _count(database, "SELECT count(*) FROM reports") == 2
        assert _count(database, "SELECT count(*) FROM reports r WHERE NOT EXISTS "
                                "(SELECT 1 FROM photos p WHERE p.report_id = r.id)") == 0
    finally:
        database.dispose()


def test_private_servers_never_use_shared_ports(private_redis: Any) -> None:
    assert private_redis.port not in (6379, 5432)
    out = subprocess.run(["redis-cli", "-p", str(private_redis.port), "ping"], capture_output=True, text=True,
                         timeout=10, check=False)
    assert out.stdout.strip() == "PONG"

