"""The event log writer: ``record()`` flushes each event; ``batch()`` writes a block's events at once."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event as sa_event
from sqlmodel import select

from backend.models.outbox import Outbox
from backend.models.reports import EventKind, Report, ReportEvent
from backend.services import events
from backend.services.events import Actor

_codes = itertools.count(1)


def new_report(session, *, flush: bool = True) -> Report:
    report = Report(code=f"PA-E{next(_codes):05d}", status="received")
    if flush:
        session.add(report)
        session.flush()
    return report


@contextmanager
def event_flushes(session) -> Iterator[list[int]]:
    """How many report events each flush of ``session`` inserts (flushes without any are left out)."""
    seen: list[int] = []

    def listener(flushed, _context) -> None:
        n = sum(isinstance(obj, ReportEvent) for obj in flushed.new)
        if n:
            seen.append(n)

    sa_event.listen(session, "after_flush", listener)
    try:
        yield seen
    finally:
        sa_event.remove(session, "after_flush", listener)


def notify_jobs(session) -> list[int]:
    rows = session.exec(select(Outbox).where(Outbox.job_name == "handlers.notifications.notify_event")).all()
    return sorted(r.args["event_id"] for r in rows)


def test_record_flushes_each_event_and_enqueues_notifiable_ones(session) -> None:
    report = new_report(session)
    created = events.record(session, report, EventKind.CREATED, actor=Actor.resident(None))
    note = events.record(session, report, "internal_note", actor=Actor.system(), data={"text": "x"})
    assert created.id is not None and note.id is not None and not note.is_public
    assert notify_jobs(session) == [created.id]
    assert note.data["actor_name"] == "system" and report.updated_at == note.at


def test_batch_writes_nothing_until_the_block_ends_then_one_flush(session) -> None:
    report = new_report(session)
    with event_flushes(session) as flushes, events.batch(session) as written:
        first = events.record(session, report, EventKind.CREATED, actor=Actor.resident(None))
        second = events.record(session, report, EventKind.ROUTED, actor=Actor.system("routing"))
        third = events.record(session, report, "sla_started", actor=Actor.system("sla"))
        assert flushes == [] and first.id is None and written == [first, second, third]
    assert flushes == [3]   # one flush (one INSERT on PostgreSQL)
    assert first.id < second.id < third.id
    assert notify_jobs(session) == [first.id, second.id]   # sla_started notifies nobody


def test_batch_accepts_a_report_inserted_inside_the_block(session) -> None:
    report = new_report(session, flush=False)
    with events.batch(session) as written:
        events.record(session, report, EventKind.CREATED, actor=Actor.resident(None))
        session.add(report)
        session.flush()
    assert written[0].report_id == report.id is not None


def test_batch_adds_a_new_report_it_was_given(session) -> None:
    report = new_report(session, flush=False)
    with events.batch(session):
        events.record(session, report, EventKind.CREATED, actor=Actor.resident(None))
    assert report.id is not None
    assert session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id)).one().kind == "created"


def test_a_nested_batch_joins_the_outer_one(session) -> None:
    report = new_report(session)
    with events.batch(session) as outer:
        events.record(session, report, EventKind.CREATED, actor=Actor.resident(None))
        with events.batch(session) as inner:
            events.record(session, report, EventKind.ROUTED, actor=Actor.system("routing"))
        assert inner is outer and all(e.id is None for e in outer)
    assert all(e.id is not None for e in outer) and len(outer) == 2


def test_a_failing_batch_writes_nothing(session) -> None:
    report = new_report(session)
    with pytest.raises(RuntimeError), events.batch(session):
        events.record(session, report, EventKind.CREATED, actor=Actor.resident(None))
        raise RuntimeError("boom")
    assert session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id)).all() == []
    assert notify_jobs(session) == []
    created = events.record(session, report, EventKind.CREATED, actor=Actor.resident(None))
    assert created.id is not None   # the session is not left in batch mode


def test_an_inner_batch_that_fails_inside_a_caught_savepoint_writes_nothing(session) -> None:
    report = new_report(session)
    with events.batch(session):
        events.record(session, report, EventKind.INTERNAL_NOTE, actor=Actor.system(), data={"text": "kept"})
        with pytest.raises(RuntimeError), session.begin_nested(), events.batch(session):
            events.record(session, report, EventKind.INTERNAL_NOTE, actor=Actor.system(), data={"text": "undone"})
            raise RuntimeError("the inner change is refused")
    notes = session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id)).all()
    assert [e.data["text"] for e in notes] == ["kept"]


def test_a_core_batch_stores_every_column_as_given(session) -> None:
    """The intake's path (one statement on PostgreSQL, the events as one JSON parameter): read back, every
    column is what was recorded — the instant to the microsecond whatever its zone, text with diacritics,
    nested data, NULLs, flags — and the events keep the order they were recorded in."""
    from datetime import datetime, timedelta, timezone

    report = new_report(session)
    hanoi = timezone(timedelta(hours=7))
    at = datetime(2026, 12, 7, 8, 30, 15, 123456, tzinfo=hanoi)
    data = {"ghi_chú": "Đường “Lê Lợi” – ổ gà", "n": [1, 2.5, None, True], "nested": {"a": {"b": "ế"}}}
    with events.batch(session, core=True) as written:
        events.record(session, report, EventKind.CREATED, actor=Actor.resident(None), at=at, to_state="received")
        events.record(session, report, "internal_note", actor=Actor.system("cán bộ"), at=at + timedelta(seconds=1),
                      data=data, is_public=True, from_unit_id=None, to_unit_id=None)
        events.record(session, report, EventKind.ROUTED, actor=Actor.system("routing"), at=at, from_state="received")
    session.expire_all()
    stored = session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id)
                          .order_by(ReportEvent.id)).all()
    assert [e.id for e in stored] == [e.id for e in written]
    assert [e.kind for e in stored] == ["created", "internal_note", "routed"]
    for mine, row in zip(written, stored, strict=True):
        for key in events._EVENT_COLUMNS:
            assert getattr(row, key) == mine.__dict__[key], key
    assert stored[0].at == at and stored[1].data["ghi_chú"] == data["ghi_chú"] and stored[1].is_public
    assert stored[0].actor_id is None and stored[2].from_state == "received"
