"""No English and no internal names on the staff pages (issue 18): every timeline event in words, unit
types in Vietnamese, dates shown and typed as dd/mm/yyyy, limiter and validation messages localised."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlmodel import select
from web_seed import by_code, token

from backend.models.reports import EventKind, ReportEvent
from backend.models.routing import RoutingRule
from backend.services.reports.page import describe


def test_every_event_kind_has_human_words() -> None:
    for kind in EventKind:
        label = describe(ReportEvent(report_id=1, actor_kind="system", kind=kind.value, data={}))
        assert label and "_" not in label and label != kind.value, kind


def test_deadline_events_say_which_deadline_and_when(login_as: Any, city: Any) -> None:
    html = login_as("officer").get(f"/inbox/r/{city.reports['road']}").get_data(as_text=True)
    assert "sla_started" not in html and "status_changed" not in html
    timeline = html[html.index('class="timeline"'):]
    assert re.search(r"Bắt đầu tính hạn (tiếp nhận|xử lý): đến \d{2}/\d{2}/\d{4} \d{2}:\d{2}", timeline)


def test_state_changes_are_named_by_what_was_done(login_as: Any, city: Any, session: Any) -> None:
    client = login_as("officer")
    code = city.reports["road"]
    client.post(f"/inbox/r/{code}/act", data={"csrf_token": token(client, f"/inbox/r/{code}"),
                                              "action": "acknowledge", "version": by_code(session, code).version})
    html = client.get(f"/inbox/r/{code}").get_data(as_text=True)
    assert "Đơn vị tiếp nhận xử lý" in html


def test_unit_types_are_vietnamese(login_as: Any, city: Any) -> None:
    html = login_as("admin").get("/admin/units").get_data(as_text=True)
    body = html[html.index("<tbody"):]
    assert "Sở, ngành" in body and "UBND phường/xã" in body
    assert "Trung tâm điều hành (IOC)" in body
    for english in ("department", "utility", "<td>ward</td>"):
        assert english not in body


def test_dates_are_typed_as_dd_mm_yyyy(login_as: Any, city: Any, session: Any) -> None:
    client = login_as("admin")
    page = client.get("/admin/rules").get_data(as_text=True)
    assert 'type="date"' not in page and 'placeholder="dd/mm/yyyy"' in page
    rule = session.exec(select(RoutingRule).where(RoutingRule.active_to.is_(None))).first()
    resp = client.post(f"/admin/rules/{rule.id}/end", data={"csrf_token": token(client, "/admin/rules"),
                                                            "on": "15/03/2031"})
    assert resp.status_code == 303
    session.refresh(rule)
    assert rule.active_to is not None  # midnight of 15/03/2031 in Việt Nam (UTC: the evening before)
    assert rule.active_to.date() in (date(2031, 3, 14), date(2031, 3, 15))


def test_a_bad_date_is_a_vietnamese_message_and_no_change(login_as: Any, city: Any, session: Any) -> None:
    client = login_as("admin")
    rule = session.exec(select(RoutingRule).where(RoutingRule.active_to.is_(None))).first()
    resp = client.post(f"/admin/rules/{rule.id}/end", data={"csrf_token": token(client, "/admin/rules"),
                                                            "on": "31/02/2031"}, follow_redirects=True)
    assert "dd/mm/yyyy" in resp.get_data(as_text=True)
    session.refresh(rule)
    assert rule.active_to is None
