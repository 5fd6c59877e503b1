"""Parallel password guessing against a real multi-worker server (issue 21, findings 1 and 2).

gunicorn with 4 worker processes serves the app; 48 sign-in attempts with wrong passwords (the right
one at position 30) leave 16 threads at once. Before, the failure counter was read and written back
without a lock: 34 passwords were checked and the right one got in. Now every attempt is counted
atomically before its password is looked at: at most ``free + 1`` passwords are checked, the right
one at position 30 is refused, the account is not locked for its owner at another address, and one
address trying 40 accounts (password spraying) is slowed with 429.

Both counter backends: Redis (production, a private ``redis-server``) and the database (embedded mode;
the test database: PostgreSQL with ``TEST_DATABASE_URL``, else a SQLite file).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from argon2 import PasswordHasher
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from backend import db as dbmod
from backend.models import Staff, StaffAudit
from backend.services.city import throttle

from bench import harness

pytestmark = pytest.mark.slow

PASSWORD = "mat-khau-dung-2026"
VICTIM = "nannhan@demo.vn"
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # verify reads the cost from the hash


@pytest.fixture(scope="module")
def scratch_db(tmp_path_factory) -> Iterator[str]:
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        url = f"sqlite:///{tmp_path_factory.mktemp('login') / 'login.db'}"
        dbmod.upgrade(url)
        yield url
        return
    parsed = make_url(dbmod.normalize_url(base))
    name = f"phananh_login_{uuid.uuid4().hex[:8]}"
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = parsed.set(database=name).render_as_string(hide_password=False)
    dbmod.upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module")
def accounts(scratch_db: str) -> list[str]:
    db = dbmod.Database(scratch_db)
    emails = [VICTIM] + [f"canbo{i:02d}@demo.vn" for i in range(40)]
    with db.session_scope() as session:
        for email in emails:
            session.add(Staff(email=email, name=email, password_hash=CHEAP.hash(PASSWORD), role="viewer"))
    db.dispose()
    return emails


@pytest.fixture(scope="module", params=["redis", "database"])
def server(request, scratch_db: str, accounts: list[str]) -> Iterator[tuple[str, dbmod.Database, Any]]:
    redis = None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "REDIS", "DATABASE", "PYTHON"))}
    env.update(DATABASE_URL=scratch_db, PHANANH_ENV="development", SECRET_KEY=uuid.uuid4().hex * 2,
               LOG_LEVEL="WARNING", RATELIMIT_ENABLED="true", MEDIA_DIR=str(Path(scratch_db.split("///")[-1]).parent
                                                                             if "sqlite" in scratch_db else "/tmp"))
    if request.param == "redis":
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server not installed")
        redis = harness.PrivateRedis().start()
        env["REDIS_URL"] = redis.url()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen([str(gunicorn), "-w", "4", "-b", f"127.0.0.1:{port}", "--timeout", "60",
                             "backend.app:create_app()"], env=env, cwd=Path(__file__).parent.parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/healthz", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            assert proc.poll() is None, "gunicorn exited"
            time.sleep(0.2)
    db = dbmod.Database(scratch_db)
    yield base, db, redis
    proc.terminate()
    proc.wait(timeout=30)
    db.dispose()
    if redis is not None:
        redis.cleanup()


def _reset(db: dbmod.Database, redis: Any) -> None:
    with db.session_scope() as session:
        session.execute(text("DELETE FROM login_throttle"))
        session.execute(text("DELETE FROM staff_audit"))
    if redis is not None:
        from redis import Redis

        Redis.from_url(redis.url()).flushdb()


def _prepared(base: str) -> tuple[requests.Session, str]:
    """A browser that opened the login page: its session cookie and CSRF token."""
    browser = requests.Session()
    page = browser.get(base + "/auth/login", timeout=10).text
    return browser, re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _fire(base: str, attempts: list[tuple[str, str]], threads: int = 16) -> list[int]:
    """All attempts at once from ``threads`` threads; the status of each, in order."""
    prepared = [_prepared(base) for _ in attempts]
    statuses: list[int] = [0] * len(attempts)
    barrier = threading.Barrier(threads)
    lock = threading.Lock()
    pending = list(range(len(attempts)))

    def work() -> None:
        barrier.wait()
        while True:
            with lock:
                if not pending:
                    return
                i = pending.pop(0)
            browser, csrf = prepared[i]
            email, password = attempts[i]
            resp = browser.post(base + "/auth/login", data={"email": email, "password": password, "csrf_token": csrf},
                                allow_redirects=False, timeout=60)
            statuses[i] = resp.status_code

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    return statuses


def test_48_parallel_guesses_check_few_passwords_and_refuse_the_right_one(server):
    base, db, redis = server
    _reset(db, redis)
    attempts = [(VICTIM, f"sai-mat-khau-{i:02d}") for i in range(48)]
    attempts[29] = (VICTIM, PASSWORD)  # position 30
    statuses = _fire(base, attempts)
    counts = Counter(statuses)
    print(f"48 parallel sign-ins: {dict(counts)}")
    assert statuses[29] == 429, f"the right password at position 30 got {statuses[29]}"
    assert 303 not in statuses
    assert counts[401] <= throttle.ACCOUNT.free + 1, f"{counts[401]} passwords were checked"
    assert counts[429] >= 48 - throttle.ACCOUNT.free - 1
    with db.session() as session:
        audits = session.execute(text("SELECT kind, email FROM staff_audit")).all()
    assert ("login_backoff", VICTIM) in [tuple(a) for a in audits], "the back-off is audited"
    assert StaffAudit.__tablename__ == "staff_audit"


def test_unknown_account_gets_the_same_answers(server):
    base, db, redis = server
    _reset(db, redis)
    known = _fire(base, [(VICTIM, f"sai-{i}") for i in range(8)], threads=1)
    _reset(db, redis)
    unknown = _fire(base, [("khong-co@demo.vn", f"sai-{i}") for i in range(8)], threads=1)
    assert known == unknown == [401] * 6 + [429] * 2


def test_spraying_40_accounts_from_one_address_is_slowed(server):
    base, db, redis = server
    _reset(db, redis)
    statuses = _fire(base, [(f"canbo{i:02d}@demo.vn", "Matkhau123!") for i in range(40)], threads=4)
    counts = Counter(statuses)
    print(f"spraying 40 accounts: {dict(counts)}")
    assert counts[429] >= 40 - throttle.ADDRESS.free - 1
    assert counts[401] <= throttle.ADDRESS.free + 1
