"""The composition root: ``create_app(settings=None)`` wires settings, database, jobs and channels."""

from __future__ import annotations

import logging
import os
import sys
from itertools import chain
from typing import Any

from flask import Flask, Response, g, jsonify, request, request_tearing_down
from flask.globals import request_ctx
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import text

from backend import http, observability, queue, runners
from backend.config import Settings
from backend.db import Database, request_session
from backend.services import residents

log = logging.getLogger(__name__)

_NO_EXC: Any = object()  # do_teardown_request called without an exception argument

#: blueprints registered when their module exists: (module, attribute)
BLUEPRINTS: tuple[tuple[str, str], ...] = (
    ("backend.api.v1", "bp"),
    ("backend.api.media", "bp"),
    ("backend.api.open311", "bp"),
    ("backend.web", "bp"),
    ("bots.zalo.webhook", "bp"),
)


class App(Flask):
    """Flask serving :func:`backend.http.lean` views with only the app-wide hooks marked
    :func:`backend.http.lean_hook` (every other view: Flask's own processing, unchanged)."""

    def preprocess_request(self) -> Any:
        if not http.is_lean(self):
            return super().preprocess_request()
        for name in reversed(request.blueprints):  # the view's own blueprint hooks all run
            for url_func in self.url_value_preprocessors.get(name, ()):
                url_func(request.endpoint, request.view_args)
        for name in (None, *reversed(request.blueprints)):
            for func in _lean_only(self.before_request_funcs, name):
                rv = self.ensure_sync(func)()
                if rv is not None:
                    return rv
        return None

    def process_response(self, response: Response) -> Response:
        if not http.is_lean(self):
            return super().process_response(response)
        ctx = request_ctx._get_current_object()  # type: ignore[attr-defined]
        for func in ctx._after_request_functions:
            response = self.ensure_sync(func)(response)
        for name in chain(request.blueprints, (None,)):
            for func in reversed(_lean_only(self.after_request_funcs, name)):
                response = self.ensure_sync(func)(response)
        session = ctx._session
        if (getattr(session, "accessed", True) or getattr(session, "modified", True)) \
                and not self.session_interface.is_null_session(session):
            self.session_interface.save_session(self, session, response)
        return response

    def do_teardown_request(self, exc: BaseException | None = _NO_EXC) -> None:  # type: ignore[assignment]
        if exc is _NO_EXC:
            exc = sys.exc_info()[1]
        if not http.is_lean(self):
            return super().do_teardown_request(exc)
        for name in chain(request.blueprints, (None,)):
            for func in reversed(_lean_only(self.teardown_request_funcs, name)):
                self.ensure_sync(func)(exc)
        request_tearing_down.send(self, _async_wrapper=self.ensure_sync, exc=exc)
        return None


def _lean_only(hooks: dict[str | None, list[Any]], name: str | None) -> list[Any]:
    """The hooks of ``name`` that run for a lean view: all of a blueprint's, the marked app-wide ones."""
    funcs = hooks.get(name, [])
    return funcs if name is not None else [func for func in funcs if getattr(func, "phananh_lean", False)]


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without building a signer for a request that sends no cookie."""

    def open_session(self, app: Flask, request: Any) -> Any:
        if app.secret_key and (not request.environ.get("HTTP_COOKIE")
                               or not request.cookies.get(self.get_cookie_name(app))):
            return self.session_class()
        return super().open_session(app, request)


def create_app(settings: Settings | None = None, *, database: Database | None = None,
               runner: queue.Runner | None = None) -> Flask:
    """Build the WSGI app. ``database`` and ``runner`` are injected by tests and the worker."""
    settings = settings or Settings()
    settings.check_production()
    observability.configure_logging(settings.log_level, settings.log_json)
    app = App(__name__, static_folder=None)
    app.session_interface = CookieSessions()
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
    @http.lean_hook
    def _request_id() -> None:
        g.request_id = request.environ.get("HTTP_X_REQUEST_ID") or os.urandom(8).hex()

    @app.after_request
    @http.lean_hook
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
    @http.lean_hook
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
