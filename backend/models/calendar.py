"""City calendar overrides: extra days off and extra working days on top of holidays.VN."""

from __future__ import annotations

from datetime import date

from sqlmodel import Field, SQLModel


class CalendarOverride(SQLModel, table=True):
    __tablename__ = "calendar_overrides"

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(unique=True, index=True)
    is_working: bool
    note: str = Field(default="", max_length=255)
