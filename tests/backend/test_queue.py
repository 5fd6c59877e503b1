"""The transactional outbox: nothing is lost when Redis is down, nothing runs twice."""

from __future__ import annotations

import time

import pytest
from redis import Redis
from sqlmodel import select

from backend import queue, relay, runners
from backend.models import CitySetting, Outbox

from jobs_for_tests import CALLS

queue.register_job(queue.JobSpec("jobs_for_tests.touch", queue="default", retry=()))
queue.register_job(queue.JobSpec("jobs_for_tests.flaky", queue="default", retry=(0, 0)))


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.clear()


@pytest.fixture
def app(db, runner):
    """Only the job runtime is needed here: the database and the RQ runner, as create_app wires them."""
    return queue.install(queue.Runtime(db=db, runner=runner))


def _rows(db):
    with db.session() as s:
        return s.exec(select(Outbox).order_by(Outbox.id)).all()


def test_enqueue_is_part_of_the_callers_transaction(app, db, runner):
    with db.session() as s:
        queue.enqueue(s, "jobs_for_tests.touch", key="rolled-back")
        s.rollback()
    assert _rows(db) == []
    assert runner.queue("default").count == 0


def test_jobs_of_a_rolled_back_savepoint_are_neither_stored_nor_pushed(app, db, runner, run_jobs):
    """enqueue_many writes with one Core INSERT (no ORM rows): a savepoint rolled back takes its jobs with it,
    jobs written before it and after it are pushed after the commit and run."""
    with db.session_scope() as s:
        queue.enqueue_many(s, [("jobs_for_tests.touch", {"key": "before"})])
        with pytest.raises(RuntimeError), s.begin_nested():
            queue.enqueue_many(s, [("jobs_for_tests.touch", {"key": "undone-1"}),
                                   ("jobs_for_tests.touch", {"key": "undone-2"})])
            raise RuntimeError("refused")
        queue.enqueue_many(s, [("jobs_for_tests.touch", {"key": "after"})])
    assert [r.args["key"] for r in _rows(db)] == ["before", "after"]
    assert runner.queue("default").count == 2
    run_jobs()
    assert sorted(CALLS) == ["after", "before"]


def test_unknown_job_name_is_refused(app, db):
    with db.session() as s, pytest.raises(KeyError):
        queue.enqueue(s, "handlers.nope.nothing")


def test_redis_down_between_commit_and_dispatch_loses_nothing(app, db, runner, run_jobs):
    # Redis is "killed": the runner's connection points at a port where nothing listens.
    alive = runner.connection
    runner.connection = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    runner._queues.clear()
    with db.session_scope() as s:
        oid = queue.enqueue(s, "jobs_for_tests.touch", key="survivor").id
    row = _rows(db)[0]
    assert row.id == oid and row.dispatched_at is None  # committed, not dispatched

    # Redis is back: the relay dispatches it, exactly once.
    runner.connection = alive
    runner._queues.clear()
    assert relay.relay_outbox(min_age_s=0) == 1
    assert relay.relay_outbox(min_age_s=0) == 0
    jobs = [(j.id, j.description) for j in runner.queue("default").get_jobs()]
    assert runner.queue("default").count == 1, jobs
    run_jobs()
    assert CALLS == ["survivor"]
    with db.session() as s:
        assert s.get(CitySetting, "survivor") is not None
        assert s.get(Outbox, oid).done_at is not None


def test_a_job_dispatched_twice_runs_once(app, db, runner, run_jobs):
    with db.session_scope() as s:
        oid = queue.enqueue(s, "jobs_for_tests.touch", key="once").id
    queue.dispatch([oid])  # already dispatched: no second push
    with db.session_scope() as s:  # simulate a crash after push, before marking
        s.get(Outbox, oid).dispatched_at = None
    relay.relay_outbox(min_age_s=0)
    run_jobs()
    assert queue.execute(oid) == "already-done"
    assert CALLS == ["once"]


def test_failed_job_is_retried_by_rq_until_it_succeeds(app, db, runner, run_jobs):
    with db.session_scope() as s:
        oid = queue.enqueue(s, "jobs_for_tests.flaky", key="flaky", fail_times=2).id
    for _ in range(5):
        run_jobs()
        time.sleep(0.05)
    assert CALLS == ["flaky", "flaky", "flaky"]
    with db.session() as s:
        row = s.get(Outbox, oid)
        assert row.done_at is not None and row.attempts == 2
        assert row.last_error is None  # cleared by the success


def test_stale_dispatched_job_is_dispatched_again(app, db, runner, run_jobs):
    from datetime import timedelta

    from backend.models.base import utcnow

    with db.session_scope() as s:
        oid = queue.enqueue(s, "jobs_for_tests.touch", key="lost-by-broker").id
    runner.connection.flushdb()  # the broker lost the job (e.g. worker killed, registry cleaned)
    with db.session_scope() as s:
        s.get(Outbox, oid).dispatched_at = utcnow() - timedelta(hours=2)
    assert relay.relay_outbox(min_age_s=0) == 1
    run_jobs()
    assert CALLS == ["lost-by-broker"]


def test_jobs_lost_with_redis_data_are_dispatched_again_within_a_minute(app, db, runner, run_jobs):
    from datetime import timedelta

    from backend.models.base import utcnow

    with db.session_scope() as s:
        lost = queue.enqueue(s, "jobs_for_tests.touch", key="lost-with-redis").id
        kept = queue.enqueue(s, "jobs_for_tests.touch", key="still-queued").id
    runner.connection.delete(f"rq:job:outbox-{lost}")  # Redis restarted without its data for this job
    with db.session_scope() as s:
        for oid in (lost, kept):
            s.get(Outbox, oid).dispatched_at = utcnow() - timedelta(seconds=relay.LOST_AFTER_S + 5)
    assert relay.relay_outbox(min_age_s=0) == 1            # only the lost one, long before the stale sweep
    assert relay.relay_outbox(min_age_s=0) == 0
    run_jobs()
    assert sorted(CALLS) == ["lost-with-redis", "still-queued"]  # each ran once
    with db.session() as s:
        assert s.get(Outbox, lost).attempts == 1        # one re-dispatch, counted against its retries
        assert s.get(Outbox, kept).attempts == 0


def test_a_broker_that_cannot_answer_leaves_dispatched_rows_alone(app, db, runner):
    from datetime import timedelta

    from backend.models.base import utcnow

    with db.session_scope() as s:
        oid = queue.enqueue(s, "jobs_for_tests.touch", key="unknown-fate").id
        s.flush()
        s.get(Outbox, oid).dispatched_at = utcnow() - timedelta(seconds=relay.LOST_AFTER_S + 5)
    alive = runner.connection
    runner.connection = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    try:
        assert relay.relay_outbox(min_age_s=0) == 0
    finally:
        runner.connection = alive
    with db.session() as s:
        assert s.get(Outbox, oid).dispatched_at is not None and s.get(Outbox, oid).attempts == 0


def test_embedded_thread_runner_runs_jobs_and_retries(live_db):
    db = live_db  # the job thread needs its own connections: real commits here
    runner = runners.ThreadRunner()
    queue.install(queue.Runtime(db=db, runner=runner))
    try:
        with db.session_scope() as s:
            queue.enqueue(s, "jobs_for_tests.flaky", key="embedded", fail_times=1)
        deadline = time.monotonic() + 10
        while CALLS.count("embedded") < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        runner.drain()
        with db.session() as s:
            assert s.get(CitySetting, "embedded") is not None
    finally:
        runner.close()


def test_every_declared_job_resolves_to_a_handler():
    import inspect

    for name in list(queue.JOBS) + [p.name for p in queue.PERIODIC]:
        if name.startswith("jobs_for_tests."):
            continue
        fn = queue.resolve(name)
        params = list(inspect.signature(fn).parameters)
        assert params and params[0] == "session", f"{name} must take the session first"


def test_concurrent_pushes_share_round_trips_and_each_waits_for_its_own():
    import threading

    batches: list[list[int]] = []
    gate = threading.Event()

    def send(rows):
        gate.wait(5)  # the first round trip is slow: the others queue up meanwhile
        batches.append(list(rows))

    group = runners.GroupPush(send)
    returned: list[int] = []
    threads = [threading.Thread(target=lambda i=i: (group.push(i), returned.append(i))) for i in range(12)]
    threads[0].start()
    time.sleep(0.05)
    for t in threads[1:]:
        t.start()
    time.sleep(0.05)
    assert returned == []  # nobody is acknowledged before its row is sent
    gate.set()
    for t in threads:
        t.join(5)
    assert sorted(returned) == list(range(12))
    assert sorted(i for b in batches for i in b) == list(range(12))
    assert batches[0] == [0] and len(batches) < 12


def test_a_failed_group_push_fails_every_caller_in_it():
    def send(rows):
        raise ConnectionError("broker down")

    group = runners.GroupPush(send)
    with pytest.raises(ConnectionError):
        group.push(1)
    with pytest.raises(ConnectionError):
        group.push(2)  # the next group tries again (and fails again): no caller is left waiting


def test_a_sender_interrupted_mid_push_fails_its_whole_group_and_frees_the_next():
    import threading

    entered, release = threading.Event(), threading.Event()
    calls: list[list[int]] = []

    def send(rows):
        calls.append(sorted(rows))
        if len(calls) == 1:  # a slow first round trip: 2 and 3 queue up together meanwhile
            entered.set()
            release.wait(5)
        elif len(calls) == 2:
            raise SystemExit("job timeout")  # what a timeout signal or a shutdown raises in the sender

    group = runners.GroupPush(send)
    outcome: dict[int, str] = {}

    def push(i):
        try:
            group.push(i)
            outcome[i] = "pushed"
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            outcome[i] = type(exc).__name__

    threads = {i: threading.Thread(target=push, args=(i,)) for i in (1, 2, 3)}
    threads[1].start()
    entered.wait(5)
    threads[2].start()
    threads[3].start()
    time.sleep(0.05)
    release.set()
    for t in threads.values():
        t.join(5)
    assert calls == [[1], [2, 3]]
    sender = 2 if outcome[2] == "SystemExit" else 3
    member = 5 - sender
    assert outcome[1] == "pushed" and outcome[sender] == "SystemExit"
    assert outcome[member] == "RuntimeError"  # never returns as if its row were in the broker
    group.push(4)  # the group was released: the next push goes through
    assert calls[-1] == [4]


def test_rows_committed_without_a_session_are_pushed_or_left_for_the_relay(app, db, runner, run_jobs):
    from sqlalchemy import insert

    def commit_row(key):
        with db.begin() as conn:
            values = queue.new_row_values("jobs_for_tests.touch")
            return conn.execute(insert(Outbox).values(**values, args={"key": key}).returning(Outbox.id)).scalar()

    oid = commit_row("pushed")
    queue.push_committed([queue.Committed(oid, "jobs_for_tests.touch")])
    assert runner.queue("default").count == 1
    alive = runner.connection
    runner.connection = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    runner._queues.clear()
    lost = commit_row("relayed")
    queue.push_committed([queue.Committed(lost, "jobs_for_tests.touch")])  # broker down: mark cleared
    runner.connection = alive
    runner._queues.clear()
    assert relay.relay_outbox(min_age_s=0) == 1
    run_jobs()
    assert sorted(CALLS) == ["pushed", "relayed"]
