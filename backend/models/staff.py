"""Staff accounts (inbox and dashboard users) and their saved queue views."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

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
    locale: str = Field(default="vi", max_length=8)
    is_active: bool = True
    failed_logins: int = 0
    locked_until: datetime | None = dt_field()
    last_login_at: datetime | None = dt_field()
    password_changed_at: datetime | None = dt_field()
    created_at: datetime = dt_field(default_now=True)


class SavedView(SQLModel, table=True):
    __tablename__ = "saved_views"

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    name: str = Field(max_length=100)
    query: dict[str, Any] = json_field()
    created_at: datetime = dt_field(default_now=True)
