"""IOC view, bulk actions, saved views, map data, dashboard, exports and admin pages (test client)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from sqlmodel import select
from web_seed import by_code, csrf_from, token

from backend.models.routing import RoutingRule
from backend.models.staff import SavedView, Staff


def test_ioc_shows_triage_with_routing_suggestion_and_routes_in_one_click(login_as: Any, city: Any,
                                                                          session: Any) -> None:
    client = login_as("ioc")
    html = client.get("/inbox/ioc").get_data(as_text=True)
    code = city.reports["triage"]
    assert code in html and "Chờ phân loại" in html
    report = by_code(session, code)
    resp = client.post(f"/inbox/r/{code}/act", data={"action": "route", "version": report.version,
                                                     "unit_id": city.units["so-xd"], "next": "/inbox/ioc",
                                                     "csrf_token": csrf_from(html)})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/inbox/ioc")
    report = by_code(session, code)
    assert report.unit_id == city.units["so-xd"] and report.status == "assigned"


def test_ioc_page_is_for_dispatchers_only(login_as: Any, city: Any) -> None:
    assert login_as("officer").get("/inbox/ioc").status_code == 403


def test_bulk_acknowledge_and_assign(login_as: Any, city: Any, session: Any) -> None:
    client = login_as("head")
    tok = token(client)
    items = [f"{c}:{by_code(session, c).version}" for c in (city.reports["road"], city.reports["road2"])]
    resp = client.post("/inbox/bulk", data={"action": "acknowledge", "report": items, "csrf_token": tok})
    assert resp.status_code == 303
    assert {by_code(session, c).status for c in (city.reports["road"], city.reports["road2"])} == {"acknowledged"}
    items = [f"{c}:{by_code(session, c).version}" for c in (city.reports["road"], city.reports["road2"])]
    resp = client.post("/inbox/bulk", data={"action": "assign", "report": items, "assignee_id": city.staff["officer"],
                                            "csrf_token": tok})
    assert by_code(session, city.reports["road"]).assignee_id == city.staff["officer"]


def test_bulk_transfer_requires_a_reason(login_as: Any, city: Any, session: Any) -> None:
    client = login_as("head")
    code = city.reports["road"]
    resp = client.post("/inbox/bulk", data={"action": "transfer", "unit_id": city.units["ctdt"],
                                            "report": [f"{code}:{by_code(session, code).version}"],
                                            "csrf_token": token(client)})
    assert "lý do" in client.get(resp.headers["Location"]).get_data(as_text=True)
    assert by_code(session, code).unit_id == city.units["so-xd"]


def test_saved_views_roundtrip(login_as: Any, city: Any, session: Any) -> None:
    client = login_as("officer")
    resp = client.post("/inbox/views", data={"name": "Quá hạn của tôi", "overdue": "1", "q": "đường",
                                             "csrf_token": token(client)})
    assert resp.status_code == 303
    assert "Quá hạn của tôi" in client.get("/inbox").get_data(as_text=True)
    view = session.exec(select(SavedView)).one()
    assert view.query == {"overdue": "1", "q": "đường"}


def test_rows_fragment_and_map_json(login_as: Any, city: Any) -> None:
    client = login_as("officer")
    rows = client.get("/inbox/rows").get_data(as_text=True)
    assert rows.startswith("\n<tbody") or "<tbody" in rows[:200]
    geo = client.get("/inbox/map.json").get_json()
    assert geo["type"] == "FeatureCollection"
    assert {f["properties"]["code"] for f in geo["features"]} == {city.reports["road"], city.reports["road2"]}


def test_dashboard_renders_and_serves_chart_data(login_as: Any, city: Any) -> None:
    client = login_as("ioc")
    html = client.get("/dashboard").get_data(as_text=True)
    assert "Tỷ lệ đúng hạn" in html and 'id="chart-trend"' in html
    data = client.get("/dashboard/data.json").get_json()
    assert sum(data["received"]) == 4
    assert len(data["histogram"]["counts"]) == len(data["histogram"]["labels"])
    heat = client.get("/dashboard/heat.json").get_json()
    assert len(heat["points"]) == 4


def test_dashboard_of_another_unit_is_refused_for_a_head(login_as: Any, city: Any) -> None:
    assert login_as("head").get(f"/dashboard?unit_id={city.units['ctdt']}").status_code == 403
    assert login_as("head").get("/dashboard?from=2026-13").status_code == 422


def test_reports_csv_has_bom_and_public_fields_only(login_as: Any, city: Any) -> None:
    resp = login_as("ioc").get("/exports/reports.csv")
    body = resp.get_data()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][0] == "code" and len(rows) == 5
    text = body.decode("utf-8-sig")
    assert "Trần Hưng Đạo" in text
    assert "+84901234567" not in text and "cuc@example.vn" not in text


def test_officer_exports_only_own_unit(login_as: Any, city: Any) -> None:
    body = login_as("officer").get("/exports/reports.csv").get_data().decode("utf-8-sig")
    assert city.reports["road"] in body and city.reports["rubbish"] not in body
    assert login_as("officer").get(f"/exports/reports.csv?unit_id={city.units['ctdt']}").status_code == 403


def test_kpis_csv_and_geojson_exports(login_as: Any, city: Any) -> None:
    client = login_as("ioc")
    kp = client.get("/exports/kpis.csv").get_data()
    assert kp.startswith("\ufeff".encode()) and b"on_time_rate" in kp
    geo = json.loads(client.get("/exports/reports.geojson").get_data())
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 4
    lon, lat = geo["features"][0]["geometry"]["coordinates"]
    assert 105 < lon < 107 and 9 < lat < 10  # GeoJSON order: lon, lat
    areas = client.get("/exports/areas.geojson").get_json()
    assert len(areas["features"]) == 8 and areas["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_admin_pages_and_staff_creation(login_as: Any, city: Any, session: Any) -> None:
    client = login_as("admin")
    for path in ("/admin/staff", "/admin/units", "/admin/categories", "/admin/rules", "/admin/calendar",
                 "/admin/templates", "/admin/clients"):
        assert client.get(path).status_code == 200, path
    resp = client.post("/admin/staff", data={"email": "moi@demo.vn", "name": "Cán bộ mới", "role": "officer",
                                             "unit_code": "ctdt", "password": "mat-khau-dai-du-10",
                                             "csrf_token": token(client, "/admin/staff")})
    assert resp.status_code == 303
    assert session.exec(select(Staff).where(Staff.email == "moi@demo.vn")).one().unit_id == city.units["ctdt"]
    resp = client.post("/admin/rules", data={"unit_id": city.units["ctdt"], "active_from": "2027-01-01",
                                             "active_to": "2026-01-01", "csrf_token": token(client, "/admin/rules")})
    assert "phải sau" in client.get(resp.headers["Location"]).get_data(as_text=True)
    n = len(session.exec(select(RoutingRule)).all())
    client.post("/admin/rules", data={"unit_id": city.units["ctdt"], "active_from": "2027-01-01",
                                      "csrf_token": token(client, "/admin/rules")})
    assert len(session.exec(select(RoutingRule)).all()) == n + 1
    resp = client.post("/admin/clients", data={"name": "Cổng thông tin", "csrf_token": token(client, "/admin/clients")})
    assert 'id="new-key"' in resp.get_data(as_text=True)


def test_admin_pages_refuse_other_roles(login_as: Any, city: Any) -> None:
    for who in ("ioc", "head", "officer", "viewer"):
        assert login_as(who).get("/admin/staff").status_code == 403


def test_admin_sees_failed_deliveries_and_retries_one(login_as: Any, city: Any, session: Any,
                                                      runner: Any) -> None:
    from backend.models import Delivery

    stuck = Delivery(dedupe_key="test:dead-phone", recipient_kind="resident", recipient_id=1, channel="fcm",
                     target="token:dead", template="resolved", title="Phản ánh PA-TEST01 đã được xử lý",
                     send_state="undeliverable", attempts=1, last_error="UnregisteredError: gone",
                     payload={"code": "PA-TEST01"})
    session.add(stuck)
    session.commit()
    client = login_as("admin")
    page = client.get("/admin/deliveries").get_data(as_text=True)
    assert "PA-TEST01" in page and "UnregisteredError: gone" in page and "Gửi lại" in page
    resp = client.post(f"/admin/deliveries/{stuck.id}/retry",
                       data={"csrf_token": token(client, "/admin/deliveries")})
    assert resp.status_code == 303
    session.refresh(stuck)
    assert stuck.send_state == "pending"
    assert runner.queue("default").count >= 1  # the send job is queued again
    assert login_as("officer").get("/admin/deliveries").status_code == 403
    no_csrf = client.post(f"/admin/deliveries/{stuck.id}/retry")
    assert no_csrf.status_code in (400, 403)
