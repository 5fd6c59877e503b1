"""Staff correct a report's location (the pin dragged on the report page → the ``relocate`` action): an
event with the old and new point and who moved it, the ward follows, and re-routing to the unit the
city's rules name for the new ward is offered (the demo pack: urban order → the ward's committee)."""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import select
from web_seed import AN_HIEP, SOC_TRANG, by_code, csrf_from, report

from backend.models.areas import Area
from backend.models.reports import ReportEvent


def _encroachment(session: Any, city: Any) -> str:
    r = report(session, resident_id=city.resident_id, category="trat-tu-do-thi",
               description="Lấn chiếm vỉa hè bán hàng", point=SOC_TRANG)
    session.flush()
    assert r.unit_id == city.units["ubnd-soc-trang"]
    return r.code


def _relocate(client: Any, code: str, session: Any, lat: Any, lon: Any) -> Any:
    page = client.get(f"/inbox/r/{code}").get_data(as_text=True)
    assert 'id="relocate-form"' in page and 'data-relocate="relocate-form"' in page
    return client.post(f"/inbox/r/{code}/act", data={"csrf_token": csrf_from(page), "action": "relocate",
                                                      "version": by_code(session, code).version,
                                                      "lat": lat, "lon": lon})


def test_staff_move_the_pin_and_are_offered_the_new_wards_unit(login_as: Any, city: Any, session: Any) -> None:
    code = _encroachment(session, city)
    ioc = login_as("ioc")
    resp = _relocate(ioc, code, session, str(AN_HIEP[0]), str(AN_HIEP[1]))
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/inbox/r/{code}?moved=1")
    moved = by_code(session, code)
    assert (round(moved.lat, 5), round(moved.lon, 5)) == (round(AN_HIEP[0], 5), round(AN_HIEP[1], 5))
    an_hiep = session.exec(select(Area).where(Area.code == "an-hiep")).one()
    assert moved.area_id == an_hiep.id and moved.unit_id == city.units["ubnd-soc-trang"]  # not re-routed by itself
    event = session.exec(select(ReportEvent).where(ReportEvent.report_id == moved.id,
                                                   ReportEvent.kind == "location_changed")).one()
    assert event.actor_id == str(city.staff["ioc"])
    assert event.data["from"]["lat"] == SOC_TRANG[0] and event.data["to"]["lat"] == round(AN_HIEP[0], 7)
    page = ioc.get(f"/inbox/r/{code}?moved=1").get_data(as_text=True)
    assert "Theo vị trí mới" in page and "Sửa vị trí" in page
    unit = re.search(r'id="reroute-form".*?name="unit_id" value="(\d+)"', page, re.S)
    assert unit and int(unit.group(1)) == city.units["ubnd-an-hiep"]
    form = re.search(r'<form[^>]*id="reroute-form".*?</form>', page, re.S).group(0)  # type: ignore[union-attr]
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form))
    assert ioc.post(f"/inbox/r/{code}/act", data=fields).status_code == 303
    assert by_code(session, code).unit_id == city.units["ubnd-an-hiep"]


def test_bad_points_are_refused_and_change_nothing(login_as: Any, city: Any, session: Any) -> None:
    code = _encroachment(session, city)
    ioc = login_as("ioc")
    before = by_code(session, code)
    snapshot = (before.lat, before.lon, before.area_id, before.version)
    for lat, lon, message in (("21.0285", "105.8542", "ngoài địa bàn"), ("abc", "105.9", "Toạ độ không hợp lệ"),
                              ("nan", "105.9", "Toạ độ không hợp lệ"), (str(SOC_TRANG[0]), str(SOC_TRANG[1]),
                                                                     "không thay đổi")):
        resp = _relocate(ioc, code, session, lat, lon)
        assert resp.status_code == 303
        page = ioc.get(f"/inbox/r/{code}").get_data(as_text=True)
        assert message in page, (lat, message)
        after = by_code(session, code)
        assert (after.lat, after.lon, after.area_id, after.version) == snapshot


def test_viewers_cannot_move_the_pin(login_as: Any, city: Any) -> None:
    page = login_as("viewer").get(f"/inbox/r/{city.reports['road']}").get_data(as_text=True)
    assert 'id="relocate-form"' not in page and "data-relocate" not in page
