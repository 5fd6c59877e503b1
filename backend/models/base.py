"""Column helpers shared by the tables: UTC-aware datetimes, portable JSON, string enums."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, types
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(types.TypeDecorator):
    """Stores UTC, always returns timezone-aware datetimes (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a timezone-aware column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None or value.tzinfo is UTC:  # sessions run in UTC: the common case is free
            return value
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


def dt_field(*, nullable: bool = True, index: bool = False, default_now: bool = False) -> Any:
    """A timezone-aware datetime column."""
    if default_now:
        return Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False, index=index))
    return Field(default=None, sa_column=Column(UTCDateTime, nullable=nullable, index=index))


def json_field(default_factory: Any = dict, *, nullable: bool = False) -> Any:
    """A JSON column (JSONB on PostgreSQL)."""
    return Field(default_factory=default_factory, sa_column=Column(JSONType, nullable=nullable))
