"""One source of truth for KPI figures: the public stats API, the ranking API, the dashboard cards, the unit
ranking, the monthly table and ``kpis.csv`` all show the figures of ``deadlines.figures`` for the same
parameters; and a running month is judged as it stands now (issue 16's reproductions).
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from web_seed import AN_HIEP, SOC_TRANG, report

from backend.models.base import utcnow
from backend.services import deadlines

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def _seven_fresh_reports(session: Any, city: Any) -> None:
    """The seed's four reports were just created; three more a minute earlier make the issue's seven."""
    for i in range(3):
        report(session, resident_id=city.resident_id, category="duong-hu-hong", description=f"Ổ gà số {i + 1}",
               point=SOC_TRANG if i % 2 else AN_HIEP, at=utcnow() - timedelta(minutes=1))
    session.flush()


def _card(html: str, card_id: str) -> str:
    match = re.search(rf'id="{card_id}">([^<]*)<', html)
    assert match, card_id
    return match.group(1).strip()


def test_reports_created_a_minute_ago_are_not_overdue_in_the_public_stats(client: Any, city: Any,
                                                                          session: Any) -> None:
    """Reproduction 1: the running month was judged as if it were over (``open_overdue: 7``)."""
    _seven_fresh_reports(session, city)
    body = client.get("/api/v1/stats").json
    assert body["open_overdue"] == 0 and body["on_time_rate"] is None
    assert body["received"] == 7 and body["open"] == 7
    assert body["as_of"].endswith("+07:00")


def test_dashboard_cards_ranking_months_csv_and_api_show_the_same_figures(login_as: Any, city: Any,
                                                                         session: Any) -> None:
    """Reproduction 2: the unit ranking said "quá hạn 3" under cards saying "Đang quá hạn 0"."""
    _seven_fresh_reports(session, city)
    client = login_as("admin")
    html = client.get("/dashboard").get_data(as_text=True)
    month = utcnow().astimezone(VN).strftime("%Y-%m")
    start = utcnow().astimezone(VN).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = (start - timedelta(days=150)).replace(day=1)
    end = (utcnow().astimezone(VN).replace(day=28) + timedelta(days=4)).replace(day=1, hour=0, minute=0, second=0,
                                                                                microsecond=0)
    expected = deadlines.figures(session, start=start, end=end, now=utcnow())
    period = expected["period"]
    assert _card(html, "kpi-received") == str(period["received"]) == "7"
    assert _card(html, "kpi-open") == str(period["open"]) == "7"
    assert _card(html, "kpi-overdue") == str(period["open_overdue"]) == "0"
    assert _card(html, "kpi-closures") == str(period["closures"])
    # the ranking on the same page: the same overdue count, unit by unit
    unit_rows = re.findall(r'<tr data-unit="([^"]+)"><td>[^<]*</td><td>[^<]*</td><td>[^<]*</td><td>(\d+)</td>'
                           r'<td>(\d+)</td></tr>', html)
    assert unit_rows and sum(int(overdue) for _code, _c, overdue in unit_rows) == period["open_overdue"]
    assert {code: int(c) for code, c, _o in unit_rows} == {u["unit_code"]: u["closures"] for u in expected["units"]}
    # the monthly table: this month's row
    assert f'data-month="{month}"' in html
    # the CSV of the same scope: this month's row carries the same figures, instants in city time
    rows = list(csv.DictReader(io.StringIO(client.get("/exports/kpis.csv").get_data().decode("utf-8-sig"))))
    last = rows[-1]
    assert last["month"] == month == expected["months"][-1]["month"]
    assert int(last["received"]) == expected["months"][-1]["received"] == 7
    assert int(last["open_overdue"]) == 0 and last["start"].endswith("+07:00") and last["end"].endswith("+07:00")
    # the public API for this month, and its ranking
    api = login_as("admin").get("/api/v1/stats").json
    this_month = deadlines.figures(session, start=last_start(last), end=end, now=utcnow())["period"]
    assert {k: api[k] for k in ("received", "open", "open_overdue", "closures", "on_time_rate")} == \
           {k: this_month[k] for k in ("received", "open", "open_overdue", "closures", "on_time_rate")}
    ranking = login_as("admin").get(f"/api/v1/stats/ranking?month={month}").json["items"]
    assert sum(r["open_overdue"] for r in ranking) == 0
    # the city's public page: its headline is the same month's received / resolved / on-time rate
    home = client.get("/").get_data(as_text=True)
    rate = "—" if api["on_time_rate"] is None else f"{api['on_time_rate'] * 100:.0f}%"
    assert f'data-figure="received">{api["received"]}<' in home and api["received"] == 7
    assert f'data-figure="resolved">{api["resolved"]}<' in home
    assert f'data-figure="on_time_rate">{rate}<' in home


def last_start(row: dict[str, str]) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(row["start"])


def _resolved_in_two_minutes_last_working_day(session: Any) -> None:
    """One Sở Xây dựng report routed at 09:00 and resolved at 09:02 (on time) on the last working day before
    today, written as the workflow writes it (events, then the SLA hooks)."""
    from datetime import datetime

    from sqlmodel import select

    from backend.models.categories import Category
    from backend.models.units import Unit
    from tests.fixtures.kpi_histories import Story
    from tests.oracle.calendar import is_working_day

    day = utcnow().astimezone(VN).date() - timedelta(days=1)
    while not is_working_day(day):
        day -= timedelta(days=1)

    def at(minute: int) -> datetime:
        return datetime(day.year, day.month, day.day, 9, minute, tzinfo=VN)

    story = Story(session, session.exec(select(Category).where(Category.code == "duong-hu-hong")).one())
    r = story.new(at(0))
    story.route(r, session.exec(select(Unit).where(Unit.code == "so-xd")).one(), at(0))
    story.move(r, "acknowledged", at(1))
    story.move(r, "resolved", at(2), data={"reply": "Đã xử lý"})
    session.flush()


def test_the_unit_ranking_agrees_with_the_cards_above_it(login_as: Any, city: Any, session: Any) -> None:
    """Reproduction 2, read off the page alone: "Sở Xây dựng — đúng hạn 25 %, quá hạn 3" in the ranking under
    cards saying "Tỷ lệ đúng hạn 100 %, Đang quá hạn 0" (one report closed on time, seven fresh ones open)."""
    _resolved_in_two_minutes_last_working_day(session)
    _seven_fresh_reports(session, city)
    html = login_as("admin").get("/dashboard").get_data(as_text=True)
    cards = dict((label, value) for value, label in re.findall(
        r'<span class="value"[^>]*>([^<]*)</span><span class="label">([^<(]*)', html))
    assert (cards["Tỷ lệ đúng hạn"], cards["Đang quá hạn"]) == ("100.0 %", "0")
    table = re.search(r'<table class="grid" id="ranking">(.*?)</table>', html, re.S)
    assert table, "ranking table"
    rows = {name: (rate, int(closures), int(overdue)) for name, rate, closures, overdue in re.findall(
        r"<tr[^>]*><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td><td>(\d+)</td><td>(\d+)</td></tr>", table.group(1))}
    assert rows["Sở Xây dựng"] == ("100.0 %", 1, 0)
    assert sum(overdue for _r, _c, overdue in rows.values()) == 0
    assert sum(closures for _r, closures, _o in rows.values()) == int(cards["Đã kết thúc "]) == 1


def test_one_report_resolved_in_two_minutes_reads_2_phut_on_the_dashboard_not_0_0_gio(login_as: Any, city: Any,
                                                                                    session: Any) -> None:
    """Reproduction 3: next to one resolved report the median time to resolve read "0.0 giờ". One report routed
    at 09:00 and resolved at 09:02: the card reads "2 phút" (median and P90)."""
    _resolved_in_two_minutes_last_working_day(session)
    html = login_as("admin").get("/dashboard").get_data(as_text=True)
    card = re.search(r'<span class="value">([^<]*)</span><span class="label">Xử lý \(trung vị, giờ làm việc\); '
                     r'P90: ([^<]*)</span>', html)
    assert card, "time-to-resolve card"
    assert card.groups() == ("2 phút", "2 phút")
    assert "0.0 giờ" not in html


def test_durations_read_in_hours_and_minutes(login_as: Any, city: Any) -> None:
    """Reproduction 3 (the formatter): a median of two minutes showed "0.0 giờ"."""
    from backend.web.common import working_hours

    assert working_hours(2 / 60) == "2 phút"
    assert working_hours(1.5) == "1 giờ 30 phút"
    assert working_hours(3.0) == "3 giờ"
    assert working_hours(None) == "—"
    html = login_as("admin").get("/dashboard").get_data(as_text=True)
    assert not re.search(r"\d\.\d giờ", html)
