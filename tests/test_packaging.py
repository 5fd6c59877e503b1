"""The wheel is the product: built from what the Containerfile copies, installed outside the checkout, it
migrates, seeds and serves (issue 21, finding 11: the migrations were not in the package).

The test does what the image's build stage does, offline: copy the paths of the Containerfile's build
``COPY`` lines into an empty directory, build the wheel there, install it (without dependencies, which
this test borrows from the development virtualenv) into a directory outside the checkout, then run
``phananh db upgrade``, ``phananh demo seed`` and the image's ``CMD`` (gunicorn with the app factory)
from there. ``.ci/run`` does the same with a fresh virtualenv and dependencies from the registry.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
CONTAINERFILE = ROOT / "Containerfile"

pytestmark = pytest.mark.slow


def _stages() -> dict[str, list[str]]:
    """Instructions of each stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", CONTAINERFILE.read_text(encoding="utf-8"))
    stages: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            current = line.split()[-1]
            stages[current] = []
        elif current:
            stages[current].append(line)
    return stages


def _build_copies() -> list[str]:
    """Source paths of the build stage's COPY lines (not ``--from`` copies)."""
    sources = []
    for line in _stages()["build"]:
        words = shlex.split(line)
        if words[0].upper() == "COPY" and not any(w.startswith("--from") for w in words):
            sources += [w for w in words[1:-1] if not w.startswith("--")]
    return sources


def _cmd() -> list[str]:
    import json

    line = next(i for i in _stages()["runtime"] if i.upper().startswith("CMD "))
    return json.loads(line[4:])


def test_containerfile_is_multi_stage_non_root_with_the_wheel_inside():
    stages = _stages()
    assert list(stages) == ["build", "runtime"]
    runtime = stages["runtime"]
    users = [i.split()[1] for i in runtime if i.upper().startswith("USER ")]
    assert users and not users[-1].startswith(("0", "root")), "the runtime stage must not run as root"
    assert any("COPY --from=build /wheels" in i for i in runtime)
    assert any("--no-index" in i and "phananh" in i for i in runtime), "installs the wheel built in the image"
    for source in _build_copies():
        assert (ROOT / source).exists(), f"the Containerfile copies {source}, which the checkout lacks"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel built from the Containerfile's inputs, installed (no dependencies) outside the checkout."""
    src = tmp_path_factory.mktemp("context")
    for source in _build_copies():
        path = ROOT / source
        if path.is_dir():
            shutil.copytree(path, src / source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / source)
    dist = tmp_path_factory.mktemp("wheels")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(dist), str(src)], check=True, capture_output=True)
    wheel = next(dist.glob("phananh-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("backend/migrations/env.py", "backend/migrations/alembic.ini",
                   "backend/migrations/script.py.mako", "backend/demo/city.yaml", "backend/demo/wards.geojson",
                   "backend/web/templates/web/login.html", "backend/web/static/app.js"):
        assert needed in names, f"{needed} is not in the wheel"
    versions = sorted(p.name for p in (ROOT / "backend/migrations/versions").glob("*.py"))
    assert versions and all(f"backend/migrations/versions/{v}" in names for v in versions)
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    str(wheel)], check=True, capture_output=True)
    return target


def _env(target: Path, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "REDIS", "DATABASE", "PYTHON"))}
    env.update(PYTHONPATH=str(target), DATABASE_URL=f"sqlite:///{workdir / 'phananh.db'}",
               MEDIA_DIR=str(workdir / "media"), PHANANH_ENV="development")
    return env


def _phananh(target: Path, workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from backend.__main__ import main; main()", *args],
                          cwd=workdir, env=_env(target, workdir), capture_output=True, text=True, timeout=120)


def test_installed_wheel_migrates_seeds_and_serves(installed: Path, tmp_path: Path):
    where = subprocess.run([sys.executable, "-c", "import backend; print(backend.__file__)"], cwd=tmp_path,
                           env=_env(installed, tmp_path), capture_output=True, text=True, check=True)
    assert where.stdout.strip().startswith(str(installed)), "the test must run the installed copy"

    upgrade = _phananh(installed, tmp_path, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr[-2000:]
    seed = _phananh(installed, tmp_path, "demo", "seed")
    assert seed.returncode == 0, seed.stderr[-2000:]
    assert "dieuphoi@demo.phananh.vn" in seed.stdout

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = _cmd()
    assert cmd[0] == "gunicorn"
    args = [a if not a.startswith("0.0.0.0:") else f"127.0.0.1:{port}" for a in cmd[1:]]
    args[args.index("--workers") + 1] = "1"
    gunicorn = Path(sys.executable).with_name("gunicorn")
    proc = subprocess.Popen([str(gunicorn), *args], cwd=tmp_path, env=_env(installed, tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
                break
            except (requests.ConnectionError, requests.Timeout):
                assert proc.poll() is None, proc.stderr.read()[-2000:]
                time.sleep(0.2)
        else:
            pytest.fail("gunicorn did not answer within 60 s")
        assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
        login = requests.get(f"http://127.0.0.1:{port}/auth/login", timeout=5)
        assert login.status_code == 200 and "Đăng nhập" in login.text  # templates and static ship too
        css = requests.get(f"http://127.0.0.1:{port}/static/web/app.css", timeout=5)
        assert css.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)
