"""Reports, their event log (the source of every KPI and of the timeline) and followers."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index, Text, text
from sqlmodel import Field, SQLModel, UniqueConstraint

from backend.models.base import dt_field, json_field


class Channel(StrEnum):
    APP = "app"
    ZALO = "zalo"
    OPEN311 = "open311"
    STAFF = "staff"
    WEB = "web"
    HOTLINE = "hotline"  # entered by staff from a call to the city's hotline (``/inbox/new``)
    COUNTER = "counter"  # entered by staff at the counter (Trung tâm Phục vụ hành chính công)


class State(StrEnum):
    RECEIVED = "received"
    TRIAGE = "triage"
    ASSIGNED = "assigned"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    REJECTED = "rejected"
    NOT_COMPETENT = "not_competent"
    DUPLICATE = "duplicate"
    CLOSED = "closed"


OPEN_STATES = frozenset({State.RECEIVED, State.TRIAGE, State.ASSIGNED, State.ACKNOWLEDGED,
                         State.IN_PROGRESS, State.ON_HOLD, State.REOPENED})
CLOSED_STATES = frozenset({State.REJECTED, State.NOT_COMPETENT, State.DUPLICATE, State.CLOSED})
FIXED_STATES = frozenset({State.RESOLVED})


class ActorKind(StrEnum):
    STAFF = "staff"
    RESIDENT = "resident"
    SYSTEM = "system"
    BOT = "bot"
    API_CLIENT = "api_client"


class EventKind(StrEnum):
    CREATED = "created"
    ROUTED = "routed"
    TRANSFERRED = "transferred"
    ASSIGNED = "assigned"
    STATUS_CHANGED = "status_changed"
    PUBLIC_REPLY = "public_reply"
    INTERNAL_NOTE = "internal_note"
    RESIDENT_COMMENT = "resident_comment"
    PHOTO_ADDED = "photo_added"
    DUPLICATE_LINKED = "duplicate_linked"
    CATEGORY_CHANGED = "category_changed"
    PRIORITY_CHANGED = "priority_changed"
    SLA_PAUSED = "sla_paused"
    SLA_RESUMED = "sla_resumed"
    SLA_EXTENDED = "sla_extended"
    SLA_STARTED = "sla_started"
    SLA_BREACHED = "sla_breached"
    ESCALATED = "escalated"
    RATED = "rated"
    REOPENED = "reopened"
    NOTIFIED = "notified"
    PII_VIEWED = "pii_viewed"
    FLAGGED = "flagged"
    PHOTO_REDACTED = "photo_redacted"
    ANONYMIZED = "anonymized"
    LOCATION_CHANGED = "location_changed"
    TEXT_EDITED = "text_edited"
    HIDDEN = "hidden"
    UNHIDDEN = "unhidden"


#: events residents and the public may see on the timeline
PUBLIC_EVENT_KINDS = frozenset({EventKind.CREATED, EventKind.ROUTED, EventKind.TRANSFERRED,
                                EventKind.STATUS_CHANGED, EventKind.PUBLIC_REPLY, EventKind.RESIDENT_COMMENT,
                                EventKind.DUPLICATE_LINKED, EventKind.RATED, EventKind.REOPENED,
                                EventKind.PHOTO_ADDED})


_OPEN_NOT_DUPLICATE = ("status IN ('received','triage','assigned','acknowledged','in_progress','on_hold','reopened')"
                       " AND duplicate_of_id IS NULL")

#: the part of the public rule (``services/reports/publication.public_clause``) that needs no bound parameter,
#: so the planner can match these partial indexes whatever the query's parameters are
PUBLIC_LISTED = "hidden_at IS NULL AND duplicate_of_id IS NULL AND lat IS NOT NULL AND lon IS NOT NULL"


class Report(SQLModel, table=True):
    """One field report. ``version`` implements optimistic locking (see services/reports/workflow.py).

    Deadline and timestamp columns are caches of what ``report_events`` says; KPIs never read them.
    """

    __tablename__ = "reports"
    __table_args__ = (
        Index("ix_reports_queue", "unit_id", "resolve_due_at", "id",
              postgresql_where=text("status NOT IN ('resolved','rejected','not_competent','duplicate','closed')")),
        Index("ix_reports_created", "created_at"),
        Index("ix_reports_geo", "lat", "lon"),
        Index("ix_reports_resident", "resident_id", "created_at"),
        Index("ix_reports_unit_updated", "unit_id", "updated_at"),
        # KPIs of an old month: the few reports changed over a month after their creation (deadlines/candidates.py)
        Index("ix_reports_long_lived", "updated_at", "unit_id", "created_at",
              postgresql_where=text("updated_at - created_at > interval '31 days'")),
        Index("ix_reports_open_geo", "lat", "lon", postgresql_where=text(_OPEN_NOT_DUPLICATE),
              sqlite_where=text(_OPEN_NOT_DUPLICATE)),
        # the city map and list (``/``, ``/map.json``): newest public reports, overall / of a ward / of a category
        Index("ix_reports_public_created", "created_at", "id", postgresql_where=text(PUBLIC_LISTED),
              sqlite_where=text(PUBLIC_LISTED)),
        Index("ix_reports_public_area", "area_id", "created_at", "id", postgresql_where=text(PUBLIC_LISTED),
              sqlite_where=text(PUBLIC_LISTED)),
        Index("ix_reports_public_category", "category_id", "created_at", "id", postgresql_where=text(PUBLIC_LISTED),
              sqlite_where=text(PUBLIC_LISTED)),
        # a sender's own id of a report, when it gives one: a repeat of its POST finds the report
        Index("uq_reports_sender_ref", "api_client_id", "sender_ref", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True, index=True)
    channel: str = Field(default=Channel.APP, max_length=16)
    category_id: int | None = Field(default=None, foreign_key="categories.id", index=True)
    unit_id: int | None = Field(default=None, foreign_key="units.id")
    assignee_id: int | None = Field(default=None, foreign_key="staff.id", index=True)
    status: str = Field(default=State.RECEIVED, max_length=16, index=True)
    priority: str = Field(default="normal", max_length=16)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None
    address: str | None = Field(default=None, max_length=500)
    area_id: int | None = Field(default=None, foreign_key="areas.id", index=True)
    resident_id: int | None = Field(default=None, foreign_key="residents.id")
    is_anonymous: bool = False
    duplicate_of_id: int | None = Field(default=None, foreign_key="reports.id")
    attributes: dict[str, Any] = json_field()
    flags: dict[str, Any] = json_field()
    search_text: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    public_reply: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    closure_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    external_ref: str | None = Field(default=None, max_length=128, index=True)
    #: the Open311 client whose POST created the report (its "sender"; ``api_clients.id`` — no foreign key,
    #: so an embedded SQLite database migrates in place), and the sender's own id of the report
    api_client_id: int | None = Field(default=None)
    sender_ref: str | None = Field(default=None, max_length=128)
    ack_due_at: datetime | None = dt_field()
    resolve_due_at: datetime | None = dt_field()
    sla_paused_at: datetime | None = dt_field()
    ack_breached_at: datetime | None = dt_field()
    resolve_breached_at: datetime | None = dt_field()
    routed_at: datetime | None = dt_field()
    acknowledged_at: datetime | None = dt_field()
    resolved_at: datetime | None = dt_field()
    closed_at: datetime | None = dt_field()
    reopen_count: int = 0
    rating: int | None = None
    rating_text: str | None = Field(default=None, max_length=1000)
    #: hidden from every public channel (Open311, the public API and pages, exports) by staff; the reason is
    #: on the ``hidden`` event. The one rule: ``services/reports/visibility.py`` (``listed``, ``is_listed``)
    hidden_at: datetime | None = dt_field()
    #: the reporter's own words, kept privately the first time staff edit or redact the description
    original_description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    version: int = 1
    created_at: datetime = dt_field(default_now=True)
    updated_at: datetime = dt_field(default_now=True)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES


class ReportEvent(SQLModel, table=True):
    """Who did what to a report, when, from which state/unit to which."""

    __tablename__ = "report_events"
    __table_args__ = (Index("ix_report_events_report_at", "report_id", "at"),
                      Index("ix_report_events_kind_at", "kind", "at"),
                      Index("ix_report_events_from_unit", "from_unit_id", "at",
                            postgresql_where=text("from_unit_id IS NOT NULL"),
                            sqlite_where=text("from_unit_id IS NOT NULL")))

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="reports.id")
    at: datetime = dt_field(default_now=True)
    actor_kind: str = Field(max_length=16)
    actor_id: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=32)
    is_public: bool = False
    from_state: str | None = Field(default=None, max_length=16)
    to_state: str | None = Field(default=None, max_length=16)
    from_unit_id: int | None = Field(default=None, foreign_key="units.id")
    to_unit_id: int | None = Field(default=None, foreign_key="units.id")
    data: dict[str, Any] = json_field()


class Follower(SQLModel, table=True):
    """A resident who said "me too" and wants to hear about the resolution."""

    __tablename__ = "followers"
    __table_args__ = (UniqueConstraint("resident_id", "report_id", name="uq_follower"),)

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="residents.id")
    report_id: int = Field(foreign_key="reports.id", index=True)
    created_at: datetime = dt_field(default_now=True)
