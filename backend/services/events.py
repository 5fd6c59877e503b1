"""The report event log: who did what, when, from -> to. Every change to a report goes through here.

``record()`` is the single writer of ``report_events``; the timeline, deadlines, KPIs and the
audit trail are all derived from these rows (DESIGN §2.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from backend import queue
from backend.models.base import utcnow
from backend.models.reports import PUBLIC_EVENT_KINDS, ActorKind, EventKind, Report, ReportEvent

#: events that may notify someone (services/notifications.py decides whom)
NOTIFY_KINDS = frozenset({EventKind.CREATED, EventKind.ROUTED, EventKind.TRANSFERRED, EventKind.STATUS_CHANGED,
                          EventKind.PUBLIC_REPLY, EventKind.RESIDENT_COMMENT, EventKind.REOPENED,
                          EventKind.SLA_BREACHED, EventKind.DUPLICATE_LINKED})


@dataclass(frozen=True)
class Actor:
    """Who acts. ``role``/``unit_id`` are set for staff; ``id`` is a staff/resident/client id as text."""

    kind: ActorKind
    id: str | None = None
    role: str | None = None
    unit_id: int | None = None
    name: str | None = None

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

    @property
    def staff_id(self) -> int | None:
        return int(self.id) if self.kind == ActorKind.STAFF and self.id else None

    @property
    def resident_id(self) -> int | None:
        return int(self.id) if self.kind == ActorKind.RESIDENT and self.id else None


def record(session: Session, report: Report, kind: str, *, actor: Actor, at: datetime | None = None,
           is_public: bool | None = None, from_state: str | None = None, to_state: str | None = None,
           from_unit_id: int | None = None, to_unit_id: int | None = None,
           data: dict[str, Any] | None = None) -> ReportEvent:
    """Append one event for ``report`` (flushed, so it has an id). Public by kind unless told.

    Side effect: notifiable kinds (``NOTIFY_KINDS``) enqueue ``handlers.notifications.notify_event``
    in the same transaction, so nobody is forgotten when Redis is down.
    """
    if report.id is None:
        session.flush()
    payload = dict(data or {})
    if actor.name and actor.kind != ActorKind.RESIDENT:
        payload.setdefault("actor_name", actor.name)
    event = ReportEvent(
        report_id=report.id, at=at or utcnow(), actor_kind=actor.kind, actor_id=actor.id, kind=kind,
        is_public=(kind in PUBLIC_EVENT_KINDS) if is_public is None else is_public,
        from_state=from_state, to_state=to_state, from_unit_id=from_unit_id, to_unit_id=to_unit_id,
        data=payload,
    )
    if report.updated_at is None or report.updated_at < event.at:
        report.updated_at = event.at  # KPIs find a unit's changed reports by updated_at
        session.add(report)
    session.add(event)
    session.flush()
    if kind in NOTIFY_KINDS:
        queue.enqueue(session, "handlers.notifications.notify_event", event_id=event.id)
    return event
