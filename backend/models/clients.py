"""Open311 API clients (keys stored hashed) and the status updates they posted (deduplicated)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel, UniqueConstraint

from backend.models.base import dt_field


class ApiClient(SQLModel, table=True):
    """``unit_id`` binds a department's own system to its unit for servicerequestupdates."""

    __tablename__ = "api_clients"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=255)
    key_prefix: str = Field(max_length=12, index=True)
    key_hash: str = Field(max_length=128, unique=True)
    unit_id: int | None = Field(default=None, foreign_key="units.id")
    is_active: bool = True
    created_at: datetime = dt_field(default_now=True)
    last_used_at: datetime | None = dt_field()


class ExternalUpdate(SQLModel, table=True):
    __tablename__ = "external_updates"
    __table_args__ = (UniqueConstraint("api_client_id", "external_id", name="uq_external_update"),)

    id: int | None = Field(default=None, primary_key=True)
    api_client_id: int = Field(foreign_key="api_clients.id")
    external_id: str = Field(max_length=128)
    report_id: int = Field(foreign_key="reports.id")
    event_id: int | None = Field(default=None, foreign_key="report_events.id")
    external_updated_at: datetime | None = dt_field()  # the client's ``updated_datetime`` (audit only)
    created_at: datetime = dt_field(default_now=True)
