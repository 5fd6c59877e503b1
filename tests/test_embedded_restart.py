"""Embedded mode after ``kill -9``: the jobs the dead process had taken run again within seconds.

Issue 21 (10): ``phananh run`` keeps dispatched jobs in an in-memory queue; a process killed with
SIGKILL leaves their outbox rows marked dispatched and never done. The restarted process re-dispatches
them on its first relay tick — before, they waited for their stale time (about 4 minutes).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlmodel import select

from backend.db import Database
from backend.models import Outbox
from backend.models.base import utcnow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(tmp_path: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "REDIS", "DATABASE"))}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'run.db'}", MEDIA_DIR=str(tmp_path / "media"),
               PHANANH_ENV="development")
    exe = Path(sys.executable).with_name("phananh")
    proc = subprocess.Popen([str(exe), "run", "--port", str(port)], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except requests.ConnectionError:
            time.sleep(0.2)
        assert proc.poll() is None, "phananh run exited"
    proc.kill()
    pytest.fail("no /healthz within 120 s")


@pytest.mark.slow
def test_jobs_of_a_killed_embedded_process_run_within_seconds_of_the_restart(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'run.db'}")
    first = _serve(tmp_path, _free_port())
    # the state a running process keeps for a job it has taken: the row marked dispatched (as the app
    # marks it before pushing it into its in-memory queue), written a while ago, not done
    with db.session_scope() as session:
        row = Outbox(job_name="handlers.outbox.noop", args={}, queue="default",
                     created_at=utcnow() - timedelta(seconds=20), dispatched_at=utcnow() - timedelta(seconds=2))
        session.add(row)
        session.flush()
        outbox_id = row.id
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)

    second = _serve(tmp_path, _free_port())
    try:
        restarted = time.monotonic()
        done_at = None
        while time.monotonic() - restarted < 15 and done_at is None:
            time.sleep(0.25)
            with db.session() as session:
                done_at = session.exec(select(Outbox.done_at).where(Outbox.id == outbox_id)).one()
        waited = time.monotonic() - restarted
    finally:
        second.terminate()
        second.wait(timeout=10)
        db.dispose()
    assert done_at is not None, "the killed process's job did not run within 15 s of the restart"
    assert waited < 10, f"took {waited:.1f} s"
