"""`phananh run` (what `make run` ends with) migrates, seeds and serves /healthz on a bare machine."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_phananh_run_serves_healthz_within_two_minutes(tmp_path: Path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "REDIS", "DATABASE"))}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'run.db'}", MEDIA_DIR=str(tmp_path / "media"),
               PHANANH_ENV="development")
    exe = Path(sys.executable).with_name("phananh")
    proc = subprocess.Popen([str(exe), "run", "--port", str(port)], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                r = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                if r.status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.3)
            assert proc.poll() is None, proc.stdout.read()
        else:
            pytest.fail("no /healthz within 120 s")
        ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).json()
        assert ready["checks"] == {"database": "ok", "jobs": "embedded"}
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert "phananh-demo-2026" in out and "dieuphoi@demo.phananh.vn" in out
