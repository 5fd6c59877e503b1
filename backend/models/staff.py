"""Staff accounts (inbox and dashboard users), their saved queue views, sign-in throttling and the
audit trail of account security events."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from backend.models.base import dt_field, json_field


class Role(StrEnum):
    ADMIN = "admin"
    DISPATCHER = "dispatcher"
    HEAD = "head"
    OFFICER = "officer"
    VIEWER = "viewer"


class Staff(SQLModel, table=True):
    __tablename__ = "staff"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=255, unique=True, index=True)
    name: str = Field(default="", max_length=255)
    password_hash: str = Field(default="", max_length=255)
    role: str = Field(default=Role.OFFICER, max_length=16)
    unit_id: int | None = Field(default=None, foreign_key="units.id", index=True)
    #: the categories this account works on (empty: all of its unit's); an officer's queue shows only these
    category_ids: list[int] = json_field(default_factory=list)
    locale: str = Field(default="vi", max_length=8)
    is_active: bool = True
    failed_logins: int = 0
    locked_until: datetime | None = dt_field()
    last_login_at: datetime | None = dt_field()
    password_changed_at: datetime | None = dt_field()
    #: set when an admin reset the password (a temporary one): the next pages ask for a new password first
    must_change_password: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = dt_field(default_now=True)
    #: bumped to end every session of the account (sign-out, password change, deactivation, "sign out
    #: everywhere"); a session cookie carries the epoch it was issued under
    session_epoch: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    #: TOTP second factor (RFC 6238): base32 secret, set up (confirmed) time, last accepted time step
    totp_secret: str | None = Field(default=None, max_length=64)
    totp_enabled_at: datetime | None = dt_field()
    totp_last_step: int | None = Field(default=None, sa_type=BigInteger)
    #: SHA-256 hashes of the unused one-time recovery codes
    recovery_codes: list[str] = json_field(default_factory=list)


class SavedView(SQLModel, table=True):
    __tablename__ = "saved_views"

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    name: str = Field(max_length=100)
    query: dict[str, Any] = json_field()
    created_at: datetime = dt_field(default_now=True)


class LoginThrottle(SQLModel, table=True):
    """Sign-in attempt counters of embedded mode (production keeps them in Redis): one row per key
    (``acct:<digest of e-mail and address>`` or ``ip:<digest of address>``), changed only by single
    atomic statements."""

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=320)
    attempts: int = 0
    window_ends_at: datetime = dt_field(default_now=True)
    locked_until: datetime | None = dt_field()


class StaffAudit(SQLModel, table=True):
    """Security events of staff accounts — back-offs (lockouts), sign-outs everywhere, second factor set up
    or removed, recovery codes used — and the admin changes to accounts and units (who, what, when). Holds the
    e-mail typed and the client address."""

    __tablename__ = "staff_audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = dt_field(default_now=True, index=True)
    kind: str = Field(max_length=32)
    staff_id: int | None = Field(default=None, foreign_key="staff.id", index=True)
    actor_id: int | None = Field(default=None, foreign_key="staff.id")
    email: str = Field(default="", max_length=255)
    ip: str = Field(default="", max_length=64)
    data: dict[str, Any] = json_field()
