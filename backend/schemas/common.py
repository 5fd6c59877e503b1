"""Shapes shared by every API response: the page envelope, the problem body, small value types."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer

from backend.errors import InvalidInput

T = TypeVar("T")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


#: a timezone-aware datetime written as ISO 8601 with an explicit offset (``+00:00``)
AwareDatetime = Annotated[datetime, AfterValidator(_aware),
                          PlainSerializer(lambda v: _aware(v).astimezone(UTC).isoformat(), return_type=str)]


def _bounded(value: datetime) -> datetime:
    from backend.schemas.inputs import EARLIEST, LATEST, within_range

    if not within_range(value):
        raise ValueError(f"must lie between {EARLIEST.year} and {LATEST.year - 1} (UTC)")
    return _aware(value).astimezone(UTC)


#: an instant sent by a client (query or body): aware UTC, within the years the calendar works in
#: (``0001-01-01T00:00:00+14:00`` is refused with 422, not turned into an overflow)
RequestDatetime = Annotated[datetime, AfterValidator(_bounded),
                            PlainSerializer(lambda v: _aware(v).astimezone(UTC).isoformat(), return_type=str)]


class Schema(BaseModel):
    """Base of request/response shapes: unknown fields are refused, attributes are read."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)


class Page(BaseModel, Generic[T]):
    """The uniform list envelope: ``items`` plus page numbers (``next_page`` null on the last page)."""

    items: list[T]
    page: int = Field(ge=1)
    per_page: int = Field(ge=1)
    next_page: int | None = None


class PageQuery(Schema):
    page: int = Field(default=1, ge=1, le=10_000)
    per_page: int = Field(default=20, ge=1, le=100)


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details: a stable ``type`` URI per error and a localized ``title``."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    errors: Any = None


def page_of(items: list[Any], *, page: int, per_page: int) -> dict[str, Any]:
    """Build the envelope from ``per_page + 1`` fetched rows (the extra one says "there is more")."""
    more = len(items) > per_page
    return {"items": items[:per_page], "page": page, "per_page": per_page,
            "next_page": page + 1 if more else None}


def parse_id(value: Any, name: str) -> int | None:
    """A non-negative integer id from a query-string value (``None`` when empty).

    Raises InvalidInput ``invalid-filter`` naming the parameter for anything else.
    """
    if value in (None, ""):
        return None
    try:
        number = int(str(value))
    except ValueError:
        raise InvalidInput(f"Giá trị không hợp lệ cho {name}.", code="invalid-filter") from None
    if number < 0 or number > 2**62:
        raise InvalidInput(f"Giá trị không hợp lệ cho {name}.", code="invalid-filter")
    return number
