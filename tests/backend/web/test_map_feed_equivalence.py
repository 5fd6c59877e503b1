"""``/map.json`` (and the list of ``/``) give exactly what a slow re-filter of every report in Python gives:
the bounded, index-backed query may change how reports are found, never which ones or in what order.

The reports are written straight into the table with every combination that matters to the public rule
(hidden by staff, duplicates, rejected, without a point, each state, several wards and categories, ages
from an hour to two years), then each filter the page offers is compared with the rule applied by hand.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from backend.models.areas import Area
from backend.models.base import utcnow
from backend.models.categories import Category
from backend.models.reports import Report, State
from backend.models.settings import CitySetting
from backend.services.reports import publication

N_REPORTS = 240
PERIOD_DAYS = {"7": 7, "30": 30, "90": 90, "365": 365}
GROUPS = {"open": {"received", "triage", "assigned", "acknowledged", "in_progress", "on_hold", "reopened"},
          "resolved": {"resolved"}, "closed": {"not_competent", "closed"}}
UNMODERATED = {"received", "triage", "assigned"}


def _scatter(session: Any) -> None:
    """N_REPORTS reports of every public/non-public kind, created at random times (seeded)."""
    rng = random.Random(15)
    areas = [a.id for a in session.exec(select(Area))]
    categories = [c.id for c in session.exec(select(Category))]
    now = utcnow()
    first = session.exec(select(Report)).first()
    for i in range(N_REPORTS):
        created = now - timedelta(hours=rng.choice([1, 30, 200, 1000, 3000, 9000, 17000]) + rng.random())
        has_point = rng.random() > 0.05
        report = Report(code=f"PA-T{i:05d}", status=rng.choice(list(State)),
                        category_id=rng.choice([*categories, None]), area_id=rng.choice([*areas, None]),
                        lat=9.6 + rng.random() / 10 if has_point else None,
                        lon=105.9 + rng.random() / 10 if has_point else None,
                        hidden_at=now if rng.random() < 0.05 else None,
                        duplicate_of_id=first.id if first is not None and rng.random() < 0.05 else None,
                        created_at=created, updated_at=created)
        session.add(report)
    # two reports created at the same instant: the order must still be the same (newest id first)
    twin = now - timedelta(hours=5)
    for i in range(2):
        session.add(Report(code=f"PA-TW{i}", status="in_progress", lat=9.61, lon=105.91, created_at=twin,
                           updated_at=twin, area_id=areas[0], category_id=categories[0]))
    session.flush()


def _by_hand(session: Any, *, moderated: bool, category: int | None = None, ward: int | None = None,
             status: str | None = None, period: str | None = None) -> list[str]:
    """The public rule and the filters, applied in Python to every report in the table."""
    now = utcnow()
    out = []
    for r in session.exec(select(Report)).all():
        public = (r.hidden_at is None and r.lat is not None and r.lon is not None and r.duplicate_of_id is None
                  and r.status != "rejected" and not (moderated and r.status in UNMODERATED))
        if not public or (category is not None and r.category_id != category):
            continue
        if (ward is not None and r.area_id != ward) or (status is not None and r.status not in GROUPS[status]):
            continue
        if period is not None and r.created_at < now - timedelta(days=PERIOD_DAYS[period]):
            continue
        out.append(r)
    out.sort(key=lambda r: (r.created_at, r.id), reverse=True)
    return [r.code for r in out[:publication.MAP_LIMIT]]


def _feed(client: Any, query: str) -> list[str]:
    resp = client.get(f"/map.json?{query}")
    assert resp.status_code == 200, (query, resp.get_data(as_text=True)[:300])
    return [f["properties"]["code"] for f in resp.get_json()["features"]]


@pytest.mark.parametrize("moderated", [False, True])
def test_every_filter_of_the_feed_equals_the_rule_applied_by_hand(client: Any, city: Any, session: Any,
                                                                    moderated: bool) -> None:
    _scatter(session)
    setting = session.get(CitySetting, "moderation_required") or CitySetting(key="moderation_required")
    setting.value = moderated
    session.add(setting)
    session.flush()
    session.expire_all()
    some_ward = session.exec(select(Report.area_id).where(Report.area_id.is_not(None))).first()  # type: ignore[union-attr]
    some_category = session.exec(select(Report.category_id).where(Report.category_id.is_not(None))).first()  # type: ignore[union-attr]
    cases: list[dict[str, Any]] = [{}, {"ward": some_ward}, {"category": some_category},
                                   {"ward": some_ward, "category": some_category}]
    cases += [{"status": s} for s in GROUPS] + [{"period": p} for p in PERIOD_DAYS]
    cases += [{"status": "open", "period": "30"}, {"status": "resolved", "period": "365", "ward": some_ward},
              {"category": some_category, "status": "closed", "period": "90"}]
    compared = 0
    for case in cases:
        query = "&".join(f"{k}={v}" for k, v in case.items())
        expected = _by_hand(session, moderated=moderated, **case)
        assert _feed(client, query) == expected, query
        compared += len(expected)
        page = client.get(f"/?{query}").get_data(as_text=True)
        for code in expected[:publication.LIST_LIMIT]:
            assert code in page, (query, code)
    assert compared > N_REPORTS  # the cases really compare reports, not empty lists


def test_the_bounded_read_stops_at_its_limit_newest_first(city: Any, session: Any) -> None:
    _scatter(session)
    points = publication.public_points(session, publication.PublicFilter(), moderated=False, now=utcnow(), limit=25)
    assert [p.code for p in points] == _by_hand(session, moderated=False)[:25]


def test_a_kept_feed_never_outlives_a_change_to_a_report(client: Any, city: Any, session: Any) -> None:
    """The feed is kept a minute per process, but hiding, resolving or creating a report shows at once."""
    from web_seed import SOC_TRANG, by_code, report

    from backend.models.staff import Staff
    from backend.services import reports
    from backend.services.events import Actor

    road = by_code(session, city.reports["road"])
    assert road.code in _feed(client, "") and road.code in client.get("/").get_data(as_text=True)
    ioc = Actor.staff(session.get(Staff, city.staff["ioc"]))
    reports.apply(session, road, "hide", actor=ioc, expected_version=road.version, reason="Nội dung không phù hợp")
    session.flush()
    assert road.code not in _feed(client, "")
    assert road.code not in client.get("/").get_data(as_text=True)  # the page is kept the same way
    new = report(session, resident_id=None, category="rac-thai", description="Rác mới", point=SOC_TRANG)
    session.flush()
    assert _feed(client, "")[0] == new.code and new.code in client.get("/").get_data(as_text=True)


def test_the_feed_is_valid_json_whatever_a_category_is_called(client: Any, city: Any, session: Any) -> None:
    """The feed's JSON is written directly (fast); names with quotes, backslashes and newlines stay valid."""
    from web_seed import by_code

    road = by_code(session, city.reports["road"])
    category = session.get(Category, road.category_id)
    category.name_vi = 'Đường "hư" \\ hỏng\nnặng </script>'
    session.add(category)
    session.flush()
    for query in ("", "lang=en"):
        feature = next(f for f in client.get(f"/map.json?{query}").get_json()["features"]
                       if f["properties"]["code"] == road.code)
        expected = category.name_vi if not query or not category.name_en else category.name_en
        assert feature["properties"]["category"] == expected
        assert feature["geometry"]["coordinates"] == [round(road.lon, 5), round(road.lat, 5)]
