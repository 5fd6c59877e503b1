"""The city's public page ``/`` and its feed ``/map.json``: public reports only, filters, the headline
figures equal to ``GET /api/v1/stats``, CDN caching, the tile origin in the CSP, and privacy."""

from __future__ import annotations

from typing import Any

from sqlmodel import func, select
from web_seed import SOC_TRANG, by_code

from backend.models.categories import Category
from backend.models.reports import Report, State
from backend.models.staff import Staff
from backend.services import reports
from backend.services.city import settings as city_settings
from backend.services.events import Actor


def _staff(session: Any, city: Any, who: str) -> Actor:
    return Actor.staff(session.get(Staff, city.staff[who]))


def _act(session: Any, report: Report, action: str, **fields: Any) -> None:
    reports.apply(session, report, action, expected_version=report.version, **fields)


def _set(session: Any, key: str, value: Any) -> None:
    city_settings.put(session, key, value)
    session.flush()


def test_home_lists_public_reports_with_figures_and_ways_to_report(login_as: Any, city: Any, session: Any) -> None:
    resp = login_as("officer").get("/")  # the same page for a signed-in officer: nothing personal, cacheable
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "public, max-age=60"
    assert "Set-Cookie" not in resp.headers and "Cookie" not in resp.headers.get("Vary", "")
    for code in city.reports.values():
        assert code in html
    assert "Cán bộ Nguyễn Văn An" not in html
    assert 'href="/report"' in html and 'action="/r/"' in html
    assert 'name="code"' in html  # the "tra cứu" box
    received = session.exec(select(func.count()).select_from(Report)).one()
    assert f'data-figure="received">{received}<' in html


def test_headline_equals_public_stats_api(client: Any, city: Any, session: Any) -> None:
    road = by_code(session, city.reports["road"])
    session.get(Category, road.category_id).requires_after_photo = False
    _act(session, road, "acknowledge", actor=_staff(session, city, "officer"))
    _act(session, road, "resolve", actor=_staff(session, city, "officer"), reply="Đã vá ổ gà.")
    session.flush()
    stats = client.get("/api/v1/stats").get_json()
    html = client.get("/").get_data(as_text=True)
    assert stats["resolved"] == 1
    assert 'data-figure="resolved">1<' in html
    assert f'data-figure="received">{stats["received"]}<' in html
    rate = "—" if stats["on_time_rate"] is None else f"{stats['on_time_rate'] * 100:.0f}%"
    assert f'data-figure="on_time_rate">{rate}<' in html


def test_headline_figures_refresh_within_a_minute_not_on_every_event(client: Any, city: Any, session: Any,
                                                                     monkeypatch: Any) -> None:
    """A resolve shows in the list at once, in the headline within the minute a CDN may keep the page anyway."""
    import time as clock

    road = by_code(session, city.reports["road"])
    before = client.get("/").get_data(as_text=True)
    assert 'data-figure="resolved">0<' in before
    session.get(Category, road.category_id).requires_after_photo = False
    _act(session, road, "acknowledge", actor=_staff(session, city, "officer"))
    _act(session, road, "resolve", actor=_staff(session, city, "officer"), reply="Đã vá ổ gà.")
    session.flush()
    html = client.get("/").get_data(as_text=True)
    assert 'data-figure="resolved">0<' in html  # the headline of a minute ago
    assert html.count("Đã xử lý") > before.count("Đã xử lý")  # the list is rebuilt on the new event
    later = clock.monotonic() + 61
    monkeypatch.setattr(clock, "monotonic", lambda: later)
    assert 'data-figure="resolved">1<' in client.get("/").get_data(as_text=True)


def test_map_feed_is_geojson_of_public_reports_only(client: Any, city: Any, session: Any) -> None:
    rejected = by_code(session, city.reports["triage"])
    _act(session, rejected, "reject", actor=_staff(session, city, "ioc"), reason="Không rõ nội dung")
    session.flush()
    resp = client.get("/map.json")
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "public, max-age=60"
    body = resp.get_json()
    codes = {f["properties"]["code"] for f in body["features"]}
    assert city.reports["triage"] not in codes
    assert {city.reports["road"], city.reports["road2"], city.reports["rubbish"]} <= codes
    feature = next(f for f in body["features"] if f["properties"]["code"] == city.reports["road"])
    lon, lat = feature["geometry"]["coordinates"]
    assert abs(lat - SOC_TRANG[0]) < 1e-4 and abs(lon - SOC_TRANG[1]) < 1e-4
    assert feature["properties"]["url"] == f"/r/{city.reports['road']}"
    assert body["truncated"] is False


def test_filters_by_category_ward_status_and_period(client: Any, city: Any, session: Any) -> None:
    rubbish = session.exec(select(Category).where(Category.code == "rac-thai")).one()
    codes = {f["properties"]["code"] for f in client.get(f"/map.json?category={rubbish.id}").get_json()["features"]}
    assert codes == {city.reports["rubbish"]}
    ward = by_code(session, city.reports["rubbish"]).area_id
    resp = client.get(f"/map.json?ward={ward}")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    codes = {f["properties"]["code"] for f in resp.get_json()["features"]}
    assert city.reports["rubbish"] in codes and city.reports["road"] not in codes
    assert client.get("/map.json?status=resolved").get_json()["features"] == []
    assert len(client.get("/map.json?period=7&status=open").get_json()["features"]) == 4
    html = client.get(f"/?category={rubbish.id}").get_data(as_text=True)
    assert city.reports["rubbish"] in html and city.reports["road"] not in html


def test_moderation_hides_reports_no_unit_has_taken_on(client: Any, city: Any, session: Any) -> None:
    _set(session, "moderation_required", True)
    road = by_code(session, city.reports["road"])
    _act(session, road, "acknowledge", actor=_staff(session, city, "officer"))
    session.flush()
    codes = {f["properties"]["code"] for f in client.get("/map.json").get_json()["features"]}
    assert codes == {city.reports["road"]}


def test_bad_filters_are_refused_in_vietnamese(client: Any, city: Any, session: Any) -> None:
    before = session.exec(select(func.count()).select_from(Report)).one()
    for query in ("category=abc", "category=999999", "ward=-1", "status=hacked", "period=9999", "status=%00"):
        page = client.get(f"/?{query}")
        assert page.status_code == 422, query
        assert "không hợp lệ" in page.get_data(as_text=True)
        feed = client.get(f"/map.json?{query}")
        assert feed.status_code == 422 and feed.mimetype == "application/problem+json", query
    assert session.exec(select(func.count()).select_from(Report)).one() == before


def test_nothing_public_names_or_contacts_the_reporter(client: Any, city: Any, session: Any) -> None:
    road = by_code(session, city.reports["road"])
    _act(session, road, "note", actor=_staff(session, city, "officer"), text="Ghi chú nội bộ XYZ")
    session.flush()
    for path in ("/", "/map.json", "/?status=open"):
        text = client.get(path).get_data(as_text=True)
        for secret in ("Lê Thị Cúc", "0901234567", "+84901234567", "cuc@example.vn", "Ghi chú nội bộ XYZ",
                       "resident", "phone", "email"):
            assert secret not in text, (path, secret)


def test_csp_allows_the_tile_origin_only(app: Any, client: Any, city: Any) -> None:
    settings = app.extensions["phananh.settings"]
    csp = client.get("/").headers["Content-Security-Policy"]
    img = next(p for p in csp.split(";") if p.strip().startswith("img-src")).split()
    assert img == ["img-src", "'self'", "data:", "blob:", "https://tile.openstreetmap.org"]
    assert "script-src 'self';" in csp and "openstreetmap" not in csp.replace(img[-1], "")
    settings.tile_url = "http://127.0.0.1:8123/gis/{z}/{x}/{y}.png"
    page = client.get("/")
    assert "img-src 'self' data: blob: http://127.0.0.1:8123;" in page.headers["Content-Security-Policy"]
    assert 'data-tiles="http://127.0.0.1:8123/gis/{z}/{x}/{y}.png"' in page.get_data(as_text=True)


def test_staff_maps_carry_the_base_map(login_as: Any, city: Any) -> None:
    client = login_as("officer")
    for path in (f"/inbox/r/{city.reports['road']}", "/inbox/map", "/dashboard"):
        resp = client.get(path)
        assert resp.status_code == 200, path
        assert 'data-tiles="https://tile.openstreetmap.org/{z}/{x}/{y}.png"' in resp.get_data(as_text=True), path
        assert "https://tile.openstreetmap.org" in resp.headers["Content-Security-Policy"]


def test_open_statuses_listed_without_duplicates(client: Any, city: Any, session: Any) -> None:
    road, road2 = by_code(session, city.reports["road"]), by_code(session, city.reports["road2"])
    _act(session, road2, "mark_duplicate", actor=_staff(session, city, "ioc"), of_code=road.code)
    session.flush()
    assert by_code(session, city.reports["road2"]).status == State.DUPLICATE
    codes = {f["properties"]["code"] for f in client.get("/map.json").get_json()["features"]}
    assert city.reports["road2"] not in codes
