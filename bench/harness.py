"""Start and stop the pieces of a real deployment on 127.0.0.1 for benchmarks, load and fault tests.

- :class:`PrivatePostgres`: a throw-away PostgreSQL cluster (``initdb`` in a temporary directory,
  its own port and socket directory). PostgreSQL refuses to run as root, so as root every server
  command runs as the ``postgres`` user (``runuser``). The shared servers are never touched.
- :class:`PrivateRedis`: ``redis-server`` on its own port, no persistence.
- :func:`gunicorn` / :func:`worker`: the app (``wsgi:app``) or any WSGI target, and
  ``phananh worker`` processes, with the environment of :func:`app_env`.
- :func:`prepare_database`: ``phananh db upgrade`` + ``phananh demo seed``.
- :class:`Stack`: all of the above as one context manager with a clean teardown.

Everything is bounded: every wait has a timeout, and teardown kills what did not stop in time.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import suppress
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PROJECT = "demo-phananh"
GUNICORN_WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", "2"))
GUNICORN_THREADS = int(os.environ.get("BENCH_GUNICORN_THREADS", "8"))


def exit_on_sigterm() -> None:
    """Turn SIGTERM (``timeout``, CI cancel) into SystemExit so every ``with``/``finally`` cleans up."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    """Wait until something listens on 127.0.0.1:port (fail early if ``proc`` died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode}")
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on port {port} after {timeout:.0f} s")


def wait_http(url: str, timeout: float = 30.0, status: int = 200) -> None:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback only
                if resp.status == status:
                    return
                last = resp.status
        except Exception as exc:  # noqa: BLE001
            last = exc
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout:.0f} s: {last}")


def stop_process(proc: subprocess.Popen | None, timeout: float = 10.0, sig: int = signal.SIGTERM) -> None:
    """Signal one process we started, wait, then SIGKILL it if it is still there."""
    if proc is None or proc.poll() is not None:
        return
    with suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            proc.kill()
        proc.wait(5)


# --------------------------------------------------------------------------- PostgreSQL


def pg_bindir() -> Path | None:
    """The newest PostgreSQL server binaries on this machine (None when there are none)."""
    env = os.environ.get("PG_BINDIR")
    if env and (Path(env) / "initdb").exists():
        return Path(env)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def postgres_unavailable() -> str | None:
    """Why a private cluster cannot be started here, or None."""
    if pg_bindir() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) not found"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root without runuser"
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user"
    return None


class PrivatePostgres:
    """A PostgreSQL cluster of our own in a temporary directory (never the shared server)."""

    def __init__(self, port: int | None = None, *, settings: dict[str, str] | None = None) -> None:
        reason = postgres_unavailable()
        if reason:
            raise RuntimeError(reason)
        self.bindir = pg_bindir()
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="phananh-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.settings = {"listen_addresses": "127.0.0.1", "max_connections": "200",
                         "shared_buffers": "256MB", **(settings or {})}
        if os.geteuid() == 0:
            import pwd

            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.dir.chmod(0o700)

    def _run(self, *cmd: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        argv = [str(self.bindir / cmd[0]), *cmd[1:]]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=timeout,
                              cwd=self.dir)

    def start(self) -> PrivatePostgres:
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                      "--locale=C.UTF-8", "--no-sync")
        opts = " ".join([f"-p {self.port}", f"-k {self.dir}"] + [f"-c {k}={v}" for k, v in self.settings.items()])
        self._run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.log), "-w", "-t", "60", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def restart(self) -> None:
        self.stop("fast")
        self.start()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def cleanup(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------- Redis


class PrivateRedis:
    """``redis-server`` on its own port without persistence (stop/start it freely)."""

    def __init__(self, port: int | None = None) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server not found")
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.dir = Path(tempfile.mkdtemp(prefix="phananh-redis-"))

    def start(self) -> PrivateRedis:
        """Start (or start again: a dump saved by ``SHUTDOWN SAVE`` in our directory is loaded)."""
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--protected-mode", "no", "--loglevel", "warning", "--dir", str(self.dir)],
            cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, 15, self.proc)
        return self

    def stop(self) -> None:
        stop_process(self.proc, 10)
        self.proc = None

    def shutdown_save(self) -> None:
        """Stop the way a maintenance restart does: the queues are saved and reloaded by ``start``."""
        subprocess.run(["redis-cli", "-p", str(self.port), "shutdown", "save"], capture_output=True,
                       timeout=30, check=False)
        if self.proc is not None:
            self.proc.wait(30)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


# --------------------------------------------------------------------------- the app


def app_env(database_url: str, redis_url: str | None, media_dir: str | Path, **extra: str) -> dict[str, str]:
    """Environment for gunicorn, workers and the CLI: development mode, Firebase emulator tokens."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "PYTEST_"))}
    env.update({
        "PHANANH_ENV": "development", "DATABASE_URL": database_url, "MEDIA_DIR": str(media_dir),
        "SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789", "FIREBASE_PROJECT_ID": PROJECT,
        "FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9", "RATELIMIT_ENABLED": "false", "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT), "ZALO_APP_ID": "bench-app-id", "ZALO_OA_SECRET_KEY": "bench-oa-secret",
        "ZALO_ACCESS_TOKEN": "bench-access-token", "ZALO_API_BASE": "http://127.0.0.1:9",
        "ZALO_OAUTH_BASE": "http://127.0.0.1:9", "FCM_ENDPOINT": "http://127.0.0.1:9",
    })
    if redis_url:
        env["REDIS_URL"] = redis_url
    else:
        env.pop("REDIS_URL", None)
    env.update(extra)
    return env


def phananh(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    """Run ``phananh <args>`` (``python -m backend``) and return its output; raises on failure."""
    res = subprocess.run([PY, "-m", "backend", *args], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"phananh {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res.stdout


def prepare_database(env: dict[str, str], *, seed: bool = True) -> None:
    phananh(env, "db", "upgrade")
    if seed:
        phananh(env, "demo", "seed")


def gunicorn(target: str, env: dict[str, str], *, port: int | None = None, workers: int = GUNICORN_WORKERS,
             threads: int = GUNICORN_THREADS, log: Path | None = None, ready_path: str | None = None
             ) -> tuple[subprocess.Popen, int]:
    """Serve ``target`` (``module:app``) with gthread workers; returns (process, port) once it answers."""
    port = port or free_port()
    cmd = [PY, "-m", "gunicorn", target, "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
           "--worker-class", "gthread", "--threads", str(threads), "--keep-alive", "30", "--backlog", "2048",
           "--graceful-timeout", "5", "--timeout", "60", "--log-level", "warning", "--chdir", str(ROOT)]
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=out)
    wait_port(port, 60, proc)
    if ready_path:
        wait_http(f"http://127.0.0.1:{port}{ready_path}", 60)
    return proc, port


#: the production layout of docs/operations.md: latency queues in a worker running jobs in-process,
#: photo and bulk queues in a forking worker (a work-horse per job)
SPLIT_WORKERS = ((("bot", "default"), True), (("media", "bulk"), False))


def worker(env: dict[str, str], *, queues: tuple[str, ...] = (), burst: bool = False, simple: bool = False,
           log: Path | None = None) -> subprocess.Popen:
    """One ``phananh worker`` process (RQ; forks a work-horse per job unless ``simple``)."""
    cmd = [PY, "-m", "backend", "worker"]
    for q in queues:
        cmd += ["-q", q]
    if burst:
        cmd.append("--burst")
    if simple:
        cmd.append("--simple")
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=out)


def machine() -> dict[str, str]:
    """nproc, memory, CPU model and versions: the context every figure is read in."""
    import platform

    info = {"nproc": str(os.cpu_count()), "python": platform.python_version(), "os": platform.platform()}
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory"] = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    bindir = pg_bindir()
    with suppress(Exception):
        info["postgresql"] = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True,
                                            text=True, timeout=10).stdout.split()[2]
    with suppress(Exception):
        info["redis"] = subprocess.run(["redis-server", "--version"], capture_output=True, text=True,
                                       timeout=10).stdout.split()[2].removeprefix("v=")
    with suppress(Exception):
        import flask
        import gunicorn as gunicorn_pkg
        import rq
        import sqlalchemy

        info.update(gunicorn=gunicorn_pkg.__version__, flask=flask.__version__, sqlalchemy=sqlalchemy.__version__,
                    rq=rq.__version__)
    return info


# --------------------------------------------------------------------------- everything together


class Stack:
    """Private PostgreSQL + Redis + a migrated, seeded database + gunicorn + workers.

    ``with Stack() as s: s.start_app(); s.start_workers(2)``; ``database_url`` reuses an existing
    server instead of a private cluster (a throw-away database is created on it).
    """

    def __init__(self, *, database_url: str | None = None, seed: bool = True, pg_settings: dict | None = None) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="phananh-stack-"))
        self.media = self.tmp / "media"
        self.media.mkdir()
        self.logs = self.tmp / "logs"
        self.logs.mkdir()
        self._database_url = database_url
        self._seed = seed
        self._pg_settings = pg_settings
        self.pg: PrivatePostgres | None = None
        self.redis: PrivateRedis | None = None
        self.app: subprocess.Popen | None = None
        self.port = 0
        self.workers: list[subprocess.Popen] = []
        self.env: dict[str, str] = {}

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def start(self) -> None:
        if self._database_url:
            import psycopg

            name = f"phananh_bench_{os.getpid()}"
            with psycopg.connect(self._database_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                conn.execute(f'CREATE DATABASE "{name}"')
            self.database_url = self._database_url.rsplit("/", 1)[0] + "/" + name
        else:
            self.pg = PrivatePostgres(settings=self._pg_settings).start()
            self.database_url = self.pg.create_database("phananh")
        self.redis = PrivateRedis().start()
        self.env = app_env(self.database_url, self.redis.url(0), self.media)
        prepare_database(self.env, seed=self._seed)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_app(self, **kw: Any) -> int:
        self.app, self.port = gunicorn("wsgi:app", self.env, log=self.logs / "gunicorn.log",
                                       ready_path="/healthz", **kw)
        return self.port

    def stop_app(self) -> None:
        stop_process(self.app)
        self.app = None

    def start_workers(self, n: int = 2, *, split: bool = False) -> None:
        """``n`` forking workers on every queue, or (``split``) the production layout: workers alternate
        between ``SPLIT_WORKERS`` kinds (in-process jobs for bot/default, forking for media/bulk)."""
        for _ in range(n):
            queues, simple = SPLIT_WORKERS[len(self.workers) % 2] if split else ((), False)
            self.start_worker(queues=queues, simple=simple)

    def start_worker(self, *, queues: tuple[str, ...] = (), simple: bool = False) -> subprocess.Popen:
        proc = worker(self.env, queues=queues, simple=simple, log=self.logs / f"worker{len(self.workers)}.log")
        proc.phananh_spec = (queues, simple)  # type: ignore[attr-defined]  # to restart it the same way
        self.workers.append(proc)
        return proc

    def stop_workers(self) -> None:
        for proc in self.workers:
            stop_process(proc, 15, signal.SIGTERM)
        self.workers.clear()

    def engine(self) -> Any:
        from backend.db import make_engine

        return make_engine(self.database_url, pool_size=2, max_overflow=2)

    def close(self) -> None:
        with suppress(Exception):
            self.stop_workers()
        with suppress(Exception):
            self.stop_app()
        with suppress(Exception):
            if self.redis:
                self.redis.cleanup()
        with suppress(Exception):
            if self.pg:
                self.pg.cleanup()
            elif self._database_url and getattr(self, "database_url", None):
                import psycopg

                name = self.database_url.rsplit("/", 1)[1]
                with psycopg.connect(self._database_url, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(self.tmp, ignore_errors=True)
