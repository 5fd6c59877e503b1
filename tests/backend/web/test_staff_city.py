"""Staff: the whole city in view (issue 18) — city-wide search by code and by the reporter's phone, the
"Toàn thành phố" unit filter, the leaders' landing page, and the inbox fixes: transfer out lands on the
queue, route forms preselect the routing suggestion, acting assigns, the assignee column."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import func, select
from web_seed import by_code, staff_by_email, token

from backend.models.base import utcnow
from backend.models.reports import Report, ReportEvent
from backend.models.staff import StaffAudit
from backend.services import reports
from backend.services.events import Actor


def test_dispatcher_finds_another_units_report_by_code(login_as: Any, city: Any) -> None:
    code = city.reports["road"]  # Sở Xây dựng's report; the dispatcher's home queue is the IOC's
    html = login_as("ioc").get(f"/inbox?q={code}").get_data(as_text=True)
    assert f'data-code="{code}"' in html
    assert "Không có phản ánh nào phù hợp" not in html


def test_dispatcher_finds_reports_by_the_reporters_phone_and_the_search_is_audited(
        login_as: Any, city: Any, session: Any) -> None:
    html = login_as("ioc").get("/inbox?q=0901 234 567").get_data(as_text=True)
    for name in ("road", "road2", "triage", "rubbish"):  # the seeded resident sent all four
        assert f'data-code="{city.reports[name]}"' in html
    audit = session.exec(select(StaffAudit).where(StaffAudit.kind == "contact_search")).all()
    assert [a.staff_id for a in audit] == [city.staff["ioc"]]
    assert "0901" not in str(audit[0].data) and "234567" not in str(audit[0].data)  # who searched, not the number


def test_a_viewer_cannot_search_reporters_by_phone(login_as: Any, city: Any, session: Any) -> None:
    html = login_as("viewer").get("/inbox?q=0901234567&unit_id=all").get_data(as_text=True)
    assert "Không có phản ánh nào phù hợp" in html
    assert session.exec(select(func.count()).select_from(StaffAudit)
                        .where(StaffAudit.kind == "contact_search")).one() == 0


def test_city_wide_option_for_city_roles_only(login_as: Any, city: Any) -> None:
    ioc = login_as("ioc").get("/inbox?unit_id=all").get_data(as_text=True)
    assert '<option value="all" selected>Toàn thành phố</option>' in ioc
    assert f'data-code="{city.reports["road"]}"' in ioc and f'data-code="{city.reports["rubbish"]}"' in ioc
    officer = login_as("officer").get("/inbox?unit_id=all").get_data(as_text=True)
    assert "Toàn thành phố" not in officer
    assert f'data-code="{city.reports["rubbish"]}"' not in officer  # still only their unit


def test_merged_unit_is_never_offered_as_a_target(login_as: Any, city: Any) -> None:
    html = login_as("ioc").get(f"/inbox/r/{city.reports['triage']}").get_data(as_text=True)
    assert "Sở Xây dựng" in html
    assert "đã hợp nhất" not in html  # Sở GTVT ended 2025-03-01


def test_leader_lands_on_the_citys_numbers(login_as: Any, city: Any, session: Any) -> None:
    road = by_code(session, city.reports["road"])
    road.resolve_due_at = utcnow() - timedelta(hours=3)
    session.add(road)
    session.flush()
    client = login_as("viewer")
    resp = client.get("/inbox")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/inbox/city")
    html = client.get("/inbox/city").get_data(as_text=True)
    open_count = session.exec(select(func.count()).select_from(Report).where(
        Report.status.not_in(["resolved", "rejected", "not_competent", "duplicate", "closed"]))).one()
    assert open_count == 4
    assert "<dd data-open>4</dd>" in html and "<dd data-overdue>1</dd>" in html
    assert "Sở Xây dựng" in html and city.reports["road"] in html  # the overdue one is listed
    # an officer has no city view
    assert login_as("officer").get("/inbox/city").status_code == 403


def test_officer_transferring_out_lands_on_the_queue_with_the_message(login_as: Any, city: Any,
                                                                      session: Any) -> None:
    client = login_as("officer")
    code = city.reports["road"]
    road = by_code(session, code)
    resp = client.post(f"/inbox/r/{code}/act", data={
        "csrf_token": token(client, f"/inbox/r/{code}"), "action": "transfer", "version": road.version,
        "unit_id": city.units["ctdt"], "reason": "Thuộc công trình đô thị", "next": f"/inbox/r/{code}"})
    assert resp.status_code == 303 and resp.headers["Location"].rstrip("/").endswith("/inbox")
    page = client.get(resp.headers["Location"])
    assert page.status_code == 200
    assert "Đã thực hiện: Chuyển đơn vị." in page.get_data(as_text=True)
    assert by_code(session, code).unit_id == city.units["ctdt"]


def test_route_form_preselects_the_routing_suggestion_and_says_why(login_as: Any, city: Any,
                                                                    session: Any) -> None:
    triage = by_code(session, city.reports["triage"])
    reports.apply(session, triage, "change_category", actor=Actor.staff(staff_by_email(session, "ioc@demo.vn")),
                  expected_version=triage.version, category_code="rac-thai")
    session.flush()
    html = login_as("ioc").get(f"/inbox/r/{triage.code}").get_data(as_text=True)
    route_form = html[html.index('id="route-unit"'):html.index("</select>", html.index('id="route-unit"'))]
    selected = route_form[route_form.index("selected") - 40:route_form.index("</option>", route_form.index("selected"))]
    assert f'value="{city.units["ctdt"]}"' in selected and "(gợi ý)" in selected
    assert "Quy tắc định tuyến: lĩnh vực “Rác thải" in html


def test_acting_assigns_the_officer_with_an_event_and_the_queue_shows_it(login_as: Any, city: Any,
                                                                         session: Any) -> None:
    client = login_as("officer")
    code = city.reports["road"]
    road = by_code(session, code)
    assert road.assignee_id is None
    resp = client.post("/inbox/bulk", data={"csrf_token": token(client), "action": "acknowledge",
                                            "report": f"{code}:{road.version}"})
    flashed = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Đã thực hiện “Tiếp nhận” cho 1 phản ánh." in flashed
    assert "Đã xử lý 1" not in flashed  # "Đã xử lý" is the Resolved status
    road = by_code(session, code)
    assert road.assignee_id == city.staff["officer"]
    assigned = session.exec(select(ReportEvent).where(ReportEvent.report_id == road.id,
                                                      ReportEvent.kind == "assigned")).one()
    assert assigned.actor_id == str(city.staff["officer"]) and assigned.data["self"] is True
    page = client.get(f"/inbox/r/{code}").get_data(as_text=True)
    assert "Cán bộ Nguyễn Văn An nhận xử lý phản ánh" in page
    queue = client.get("/inbox").get_data(as_text=True)
    row = queue[queue.index(f'data-code="{code}"'):]
    row = row[:row.index("</tr>")]
    assert "Cán bộ Nguyễn Văn An" in row
    mine = client.get(f"/inbox?assignee_id={city.staff['officer']}").get_data(as_text=True)
    assert f'data-code="{code}"' in mine and f'data-code="{city.reports["road2"]}"' not in mine
    assert "Của tôi" in mine


def test_acting_on_a_colleagues_report_takes_it_over_and_the_timeline_names_who_had_it(
        login_as: Any, city: Any, session: Any) -> None:
    code = city.reports["road"]
    road = by_code(session, code)
    reports.apply(session, road, "assign", actor=Actor.staff(staff_by_email(session, "head@demo.vn")),
                  expected_version=road.version, assignee_id=city.staff["officer"])
    session.flush()
    viewer = login_as("viewer")  # a read-only account never acts, so never takes a report over
    refused = viewer.post(f"/inbox/r/{code}/act", data={"csrf_token": token(viewer, "/inbox?unit_id=all"),
                                                        "action": "start", "version": str(road.version)})
    assert refused.status_code == 403
    assert by_code(session, code).assignee_id == city.staff["officer"]
    colleague = login_as("officer2")
    resp = colleague.post(f"/inbox/r/{code}/act", data={"csrf_token": token(colleague), "action": "start",
                                                        "version": str(road.version)})
    assert resp.status_code == 303
    road = by_code(session, code)
    assert road.assignee_id == city.staff["officer2"] and road.status == "in_progress"
    page = colleague.get(f"/inbox/r/{code}").get_data(as_text=True)
    assert "Nhận xử lý thay Cán bộ Nguyễn Văn An" in page
    item = page[page.index("Nhận xử lý thay"):]
    assert "Cán bộ Trần Thị Bình" in item[:item.index("</li>")]  # the actor of the takeover
    queue = colleague.get("/inbox").get_data(as_text=True)
    row = queue[queue.index(f'data-code="{code}"'):]
    assert "Cán bộ Trần Thị Bình" in row[:row.index("</tr>")]


def test_a_report_paused_before_its_deadline_is_not_counted_overdue(login_as: Any, city: Any, session: Any) -> None:
    """The KPIs' rule (docs/kpis.md), so the city page and the queue count as deadlines.figures does."""
    road = by_code(session, city.reports["road"])
    road.resolve_due_at = utcnow() - timedelta(hours=3)
    road.sla_paused_at = utcnow() - timedelta(days=2)  # on hold since before the deadline
    road2 = by_code(session, city.reports["road2"])
    road2.resolve_due_at = utcnow() - timedelta(hours=3)  # running clock, past its deadline
    session.add_all([road, road2])
    session.flush()
    client = login_as("ioc")
    html = client.get("/inbox/city").get_data(as_text=True)
    assert "<dd data-overdue>1</dd>" in html
    overdue = client.get(f"/inbox?unit_id={city.units['so-xd']}&overdue=1").get_data(as_text=True)
    assert f'data-code="{road2.code}"' in overdue and f'data-code="{road.code}"' not in overdue


def test_a_code_typed_loosely_is_found_across_the_city_even_with_a_unit_chosen(login_as: Any, city: Any) -> None:
    code = city.reports["road"]  # Sở Xây dựng's; the form carries the IOC unit the dispatcher is looking at
    loose = code.lower().replace("-", " ")
    html = login_as("ioc").get(f"/inbox?unit_id={city.units['ioc']}&q={loose}").get_data(as_text=True)
    assert f'data-code="{code}"' in html
    assert '<option value="all" selected>Toàn thành phố</option>' in html


def test_quick_views_mine_and_unassigned_for_roles_that_act(login_as: Any, city: Any) -> None:
    officer = login_as("officer")
    queue = officer.get("/inbox").get_data(as_text=True)
    assert f'href="/inbox/?assignee_id={city.staff["officer"]}" id="view-mine"' in queue
    mine = officer.get(f"/inbox/?assignee_id={city.staff['officer']}").get_data(as_text=True)
    assert 'id="view-mine" aria-current="page">Của tôi<' in mine
    assert 'id="view-mine"' not in login_as("viewer").get("/inbox?unit_id=all").get_data(as_text=True)


def test_without_a_suggestion_the_route_form_preselects_nothing(login_as: Any, city: Any, session: Any) -> None:
    """No alphabetically-first unit chosen silently: the dispatcher must pick one (the triage report has no
    category, so the routing service suggests nothing)."""
    html = login_as("ioc").get(f"/inbox/r/{city.reports['triage']}").get_data(as_text=True)
    route = html[html.index('id="route-unit"'):]
    route = route[:route.index("</select>")]
    assert "required" in route and '<option value="">— chọn đơn vị —</option>' in route and "selected" not in route
    client = login_as("ioc")
    triage = city.reports["triage"]
    version = by_code(session, triage).version
    resp = client.post(f"/inbox/r/{triage}/act", data={"csrf_token": token(client, f"/inbox/r/{triage}"),
                                                       "action": "route", "version": version, "unit_id": ""},
                       follow_redirects=True)
    assert "hãy chọn đơn vị xử lý" in resp.get_data(as_text=True)  # submitted without the browser's check
    after = by_code(session, triage)
    assert (after.status, after.version) == ("triage", version)
