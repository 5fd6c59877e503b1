"""The resident pages speak Vietnamese by default and English when the locale asks for it (``?lang=en`` or
``Accept-Language: en``): headings, the status labels, the form, the 404 page — through the compiled
Flask-Babel catalog (``backend/translations``) and the English names the services already know."""

from __future__ import annotations

import re
from typing import Any

import pytest
from web_seed import by_code

from backend.models.areas import Area
from backend.models.categories import Category
from backend.models.units import Unit

ENGLISH_BROWSER = {"Accept-Language": "en-GB,en;q=0.9"}


def _text(resp: Any) -> str:
    return resp.get_data(as_text=True)


def _h1(html: str) -> str:
    return re.search(r"<h1>(.*?)</h1>", html, re.S).group(1)  # type: ignore[union-attr]


def test_vietnamese_by_default(client: Any, city: Any, session: Any) -> None:
    home = _text(client.get("/"))
    assert '<html lang="vi">' in home and _h1(home).startswith("Phản ánh hiện trường")
    assert "Phản ánh mới nhất" in home and "Đã chuyển đơn vị xử lý" in home  # heading, status of a listed report
    form = _text(client.get("/report"))
    assert _h1(form) == "Gửi phản ánh hiện trường" and "Dùng vị trí của tôi" in form
    page = _text(client.get(f"/r/{city.reports['road']}"))
    assert "Quá trình xử lý" in page and "Đã chuyển đơn vị xử lý" in page
    ward = session.get(Area, by_code(session, city.reports["road"]).area_id).name
    assert f"<dt>Phường/xã</dt><dd>{ward}</dd>" in page
    missing = client.get("/r/PA-222222")
    assert missing.status_code == 404 and _h1(_text(missing)) == "Không tìm thấy"


@pytest.mark.parametrize("how", ["query", "browser"])
def test_english_when_the_locale_asks(client: Any, city: Any, session: Any, how: str) -> None:
    def get(path: str) -> Any:
        if how == "query":
            return client.get(path + ("&" if "?" in path else "?") + "lang=en")
        return client.get(path, headers=ENGLISH_BROWSER)

    home = _text(get("/"))
    assert '<html lang="en">' in home and _h1(home).startswith("City issue reports")
    assert "Latest reports" in home and "Map of reports" in home
    assert "Sent to the responsible unit" in home and "Đã chuyển đơn vị xử lý" not in home  # status label
    assert ">Being handled<" in home and ">Last 30 days<" in home  # filter choices
    form = _text(get("/report"))
    assert _h1(form) == "Report an issue in the city" and "Use my location" in form and "Send the report" in form
    page = _text(get(f"/r/{city.reports['road']}"))
    assert "Progress" in page and "Sent to the responsible unit" in page and "Quá trình xử lý" not in page
    road = by_code(session, city.reports["road"])
    category, unit = session.get(Category, road.category_id), session.get(Unit, road.unit_id)
    assert category.name_en and category.name_en in page and unit.name_en and unit.name_en in page
    missing = get("/r/PA-222222")
    assert missing.status_code == 404 and _h1(_text(missing)) == "Not found"
    assert "No report has the code" in _text(missing)
    feed = get("/map.json").get_json()
    assert {f["properties"]["label"] for f in feed["features"]} >= {"Sent to the responsible unit"}


def test_cdn_keeps_one_copy_per_language(client: Any, city: Any) -> None:
    """Public pages vary on Accept-Language (and ``?lang`` is in the URL), never on a cookie."""
    for path in ("/", f"/r/{city.reports['road']}", "/map.json"):
        resp = client.get(path, headers=ENGLISH_BROWSER)
        assert resp.headers["Cache-Control"] == "public, max-age=60", path
        assert "Accept-Language" in resp.headers["Vary"] and "Cookie" not in resp.headers["Vary"], path


def test_the_forms_mistakes_are_explained_in_english_too(client: Any, city: Any, session: Any) -> None:
    form = _text(client.get("/report?lang=en"))
    submission = re.search(r'name="submission" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    resp = client.post("/report?lang=en", data={"submission": submission, "lat": "21.0285", "lon": "105.8542"},
                       content_type="multipart/form-data")
    assert resp.status_code == 422 and "The location is outside the city" in _text(resp)
    vi = client.post("/report", data={"submission": submission, "lat": "21.0285", "lon": "105.8542"},
                     content_type="multipart/form-data")
    assert "Vị trí nằm ngoài địa bàn thành phố" in _text(vi)


def test_every_resident_text_has_its_english() -> None:
    """Each ``_()`` text of the resident templates and views is in the English catalog (a new text without
    its English fails here, not in front of a resident)."""
    from pathlib import Path

    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    from backend import i18n

    root = Path(i18n.__file__).parent
    catalog = read_po((i18n.TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po").open("rb"))
    method_map = [("web/templates/web/public/**.html", "jinja2"), ("web/templates/web/city/**.html", "jinja2"),
                  ("web/home.py", "python"), ("web/tracking.py", "python"), ("web/public.py", "python"),
                  ("web/report_form.py", "python")]
    found = {msg[2] if isinstance(msg[2], str) else msg[2][0] for msg in extract_from_dir(root, method_map)}
    assert len(found) > 80
    missing = sorted(m for m in found if not (catalog.get(m) and catalog.get(m).string))
    assert missing == []
