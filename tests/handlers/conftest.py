"""Handler tests run jobs the way a worker does: the job runtime only (database, runner, settings)."""

import json
import threading

import pytest

from backend import queue
from backend.services.residents import firebase

from fakes.google import FakeGoogle

PROJECT = "demo-phananh"


@pytest.fixture
def app(settings, db, runner):
    """What ``phananh worker`` installs: no HTTP app, just the job runtime."""
    return queue.install(queue.Runtime(db=db, runner=runner, config={"settings": settings}))


@pytest.fixture
def fake_google():
    with FakeGoogle() as fg:
        yield fg


@pytest.fixture
def push_settings(settings, fake_google, tmp_path):
    """Settings whose Firebase app sends FCM to the loopback fake with a fake service account."""
    sa = tmp_path / "sa.json"
    sa.write_text(json.dumps(fake_google.service_account_info(PROJECT)))
    settings.firebase_project_id = PROJECT
    settings.google_application_credentials = str(sa)
    settings.fcm_endpoint = fake_google.fcm_url_template
    yield settings
    # firebase_admin closes its httpx client with asyncio.run(): do it where no event loop runs
    cleanup = threading.Thread(target=firebase.delete_app, args=(settings,))
    cleanup.start()
    cleanup.join(timeout=10)
