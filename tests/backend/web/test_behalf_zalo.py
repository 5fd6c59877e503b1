"""Report on behalf → "Gửi qua Zalo" end to end: the caller's number belongs to a Zalo follower who shared it, the
staff member sends the reporter's link, a worker delivers it through the fake Zalo OA API (a free customer-service
message inside the 48-hour window) — once, however often the button is pressed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select
from web_seed import SOC_TRANG

from backend.config import Settings
from backend.models import Delivery
from backend.models.base import utcnow
from backend.models.residents import Identity, Resident

from fakes import zalo as fz


@pytest.fixture
def fake_zalo() -> Iterator[fz.FakeZalo]:
    fake = fz.FakeZalo().start()
    yield fake
    fake.stop()


@pytest.fixture
def settings(settings: Settings, fake_zalo: fz.FakeZalo) -> Settings:
    return settings.model_copy(update={
        "zalo_app_id": fz.APP_ID, "zalo_app_secret": fz.APP_SECRET, "zalo_oa_secret_key": fz.OA_SECRET_KEY,
        "zalo_access_token": "at-initial", "zalo_refresh_token": "rt-initial", "zalo_api_base": fake_zalo.base,
        "zalo_oauth_base": fake_zalo.base, "zalo_zns_base": fake_zalo.zns_base, "zalo_media_hosts": fake_zalo.host})


def test_the_link_reaches_the_callers_zalo_once(login_as: Any, city: Any, session: Any, run_jobs: Any,
                                                fake_zalo: fz.FakeZalo) -> None:
    follower = Resident(display_name="Hoa")
    session.add(follower)
    session.flush()
    session.add(Identity(resident_id=follower.id, provider="zalo", subject="zalo-hoa", data={}, phone="84912345678",
                         phone_consented_at=utcnow(), last_interaction_at=utcnow() - timedelta(hours=2)))
    session.flush()
    fake_zalo.interacted("zalo-hoa", hours_ago=2)
    ioc = login_as("ioc")
    html = ioc.get("/inbox/new").get_data(as_text=True)
    form = {name: re.search(rf'name="{name}" value="([^"]*)"', html).group(1)  # type: ignore[union-attr]
            for name in ("csrf_token", "submission")}
    resp = ioc.post("/inbox/new", data={**form, "channel": "hotline", "caller_phone": "0912.345.678",
                                        "category": "rac-thai", "description": "Rác ùn ứ đầu hẻm 12",
                                        "lat": str(SOC_TRANG[0]), "lon": str(SOC_TRANG[1])})
    code = resp.headers["Location"].rsplit("/", 1)[-1]
    run_jobs()
    before = len(fake_zalo.texts("zalo-hoa"))
    for _ in range(2):
        assert ioc.post(f"/inbox/new/{code}/zalo", data={"csrf_token": form["csrf_token"]}).status_code == 303
        run_jobs()
    texts = fake_zalo.texts("zalo-hoa")[before:]
    assert len(texts) == 1 and code in texts[0] and f"/r/{code}?t=" in texts[0], texts
    delivery = session.exec(select(Delivery).where(Delivery.target == "zalo-hoa")).one()
    session.refresh(delivery)
    assert delivery.send_state == "sent" and delivery.tier == "cs_free"
