"""Categories: the Open311 "services" residents choose from, with SLA policy and attributes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlmodel import Field, SQLModel

from backend.models.base import dt_field, json_field


class Priority(StrEnum):
    URGENT = "urgent"
    NORMAL = "normal"
    COMPLEX = "complex"


DEFAULT_SLA: dict[str, Any] = {"ack": "8h", "urgent": "4h", "normal": "3d", "complex": "15d"}


class Category(SQLModel, table=True):
    """``sla`` holds budgets: ``{"ack": "8h", "urgent": "4h", "normal": "3d", "complex": "15d"}``.

    ``attributes`` are Open311 service-definition attributes
    (``[{code, datatype, required, order, description_vi, description_en, values: [{key, name}]}]``).
    """

    __tablename__ = "categories"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True, index=True)
    name_vi: str = Field(max_length=255)
    name_en: str = Field(default="", max_length=255)
    description_vi: str = Field(default="", max_length=1000)
    description_en: str = Field(default="", max_length=1000)
    group_code: str = Field(default="other", max_length=64)
    group_vi: str = Field(default="", max_length=255)
    group_en: str = Field(default="", max_length=255)
    default_unit_id: int | None = Field(default=None, foreign_key="units.id")
    priority_default: str = Field(default=Priority.NORMAL, max_length=16)
    sla: dict[str, Any] = json_field(lambda: dict(DEFAULT_SLA))
    attributes: list[dict[str, Any]] = json_field(list)
    keywords: str = Field(default="", max_length=2000)
    requires_after_photo: bool = False
    is_emergency: bool = False
    hotline: str | None = Field(default=None, max_length=32)
    active: bool = True
    sort_order: int = 0
    created_at: datetime = dt_field(default_now=True)

    def name(self, locale: str = "vi") -> str:
        return self.name_en if locale.startswith("en") and self.name_en else self.name_vi
