"""Column helpers shared by the tables: UTC-aware datetimes, portable JSON, string enums; :func:`construct`
builds a new row object without SQLModel's per-field constructor (hot write paths)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, types
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(types.TypeDecorator):
    """Stores UTC, always returns timezone-aware datetimes (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a timezone-aware column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None or value.tzinfo is UTC:  # sessions run in UTC: the common case is free
            return value
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


def dt_field(*, nullable: bool = True, index: bool = False, default_now: bool = False) -> Any:
    """A timezone-aware datetime column."""
    if default_now:
        return Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False, index=index))
    return Field(default=None, sa_column=Column(UTCDateTime, nullable=nullable, index=index))


def json_field(default_factory: Any = dict, *, nullable: bool = False) -> Any:
    """A JSON column (JSONB on PostgreSQL)."""
    return Field(default_factory=default_factory, sa_column=Column(JSONType, nullable=nullable))


_DEFAULTS: dict[type, tuple[dict[str, Any], tuple[tuple[str, Any], ...]]] = {}


def construct(model: type[Any], values: dict[str, Any]) -> Any:
    """A new (transient) ``model`` row with ``values``, as ``model(**values)`` makes it, without its cost.

    The object is built the way the ORM builds a row it loads (``new_instance``, then the instance's
    ``__dict__``): no per-field instrumented ``__setattr__``, no pydantic pass. Fields not given take their
    defaults (``default_factory`` called, so each row has its own dict). A flush inserts it as usual (the
    ORM reads the instance's dict); changes made afterwards through attributes are tracked as usual.
    Table models without relationships only.
    """
    defaults = _DEFAULTS.get(model)
    if defaults is None:
        fields = model.model_fields
        static = {n: f.get_default() for n, f in fields.items()
                  if not f.is_required() and f.default_factory is None}
        factories = tuple((n, f.default_factory) for n, f in fields.items() if f.default_factory is not None)
        defaults = _DEFAULTS[model] = (static, factories)
    obj = model._sa_class_manager.new_instance()
    state = obj.__dict__
    state.update(defaults[0])
    for name, factory in defaults[1]:
        if name not in values:
            state[name] = factory()
    state.update(values)
    object.__setattr__(obj, "__pydantic_fields_set__", set(values))
    return obj
