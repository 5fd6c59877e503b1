"""Fixtures for the Open311 facade: the demo city, API keys, a photo, JSON schemas, a live server.

``live_open311`` runs the real app on 127.0.0.1 (werkzeug ``make_server`` in a thread) over
``live_db`` (real commits), so the PyPI clients ``georeport`` and ``three`` talk real HTTP to it.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from o311_support import INSIDE
from werkzeug.serving import make_server

from backend import queue
from backend.app import create_app
from backend.db import Database
from backend.services.city import clients

itertools.ifilter = filter  # type: ignore[attr-defined]  # the `three` client is Python 2 code



# --------------------------------------------------------------------------- city and keys


@pytest.fixture
def city(demo_city: Any, session: Any) -> Any:
    """The demo city pack in the test transaction."""
    return session


@pytest.fixture
def api_key(city: Any) -> str:
    _, key = clients.create_client(city, name="Ứng dụng thử nghiệm")
    city.flush()
    return key


@pytest.fixture
def unit_key(city: Any) -> str:
    """A key bound to unit ``ctdt`` (rubbish reports ``rac-thai`` go there)."""
    _, key = clients.create_client(city, name="Hệ thống của Công ty Công trình đô thị", unit_code="ctdt")
    city.flush()
    return key


@pytest.fixture
def post_report(client: Any, api_key: str) -> Callable[..., Any]:
    """POST a request (defaults: rubbish at a point inside the city, a new description each time)."""

    counter = itertools.count(1)

    def post(fmt: str = "json", **fields: Any) -> Any:
        data = {"api_key": api_key, "service_code": "rac-thai",
                "description": f"Rác đổ trộm bên đường (lần {next(counter)})", **INSIDE, **fields}
        data = {k: v for k, v in data.items() if v is not None}
        return client.post(f"/open311/v2/requests.{fmt}", data=data)

    return post


# --------------------------------------------------------------------------- live server


@dataclass
class Live:
    url: str
    db: Database
    api_key: str
    unit_key: str

    @property
    def endpoint(self) -> str:
        return self.url + "/open311/v2"


@pytest.fixture
def live_open311(live_db: Database, settings: Any, runner: Any) -> Iterator[Live]:
    """The app served on 127.0.0.1 over committed data (demo city loaded, two API keys)."""
    from backend.services.city import loading as cities

    with live_db.session_scope() as s:
        cities.load_demo(session=s)
        _, key = clients.create_client(s, name="Ứng dụng bên thứ ba")
        _, ukey = clients.create_client(s, name="Hệ thống đơn vị", unit_code="ctdt")
    previous = queue._runtime
    app = create_app(settings, database=live_db, runner=runner)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    settings.base_url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Live(settings.base_url, live_db, key, ukey)
    finally:
        server.shutdown()
        thread.join(5)
        if previous is not None:
            queue.install(previous)
