"""Photos: the private original, the stripped public copy and thumbnails, hashes and private EXIF."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from backend.models.base import dt_field, json_field


class PhotoRole(StrEnum):
    REPORT = "report"
    AFTER = "after"
    COMMENT = "comment"


class PhotoState(StrEnum):
    PENDING = "pending"
    READY = "ready"
    REJECTED = "rejected"
    FAILED = "failed"


class Photo(SQLModel, table=True):
    """``report_id`` is null until the photo is attached to a report."""

    __tablename__ = "photos"
    __table_args__ = (Index("ix_photos_phash", "phash"), Index("ix_photos_sha256", "sha256"),
                      # attached photos only: the claim of unattached ones goes by primary key (migration 0028)
                      Index("ix_photos_report_id", "report_id", postgresql_where=text("report_id IS NOT NULL"),
                            sqlite_where=text("report_id IS NOT NULL")))

    id: int | None = Field(default=None, primary_key=True)
    report_id: int | None = Field(default=None, foreign_key="reports.id")
    resident_id: int | None = Field(default=None, foreign_key="residents.id", index=True)
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    role: str = Field(default=PhotoRole.REPORT, max_length=16)
    state: str = Field(default=PhotoState.PENDING, max_length=16)
    error: str | None = Field(default=None, max_length=500)
    mime: str = Field(default="", max_length=64)
    size_bytes: int = 0
    sha256: str = Field(default="", max_length=64)
    phash: str | None = Field(default=None, max_length=32)
    width: int | None = None
    height: int | None = None
    original_key: str = Field(default="", max_length=255)
    public_key: str | None = Field(default=None, max_length=255)
    thumb_keys: dict[str, Any] = json_field()
    source_url: str | None = Field(default=None, max_length=2000)
    exif_lat: float | None = None
    exif_lon: float | None = None
    exif_taken_at: datetime | None = dt_field()
    has_exif: bool | None = None
    redacted_at: datetime | None = dt_field()
    created_at: datetime = dt_field(default_now=True)
    processed_at: datetime | None = dt_field()
