"""What a phone downloads and what a CDN may keep: the resident pages weigh under 250 KB before photos and
map tiles (the HTML plus every same-origin stylesheet and script it links, the way bench/public_page.py
counts), and they load no third-party script; public pages may be held a minute by a shared cache, pages
carrying the reporter's token (or a form bound to one device) never."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from web_seed import SOC_TRANG, by_code

from backend.services import reports

from fixtures.images import jpeg

WEIGHT_BUDGET = 250 * 1024
ASSET = re.compile(r'(?:href|src)="([^"]+\.(?:css|js))"')
PUBLIC = "public, max-age=60"


def _weight(client: Any, path: str) -> int:
    page = client.get(path)
    assert page.status_code == 200, path
    html = page.get_data()
    assets = set(ASSET.findall(html.decode()))
    assert assets and all(a.startswith("/static/") for a in assets), assets  # nothing from another origin
    sizes = []
    for asset in assets:
        resp = client.get(asset)
        assert resp.status_code == 200, asset
        sizes.append(len(resp.get_data()))
    return len(html) + sum(sizes)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_resident_pages_weigh_under_250_kb_before_photos_and_tiles(client: Any, city: Any, lang: str) -> None:
    for path in ("/", "/report", f"/r/{city.reports['road']}"):
        total = _weight(client, f"{path}?lang={lang}")
        assert total < WEIGHT_BUDGET, (path, total)


def test_public_pages_may_be_held_a_minute_by_a_cdn(client: Any, city: Any) -> None:
    code = city.reports["road"]
    for path in ("/", "/?status=open", "/map.json", f"/r/{code}", f"/r/{code}.json", "/r/PA-222222"):
        resp = client.get(path)
        assert resp.headers["Cache-Control"] == PUBLIC, path
        assert "Set-Cookie" not in resp.headers, path  # nothing personal is set on a shared copy
        assert resp.headers["Vary"] == "Accept-Language", path


def test_pages_for_one_person_are_never_stored(client: Any, city: Any, session: Any, settings: Any) -> None:
    code = city.reports["road"]
    link = reports.reporter_link(by_code(session, code), base_url="", secret_key=settings.secret_key)
    mine = client.get(link)
    assert mine.status_code == 200 and mine.headers["Cache-Control"] == "private, no-store"
    forged = client.get(f"/r/{code}?t=forged")
    assert "public" not in forged.headers.get("Cache-Control", "") and "no-store" in forged.headers["Cache-Control"]
    form = client.get("/report")
    assert form.headers["Cache-Control"] == "no-store"  # a form bound to this device's cookie
    submission = re.search(r'name="submission" value="([^"]+)"', form.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    done = client.post("/report", data={"submission": submission, "lat": str(SOC_TRANG[0]),
                                        "lon": str(SOC_TRANG[1]), "category": "duong-hu-hong",
                                        "photo": (io.BytesIO(jpeg(320, 240)), "a.jpg")},
                       content_type="multipart/form-data")
    assert done.status_code == 201 and "?t=" in done.get_data(as_text=True)  # the reporter's link is on it
    assert done.headers["Cache-Control"] == "no-store"
