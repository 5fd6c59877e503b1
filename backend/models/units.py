"""Units: departments, ward People's Committees, utilities and the operations centre (IOC)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from backend.models.base import dt_field


class UnitKind(StrEnum):
    DEPARTMENT = "department"
    WARD = "ward"
    UTILITY = "utility"
    IOC = "ioc"
    OTHER = "other"


class Unit(SQLModel, table=True):
    """A queue that receives reports. Exactly one active unit has ``is_triage`` (the IOC)."""

    __tablename__ = "units"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True, index=True)
    name_vi: str = Field(max_length=255)
    name_en: str = Field(default="", max_length=255)
    kind: str = Field(default=UnitKind.DEPARTMENT, max_length=16)
    parent_id: int | None = Field(default=None, foreign_key="units.id")
    is_triage: bool = False
    email: str | None = Field(default=None, max_length=255)
    phone: str | None = Field(default=None, max_length=32)
    active_from: datetime | None = dt_field()
    active_to: datetime | None = dt_field()
    #: where reports go once the unit has ended (its open reports were moved there; routing rules follow)
    successor_id: int | None = Field(default=None)
    #: the unit's officers see only the categories of their account (``staff.category_ids``) in the queue
    category_scoped: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = dt_field(default_now=True)

    def name(self, locale: str = "vi") -> str:
        return self.name_en if locale.startswith("en") and self.name_en else self.name_vi
