"""The inbox queue: visibility by role, deadline order, filters, accent-insensitive search, keyset pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from backend.errors import Forbidden, InvalidInput
from backend.models.categories import Category
from backend.models.reports import Report
from backend.models.staff import Staff
from backend.models.units import Unit
from backend.services import inbox
from backend.services.city import access
from backend.text import fold

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
def units(session: Any) -> dict[str, Unit]:
    out = {}
    for code, triage in (("ioc", True), ("roads", False), ("parks", False)):
        unit = Unit(code=code, name_vi=f"Đơn vị {code}", is_triage=triage)
        session.add(unit)
        out[code] = unit
    session.flush()
    return out


@pytest.fixture
def reports(session: Any, units: dict[str, Unit]) -> list[Report]:
    cat = Category(code="duong", name_vi="Đường hư hỏng")
    session.add(cat)
    session.flush()
    rows = []
    specs = [("PA-AAAA01", "roads", 30, "Ổ gà trên đường Lê Lợi", "assigned"),
             ("PA-AAAA02", "roads", -5, "Đèn đường không sáng", "acknowledged"),
             ("PA-AAAA03", "roads", None, "Cây đổ chắn lối", "assigned"),
             ("PA-AAAA04", "roads", 10, "Đã xong", "resolved"),
             ("PA-AAAA05", "parks", 1, "Cỏ mọc cao ở công viên", "assigned"),
             ("PA-AAAA06", "roads", 60, "Nắp cống vỡ trên đường Trần Phú", "in_progress")]
    for i, (code, unit, hours, text, state) in enumerate(specs):
        r = Report(code=code, unit_id=units[unit].id, status=state, description=text, category_id=cat.id,
                   search_text=fold(f"{code} {text}"), channel="zalo" if i % 2 else "app",
                   resolve_due_at=None if hours is None else NOW + timedelta(hours=hours),
                   created_at=NOW - timedelta(days=1))
        session.add(r)
        rows.append(r)
    session.flush()
    return rows


def staff(role: str, unit: Unit | None) -> Staff:
    return Staff(id=99, email="x@demo.vn", role=role, unit_id=unit.id if unit else None)


def codes(page: inbox.QueuePage) -> list[str]:
    return [row.report.code for row in page.rows]


def test_queue_is_open_reports_of_the_unit_by_nearest_deadline(session: Any, units: Any, reports: Any) -> None:
    page = inbox.queue(session, staff=staff("officer", units["roads"]), flt=inbox.QueueFilter(), now=NOW)
    assert codes(page) == ["PA-AAAA02", "PA-AAAA01", "PA-AAAA06", "PA-AAAA03"]  # no deadline last, resolved out
    assert [row.deadline for row in page.rows] == ["overdue", "ok", "ok", "none"]
    assert page.rows[0].category == "Đường hư hỏng" and page.rows[0].unit == "Đơn vị roads"


def test_search_is_accent_insensitive(session: Any, units: Any, reports: Any) -> None:
    officer = staff("officer", units["roads"])
    for q in ("duong", "đường", "ĐƯỜNG"):
        page = inbox.queue(session, staff=officer, flt=inbox.parse_filter({"q": q}), now=NOW)
        assert codes(page) == ["PA-AAAA02", "PA-AAAA01", "PA-AAAA06"]
    page = inbox.queue(session, staff=officer, flt=inbox.parse_filter({"q": "tran phu"}), now=NOW)
    assert codes(page) == ["PA-AAAA06"]
    page = inbox.queue(session, staff=officer, flt=inbox.parse_filter({"q": "100%_"}), now=NOW)
    assert codes(page) == []


def test_filters(session: Any, units: Any, reports: Any) -> None:
    officer = staff("officer", units["roads"])

    def run(**args: Any) -> list[str]:
        return codes(inbox.queue(session, staff=officer, flt=inbox.parse_filter(args), now=NOW))

    assert run(overdue="1") == ["PA-AAAA02"]
    assert run(state="in_progress") == ["PA-AAAA06"]
    assert run(channel="zalo") == ["PA-AAAA02", "PA-AAAA06"]
    assert run(unassigned="1") == ["PA-AAAA02", "PA-AAAA01", "PA-AAAA06", "PA-AAAA03"]


def test_keyset_pages_cover_everything_once(session: Any, units: Any, reports: Any) -> None:
    officer = staff("officer", units["roads"])
    seen: list[str] = []
    args: dict[str, Any] = {"limit": "1"}
    for _ in range(10):
        page = inbox.queue(session, staff=officer, flt=inbox.parse_filter(args), now=NOW)
        seen += codes(page)
        if not page.next_cursor:
            break
        args = {"limit": "1", **page.next_cursor}
    assert seen == ["PA-AAAA02", "PA-AAAA01", "PA-AAAA06", "PA-AAAA03"]


def test_visibility_by_role(session: Any, units: Any, reports: Any) -> None:
    flt = inbox.QueueFilter()
    assert len(inbox.queue(session, staff=staff("dispatcher", None), flt=flt, now=NOW).rows) == 5
    assert len(inbox.queue(session, staff=staff("viewer", None), flt=flt, now=NOW).rows) == 5
    assert codes(inbox.queue(session, staff=staff("viewer", units["parks"]), flt=flt, now=NOW)) == ["PA-AAAA05"]
    assert codes(inbox.queue(session, staff=staff("officer", None), flt=flt, now=NOW)) == []
    with pytest.raises(Forbidden):
        inbox.queue(session, staff=staff("head", units["roads"]), flt=inbox.QueueFilter(unit_id=units["parks"].id),
                    now=NOW)


def test_can_act_matrix(units: Any, reports: Any) -> None:
    own, other = reports[0], reports[4]
    assert access.can_act(staff("officer", units["roads"]), own)
    assert not access.can_act(staff("officer", units["roads"]), other)
    assert access.can_act(staff("dispatcher", None), other)
    assert not access.can_act(staff("viewer", None), own)
    with pytest.raises(Forbidden):
        access.ensure_can_act(staff("viewer", units["roads"]), own)


@pytest.mark.parametrize("args", [{"state": "resolved"}, {"channel": "fax"}, {"unit_id": "abc"},
                                  {"after_due": "hôm qua", "after_id": "1"}, {"q": "x" * 201},
                                  {"after_due": "2026-01-01T00:00:00", "after_id": "1"}])
def test_bad_filters_are_refused(args: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        inbox.parse_filter(args)


def test_saved_views(session: Any, units: Any) -> None:
    owner = Staff(email="o@demo.vn", role="officer", unit_id=units["roads"].id)
    session.add(owner)
    session.flush()
    view = inbox.save_view(session, staff=owner, name="Quá hạn", flt=inbox.parse_filter({"overdue": "1"}))
    assert [v.name for v in inbox.saved_views(session, staff=owner)] == ["Quá hạn"]
    with pytest.raises(InvalidInput):
        inbox.save_view(session, staff=owner, name=" ", flt=inbox.QueueFilter())
    inbox.delete_view(session, staff=owner, view_id=view.id)
    assert session.exec(select(Staff)).first() is not None and inbox.saved_views(session, staff=owner) == []


def test_flags_shown_in_the_queue(session: Any, units: Any, reports: Any) -> None:
    r = reports[0]
    r.flags = {"photo_reused": {"report": "PA-XXXX"}, "photo_far_from_location": {"distance_m": 900},
               "comment_waiting": True}
    r.reopen_count = 1
    session.add(r)
    session.flush()
    page = inbox.queue(session, staff=staff("officer", units["roads"]), flt=inbox.parse_filter({"q": "le loi"}),
                       now=NOW)
    assert page.rows[0].flags == ["reused_photo", "far_from_location", "reopened", "comment_waiting"]


def test_queue_row_has_the_smallest_ready_thumbnail(session: Any, units: Any, reports: Any) -> None:
    from backend.models.photos import Photo

    session.add(Photo(report_id=reports[1].id, role="report", state="pending", thumb_keys={"64": "t/pending-64.webp"}))
    session.add(Photo(report_id=reports[1].id, role="report", state="ready",
                      thumb_keys={"512": "t/b-512.webp", "256": "t/b-256.webp"}, public_key="p/b.jpg"))
    session.flush()
    page = inbox.queue(session, staff=staff("officer", units["roads"]), flt=inbox.QueueFilter(), now=NOW)
    assert page.rows[0].report.code == "PA-AAAA02" and page.rows[0].thumb_key == "t/b-256.webp"
    assert page.rows[1].thumb_key is None
