"""Public KPI figures (aggregates only, never report data) and the monthly ranking of units."""

from __future__ import annotations

from pydantic import BaseModel, Field

from backend.schemas.common import Schema

MONTH = r"^20\d\d-(0[1-9]|1[0-2])$"


class StatsQuery(Schema):
    month: str | None = Field(default=None, pattern=MONTH, description="YYYY-MM (default: this month)")
    category: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")


class RankingQuery(Schema):
    month: str | None = Field(default=None, pattern=MONTH, description="YYYY-MM (default: last month)")


class Durations(BaseModel):
    count: int
    median_working_hours: float | None = None
    p90_working_hours: float | None = None
    median_hours: float | None = None
    p90_hours: float | None = None


class Satisfaction(BaseModel):
    mean: float | None = None
    count: int = 0


class StatsPublic(BaseModel):
    month: str
    category: str | None = None
    start: str
    end: str
    as_of: str = Field(description="figures are as of this instant: the end of the month, or now")
    received: int
    resolved: int
    open: int
    closures: int
    on_time_closures: int
    open_overdue: int
    on_time_rate: float | None = None
    resolutions: int
    backlog: int
    reopens: int
    reopen_rate: float | None = None
    transfer_rate: float | None = None
    time_to_acknowledge: Durations
    time_to_resolve: Durations
    satisfaction: Satisfaction


class RankingRow(BaseModel):
    rank: int | None = None
    unit_code: str
    unit_name: str
    closures: int
    on_time_closures: int
    open_overdue: int
    on_time_rate: float | None = None
    satisfaction: Satisfaction


class Ranking(BaseModel):
    month: str
    items: list[RankingRow]
