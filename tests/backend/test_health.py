from sqlmodel import select

from backend import queue
from backend.models import Outbox


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json["checks"]["database"] == "ok"
    assert r.json["checks"]["redis"] == "ok"


def test_unknown_path_is_problem_json(client):
    r = client.get("/no/such/thing")
    assert r.status_code == 404
    assert r.mimetype == "application/problem+json"
    assert r.json["type"].endswith("/not-found")
    assert r.json["title"] == "Không tìm thấy"
    assert client.get("/no/such", headers={"Accept-Language": "en"}).json["title"] == "Not found"


def test_outbox_row_dispatched_after_commit_and_runs_once(app, db, runner, run_jobs):
    with db.session_scope() as s:
        row = queue.enqueue(s, "handlers.outbox.noop", note="x")
        oid = row.id
    assert runner.queue("default").count == 1
    run_jobs()
    with db.session() as s:
        row = s.exec(select(Outbox).where(Outbox.id == oid)).one()
        assert row.dispatched_at is not None and row.done_at is not None and row.attempts == 1
    assert queue.execute(oid) == "already-done"
