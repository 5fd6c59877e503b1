"""City settings are read once per transaction and never served stale after an edit or a new transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text

from backend.services.city import settings as city_settings


def _count(session: Any, fn: Any) -> tuple[Any, int]:
    seen: list[str] = []
    engine = session.get_bind().engine

    def listener(_conn, _cursor, statement, *_args) -> None:
        if "city_settings" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        return fn(), len(seen)
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def test_many_reads_one_query(session: Any) -> None:
    city_settings.put(session, "city_name", "Thành phố Thử")
    session.commit()

    def reads() -> tuple[Any, ...]:
        return (city_settings.city_name(session), city_settings.timezone(session), city_settings.bounds(session),
                city_settings.hotlines(session), city_settings.get(session, "missing", 7))

    values, queries = _count(session, reads)
    assert values[0] == "Thành phố Thử" and values[4] == 7
    assert queries == 1


def test_values_are_copies(session: Any) -> None:
    city_settings.put(session, "hotlines", {"police": "113"})
    city_settings.hotlines(session)["police"] = "changed"
    assert city_settings.hotlines(session) == {"police": "113"}


def test_put_is_seen_at_once(session: Any) -> None:
    assert city_settings.city_name(session) == city_settings.DEFAULT_CITY_NAME
    city_settings.put(session, "city_name", "Cần Thơ")
    assert city_settings.city_name(session) == "Cần Thơ"
    city_settings.put(session, "city_name", None)
    assert city_settings.city_name(session) == city_settings.DEFAULT_CITY_NAME


def test_a_new_transaction_sees_what_others_committed(session: Any) -> None:
    assert city_settings.get(session, "reopen_window_days") is None
    session.connection().execute(text("INSERT INTO city_settings (key, value, updated_at) "
                                      "VALUES ('reopen_window_days', '3', CURRENT_TIMESTAMP)"))
    assert city_settings.get(session, "reopen_window_days") is None   # same transaction: the snapshot
    session.commit()
    assert city_settings.reopen_window_days(session) == 3


def test_forget_after_raw_sql(session: Any) -> None:
    assert city_settings.get(session, "close_after_days") is None
    session.connection().execute(text("INSERT INTO city_settings (key, value, updated_at) "
                                      "VALUES ('close_after_days', '9', CURRENT_TIMESTAMP)"))
    city_settings.forget(session)
    assert city_settings.close_after_days(session) == 9


def test_a_savepoint_keeps_the_snapshot_and_a_rolled_back_one_drops_it(session: Any) -> None:
    city_settings.city_name(session)
    with session.begin_nested():
        pass
    assert _count(session, lambda: city_settings.city_name(session))[1] == 0
    nested = session.begin_nested()
    city_settings.put(session, "city_name", "Tạm thời")
    assert city_settings.city_name(session) == "Tạm thời"
    nested.rollback()
    assert city_settings.city_name(session) == city_settings.DEFAULT_CITY_NAME
