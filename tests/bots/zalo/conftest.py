"""Fixtures for the Zalo bot: the fake OA API server, an app pointed at it, signed event posting."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from backend import runners
from backend.app import create_app
from backend.config import Settings

from fakes import zalo as fz


@pytest.fixture
def fake_zalo() -> Iterator[fz.FakeZalo]:
    fake = fz.FakeZalo().start()
    yield fake
    fake.stop()


def zalo_overrides(fake: fz.FakeZalo) -> dict[str, Any]:
    return {"zalo_app_id": fz.APP_ID, "zalo_app_secret": fz.APP_SECRET, "zalo_oa_secret_key": fz.OA_SECRET_KEY,
            "zalo_access_token": "at-initial", "zalo_refresh_token": "rt-initial",
            "zalo_api_base": fake.base, "zalo_oauth_base": fake.base, "zalo_zns_base": fake.zns_base,
            "zalo_media_hosts": fake.host}


@pytest.fixture
def zalo_settings(settings: Settings, fake_zalo: fz.FakeZalo) -> Settings:
    return settings.model_copy(update=zalo_overrides(fake_zalo))


@pytest.fixture
def zalo_app(zalo_settings: Settings, db: Any, runner: runners.RQRunner) -> Any:
    application = create_app(zalo_settings, database=db, runner=runner)
    application.config["TESTING"] = True
    return application


@pytest.fixture
def zclient(zalo_app: Any) -> Any:
    return zalo_app.test_client()


@pytest.fixture
def post_event(zclient: Any) -> Callable[..., Any]:
    """POST a signed event to the webhook, like Zalo does; returns the response."""

    def post(payload: dict[str, Any], **kw: Any) -> Any:
        raw, headers = fz.signed(payload, **kw)
        return zclient.post("/bots/zalo/webhook", data=raw, headers=headers)

    return post


@pytest.fixture
def chat(post_event: Callable[..., Any], run_jobs: Callable[..., None],
         fake_zalo: fz.FakeZalo) -> Callable[..., list[str]]:
    """Send one event, run the workers, return the texts the bot sent back for that event."""

    def say(payload: dict[str, Any]) -> list[str]:
        user = payload.get("sender", {}).get("id") or payload.get("follower", {}).get("id")
        before = len(fake_zalo.texts(user))
        resp = post_event(payload)
        assert resp.status_code == 200, resp.data
        run_jobs()
        return fake_zalo.texts(user)[before:]

    return say
