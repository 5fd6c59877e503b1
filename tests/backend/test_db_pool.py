"""The pool has no pre-ping round trip, yet a connection the server killed is never handed to a request."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from backend.app import create_app
from backend.db import Database, make_engine


def _wait_gone(engine, pid: int) -> None:
    with engine.connect() as admin:
        for _ in range(100):
            if not admin.execute(text("SELECT 1 FROM pg_stat_activity WHERE pid = :p"), {"p": pid}).first():
                return
            time.sleep(0.02)
    raise AssertionError(f"backend {pid} still alive")


@pytest.fixture
def pg_url(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only (pg_terminate_backend)")
    return database_url


def test_killed_pooled_connection_is_replaced_without_error(pg_url, settings, runner):
    engine = make_engine(pg_url, pool_size=1, max_overflow=0)
    try:
        app = create_app(settings, database=Database(pg_url, engine=engine), runner=runner)
        client = app.test_client()
        assert client.get("/api/v1/categories").status_code == 200
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        killer = make_engine(pg_url, pool_size=1)
        with killer.connect() as admin:
            assert admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
        _wait_gone(killer, pid)
        killer.dispose()
        r = client.get("/api/v1/categories")  # the only pooled connection is dead: a fresh one serves it
        assert r.status_code == 200, r.get_data(as_text=True)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
    finally:
        engine.dispose()
