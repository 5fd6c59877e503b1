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
        assert row.dispatched_at is not None and row.done_at is not None and row.attempts == 0  # no failure
    assert queue.execute(oid) == "already-done"


def test_metrics_exposes_requests_outbox_and_reports(client, db):
    from backend.models import Report

    with db.session_scope() as s:
        s.add(Report(code="PA-MET001", status="assigned", unit_id=None))
        queue.enqueue(s, "handlers.outbox.noop")
    client.get("/healthz")
    body = client.get("/metrics").get_data(as_text=True)
    assert 'phananh_request_seconds_count{endpoint="/healthz",method="GET",status="200"}' in body
    assert "phananh_outbox_pending 0.0" in body  # dispatched right after commit
    assert 'phananh_reports_open{unit_id="None"} 1.0' in body
    assert 'phananh_queue_depth{queue="default"} 1.0' in body


def test_json_logs_carry_the_request_id(client, caplog):
    import json
    import logging

    from backend.observability import JsonFormatter

    fmt = JsonFormatter()
    with client.application.test_request_context("/x"):
        from flask import g

        g.request_id = "abc123"
        line = fmt.format(logging.LogRecord("t", logging.INFO, __file__, 1, "hello %s", ("đường",), None))
    assert json.loads(line) == {**json.loads(line), "request_id": "abc123", "message": "hello đường"}
