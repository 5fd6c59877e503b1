"""Lean views (``http.lean``, the Zalo webhook): only the app-wide hooks marked ``lean_hook`` run for them;
every other view keeps all hooks; the cookie session still works with and without a cookie."""

from __future__ import annotations

from flask import Blueprint, session

from backend import http
from backend.app import create_app


def _probe_app(settings, db, runner):
    """The real app plus a probe blueprint: a lean and a plain view, hooks of every kind recording calls."""
    app = create_app(settings, database=db, runner=runner)
    seen: list[str] = []
    bp = Blueprint("lean_probe", __name__)

    @bp.before_request
    def _bp_before() -> None:
        seen.append("bp-before")

    @bp.after_request
    def _bp_after(resp):
        seen.append("bp-after")
        return resp

    @bp.get("/probe/lean")
    @http.lean
    def lean_view():
        return "lean"

    @bp.get("/probe/lean-session")
    @http.lean
    def lean_session_view():
        session["probe"] = "lean"
        return "lean"

    @bp.get("/probe/plain")
    def plain_view():
        return "plain"

    @bp.get("/probe/limited")
    @http.limiter.limit("1/minute")
    def limited_view():
        return "limited"

    @bp.get("/probe/lean-limited")
    @http.lean
    @http.limiter.limit("1/minute")
    def lean_limited_view():
        return "lean"

    @bp.get("/probe/remember")
    def remember():
        session["probe"] = "remembered"
        return "ok"

    @bp.get("/probe/recall")
    def recall():
        return session.get("probe", "-")

    app.register_blueprint(bp)

    @app.before_request
    def _app_before() -> None:
        seen.append("app-before")

    @app.before_request
    @http.lean_hook
    def _app_before_lean() -> None:
        seen.append("app-before-lean")

    @app.after_request
    def _app_after(resp):
        seen.append("app-after")
        return resp

    @app.after_request
    @http.lean_hook
    def _app_after_lean(resp):
        seen.append("app-after-lean")
        return resp

    @app.teardown_request
    def _app_teardown(_exc) -> None:
        seen.append("app-teardown")

    @app.teardown_request
    @http.lean_hook
    def _app_teardown_lean(_exc) -> None:
        seen.append("app-teardown-lean")

    return app, seen


def test_a_lean_view_runs_only_the_marked_app_hooks_and_its_blueprints(settings, db, runner):
    app, seen = _probe_app(settings, db, runner)
    client = app.test_client()
    assert client.get("/probe/lean").get_data(as_text=True) == "lean"
    assert sorted(seen) == sorted(["app-before-lean", "bp-before", "bp-after", "app-after-lean",
                                   "app-teardown-lean"])
    seen.clear()
    assert client.get("/probe/plain").get_data(as_text=True) == "plain"
    assert sorted(seen) == sorted(["app-before", "app-before-lean", "bp-before", "bp-after", "app-after",
                                   "app-after-lean", "app-teardown", "app-teardown-lean"])


def test_the_cookie_session_works_with_and_without_a_cookie(settings, db, runner):
    app, _seen = _probe_app(settings, db, runner)
    client = app.test_client()
    first = client.get("/probe/remember")  # no cookie yet: a fresh session, saved
    assert "phananh_session=" in first.headers.get("Set-Cookie", "")
    assert client.get("/probe/recall").get_data(as_text=True) == "remembered"
    assert "Set-Cookie" not in app.test_client().get("/probe/lean").headers
    lean = app.test_client()
    assert "phananh_session=" in lean.get("/probe/lean-session").headers.get("Set-Cookie", "")
    assert lean.get("/probe/recall").get_data(as_text=True) == "lean"
    forged = app.test_client()
    forged.set_cookie("phananh_session", "forged.value.sig")
    assert forged.get("/probe/recall").get_data(as_text=True) == "-"


def test_flask_limiter_still_limits_the_other_views_and_never_a_lean_one(settings, db, runner):
    app, _seen = _probe_app(settings.model_copy(update={"ratelimit_enabled": True}), db, runner)
    client = app.test_client()
    first = client.get("/probe/limited")
    assert first.status_code == 200 and first.headers["X-RateLimit-Limit"] == "1"
    second = client.get("/probe/limited")
    assert second.status_code == 429 and second.mimetype == "application/problem+json"
    assert [client.get("/probe/lean-limited").status_code for _ in range(3)] == [200, 200, 200]
    assert "X-RateLimit-Limit" not in client.get("/probe/lean-limited").headers
