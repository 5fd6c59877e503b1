"""No English and no internal names on the staff pages (issue 18): every timeline event in words, unit
types in Vietnamese, dates shown and typed as dd/mm/yyyy, limiter and validation messages localised."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlmodel import select
from web_seed import by_code, token

from backend.models.reports import PUBLIC_EVENT_KINDS, EventKind, ReportEvent
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


def _words(html: str, start: str, end: str) -> str:
    section = html[html.index(start):]
    return re.sub(r"<[^>]+>", " ", section[:section.index(end)])


def test_no_timeline_shows_an_internal_event_name(login_as: Any, city: Any, session: Any, client: Any) -> None:
    """One event of every kind on a report (public ones public): the staff timeline and the public page's
    say each in words — no internal name (``sla_started``, ``created``, ``pii_viewed``…) is ever shown."""
    road = by_code(session, city.reports["road"])
    for kind in EventKind:
        session.add(ReportEvent(report_id=road.id, actor_kind="system", kind=kind.value, data={},
                                is_public=kind in PUBLIC_EVENT_KINDS))
    session.flush()
    staff = _words(login_as("admin").get(f"/inbox/r/{road.code}").get_data(as_text=True),
                   '<ol class="timeline">', "</ol>")
    public = _words(client.get(f"/r/{road.code}").get_data(as_text=True), '<section class="card timeline">',
                    "</section>")
    for kind in EventKind:
        for where, text in (("staff", staff), ("public", public)):
            assert not re.search(rf"\b{kind.value}\b", text), (where, kind.value)
    assert "_" not in staff and "_" not in public


INTERNAL = re.compile(r"\b(received|triage|assigned|acknowledged|in_progress|on_hold|resolved|reopened|rejected|"
                      r"not_competent|duplicate|closed|department|utility|ward|urgent|normal|complex|hotline|counter|"
                      r"dispatcher|officer|viewer|None|True|False|per \d+ (minute|hour|second)|Field required)\b(?!@)")


def test_staff_pages_show_no_internal_or_english_names(login_as: Any, city: Any) -> None:
    """States, roles, unit kinds, priorities and channels in words on every inbox page, never their codes."""
    pages = {"admin": ["/inbox", "/inbox?unit_id=all", "/inbox/city", "/inbox/ioc", "/dashboard",
                       f"/inbox/r/{city.reports['triage']}"],
             "officer": ["/inbox", f"/inbox/r/{city.reports['road']}"], "viewer": ["/inbox/city"]}
    for who, paths in pages.items():
        client = login_as(who)
        for path in paths:
            html = client.get(path).get_data(as_text=True)
            text = re.sub(r"<[^>]+>", " ", re.sub(r"<script.*?</script>", " ", html[html.index("<main"):], flags=re.S))
            found = INTERNAL.search(text)
            assert found is None, (who, path, text[max(0, found.start() - 60):found.end() + 20])
