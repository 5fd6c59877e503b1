"""``statements.DriverStatement`` / ``statements.driver_execute``: Core statements run on the driver's cursor give what
``session.execute`` gives, stay visible to statement listeners, and fail the way SQLAlchemy fails."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import ARRAY, Integer, any_, bindparam, event, insert, literal, select, union_all
from sqlalchemy.exc import IntegrityError

from backend.models.photos import Photo
from backend.models.reports import Report
from backend.models.settings import CitySetting
from backend.services.events import Actor
from backend.services.photos import linking
from backend.services.reports import create_report
from backend.statements import DriverStatement, driver_execute

SETTINGS = CitySetting.__table__  # type: ignore[attr-defined]
SETTING_VALUES = {"key": bindparam("k"), "value": bindparam("v", type_=SETTINGS.c.value.type),
                  "updated_at": bindparam("at", type_=SETTINGS.c.updated_at.type)}
REPORTS = Report.__table__  # type: ignore[attr-defined]
PHOTOS = Photo.__table__  # type: ignore[attr-defined]
NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


def _pg(session) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("the driver path is PostgreSQL's; other databases run session.execute")


def test_rows_are_those_of_session_execute(session, demo_city):
    """Every column type of a report (JSON, aware datetimes, booleans, floats, text) comes back equal."""
    report = create_report(session, channel="app", actor=Actor.system("test"), category_code="duong-hu-hong",
                           description="Ổ gà “sâu” trước chợ", lat=9.6025, lon=105.974, accuracy_m=7.5,
                           attributes={"làn": "phải", "n": 2, "x": [1, "ả"]})
    session.flush()
    stmt = select(REPORTS).where(REPORTS.c.id == bindparam("rid"))
    assert DriverStatement(stmt).rows(session, {"rid": report.id}) == [tuple(r) for r in session.execute(
        stmt, {"rid": report.id})]
    both = union_all(select(literal(0), SETTINGS.c.key, SETTINGS.c.value),
                     select(literal(1), REPORTS.c.code, REPORTS.c.attributes).where(REPORTS.c.id == bindparam("rid")))
    rows = DriverStatement(both).rows(session, {"rid": report.id})
    assert sorted(rows, key=repr) == sorted((tuple(r) for r in session.execute(both, {"rid": report.id})), key=repr)
    assert (1, report.code, {"làn": "phải", "n": 2, "x": [1, "ả"]}) in rows


def test_values_are_processed_like_sqlalchemy_does(session):
    """JSON is stored as JSON, a datetime in another zone as the same instant, a default constant list works."""
    stmt = DriverStatement(insert(SETTINGS).values(SETTING_VALUES).returning(SETTINGS.c.key, SETTINGS.c.value))
    value = {"giờ": "07:30", "list": [1, 2.5, None], "nested": {"ok": True}}
    assert stmt.rows(session, {"k": "test.driver", "v": value, "at": NOW}) == [("test.driver", value)]
    assert session.execute(select(SETTINGS.c.value).where(SETTINGS.c.key == "test.driver")).scalar_one() == value
    hanoi = timezone(timedelta(hours=7))
    at = datetime(2026, 12, 7, 8, 0, tzinfo=hanoi)
    moved = DriverStatement(select(literal(at, type_=REPORTS.c.created_at.type).label("at"),
                                   PHOTOS.c.id).where(PHOTOS.c.state.not_in(["rejected", "failed"])).limit(1))
    rows = moved.rows(session, {})
    assert all(r[0] == at and r[0].utcoffset() == timedelta(0) for r in rows)
    assert moved.rows(session, {}) == rows   # the constants are processed once, not again on each run


def test_listeners_see_each_statement(session, engine):
    seen: list[str] = []

    def listener(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    session.connection()   # the transaction (a SAVEPOINT of the test's) is open before counting
    event.listen(engine, "before_cursor_execute", listener)
    try:
        DriverStatement(select(SETTINGS.c.key).where(SETTINGS.c.key == bindparam("k"))).rows(session, {"k": "x"})
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert len(seen) == 1 and "FROM city_settings" in seen[0]


def test_an_integrity_error_is_sqlalchemys_and_the_transaction_goes_on(session):
    stmt = DriverStatement(insert(SETTINGS).values(SETTING_VALUES))
    stmt.rows(session, {"k": "test.twice", "v": 1, "at": NOW})
    with pytest.raises(IntegrityError), session.begin_nested():
        stmt.rows(session, {"k": "test.twice", "v": 2, "at": NOW})
    assert session.execute(select(SETTINGS.c.value).where(SETTINGS.c.key == "test.twice")).scalar_one() == 1


def test_a_column_default_left_out_is_refused(session):
    _pg(session)
    stmt = DriverStatement(insert(REPORTS).values(code=bindparam("c")))   # channel, status … have column defaults
    with pytest.raises(TypeError, match="channel, status, priority"):
        stmt.rows(session, {"c": "PA-TEST22"})


def test_a_list_must_be_an_array_parameter(session):
    _pg(session)
    expanding = DriverStatement(select(PHOTOS.c.id).where(PHOTOS.c.id.in_(bindparam("ids", expanding=True))))
    with pytest.raises(TypeError, match="array parameter"):
        expanding.rows(session, {"ids": [1, 2]})
    array = DriverStatement(select(PHOTOS.c.id).where(PHOTOS.c.id == any_(bindparam("ids", type_=ARRAY(Integer)))))
    assert array.rows(session, {"ids": [-1, -2]}) == []


def test_driver_execute_returns_the_cursor(session):
    _pg(session)
    cursor = driver_execute(session, "SELECT %(a)s::integer + 1", {"a": 41})
    assert cursor.fetchone() == (42,)


def test_the_photo_claim_goes_by_primary_key_among_many_unattached_uploads(session):
    """The claim is a prepared statement: its generic plan must reach the photos by id, not walk every upload
    not yet attached (migration 0028; before it, 4.4 ms per intake under the benchmark's load)."""
    _pg(session)
    session.add_all(Photo(mime="image/jpeg", sha256=f"{i:064x}") for i in range(3000))
    session.flush()
    stmt = DriverStatement(linking.claim_statement(
        bindparam("new_report_id", type_=Integer), ids=PHOTOS.c.id == any_(bindparam("ids", type_=ARRAY(Integer)))))
    sql = stmt.sql(session.get_bind().dialect)
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", sql)))
    numbered = sql
    for n, name in enumerate(names, start=1):
        numbered = numbered.replace(f"%({name})s", f"${n}")
    args = {"new_report_id": "1", "ids": "ARRAY[1]::integer[]", "owner_resident": "NULL", "owner_staff": "NULL",
            "state_1_1": "'rejected'", "state_1_2": "'failed'"}
    driver_execute(session, "SET LOCAL plan_cache_mode = force_generic_plan", {})
    driver_execute(session, "PREPARE claim_plan AS " + numbered.replace("%", "%%"), {})
    try:
        plan = driver_execute(session, f"EXPLAIN (FORMAT JSON) EXECUTE claim_plan({', '.join(args[n] for n in names)})",
                              {}).fetchone()[0]
    finally:
        driver_execute(session, "DEALLOCATE claim_plan", {})
    indexes = {node.get("Index Name") for node in _nodes(plan[0]["Plan"])} - {None}
    assert indexes == {"photos_pkey"}, plan


def _nodes(node: dict) -> list[dict]:
    return [node, *(n for child in node.get("Plans", []) for n in _nodes(child))]


def test_other_databases_run_the_statement_through_the_session(session):
    if session.get_bind().dialect.name == "postgresql":
        pytest.skip("SQLite's path")
    stmt = DriverStatement(select(literal(7), SETTINGS.c.key).where(SETTINGS.c.key == bindparam("k")))
    session.execute(insert(SETTINGS).values(key="test.sqlite", value={"a": 1}, updated_at=NOW))
    assert stmt.rows(session, {"k": "test.sqlite"}) == [(7, "test.sqlite")]
