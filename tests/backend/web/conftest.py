"""Web UI fixtures: a seeded city, logged-in test clients, a live server and a Chromium page.

Browser tests (``@pytest.mark.browser``) drive Debian's Chromium through Playwright; they are
skipped with a clear reason when ``/usr/bin/chromium`` is missing. Screenshots go to
``tests/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from firebase_admin import _token_gen
from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).parent))

from web_browser import PageProbe
from web_seed import Seed, login, seed

from backend.app import create_app
from backend.db import Database
from backend.services.residents import firebase

from fakes.google import FakeGoogle
from fakes.tiles import FakeTiles

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same argon2id code path, test-sized cost (the production cost is ~0.5 s per hash on CI)."""
    from argon2 import PasswordHasher

    from backend.services.city import staff as staff_service

    monkeypatch.setattr(staff_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def city(session: Any) -> Seed:
    return seed(session)


@pytest.fixture
def login_as(app: Any, city: Seed) -> Callable[[str], Any]:
    """A fresh test client signed in as ``who`` (``admin``, ``ioc``, ``head``, ``officer``, ...)."""

    def make(who: str) -> Any:
        client = app.test_client()
        resp = login(client, who)
        assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
        return client

    return make


# --------------------------------------------------------------------------- live server + browser


@dataclass
class LiveServer:
    url: str
    db: Database
    seed: Seed


@pytest.fixture
def tiles() -> Iterator[FakeTiles]:
    """A loopback base-map tile server (browser tests never reach the internet)."""
    with FakeTiles() as server:
        yield server


@pytest.fixture
def live_server(live_db: Database, settings: Any, runner: Any, tiles: FakeTiles) -> Iterator[LiveServer]:
    settings.tile_url = tiles.url_template
    with live_db.session_scope() as s:
        data = seed(s)
    app = create_app(settings, database=live_db, runner=runner)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", live_db, data)
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package to run the browser tests")
    from playwright.sync_api import sync_playwright

    # module scope: Playwright's sync API keeps an event loop running in this thread while it is
    # open, which would break asyncio.run() (firebase_admin's cleanup) in later test files
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def probe(browser: Any, live_server: LiveServer) -> Iterator[PageProbe]:
    p = PageProbe(browser, live_server.url)
    yield p
    p.close()


#: the Firebase project of the web form's tests (any name: the fake Google signs for it)
FIREBASE_PROJECT = "demo-phananh-web"


@pytest.fixture
def google(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Iterator[FakeGoogle]:
    """A local fake of Google's certificate endpoint; the app verifies ID tokens for ``FIREBASE_PROJECT``
    signed by it (tests/fakes/google.py; docs in shared/reference/firebase-testing.md)."""
    with FakeGoogle() as fg:
        monkeypatch.delenv("FIREBASE_AUTH_EMULATOR_HOST", raising=False)
        monkeypatch.setattr(_token_gen, "ID_TOKEN_CERT_URI", fg.certs_url)
        settings.firebase_project_id = FIREBASE_PROJECT
        yield fg
        firebase.delete_app(settings)
