"""City settings from the city pack: name, bounds, jurisdiction, office hours, windows, hotlines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from backend.models.base import dt_field, json_field


class CitySetting(SQLModel, table=True):
    __tablename__ = "city_settings"

    key: str = Field(primary_key=True, max_length=64)
    value: Any = json_field(dict)
    updated_at: datetime = dt_field(default_now=True)
