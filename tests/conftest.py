"""Shared fixtures.

- The schema comes from ``alembic upgrade head`` once per test session: on a fresh database
  created from ``TEST_DATABASE_URL`` (PostgreSQL in CI) or a temporary SQLite file.
- Each test runs in one transaction that is rolled back (``db`` / ``session`` / ``app``).
- Jobs go through the real outbox and real RQ: on ``TEST_REDIS_URL`` when set, else fakeredis.
  ``run_jobs()`` runs every queued job in-process (an RQ SimpleWorker in burst mode).
- ``live_db`` is for tests that need committed data seen by other threads/processes
  (live HTTP servers, concurrency): it truncates every table afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel

from backend import db as dbmod
from backend import queue, runners
from backend.app import create_app
from backend.config import Settings
from backend.db import Database, make_engine, normalize_url

TEST_SECRET = "test-secret-key-0123456789abcdef0123456789"

# Hypothesis profiles: ``ci`` (the default, used by ``make test``) is derandomised — the same examples on every
# run, no example database — so a red build is reproducible; ``deep`` (``make test-deep``) explores many more
# random examples; ``dev`` is hypothesis' own default (random, remembers failures). HYPOTHESIS_PROFILE picks one.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("deep", max_examples=1000, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
SAFE_SOCKET_HOSTS = {"127.0.0.1", "::1", "localhost"}


# --------------------------------------------------------------------------- network guard


@pytest.fixture(autouse=True, scope="session")
def _loopback_only() -> Iterator[None]:
    """Tests never touch the internet: any non-loopback DNS lookup fails loudly."""
    import socket

    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode()
        if host not in SAFE_SOCKET_HOSTS and not str(host).startswith("127."):
            raise OSError(f"test tried to reach {host!r}")
        return real(host, *args, **kwargs)

    socket.getaddrinfo = guarded
    yield
    socket.getaddrinfo = real


# --------------------------------------------------------------------------- database


def _create_pg_database(base_url: str) -> tuple[str, Callable[[], None]]:
    url = make_url(normalize_url(base_url))
    name = f"phananh_t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


def pytest_configure(config: pytest.Config) -> None:
    """The English catalog compiled as ``make install`` and the wheel build do (``.mo`` files are not committed):
    a checkout whose ``.po`` changed gets fresh ``.mo`` files before any app renders a page."""
    from backend import i18n

    i18n.compile_catalogs()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = os.environ.get("TEST_DATABASE_URL")
    if base:
        url, drop = _create_pg_database(base)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        drop = lambda: None  # noqa: E731
    dbmod.upgrade(url)
    yield url
    drop()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Any]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def connection(engine: Any) -> Iterator[Any]:
    conn = engine.connect()
    conn.info["sqlite_deferred"] = True  # SQLite: do not hold the write lock for the whole test
    trans = conn.begin()
    yield conn
    if trans.is_active:
        trans.rollback()
    conn.info.pop("sqlite_deferred", None)
    conn.close()


@pytest.fixture
def db(database_url: str, engine: Any, connection: Any) -> Database:
    """A Database whose every session joins the test's rolled-back transaction."""
    return Database(database_url, engine=engine, bind=connection)


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    s = db.session()
    yield s
    s.close()


@pytest.fixture
def live_db(database_url: str, engine: Any) -> Iterator[Database]:
    """Real commits (other threads and processes see them); every table is emptied afterwards."""
    database = Database(database_url, engine=engine)
    yield database
    truncate_all(engine)


def truncate_all(engine: Any) -> None:
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                conn.execute(text(f'DELETE FROM "{t}"'))  # noqa: S608 - table names from metadata


# --------------------------------------------------------------------------- redis and jobs


def _redis_db_for_worker(url: str) -> int:
    """Each pytest-xdist worker gets its own Redis database number (the fixture flushes it)."""
    from urllib.parse import urlparse

    base = int((urlparse(url).path or "/0").strip("/") or 0)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return (base + int(worker.removeprefix("gw") or 0)) % 16


@pytest.fixture
def redis_conn() -> Iterator[Any]:
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        from urllib.parse import urlparse, urlunparse

        from redis import Redis

        # the database number must be in the URL: from_url() lets the URL's /N win over a db= argument
        conn = Redis.from_url(urlunparse(urlparse(url)._replace(path=f"/{_redis_db_for_worker(url)}")))
        conn.flushdb()
        yield conn
        conn.flushdb()
        conn.close()
    else:
        import fakeredis

        conn = fakeredis.FakeRedis()
        yield conn
        conn.flushall()


@pytest.fixture
def runner(redis_conn: Any, db: Database, settings: Settings) -> Iterator[runners.RQRunner]:
    """The test's RQ runner, installed as the job runtime (jobs never go to an earlier test's)."""
    rq_runner = runners.RQRunner(connection=redis_conn)
    queue.install(queue.Runtime(db=db, runner=rq_runner, config={"settings": settings}))
    yield rq_runner
    queue._runtime = None


@pytest.fixture
def run_jobs(runner: runners.RQRunner) -> Callable[..., None]:
    """Run every queued job (and jobs they enqueue) in this process, like a worker would."""

    def run(queues: tuple[str, ...] = queue.QUEUES, rounds: int = 5) -> None:
        for _ in range(rounds):
            if not any(runner.queue(q).count for q in queues):
                return
            runner.run_burst(queues)

    return run


# --------------------------------------------------------------------------- app


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(phananh_env="test", database_url=database_url, secret_key=TEST_SECRET,
                    media_dir=tmp_path / "media", redis_url=None, ratelimit_enabled=False,
                    base_url="http://localhost")


@pytest.fixture
def app(settings: Settings, db: Database, runner: runners.RQRunner) -> Any:
    application = create_app(settings, database=db, runner=runner)
    application.config["TESTING"] = True
    return application


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


# --------------------------------------------------------------------------- demo city


@pytest.fixture
def demo_city(session: Session) -> Any:
    """The demo city pack loaded into the test transaction (units, categories, wards, rules)."""
    from backend.services.city import loading as cities

    cities.load_demo(session=session)
    session.flush()
    return cities
