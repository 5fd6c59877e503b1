"""The composition root: ``create_app(settings=None)`` wires settings, database, jobs and channels."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import Flask, Response, g, jsonify, request
from sqlalchemy import text

from backend import http, observability, queue, runners
from backend.config import Settings
from backend.db import Database, request_session
from backend.services import residents

log = logging.getLogger(__name__)

#: blueprints registered when their module exists: (module, attribute)
BLUEPRINTS: tuple[tuple[str, str], ...] = (
    ("backend.api.v1", "bp"),
    ("backend.api.media", "bp"),
    ("backend.api.open311", "bp"),
    ("backend.web", "bp"),
    ("bots.zalo.webhook", "bp"),
)


def create_app(settings: Settings | None = None, *, database: Database | None = None,
               runner: queue.Runner | None = None) -> Flask:
    """Build the WSGI app. ``database`` and ``runner`` are injected by tests and the worker."""
    settings = settings or Settings()
    settings.check_production()
    observability.configure_logging(settings.log_level, settings.log_json)
    app = Flask(__name__, static_folder=None)
    _configure(app, settings)
    db = database or Database(settings.database_url)
    residents.forget_identities()  # the per-process uid → resident cache belongs to one database
    app.extensions["phananh.settings"] = settings
    app.extensions["phananh.db"] = db
    job_runner = runner or _make_runner(settings)
    app.extensions["phananh.runner"] = job_runner
    queue.install(queue.Runtime(db=db, runner=job_runner, context=app.app_context,
                                config={"settings": settings}))
    _install_extensions(app, settings)
    _install_session_lifecycle(app)
    observability.init_app(app)
    http.install_errors(app)
    _register_health(app)
    _register_blueprints(app)
    _register_cli(app)
    return app


def _configure(app: Flask, settings: Settings) -> None:
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes + 64 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        SESSION_COOKIE_NAME="phananh_session",
        JSON_SORT_KEYS=False,
        PHANANH_ENV=settings.phananh_env,
        RATELIMIT_ENABLED=settings.ratelimit_enabled,
        RATELIMIT_STORAGE_URI=settings.redis_url or "memory://",
        RATELIMIT_HEADERS_ENABLED=True,
        # Redis down must not turn writes into 500s: fall back to per-process counters
        RATELIMIT_SWALLOW_ERRORS=True,
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]


def _make_runner(settings: Settings) -> queue.Runner:
    if settings.redis_url:
        return runners.RQRunner(settings.redis_url)
    return runners.ThreadRunner()


def _install_extensions(app: Flask, settings: Settings) -> None:
    from flask_babel import Babel

    Babel(app, locale_selector=http.locale)
    http.limiter.init_app(app)


def _install_session_lifecycle(app: Flask) -> None:
    """One session per request, committed once after the view (rolled back on any error)."""

    @app.before_request
    def _request_id() -> None:
        g.request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex[:16]

    @app.after_request
    def _commit(response: Response) -> Response:
        session = g.pop("db_session", None)
        if session is None:
            return _stamp(response)
        try:
            if g.get("db_rollback") or response.status_code >= 500:
                session.rollback()
            else:
                session.commit()
        except Exception as exc:  # noqa: BLE001 - answered as 503/409, never a 500
            session.rollback()
            log.warning("commit failed on %s %s: %s", request.method, request.path, exc)
            response = http.problem(503, "unavailable", "Không lưu được dữ liệu; vui lòng thử lại.")
        finally:
            session.close()
        return _stamp(response)

    @app.teardown_request
    def _close(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.rollback()
            session.close()


def _stamp(response: Response) -> Response:
    response.headers.setdefault("X-Request-Id", g.get("request_id", ""))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def _register_health(app: Flask) -> None:
    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz() -> Any:
        checks: dict[str, str] = {}
        ok = True
        try:
            request_session().execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # noqa: BLE001
            ok, checks["database"] = False, type(exc).__name__
        runner = app.extensions["phananh.runner"]
        if isinstance(runner, runners.RQRunner):
            try:
                runner.connection.ping()
                checks["redis"] = "ok"
            except Exception as exc:  # noqa: BLE001
                ok, checks["redis"] = False, type(exc).__name__
        else:
            checks["jobs"] = "embedded"
        resp = jsonify(status="ok" if ok else "unavailable", checks=checks)
        resp.status_code = 200 if ok else 503
        if not ok:
            resp.headers["Retry-After"] = "5"
        return resp


def _register_blueprints(app: Flask) -> None:
    import importlib

    for module_name, attr in BLUEPRINTS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue
            raise
        register = getattr(module, "init_app", None)
        if register is not None:
            register(app)
        elif hasattr(module, attr):
            app.register_blueprint(getattr(module, attr))


def _register_cli(app: Flask) -> None:
    from backend.cli import register_commands

    register_commands(app)
