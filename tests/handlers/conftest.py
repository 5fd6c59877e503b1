"""Handler tests run jobs the way a worker does: the job runtime only (database, runner, settings)."""

import pytest

from backend import queue


@pytest.fixture
def app(settings, db, runner):
    """What ``phananh worker`` installs: no HTTP app, just the job runtime."""
    return queue.install(queue.Runtime(db=db, runner=runner, config={"settings": settings}))
