"""Report shapes for the app: create, the public view (never personal data), the owner view."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from backend.schemas.common import AwareDatetime, PageQuery, RequestDatetime, Schema
from backend.schemas.media import PhotoView

MAX_MEDIA = 10
STATUS_FILTERS = ("open", "closed", "received", "triage", "assigned", "acknowledged", "in_progress",
                  "on_hold", "resolved", "reopened", "rejected", "not_competent", "duplicate")
_CODE = r"^[A-Za-z0-9_.-]{1,64}$"


class Location(Schema):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000)
    address: str | None = Field(default=None, max_length=500)


class ReportCreate(Schema):
    """What the app sends. ``category`` may be omitted: the city's operations centre classifies it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "category": "duong-hu-hong", "description": "Ổ gà lớn trước nhà số 12 đường Trần Hưng Đạo",
        "location": {"lat": 9.603, "lon": 105.975, "accuracy_m": 8}, "media_ids": [], "is_anonymous": False}]})

    category: str | None = Field(default=None, pattern=_CODE)
    description: str = Field(default="", max_length=4000)
    location: Location
    media_ids: list[int] = Field(default_factory=list, max_length=MAX_MEDIA)
    is_anonymous: bool = False
    attributes: dict[str, str | int | float | bool] | None = Field(default=None, max_length=50)

    @field_validator("media_ids")
    @classmethod
    def _positive_unique(cls, v: list[int]) -> list[int]:
        if any(i < 1 for i in v) or len(set(v)) != len(v):
            raise ValueError("media_ids must be distinct positive ids")
        return v


class CommentCreate(Schema):
    text: str = Field(min_length=1, max_length=2000)
    media_ids: list[int] = Field(default_factory=list, max_length=5)


class RatingCreate(Schema):
    rating: int = Field(ge=1, le=5)
    text: str | None = Field(default=None, max_length=1000)


class ReopenCreate(Schema):
    reason: str = Field(min_length=3, max_length=2000)
    media_ids: list[int] = Field(default_factory=list, max_length=5)


class ReportListQuery(PageQuery):
    bbox: str | None = Field(default=None, pattern=r"^-?\d+(\.\d+)?(,-?\d+(\.\d+)?){3}$",
                             description="min_lon,min_lat,max_lon,max_lat")
    status: str | None = Field(default=None, pattern="^(" + "|".join(STATUS_FILTERS) + ")$")
    category: str | None = Field(default=None, pattern=_CODE)
    since: RequestDatetime | None = Field(default=None, description="only reports changed since (ISO 8601)")


class NearbyQuery(Schema):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    category: str | None = Field(default=None, pattern=_CODE)
    radius_m: int = Field(default=150, ge=10, le=1000)


class CategoryRef(BaseModel):
    code: str
    name: str


class TimelineEntry(BaseModel):
    at: AwareDatetime
    kind: str
    label: str | None = None
    text: str | None = None
    state: str | None = None
    state_label: str | None = None
    unit: str | None = None
    rating: int | None = None
    of_code: str | None = None


class ReportPublic(BaseModel):
    """What anyone may see. No reporter identity, no EXIF, no private photo keys."""

    code: str
    status: str
    status_label: str
    is_open: bool
    category: CategoryRef | None = None
    description: str
    lat: float | None = None
    lon: float | None = None
    address: str | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    resolve_due_at: AwareDatetime | None = None
    resolved_at: AwareDatetime | None = None
    public_reply: str | None = None
    duplicate_of: str | None = None
    followers: int = 0
    photos: list[PhotoView] = []


class ReportSummary(BaseModel):
    """One row of the map / list."""

    code: str
    status: str
    status_label: str
    category: CategoryRef | None = None
    lat: float | None = None
    lon: float | None = None
    created_at: AwareDatetime
    resolve_due_at: AwareDatetime | None = None
    thumbnail: str | None = None


class NearbyReport(ReportSummary):
    distance_m: float
    followers: int = 0


class ReportOwnerView(ReportPublic):
    """The reporter's own view: private fields and the whole public timeline."""

    is_mine: bool = True
    is_anonymous: bool
    accuracy_m: float | None = None
    rating: int | None = None
    rating_text: str | None = None
    can_rate: bool = False
    can_reopen: bool = False
    reopen_until: AwareDatetime | None = None
    timeline: list[TimelineEntry] = []
    attributes: dict[str, Any] = {}


class FollowState(BaseModel):
    code: str
    following: bool
    followers: int
