"""The webhook: signature, freshness, record-once, echoes, unknown events — through HTTP only."""

from __future__ import annotations

import time

from sqlmodel import select

from backend.models import InboundMessage, Outbox

from fakes import zalo as fz


def _inbound(session):
    return session.exec(select(InboundMessage)).all()


def test_signed_text_is_recorded_once_and_enqueued(post_event, session, runner):
    event = fz.text_event("u100", "Xin chào")
    first = post_event(event)
    assert first.status_code == 200 and first.json["status"] == "accepted"
    again = post_event(event)  # Zalo re-delivers (at least once)
    assert again.status_code == 200 and again.json["status"] == "duplicate"
    rows = _inbound(session)
    assert len(rows) == 1
    assert rows[0].external_id == event["message"]["msg_id"] and rows[0].external_user_id == "u100"
    jobs = session.exec(select(Outbox).where(Outbox.job_name == "handlers.inbound.process_inbound")).all()
    assert [j.args for j in jobs] == [{"inbound_id": rows[0].id}]
    assert runner.queue("bot").count == 1


def test_bare_hex_signature_is_accepted(post_event, session):
    assert post_event(fz.text_event("u101", "hi"), bare=True).status_code == 200
    assert len(_inbound(session)) == 1


def test_bad_signature_is_401_and_nothing_stored(zclient, session):
    event = fz.text_event("u102", "Ổ gà")
    raw, headers = fz.signed(event, secret="wrong-secret")
    r = zclient.post("/bots/zalo/webhook", data=raw, headers=headers)
    assert r.status_code == 401 and r.mimetype == "application/problem+json"
    raw, headers = fz.signed(event)
    tampered = raw.replace("Ổ gà".encode(), "Ổ voi".encode())
    assert zclient.post("/bots/zalo/webhook", data=tampered, headers=headers).status_code == 401
    assert zclient.post("/bots/zalo/webhook", data=raw,
                        headers={"Content-Type": "application/json"}).status_code == 401
    assert zclient.post("/bots/zalo/webhook", data=b"not json",
                        headers={"X-ZEvent-Signature": "mac=00"}).status_code == 401
    assert zclient.post("/bots/zalo/webhook", data=b"[1,2]", headers=headers).status_code == 401
    assert _inbound(session) == []
    assert session.exec(select(Outbox)).all() == []


def _minutes_ago(minutes: float) -> int:
    return int((time.time() - minutes * 60) * 1000)


def test_a_new_event_delivered_100_minutes_late_is_accepted(post_event, session, runner):
    """Zalo's retry ladder (30 s, 5, 15, 30 min, 1 h) delivers an unanswered event ~110 min late."""
    r = post_event(fz.text_event("u103", "Đèn đường tắt", ts_ms=_minutes_ago(100)))
    assert r.status_code == 200 and r.json["status"] == "accepted"
    [row] = _inbound(session)
    assert row.payload["message"]["text"] == "Đèn đường tắt" and row.processed_at is None
    assert runner.queue("bot").count == 1


def test_a_new_event_older_than_the_window_or_from_the_future_is_401(post_event, session, runner):
    assert post_event(fz.text_event("u103", "cũ", ts_ms=_minutes_ago(181))).status_code == 401
    assert post_event(fz.text_event("u103", "mai", ts_ms=_minutes_ago(-10))).status_code == 401
    assert post_event(fz.text_event("u103", "vừa", ts_ms=_minutes_ago(-2))).status_code == 200  # clock skew
    assert [r.payload["message"]["text"] for r in _inbound(session)] == ["vừa"]
    assert runner.queue("bot").count == 1


def test_the_age_window_is_a_setting(zalo_settings, db, runner, session):
    from backend.app import create_app

    app = create_app(zalo_settings.model_copy(update={"zalo_event_max_age_s": 600}), database=db, runner=runner)
    raw, headers = fz.signed(fz.text_event("u103", "hơi muộn", ts_ms=_minutes_ago(15)))
    assert app.test_client().post("/bots/zalo/webhook", data=raw, headers=headers).status_code == 401
    assert _inbound(session) == []


def test_a_known_event_redelivered_after_4_hours_is_duplicate(post_event, session, runner):
    import time_machine

    event = fz.text_event("u103", "Cống tràn")
    assert post_event(event).json["status"] == "accepted"
    with time_machine.travel(time.time() + 4 * 3600, tick=True):
        again = post_event(event)  # Zalo redelivers the same event (same body, same timestamp)
        assert again.status_code == 200 and again.json["status"] == "duplicate"
        fresh_looking = fz.text_event("u103", "Cống tràn", ts_ms=int(event["timestamp"]))  # new id, same age
        assert post_event(fresh_looking).status_code == 401
    assert len(_inbound(session)) == 1
    assert runner.queue("bot").count == 1


def test_a_forged_late_copy_of_a_known_event_is_401_not_duplicate(post_event, zclient, session):
    event = fz.text_event("u103", "Cây đổ", ts_ms=_minutes_ago(200))
    raw, headers = fz.signed(event, secret="wrong-secret")
    assert zclient.post("/bots/zalo/webhook", data=raw, headers=headers).status_code == 401
    assert _inbound(session) == []


def test_echoes_of_our_own_messages_are_ignored(post_event, session):
    r = post_event(fz.echo_event("u104", "Cảm ơn bạn"))
    assert r.status_code == 200 and r.json["status"] == "ignored"
    assert _inbound(session) == []


def test_unknown_and_receipt_events_are_stored_not_enqueued(post_event, session):
    weird = {"app_id": fz.APP_ID, "event_name": "user_reacted_message", "sender": {"id": "u105"},
             "timestamp": str(int(time.time() * 1000)), "message": {"msg_id": "abc", "react_icon": "/-heart"}}
    assert post_event(weird).json["status"] == "stored"
    odd = {"timestamp": str(int(time.time() * 1000)), "app_id": fz.APP_ID, "event_name": {"x": 1},
           "sender": "nobody", "message": [1, 2]}
    assert post_event(odd).status_code == 200
    seen = fz.event("user_seen_message", fz.OA_ID, {"msg_ids": ["1", "2"]})
    seen["recipient"] = {"id": "u105"}
    assert post_event(seen).status_code == 200
    rows = _inbound(session)
    assert len(rows) == 3 and all(r.processed_at is not None for r in rows)
    assert session.exec(select(Outbox)).all() == []


def test_too_large_body_is_refused(zclient, session):
    event = fz.text_event("u106", "x" * 300_000)
    raw, headers = fz.signed(event)
    assert zclient.post("/bots/zalo/webhook", data=raw, headers=headers).status_code == 413
    assert _inbound(session) == []


def test_get_is_405(zclient):
    assert zclient.get("/bots/zalo/webhook").status_code == 405


def test_rate_limited_per_zalo_user_after_the_signature_check(zalo_settings, db, runner, session):
    from backend.app import create_app

    app = create_app(zalo_settings.model_copy(update={"ratelimit_enabled": True}), database=db, runner=runner)
    client = app.test_client()

    def post(payload, **kw):
        raw, headers = fz.signed(payload, **kw)
        return client.post("/bots/zalo/webhook", data=raw, headers=headers)

    for _ in range(5):  # forged events naming the user do not use up the user's quota
        assert post(fz.text_event("busy", "x"), secret="forged").status_code == 401
    statuses = [post(fz.text_event("busy", f"tin {n}")).status_code for n in range(121)]
    assert statuses[:120] == [200] * 120 and statuses[120] == 429
    assert post(fz.text_event("calm", "xin chào")).status_code == 200
    assert len(_inbound(session)) == 121


def test_redis_down_the_event_is_kept_and_the_relay_sends_its_job_once(post_event, session, runner, run_jobs):
    from redis import Redis

    from backend import relay

    alive = runner.connection
    runner.connection = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)  # the broker is down
    runner._queues.clear()
    event = fz.text_event("u107", "Đèn đường hỏng")
    r = post_event(event)
    assert r.status_code == 200 and r.json["status"] == "accepted"  # recorded before the 200
    [row] = _inbound(session)
    [job] = session.exec(select(Outbox)).all()
    assert job.args == {"inbound_id": row.id} and job.dispatched_at is None  # left for the relay
    runner.connection = alive
    runner._queues.clear()
    assert relay.relay_outbox(min_age_s=0) == 1
    assert relay.relay_outbox(min_age_s=0) == 0
    assert runner.queue("bot").count == 1
    assert post_event(event).json["status"] == "duplicate"  # Zalo re-delivers: still one job
    assert runner.queue("bot").count == 1


def test_the_inbound_row_keeps_the_event_as_sent(post_event, session):
    event = fz.text_event("u108", "Cây đổ chắn đường \"Lê Lợi\" \\ ngõ 5")
    assert post_event(event).status_code == 200
    [row] = _inbound(session)
    assert row.payload == event and row.event_name == "user_send_text" and row.processed_at is None


def test_database_down_is_503_never_500(zalo_settings, runner, database_url):
    import pytest

    from backend.app import create_app
    from backend.db import Database

    if database_url.startswith("sqlite"):
        pytest.skip("the single-statement path is PostgreSQL's")
    dead = Database("postgresql://postgres@127.0.0.1:1/nothing")
    app = create_app(zalo_settings, database=dead, runner=runner)
    raw, headers = fz.signed(fz.text_event("u109", "alo"))
    r = app.test_client().post("/bots/zalo/webhook", data=raw, headers=headers)
    assert r.status_code == 503 and r.mimetype == "application/problem+json"
    assert runner.queue("bot").count == 0
    dead.dispose()


def test_a_nul_character_in_a_message_is_dropped_not_refused_forever(post_event, session):
    event = fz.text_event("u109", "Đèn\u0000 hỏng")  # JSON "\u0000": PostgreSQL text/jsonb refuse it
    assert post_event(event).status_code == 200
    [row] = _inbound(session)
    assert row.payload["message"]["text"] == "Đèn hỏng"


def test_a_utf16_body_signed_by_zalo_is_stored(zclient, session):
    event = fz.text_event("u110", "hello")
    raw, headers = fz.signed(event)
    body = raw.decode("utf-8").encode("utf-16-le")  # ASCII content: NUL bytes between the characters
    headers["X-ZEvent-Signature"] = fz.sign(body, str(event["timestamp"]))
    assert zclient.post("/bots/zalo/webhook", data=body, headers=headers).status_code == 200
    [row] = _inbound(session)
    assert row.payload == event


def test_deeply_nested_unsigned_body_is_401_not_500(zclient, session):
    body = b"[" * 100_000 + b"]" * 100_000  # under the size limit, deeper than the parser recurses
    r = zclient.post("/bots/zalo/webhook", data=body,
                     headers={"Content-Type": "application/json", "X-ZEvent-Signature": "mac=00"})
    assert r.status_code == 401 and r.mimetype == "application/problem+json"
    assert _inbound(session) == []


def test_webhook_round_trip_budget(zalo_settings, db, runner, session, monkeypatch):
    """Issue 20: one new event costs one SQL statement on PostgreSQL (two inserts in one transaction on
    SQLite) and one Redis round trip for the per-user limit and the push together."""
    from sqlalchemy import event as sa_event

    from backend.app import create_app

    app = create_app(zalo_settings.model_copy(update={"ratelimit_enabled": True}), database=db, runner=runner)
    client = app.test_client()
    raw, headers = fz.signed(fz.text_event("budget", "warm"))
    assert client.post("/bots/zalo/webhook", data=raw, headers=headers).status_code == 200
    statements: list[str] = []
    redis_calls: list[str] = []
    real = runner.connection.execute_command
    monkeypatch.setattr(runner.connection, "execute_command",
                        lambda *a, **kw: (redis_calls.append(str(a[0])), real(*a, **kw))[1])
    pipeline_cls = type(runner.connection.pipeline())
    real_execute = pipeline_cls.execute
    monkeypatch.setattr(pipeline_cls, "execute", lambda self, *a, **kw: (redis_calls.append("PIPELINE"),
                                                                          real_execute(self, *a, **kw))[1])
    engine = session.get_bind().engine

    def count(_conn, _cursor, statement, *_args) -> None:
        if not statement.startswith(("SAVEPOINT", "RELEASE")):  # the test's own transaction
            statements.append(statement.split()[0])

    if engine.dialect.name == "postgresql":  # the hot path runs its statement on the driver connection
        import psycopg

        real_driver_execute = psycopg.Connection.execute
        monkeypatch.setattr(psycopg.Connection, "execute", lambda self, query, *a, **kw: (
            statements.append(str(query).split()[0]), real_driver_execute(self, query, *a, **kw))[1])
    raw, headers = fz.signed(fz.text_event("budget", "Đèn đường hỏng"))
    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        r = client.post("/bots/zalo/webhook", data=raw, headers=headers)
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)
    assert r.status_code == 200 and r.json["status"] == "accepted"
    assert redis_calls == ["EVAL"], redis_calls
    assert len(statements) == (1 if engine.dialect.name == "postgresql" else 2), statements
    assert runner.queue("bot").count == 2  # both events' jobs are in the queue
