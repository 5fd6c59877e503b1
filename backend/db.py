"""Database access: the engine, sessions for requests, ``session_scope()`` for jobs and the CLI.

Services receive a ``Session`` and only ``flush()``; whoever opened the session commits once
(the request wrapper in ``app.py``, the job wrapper in ``queue.py``, or ``session_scope``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
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


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Build an engine with sane defaults for PostgreSQL (pre-ping pool) and SQLite (WAL, FKs)."""
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
    kwargs.setdefault("pool_recycle", 1800)
    return create_engine(url, pool_pre_ping=True, **kwargs)


class Database:
    """One engine and its session factory; created by the app factory or a worker."""

    def __init__(self, url: str, *, engine: Engine | None = None, bind: Any = None) -> None:
        """``bind`` (a Connection) pins every session to it: tests use one rolled-back transaction."""
        self.url = normalize_url(url)
        self.engine = engine or make_engine(self.url)
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

    def dispose(self) -> None:
        self.engine.dispose()


def request_session() -> Session:
    """The session of the current Flask request (opened lazily, committed once by the app)."""
    from flask import current_app, g

    session = g.get("db_session")
    if session is None:
        session = g.db_session = current_app.extensions["phananh.db"].session()
    return session


MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Any:
    """An Alembic Config for ``url`` that does not touch the application's logging."""
    from alembic.config import Config

    cfg = Config(str(MIGRATIONS_DIR.parent / "alembic.ini"))
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
