"""Staff web UI: triage inbox, report page, dashboard, exports and admin pages.

Server-rendered Jinja + htmx; vendored Leaflet and Chart.js (``static/vendor``), no CDN.
Security for these pages only (``/api``, ``/open311`` and ``/bots`` are untouched): CSRF on every
unsafe request (Flask-WTF, checked in our blueprints' ``before_request``), a strict CSP without
inline scripts or styles, and HTML error pages instead of problem+json.
"""

from __future__ import annotations

from flask import Blueprint, Flask

from backend.web import common

#: serves ``backend/web/static`` at ``/static/web``
assets = Blueprint("web_assets", __name__, static_folder="static", static_url_path="/static/web")


def init_app(app: Flask) -> None:
    """Register the web blueprints, CSRF and the security headers of the HTML pages."""
    from backend.web import (
        admin,
        admin_staff,
        admin_units,
        auth,
        behalf,
        dashboard,
        exports,
        home,
        inbox,
        mfa,
        public,
        report_form,
        reports,
        tracking,
    )

    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 8 * 3600)
    app.config.setdefault("WTF_CSRF_SSL_STRICT", True)
    common.csrf.init_app(app)
    app.register_blueprint(assets)
    assert tracking.bp is public.bp  # the resident pages' routes are declared on ``public.bp`` at import
    assert admin_staff.bp is admin_units.bp is admin.bp  # staff and unit admin routes: on ``admin.bp``
    for module in (auth, mfa, inbox, behalf, reports, dashboard, exports, admin, public, home, report_form):
        app.register_blueprint(module.bp)
    common.install(app)
