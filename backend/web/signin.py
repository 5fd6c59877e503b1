"""Flask glue of staff sign-in security: the throttle counter of this app (``city.login_counter``: Redis
when ``REDIS_URL`` is set, the database otherwise) and the client address the counters are keyed by."""

from __future__ import annotations

from flask import Flask, current_app, request

from backend.services import city

EXTENSION = "phananh.login_throttle"


def install(app: Flask) -> None:
    app.extensions[EXTENSION] = city.login_counter(app.extensions["phananh.db"],
                                                   app.extensions["phananh.settings"].redis_url)


def counter() -> city.LoginCounter:
    return current_app.extensions[EXTENSION]


def client_ip() -> str:
    """The client address as the WSGI server saw it (a proxy in front must set REMOTE_ADDR)."""
    return (request.remote_addr or "unknown")[:45]
