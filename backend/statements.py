"""Hot-path statements on the driver's cursor: :func:`driver_execute` and :class:`DriverStatement`.

An intake runs a handful of fixed statements on every request; SQLAlchemy's execution layer (compile-cache
walk, parameter construction, ``CursorResult`` set-up) cost more CPU than psycopg itself for them. These run
them on the psycopg cursor of the session's transaction while keeping what matters of SQLAlchemy: the
statement is still Core (one definition for every dialect), its parameters go through the column types'
processors, statement listeners still see it, errors are SQLAlchemy's. See docs/performance.md.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlmodel import Session


def driver_execute(session: Session, sql: str, params: dict[str, Any]) -> Any:
    """Run ``sql`` (driver ``%(name)s`` parameters) in the session's transaction directly on the driver's
    cursor, and return that cursor (``fetchone``/``fetchall``/``rowcount``).

    For a hot path's fixed statements on PostgreSQL: no SQLAlchemy compilation, parameter or result
    processing (values must be what the driver adapts: ``str``, numbers, aware datetimes, lists, JSON as
    text with a cast). The engine's and the connection's ``before_cursor_execute`` /
    ``after_cursor_execute`` listeners still see the statement (``context`` is None). Driver errors come
    out as SQLAlchemy's ``DBAPIError`` subclasses (``IntegrityError`` …), as from ``session.execute``; a
    connection the error broke is invalidated.
    """
    conn = session.connection()
    driver = conn.connection.driver_connection
    before, after = conn.dispatch.before_cursor_execute, conn.dispatch.after_cursor_execute
    cursor = driver.cursor()
    if before:
        before(conn, cursor, sql, params, None, False)
    try:
        cursor.execute(sql, params)
    except conn.dialect.loaded_dbapi.Error as error:
        dbapi = conn.dialect.loaded_dbapi
        broken = driver.closed or conn.dialect.is_disconnect(error, driver, cursor)
        if broken:
            conn.invalidate(error)
        raise DBAPIError.instance(sql, params, error, dbapi.Error, connection_invalidated=broken) from error
    if after:
        after(conn, cursor, sql, params, None, False)
    return cursor


class DriverStatement:
    """A Core statement compiled once per dialect and, on PostgreSQL, run on the driver's cursor
    (:func:`driver_execute`): the hot path's statements without SQLAlchemy's per-execution compile-cache
    walk, parameter construction and result set-up, still written as Core (one definition, any dialect).

    Parameters go through the same type processors SQLAlchemy applies (JSON, ``UTCDateTime`` …); constant
    lists (``not_in([...])``) are rendered into the SQL once. Variable lists must be array parameters
    (``col == any_(bindparam(..., type_=ARRAY(...)))``): an expanding parameter is refused when compiled.
    Python-side column defaults are not run: a statement leaving such a column out is refused when compiled.
    Other databases (and drivers) run the statement through ``session.execute``. Rows come back as tuples.
    """

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, dict[str, Any], tuple[tuple[str, Any], ...],
                                        tuple[tuple[int, Any], ...]]] = {}

    def rows(self, session: Session, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The statement's rows (all of them; none for DML without RETURNING) for ``params``."""
        dialect = session.get_bind().dialect
        if dialect.name != "postgresql" or dialect.driver != "psycopg":
            result = session.execute(self.statement, params)
            return [tuple(row) for row in result] if getattr(result, "returns_rows", True) else []
        sql, defaults, binders, results = self._compiled.get(dialect.name) or self._compile(dialect)
        values = {**defaults, **params}
        for name, process in binders:
            if name in params:
                values[name] = process(params[name])
        cursor = driver_execute(session, sql, values)
        if not _has_rows(cursor):
            return []
        rows = cursor.fetchall()
        if results is None:
            results = self._results(dialect, cursor)
        if results:
            rows = [_processed(row, results) for row in rows]
        return rows

    def sql(self, dialect: Any) -> str:
        """The driver SQL text run on ``dialect`` (``%(name)s`` parameters; for EXPLAIN and logs)."""
        return (self._compiled.get(dialect.name) or self._compile(dialect))[0]

    def _compile(self, dialect: Any) -> tuple[str, dict[str, Any], tuple[tuple[str, Any], ...],
                                              tuple[tuple[int, Any], ...]]:
        compiled = self.statement.compile(dialect=dialect)
        if compiled.positional or compiled.escaped_bind_names:
            raise TypeError("DriverStatement needs named parameters with plain names")
        if compiled.insert_prefetch or compiled.update_prefetch:
            raise TypeError("DriverStatement runs no Python-side column defaults: give "
                            + ", ".join(c.key for c in [*compiled.insert_prefetch, *compiled.update_prefetch]))
        required, processors = set(), {}
        for bind, name in compiled.bind_names.items():
            if bind.expanding and bind.value is None:
                raise TypeError(f"DriverStatement: expanding parameter {name!r}; use an array parameter")
            if bind.required:
                required.add(name)
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors[name] = process
        # constant lists (``not_in([...])``) rendered into the SQL once: the text depends on none of our values
        expanded = compiled.construct_expanded_state({name: None for name in required})
        processors.update(expanded.processors)   # those of the constant lists' own parameters
        defaults = {name: value for name, value in expanded.parameters.items() if name not in required}
        for name, value in defaults.items():   # processed once, like given values are on every run
            if value is not None and name in processors:
                defaults[name] = processors[name](value)
        binders = tuple((name, process) for name, process in processors.items() if name in required)
        entry = self._compiled[dialect.name] = (expanded.statement, defaults, binders, None)
        return entry

    def _results(self, dialect: Any, cursor: Any) -> tuple[tuple[int, Any], ...]:
        """The result processors of the columns (known from the first result's column types), once."""
        columns = getattr(self.statement, "selected_columns", None) or ()
        types = [d.type_code for d in cursor.description]
        processors = (c.type.dialect_impl(dialect).result_processor(dialect, code)
                      for c, code in zip(columns, types, strict=False))
        results = tuple((i, p) for i, p in enumerate(processors) if p is not None)
        sql, defaults, binders, _ = self._compiled[dialect.name]
        self._compiled[dialect.name] = (sql, defaults, binders, results)
        return results


def _has_rows(cursor: Any) -> bool:
    """Whether the statement just run returned a result set (not a bare INSERT/UPDATE), without asking
    for ``cursor.description`` (built anew on every call)."""
    from psycopg import pq

    result = cursor.pgresult
    return result is not None and result.status == pq.ExecStatus.TUPLES_OK


def _processed(row: tuple[Any, ...], results: tuple[tuple[int, Any], ...]) -> tuple[Any, ...]:
    values = list(row)
    for index, process in results:
        values[index] = process(values[index])
    return tuple(values)
