"""Category-scoped officers (``units.category_scoped`` + ``staff.category_ids``): the same rule limits everything
they see in the inbox — the queue and its live refresh, the queue map, the unit counts, the new-reports count and
the category filter — while a report page stays reachable by its link."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select
from web_seed import by_code

from backend.models.base import utcnow
from backend.models.categories import Category
from backend.models.staff import Staff
from backend.models.units import Unit
from backend.services import city as city_service
from backend.services import inbox


def _category(session: Any, code: str) -> int:
    return session.exec(select(Category.id).where(Category.code == code)).one()


@pytest.fixture
def scoped(city: Any, session: Any) -> dict[str, str]:
    """Sở Xây dựng scopes queues by category; officer An works on roads only; road2 is re-filed as a street lamp
    (still Sở Xây dựng's). Returns the codes: ``mine`` (a road), ``other`` (the lamp)."""
    road2 = by_code(session, city.reports["road2"])
    road2.category_id = _category(session, "chieu-sang")
    officer = session.get(Staff, city.staff["officer"])
    officer.category_ids = [_category(session, "duong-hu-hong")]
    unit = session.get(Unit, city.units["so-xd"])
    unit.category_scoped = True
    session.add_all([road2, officer, unit])
    session.flush()
    return {"mine": city.reports["road"], "other": city.reports["road2"]}


def test_queue_live_refresh_and_map_show_only_the_officers_categories(login_as: Any, scoped: dict[str, str]) -> None:
    officer = login_as("officer")
    for path in ("/inbox", "/inbox/rows"):
        html = officer.get(path).get_data(as_text=True)
        assert f'data-code="{scoped["mine"]}"' in html, path
        assert f'data-code="{scoped["other"]}"' not in html, path
    features = officer.get("/inbox/map.json").get_json()["features"]
    assert [f["properties"]["code"] for f in features] == [scoped["mine"]]
    colleague = login_as("officer2")  # no categories on the account: the whole unit, on the map too
    codes = {f["properties"]["code"] for f in colleague.get("/inbox/map.json").get_json()["features"]}
    assert {scoped["mine"], scoped["other"]} <= codes


def test_the_category_filter_offers_only_the_officers_categories(login_as: Any, scoped: dict[str, str]) -> None:
    for path in ("/inbox", "/inbox/map"):
        html = login_as("officer").get(path).get_data(as_text=True)
        filters = html[html.index('name="category_id"'):]
        filters = filters[:filters.index("</select>")]
        assert "Hư hỏng mặt đường, ổ gà" in filters, path
        assert "Đèn chiếu sáng công cộng" not in filters and "Rác thải" not in filters, path
    head = login_as("head").get("/inbox").get_data(as_text=True)
    head_filters = head[head.index('name="category_id"'):]
    assert "Đèn chiếu sáng công cộng" in head_filters[:head_filters.index("</select>")]


def test_a_report_page_stays_reachable_by_its_link(login_as: Any, scoped: dict[str, str]) -> None:
    officer = login_as("officer")
    page = officer.get(f"/inbox/r/{scoped['other']}")
    assert page.status_code == 200 and scoped["other"] in page.get_data(as_text=True)


def test_unit_counts_and_the_new_reports_count_follow_the_scope(city: Any, session: Any,
                                                               scoped: dict[str, str]) -> None:
    officer = session.get(Staff, city.staff["officer"])
    colleague = session.get(Staff, city.staff["officer2"])
    unit = city.units["so-xd"]
    scope = city_service.category_scope(session, staff=officer)
    assert scope == [_category(session, "duong-hu-hong")]
    assert inbox.counts_by_unit(session, unit_ids=[unit], now=utcnow(), categories=scope)[unit][0] == 1
    assert inbox.counts_by_unit(session, unit_ids=[unit], now=utcnow())[unit][0] == 2
    assert inbox.newer_than(session, staff=officer, unit_id=unit, since_id=0) == 1
    assert inbox.newer_than(session, staff=colleague, unit_id=unit, since_id=0) == 2
