"""The transactional outbox: jobs written in the caller's transaction, relayed to RQ after commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from backend.models.base import dt_field, json_field


class Outbox(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "id", postgresql_where=text("dispatched_at IS NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    job_name: str = Field(max_length=128)
    args: dict[str, Any] = json_field()
    queue: str = Field(default="default", max_length=32)
    created_at: datetime = dt_field(default_now=True)
    available_at: datetime | None = dt_field()
    dispatched_at: datetime | None = dt_field(index=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=2000)
    done_at: datetime | None = dt_field()
