"""The report event log: who did what, when, from -> to. Every change to a report goes through here.

``record()`` is the single writer of ``report_events``; the timeline, deadlines, KPIs and the
audit trail are all derived from these rows (DESIGN §2.2).

:func:`resident_fields` is the one rule for what residents see of an event's text (see its docstring);
every channel showing a report to residents or the public uses it.

``record()`` flushes each event (callers may need its id). Code that records several events in a
row wraps them in :func:`batch`: the events are written with one flush at the end of the block, then
their notify jobs are enqueued with one more (intake writes four events with one INSERT and their two
outbox rows with another this way).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from backend import queue
from backend.models.base import construct, utcnow
from backend.models.reports import PUBLIC_EVENT_KINDS, ActorKind, EventKind, Report, ReportEvent, State
from backend.statements import driver_execute

#: events that may notify someone (services/notifications.py decides whom)
NOTIFY_KINDS = frozenset({EventKind.CREATED, EventKind.ROUTED, EventKind.TRANSFERRED, EventKind.STATUS_CHANGED,
                          EventKind.PUBLIC_REPLY, EventKind.RESIDENT_COMMENT, EventKind.REOPENED,
                          EventKind.SLA_BREACHED, EventKind.DUPLICATE_LINKED})


#: (event kind, state it moved to, or None) -> the data fields residents see. Replies and resolution
#: replies, the reason of a rejection, the guidance (where to go) of "not competent", the original of a
#: duplicate, the reporter's own words. Not listed, so staff-only: hold, transfer, extension and closing
#: reasons, the internal reason of "not competent", internal notes, assignment, escalation.
RESIDENT_FIELDS: dict[tuple[str, str | None], tuple[str, ...]] = {
    (EventKind.PUBLIC_REPLY, None): ("text",),
    (EventKind.STATUS_CHANGED, State.RESOLVED): ("reply",),
    (EventKind.STATUS_CHANGED, State.REJECTED): ("reason",),
    (EventKind.STATUS_CHANGED, State.NOT_COMPETENT): ("guidance",),
    (EventKind.DUPLICATE_LINKED, None): ("of_code", "reply"),
    (EventKind.RESIDENT_COMMENT, None): ("text",),
    (EventKind.REOPENED, None): ("reason",),
    (EventKind.RATED, None): ("rating",),
}
#: the reporter's own words: shown back to the reporter, not to the public
OWN_WORDS = frozenset({(EventKind.RESIDENT_COMMENT, "text")})
_TEXT_FIELDS = ("text", "reply", "guidance", "reason")


#: a ``reply`` given with any change of state (acknowledging, starting, resuming — e.g. a unit's Open311
#: update "IN_PROGRESS: the crew comes this afternoon") is a reply, so residents see it
REPLY_WITH_ANY_STATE = "reply"


def _fields(kind: str, to_state: str | None) -> tuple[str, ...]:
    fields = RESIDENT_FIELDS.get((kind, to_state if kind == EventKind.STATUS_CHANGED else None), ())
    if kind == EventKind.STATUS_CHANGED and REPLY_WITH_ANY_STATE not in fields:
        fields = (*fields, REPLY_WITH_ANY_STATE)
    return fields


def public_field(kind: str, to_state: str | None, field: str) -> bool:
    """Whether residents see ``field`` of an event of ``kind`` (moving to ``to_state``)."""
    return field in _fields(kind, to_state)


def resident_fields(event: ReportEvent, *, reporter: bool = False) -> dict[str, Any]:
    """The data fields of ``event`` that residents may see — the one visibility rule, applied alike by the
    mobile API, Open311, the public web pages, notifications and the bot. ``reporter``: the reporter's own
    view (adds their own comments). Empty for an internal event."""
    if not event.is_public:
        return {}
    data = event.data or {}
    return {name: data[name] for name in _fields(event.kind, event.to_state)
            if data.get(name) not in (None, "") and (reporter or (event.kind, name) not in OWN_WORDS)}


def resident_text(event: ReportEvent, *, reporter: bool = False) -> str | None:
    """The text of ``event`` residents may read, if any (see :func:`resident_fields`)."""
    fields = resident_fields(event, reporter=reporter)
    return next((str(fields[k]) for k in _TEXT_FIELDS if isinstance(fields.get(k), str) and fields[k].strip()),
                None)


@dataclass(frozen=True)
class Actor:
    """Who acts. ``role``/``unit_id`` are set for staff; ``id`` is a staff/resident/client id as text.

    ``via_client_id``: a resident speaking through an Open311 sender (the API client that sent the
    report); the event records it (``data["via_api_client_id"]``, ``data["via"]`` = the client's name).
    """

    kind: ActorKind
    id: str | None = None
    role: str | None = None
    unit_id: int | None = None
    name: str | None = None
    via_client_id: int | None = None

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(ActorKind.SYSTEM, None, name=name)

    @classmethod
    def staff(cls, staff: Any) -> Actor:
        return cls(ActorKind.STAFF, str(staff.id), role=staff.role, unit_id=staff.unit_id, name=staff.name)

    @classmethod
    def resident(cls, resident_id: int | None) -> Actor:
        return cls(ActorKind.RESIDENT, str(resident_id) if resident_id is not None else None)

    @classmethod
    def bot(cls, channel: str) -> Actor:
        return cls(ActorKind.BOT, channel, name=channel)

    @classmethod
    def api_client(cls, client: Any) -> Actor:
        return cls(ActorKind.API_CLIENT, str(client.id), unit_id=client.unit_id, name=client.name)

    @classmethod
    def sender(cls, client: Any, resident_id: int | None) -> Actor:
        """A resident (``None``: unnamed) speaking through ``client``, the Open311 sender of a report."""
        return cls(ActorKind.RESIDENT, str(resident_id) if resident_id is not None else None, name=client.name,
                   via_client_id=client.id)

    @property
    def staff_id(self) -> int | None:
        return int(self.id) if self.kind == ActorKind.STAFF and self.id else None

    @property
    def resident_id(self) -> int | None:
        return int(self.id) if self.kind == ActorKind.RESIDENT and self.id else None


_BATCH_KEY = "phananh.event_batch"   # session.info: the open _Batch


@dataclass
class _Batch:
    reports: list[Report]
    events: list[ReportEvent]
    core: bool = False


def record(session: Session, report: Report, kind: str, *, actor: Actor, at: datetime | None = None,
           is_public: bool | None = None, from_state: str | None = None, to_state: str | None = None,
           from_unit_id: int | None = None, to_unit_id: int | None = None,
           data: dict[str, Any] | None = None) -> ReportEvent:
    """Append one event for ``report`` (flushed, so it has an id). Public by kind unless told.

    Side effect: notifiable kinds (``NOTIFY_KINDS``) enqueue ``handlers.notifications.notify_event``
    in the same transaction, so nobody is forgotten when Redis is down.
    Inside :func:`batch` nothing is written yet: the event gets its report id, its own id and its
    job when the block ends, and ``report`` may still be new (not inserted).
    """
    event = _new_event(report, kind, actor=actor, at=at, is_public=is_public, from_state=from_state,
                       to_state=to_state, from_unit_id=from_unit_id, to_unit_id=to_unit_id, data=data)
    if report.updated_at is None or report.updated_at < event.at:
        report.updated_at = event.at  # KPIs find a unit's changed reports by updated_at
    pending: _Batch | None = session.info.get(_BATCH_KEY)
    if pending is not None:
        pending.reports.append(report)
        pending.events.append(event)
        return event
    _write(session, _Batch([report], [event]))
    return event


@contextmanager
def batch(session: Session, *, core: bool = False) -> Iterator[list[ReportEvent]]:
    """Record the events of the block with one flush at its end, then enqueue their notify jobs.

    ``core`` (intake's hot path): the events are written by one Core ``INSERT … RETURNING id`` instead of
    an ORM flush, when every report has an id by then; the events get their ids but stay outside the
    session (nothing may change them afterwards), and the report's own pending changes are flushed
    later (at the next query or the commit).

    Yields the list of the events recorded so far (filled as ``record()`` is called; ids are set
    when the block ends). Each report must be in the session (or inserted) by the end of the
    block; a report still without an id is added and flushed then. A block inside another one
    joins the outer block (and yields its list). When a block raises, its own events are dropped (an
    inner block's too, even if the outer block catches the error and goes on).
    """
    current: _Batch | None = session.info.get(_BATCH_KEY)
    if current is not None:
        marks = len(current.reports), len(current.events)
        try:
            yield current.events
        except BaseException:  # the inner block failed: its events must not be written by the outer one
            del current.reports[marks[0]:], current.events[marks[1]:]
            raise
        return
    pending = _Batch([], [], core)
    session.info[_BATCH_KEY] = pending
    try:
        yield pending.events
    finally:
        session.info.pop(_BATCH_KEY, None)
    _write(session, pending)


def _new_event(report: Report, kind: str, *, actor: Actor, at: datetime | None, is_public: bool | None,
               from_state: str | None, to_state: str | None, from_unit_id: int | None,
               to_unit_id: int | None, data: dict[str, Any] | None) -> ReportEvent:
    payload = dict(data or {})
    if actor.name and actor.kind != ActorKind.RESIDENT:
        payload.setdefault("actor_name", actor.name)
    if actor.via_client_id is not None:
        payload.setdefault("via_api_client_id", actor.via_client_id)
        payload.setdefault("via", actor.name)
    return construct(ReportEvent, {
        "report_id": report.id, "at": at or utcnow(), "actor_kind": actor.kind, "actor_id": actor.id, "kind": kind,
        "is_public": (kind in PUBLIC_EVENT_KINDS) if is_public is None else is_public,
        "from_state": from_state, "to_state": to_state, "from_unit_id": from_unit_id, "to_unit_id": to_unit_id,
        "data": payload,
    })


def _write(session: Session, pending: _Batch) -> None:
    """Insert ``pending`` events (one flush, with their reports' changes), then enqueue notify jobs."""
    if not pending.events:
        return
    if pending.core and all(report.id is not None for report in pending.reports):
        _insert_core(session, pending)
        return
    for report in pending.reports:
        session.add(report)   # no-op for a report already in the session
    if any(report.id is None for report in pending.reports):
        session.flush()
    for report, event in zip(pending.reports, pending.events, strict=True):
        event.report_id = report.id
    session.add_all(pending.events)
    session.flush()
    queue.enqueue_many(session, [("handlers.notifications.notify_event", {"event_id": event.id})
                                 for event in pending.events if event.kind in NOTIFY_KINDS])


_EVENT_COLUMNS = tuple(c.key for c in ReportEvent.__table__.columns if c.key != "id")  # type: ignore[attr-defined]
_EVENT_INSERT = (insert(ReportEvent.__table__)  # type: ignore[attr-defined]
                 .returning(ReportEvent.__table__.c.id, sort_by_parameter_order=True))  # type: ignore[attr-defined]
NOTIFY_JOB = "handlers.notifications.notify_event"

#: PostgreSQL: the events (one JSON array parameter, any number of events: one prepared statement; encoded by
#: ``json.dumps`` in C, where array parameters cost the driver a Python call per element) and the outbox rows of
#: the notifiable ones, in one statement. Event ids follow the array's order (``ORDER BY ordinality``: the
#: sequence is drawn row by row in that order); each id comes back with its job's outbox id, or NULL. Built
#: once from code constants; values are parameters.
_PG_EVENTS_AND_JOBS = (  # noqa: S608 - code constants only, values are parameters
    "WITH ev AS (INSERT INTO report_events ({cols}) SELECT {cols} FROM"
    " json_populate_recordset(NULL::report_events, %(events)s::json) WITH ORDINALITY ORDER BY ordinality"
    " RETURNING id, kind),"
    " ob AS (INSERT INTO outbox (job_name, queue, created_at, attempts, dispatched_at, available_at, args)"
    " SELECT %(ob_job_name)s, %(ob_queue)s, %(ob_created_at)s::timestamptz, %(ob_attempts)s::integer,"
    " %(ob_dispatched_at)s::timestamptz, %(ob_available_at)s::timestamptz, jsonb_build_object('event_id', ev.id)"
    " FROM ev WHERE ev.kind = ANY(%(notify_kinds)s::text[]) ORDER BY ev.id"
    " RETURNING id, (args->>'event_id')::integer AS event_id)"
    " SELECT ev.id, ob.id FROM ev LEFT JOIN ob ON ob.event_id = ev.id ORDER BY ev.id"
).format(cols=", ".join(_EVENT_COLUMNS))
_NOTIFY_KINDS = sorted(str(k) for k in NOTIFY_KINDS)


def _insert_core(session: Session, pending: _Batch) -> None:
    """The events of ``pending`` with one Core INSERT (ids set on the objects), then their notify jobs;
    on PostgreSQL both in one statement (:data:`_PG_EVENTS_AND_JOBS`)."""
    for report, event in zip(pending.reports, pending.events, strict=True):
        event.__dict__["report_id"] = report.id  # the event is transient and stays so: no history to keep
    if session.get_bind().dialect.name == "postgresql":
        _insert_pg(session, pending.events)
        return
    rows = [{key: getattr(event, key) for key in _EVENT_COLUMNS} for event in pending.events]
    ids = session.execute(_EVENT_INSERT, rows).scalars().all()
    for event, new_id in zip(pending.events, ids, strict=True):
        event.__dict__["id"] = int(new_id)
    queue.enqueue_many(session, [(NOTIFY_JOB, {"event_id": event.id})
                                 for event in pending.events if event.kind in NOTIFY_KINDS])


def _json_row(event: ReportEvent) -> dict[str, Any]:
    """An event's columns as JSON for ``json_populate_recordset`` (the instant in ISO 8601 with its offset)."""
    row = {key: event.__dict__.get(key) for key in _EVENT_COLUMNS}
    at = row["at"]
    if at.tzinfo is None:
        raise ValueError("naive datetime given to a timezone-aware column")
    row["at"] = at.isoformat()
    return row


def _insert_pg(session: Session, written: list[ReportEvent]) -> None:
    params: dict[str, Any] = {"events": json.dumps([_json_row(e) for e in written], ensure_ascii=False,
                                                   separators=(",", ":"))}
    job = queue.new_row_values(NOTIFY_JOB)
    params.update({f"ob_{k}": v for k, v in job.items()}, notify_kinds=_NOTIFY_KINDS)
    rows = driver_execute(session, _PG_EVENTS_AND_JOBS, params).fetchall()
    jobs = []
    for event, (new_id, outbox_id) in zip(written, rows, strict=True):
        event.__dict__["id"] = int(new_id)
        if outbox_id is not None:
            jobs.append(queue.Committed(int(outbox_id), NOTIFY_JOB, job["available_at"]))
    queue.track(session, jobs)
