"""Deliveries: one notification to one recipient on one channel, with a durable send state."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from backend.models.base import dt_field, json_field


class SendState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # an attempt started; if it crashed mid-send we must not send again
    SENT = "sent"
    FAILED = "failed"
    UNDELIVERABLE = "undeliverable"


class Tier(StrEnum):
    """How a Zalo delivery went out (what the city pays for): a free or a paid customer-service
    message, or a ZNS template message by phone number."""

    CS_FREE = "cs_free"
    CS_PAID = "cs_paid"
    ZNS = "zns"


PAID_TIERS = (Tier.CS_PAID, Tier.ZNS)


class Delivery(SQLModel, table=True):
    """``dedupe_key`` is deterministic (event x recipient x channel x target) and unique. ``tier`` is
    set on Zalo deliveries once a tier was chosen (see ``Tier``)."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_state", "send_state", "created_at"),
                      Index("ix_deliveries_recipient", "recipient_kind", "recipient_id", "created_at"),
                      Index("ix_deliveries_tier", "tier", "sent_at"))

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=255, unique=True)
    report_id: int | None = Field(default=None, foreign_key="reports.id", index=True)
    event_id: int | None = Field(default=None, foreign_key="report_events.id")
    recipient_kind: str = Field(max_length=16)
    recipient_id: int | None = None
    channel: str = Field(max_length=16)
    target: str | None = Field(default=None, max_length=4096)
    template: str = Field(max_length=64)
    locale: str = Field(default="vi", max_length=8)
    title: str = Field(default="", max_length=255)
    body: str = Field(default="", max_length=4000)
    payload: dict[str, Any] = json_field()
    send_state: str = Field(default=SendState.PENDING, max_length=16)
    tier: str | None = Field(default=None, max_length=8)
    #: the attempt that claimed the row (``sending``): only it may record the outcome
    attempt_id: str | None = Field(default=None, max_length=32)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=1000)
    last_attempt_at: datetime | None = dt_field()
    sent_at: datetime | None = dt_field()
    read_at: datetime | None = dt_field()
    created_at: datetime = dt_field(default_now=True)
