"""Two staff acting on the same report from separate transactions: the second gets a conflict."""

from __future__ import annotations

import threading

import pytest
from sqlmodel import select

from backend.errors import Conflict
from backend.models import Report, ReportEvent, Staff
from backend.services.events import Actor
from backend.services.reports import intake, workflow

from fixtures.wf_city import INSIDE, T0, build_city


@pytest.fixture
def report_id(live_db) -> int:
    with live_db.session_scope() as s:
        city = build_city(s)
        report = intake.create_report(s, channel="app", actor=city.resident(), category_code="pothole",
                                      description="Ổ gà", lat=INSIDE[0], lon=INSIDE[1], at=T0)
        return report.id


def _officer(session, email: str) -> Actor:
    return Actor.staff(session.exec(select(Staff).where(Staff.email == email)).one())


def test_form_rendered_before_another_change_gets_a_conflict(live_db, report_id: int) -> None:
    """The inbox posts the version it rendered; someone acted in between."""
    with live_db.session_scope() as s:
        workflow.apply(s, s.get(Report, report_id), "acknowledge", actor=_officer(s, "officer@example.vn"),
                       expected_version=1)
    with live_db.session() as s, pytest.raises(Conflict) as info:
        workflow.apply(s, s.get(Report, report_id), "reject", actor=_officer(s, "head@example.vn"),
                       expected_version=1, reason="Không đúng")
    assert info.value.code == "version-conflict"
    _assert_one_change(live_db, report_id, "acknowledged")


def test_second_writer_that_loaded_the_same_version_gets_a_conflict(live_db, report_id: int) -> None:
    if live_db.is_sqlite:
        pytest.skip("SQLite transactions take the write lock at BEGIN: writers never interleave")
    first, second = live_db.session(), live_db.session()
    try:
        a, b = first.get(Report, report_id), second.get(Report, report_id)
        assert a.version == b.version == 1
        workflow.apply(first, a, "acknowledge", actor=_officer(first, "officer@example.vn"), expected_version=1)
        first.commit()
        with pytest.raises(Conflict) as info:
            workflow.apply(second, b, "reject", actor=_officer(second, "head@example.vn"), expected_version=1,
                           reason="Không đúng")
        assert info.value.code == "version-conflict"
        second.rollback()
    finally:
        first.close()
        second.close()
    _assert_one_change(live_db, report_id, "acknowledged")


def _assert_one_change(live_db, report_id: int, status: str) -> None:
    with live_db.session_scope() as s:
        report = s.get(Report, report_id)
        assert (report.status, report.version) == (status, 2)
        kinds = [e.kind for e in s.exec(select(ReportEvent).where(ReportEvent.report_id == report_id))]
        assert kinds.count("status_changed") == 1


def test_racing_writers_exactly_one_wins(live_db, report_id: int) -> None:
    if live_db.is_sqlite:
        pytest.skip("SQLite transactions take the write lock at BEGIN: writers never interleave")
    barrier = threading.Barrier(4)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        with live_db.session() as s:
            report = s.get(Report, report_id)
            actor = _officer(s, "officer@example.vn")
            barrier.wait()
            try:
                workflow.apply(s, report, "note", actor=actor, expected_version=1, text=f"ghi chú {i}")
                s.commit()
                result = "ok"
            except Conflict:
                s.rollback()
                result = "conflict"
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["conflict"] * 3 + ["ok"]
    with live_db.session_scope() as s:
        assert s.get(Report, report_id).version == 2
