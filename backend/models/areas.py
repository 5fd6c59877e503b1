"""Areas: ward/commune polygons (GeoJSON) with bounding-box columns for cheap prefiltering."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from backend.models.base import dt_field, json_field


class Area(SQLModel, table=True):
    __tablename__ = "areas"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=255)
    kind: str = Field(default="ward", max_length=16)
    geometry: dict[str, Any] = json_field()
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float
    is_synthetic: bool = False
    active_from: datetime | None = dt_field()
    active_to: datetime | None = dt_field()
