"""Idempotency keys: (resident, key) -> the stored response of the first request."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel, UniqueConstraint

from backend.models.base import dt_field, json_field


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("resident_id", "key", name="uq_idempotency_key"),)

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="residents.id")
    key: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)
    response_status: int = 201
    response_body: dict[str, Any] = json_field()
    report_id: int | None = Field(default=None, foreign_key="reports.id")
    created_at: datetime = dt_field(default_now=True)
