"""Residents, their identities on each channel, their devices (push) — personal data lives here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel, UniqueConstraint

from backend.models.base import dt_field, json_field


class Resident(SQLModel, table=True):
    __tablename__ = "residents"

    id: int | None = Field(default=None, primary_key=True)
    display_name: str | None = Field(default=None, max_length=255)
    email: str | None = Field(default=None, max_length=255)
    phone: str | None = Field(default=None, max_length=32)
    locale: str = Field(default="vi", max_length=8)
    is_anonymous_account: bool = False
    created_at: datetime = dt_field(default_now=True)
    anonymized_at: datetime | None = dt_field()


class Identity(SQLModel, table=True):
    """``provider``: firebase | zalo | open311 | phone | web (the web form's device cookie).
    ``subject`` is the id on that provider.

    ``phone`` (``84…``) is personal data the resident consented to share on that channel for
    notifications (Zalo: ZNS messages), with ``phone_consented_at``; it is shielded like the other
    contact data and erased by retention with the identity."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("provider", "subject", name="uq_identity"),)

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="residents.id", index=True)
    provider: str = Field(max_length=16)
    subject: str = Field(max_length=255)
    data: dict[str, Any] = json_field()
    last_interaction_at: datetime | None = dt_field()
    phone: str | None = Field(default=None, max_length=16)
    phone_consented_at: datetime | None = dt_field()
    created_at: datetime = dt_field(default_now=True)


class Device(SQLModel, table=True):
    """A push target: an FCM registration ``token`` or a Firebase installation ``fid``."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("kind", "token", name="uq_device_token"),)

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="residents.id", index=True)
    kind: str = Field(default="token", max_length=8)
    token: str = Field(max_length=4096)
    platform: str = Field(default="android", max_length=16)
    locale: str = Field(default="vi", max_length=8)
    is_active: bool = True
    deactivated_reason: str | None = Field(default=None, max_length=255)
    created_at: datetime = dt_field(default_now=True)
    last_seen_at: datetime | None = dt_field()
