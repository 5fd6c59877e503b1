"""Routing rules: (category?, area?) -> unit, with effective dates. Most specific active rule wins."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from backend.models.base import dt_field


class RoutingRule(SQLModel, table=True):
    __tablename__ = "routing_rules"

    id: int | None = Field(default=None, primary_key=True)
    category_id: int | None = Field(default=None, foreign_key="categories.id", index=True)
    area_id: int | None = Field(default=None, foreign_key="areas.id", index=True)
    unit_id: int = Field(foreign_key="units.id")
    priority: str | None = Field(default=None, max_length=16)
    active_from: datetime | None = dt_field()
    active_to: datetime | None = dt_field()
    note: str = Field(default="", max_length=500)
