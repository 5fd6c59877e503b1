"""Database access: the engine, sessions for requests, ``session_scope()`` for jobs and the CLI.

Services receive a ``Session`` and only ``flush()``; whoever opened the session commits once
(the request wrapper in ``app.py``, the job wrapper in ``queue.py``, or ``session_scope``).
"""

from __future__ import annotations

import logging
import os
import select
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, create_engine

log = logging.getLogger(__name__)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # let SQLAlchemy emit BEGIN itself so SAVEPOINTs and transactions behave (pysqlite quirk)
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # take the write lock up front (no SQLITE_BUSY_SNAPSHOT between web and job threads); a connection
    # may opt out with info["sqlite_deferred"] (the tests' long-lived rolled-back transaction)
    conn.exec_driver_sql("BEGIN" if conn.info.get("sqlite_deferred") else "BEGIN IMMEDIATE")


def normalize_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


#: seconds after which a pooled PostgreSQL connection is replaced
POOL_RECYCLE_S = 1800


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Build an engine with sane defaults for PostgreSQL (pool, dead connections dropped at checkout
    without a round trip) and SQLite (WAL, FKs)."""
    url = normalize_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # aware datetimes come back in UTC; no JIT: it costs more than it saves on short OLTP/KPI queries
    kwargs.setdefault("connect_args", {"options": "-c timezone=UTC -c jit=off"})
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_recycle", POOL_RECYCLE_S)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "checkout", _drop_dead_connection)
    return engine


def _drop_dead_connection(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """No pre-ping round trip: a pooled connection whose server went away is noticed locally.

    An idle connection's socket has nothing to read; when PostgreSQL terminates the backend (restart,
    ``pg_terminate_backend``, idle timeout) it sends a FATAL message and closes, so the socket turns
    readable. Such a connection (or one psycopg already knows closed) raises ``DisconnectionError``,
    and the pool discards it and checks out another one (a fresh connection if need be): the request
    goes on. A connection cut silently (no FIN, no RST) is only noticed by the statement that fails.
    """
    reason = _dead(dbapi_conn)
    if reason:
        raise exc.DisconnectionError(reason)


def _dead(dbapi_conn: Any) -> str | None:
    """Why an idle PostgreSQL connection is known dead without a round trip, or None (see above)."""
    if dbapi_conn.closed:
        return "connection already closed"
    try:
        pgconn = getattr(dbapi_conn, "pgconn", None)  # psycopg 3; psycopg2 has fileno()
        sock = pgconn.socket if pgconn is not None else dbapi_conn.fileno()
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError) as error:  # socket gone
        return str(error) or type(error).__name__
    return "the server closed the connection while it was idle in the pool" if readable else None


class _AutocommitConnections:
    """Driver connections kept in autocommit for one-statement hot paths (the Zalo webhook): a LIFO
    list, taken and given back without the engine pool's checkout/checkin machinery (half the CPU of
    that path went there), like ``bench/reference.py``'s pool.

    Each connection is opened through the engine (its URL, connect arguments, ``connect`` events), then
    detached from the engine's pool. At checkout an idle one that is dead (:func:`_dead`, no round
    trip) or older than ``recycle_s`` is closed and the next one taken; at most ``keep`` idle ones are
    kept; one not idle (a statement broken off) is closed, never reused. After a fork the parent's
    connections are forgotten, never used nor closed by the child.
    """

    def __init__(self, engine: Engine, *, keep: int, recycle_s: float) -> None:
        self._engine = engine
        self._keep = keep
        self._recycle_s = recycle_s
        self._idle: list[tuple[Any, float]] = []  # (driver connection, opened at); list ops are atomic
        self._pid = os.getpid()

    def take(self) -> tuple[Any, float]:
        if self._pid != os.getpid():
            self._idle, self._pid = [], os.getpid()
        while self._idle:
            try:
                conn, opened = self._idle.pop()
            except IndexError:  # taken by another thread meanwhile
                break
            if time.monotonic() - opened < self._recycle_s and _dead(conn) is None:
                return conn, opened
            _close_quietly(conn)
        pooled = self._engine.raw_connection()
        conn = pooled.driver_connection
        pooled.detach()  # ours now: the engine's pool opens another one when it needs it
        conn.autocommit = True
        return conn, time.monotonic()

    def give_back(self, conn: Any, opened: float) -> None:
        if (conn.closed or conn.info.transaction_status != conn.info.transaction_status.IDLE
                or len(self._idle) >= self._keep or self._pid != os.getpid()):
            _close_quietly(conn)
            return
        self._idle.append((conn, opened))

    def close(self) -> None:
        idle, self._idle = self._idle, []
        if self._pid == os.getpid():
            for conn, _opened in idle:
                _close_quietly(conn)


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception as error:  # noqa: BLE001 - a dead connection may fail to close cleanly
        log.debug("closing a dead connection: %s", error)


#: idle autocommit connections kept per process when the engine's pool has no fixed size
AUTOCOMMIT_KEEP = 10


class Database:
    """One engine and its session factory; created by the app factory or a worker."""

    def __init__(self, url: str, *, engine: Engine | None = None, bind: Any = None) -> None:
        """``bind`` (a Connection) pins every session to it: tests use one rolled-back transaction."""
        self.url = normalize_url(url)
        self.engine = engine or make_engine(self.url)
        self.bind = bind
        #: as many idle autocommit connections kept as the engine's pool keeps (one per request thread)
        keep = self.engine.pool.size() if hasattr(self.engine.pool, "size") else AUTOCOMMIT_KEEP
        self._autocommit = _AutocommitConnections(self.engine, keep=keep, recycle_s=POOL_RECYCLE_S) \
            if self.engine.dialect.name == "postgresql" and bind is None else None
        if bind is not None:
            self.sessionmaker = sessionmaker(bind=bind, class_=Session, expire_on_commit=False,
                                             join_transaction_mode="create_savepoint")
        else:
            self.sessionmaker = sessionmaker(bind=self.engine, class_=Session, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def session(self) -> Session:
        return self.sessionmaker()

    @contextmanager
    def session_scope(self) -> Iterator[Session]:
        """A unit of work: commit on success, roll back on error, always close."""
        session = self.session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A Core connection in a transaction committed on exit (a SAVEPOINT of the bound test transaction)."""
        if self.bind is not None:
            with self.bind.begin_nested():
                yield self.bind
            return
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def autocommit_connection(self) -> Iterator[Any]:
        """A DBAPI (psycopg) connection in autocommit: each statement commits on its own.

        For hot paths that write with ONE statement (no Session, no BEGIN/COMMIT round trips). Driver
        errors come out as SQLAlchemy ``DBAPIError`` (the app answers 503); a connection the error
        broke is discarded. Bound (tests): the test's connection inside its transaction, no commit.
        """
        dbapi = self.engine.dialect.loaded_dbapi
        if self.bind is not None:
            with _dbapi_errors(dbapi, self.bind.connection):
                yield self.bind.connection.driver_connection
            return
        if self._autocommit is not None:  # PostgreSQL: connections kept in autocommit
            with _dbapi_errors(dbapi, None):
                conn, opened = self._autocommit.take()
            try:
                with _dbapi_errors(dbapi, None):
                    yield conn
            finally:
                self._autocommit.give_back(conn, opened)
            return
        with _dbapi_errors(dbapi, None):
            pooled = self.engine.raw_connection()
        try:
            driver = pooled.driver_connection
            driver.autocommit = True
            try:
                with _dbapi_errors(dbapi, pooled):
                    yield driver
            finally:
                if not driver.closed:
                    driver.autocommit = False
        finally:
            pooled.close()

    def execute_autocommit(self, sql: str, params: Any) -> Any:
        """``autocommit_connection`` for one statement: runs ``sql`` (driver ``%(name)s`` parameters), which
        commits on its own, and returns its first row or None. Same errors as ``autocommit_connection``."""
        conns = self._autocommit
        if conns is None:
            with self.autocommit_connection() as conn:
                return conn.execute(sql, params).fetchone()
        dbapi = self.engine.dialect.loaded_dbapi
        conn = None
        try:
            conn, opened = conns.take()
            return conn.execute(sql, params).fetchone()
        except dbapi.Error as error:
            raise DBAPIError.instance(None, None, error, dbapi.Error,
                                      connection_invalidated=isinstance(error, dbapi.OperationalError)) from error
        finally:
            if conn is not None:
                conns.give_back(conn, opened)

    def dispose(self) -> None:
        if self._autocommit is not None:
            self._autocommit.close()
        self.engine.dispose()


@contextmanager
def _dbapi_errors(dbapi: Any, pooled: Any) -> Iterator[None]:
    """Driver errors as SQLAlchemy's ``DBAPIError`` (what the app's error handlers render as 503)."""
    try:
        yield
    except dbapi.Error as exc:
        broken = isinstance(exc, dbapi.OperationalError) or bool(pooled and pooled.driver_connection.closed)
        if broken and pooled is not None:
            pooled.invalidate(exc)
        raise DBAPIError.instance(None, None, exc, dbapi.Error, connection_invalidated=broken) from exc


_ENGINE_KEYS: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def database_key(session: Session) -> str:
    """Which database ``session`` works on (its engine's URL as text), for per-process caches keyed by
    database: rendered once per engine (``str(url)`` costs a rendering on every call)."""
    engine = session.get_bind().engine
    key = _ENGINE_KEYS.get(engine)
    if key is None:
        key = _ENGINE_KEYS[engine] = str(engine.url)
    return key


def request_session() -> Session:
    """The session of the current Flask request (opened lazily, committed once by the app)."""
    from flask import current_app, g

    session = g.get("db_session")
    if session is None:
        session = g.db_session = current_app.extensions["phananh.db"].session()
    return session


#: the Alembic scripts ship inside the package: found wherever ``backend`` is installed (a wheel in
#: site-packages, an editable checkout), never relative to the working directory
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Any:
    """An Alembic Config for ``url`` that does not touch the application's logging."""
    from alembic.config import Config

    cfg = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    cfg.attributes["configure_logging"] = False
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (creates the SQLite directory if needed)."""
    from alembic import command

    _ensure_sqlite_dir(url)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "-1") -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def _ensure_sqlite_dir(url: str) -> None:
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
