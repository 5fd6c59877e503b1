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



# --------------------------------------------------------------------------- autocommit connections (webhook)


def _autocommit_pids(engine) -> list[int]:
    """Backends of this database whose last statement was the webhook's insert (its autocommit connections)."""
    with engine.connect() as admin:
        return list(admin.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND query LIKE 'WITH src AS (INSERT INTO inbound_messages%'")).scalars())


def test_a_killed_autocommit_connection_is_replaced_and_the_event_committed(pg_url, settings, runner):
    """The webhook writes on connections kept in autocommit: one the server killed while idle is dropped at
    checkout (no round trip), the next event still gets 200, and each row is committed before the answer."""
    from fakes import zalo as fz

    engine = make_engine(pg_url, pool_size=1, max_overflow=0)
    db = Database(pg_url, engine=engine)
    app = create_app(settings.model_copy(update={"zalo_app_id": fz.APP_ID, "zalo_oa_secret_key": fz.OA_SECRET_KEY}),
                     database=db, runner=runner)
    client = app.test_client()
    events = [fz.text_event("pool-user", f"tin {n}") for n in range(2)]
    ids = [e["message"]["msg_id"] for e in events]
    try:
        raw, headers = fz.signed(events[0])
        assert client.post("/bots/zalo/webhook", data=raw, headers=headers).status_code == 200
        [pid] = _autocommit_pids(engine)
        with engine.connect() as admin:
            assert admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
        _wait_gone(engine, pid)
        raw, headers = fz.signed(events[1])
        r = client.post("/bots/zalo/webhook", data=raw, headers=headers)
        assert r.status_code == 200 and r.json["status"] == "accepted", r.get_data(as_text=True)
        assert _autocommit_pids(engine) and pid not in _autocommit_pids(engine)
        with engine.connect() as other:  # committed: visible to any other connection
            found = other.execute(text("SELECT count(*) FROM inbound_messages WHERE external_id = ANY(:ids)"),
                                  {"ids": ids}).scalar_one()
        assert found == 2
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM outbox WHERE args->>'inbound_id' IN (SELECT id::text FROM"
                              " inbound_messages WHERE external_id = ANY(:ids))"), {"ids": ids})
            conn.execute(text("DELETE FROM inbound_messages WHERE external_id = ANY(:ids)"), {"ids": ids})
        db.dispose()


def test_autocommit_connections_survive_errors_and_are_never_shared_with_a_forked_child(pg_url):
    import os

    from sqlalchemy.exc import DBAPIError

    db = Database(pg_url, engine=make_engine(pg_url, pool_size=1, max_overflow=0))
    try:
        [parent_pid] = db.execute_autocommit("SELECT pg_backend_pid()", {})
        with pytest.raises(DBAPIError):
            db.execute_autocommit("SELECT 1 / 0", {})
        assert db.execute_autocommit("SELECT pg_backend_pid()", {}) == (parent_pid,)  # kept after an error
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - the child reports through the pipe
            code = 1
            try:
                [pid] = db.execute_autocommit("SELECT pg_backend_pid()", {})
                os.write(write, str(pid).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write)
        _, status = os.waitpid(child, 0)
        child_pid = int(os.read(read, 32) or 0)
        os.close(read)
        assert status == 0 and child_pid and child_pid != parent_pid
        # the child neither used nor closed the parent's connection
        assert db.execute_autocommit("SELECT pg_backend_pid()", {}) == (parent_pid,)
    finally:
        db.dispose()
