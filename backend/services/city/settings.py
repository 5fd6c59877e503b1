"""City settings: small JSON values stored by key in ``city_settings`` (loaded from the city pack).

``get``/``put`` are the raw accessors; the typed helpers below return a sane default when the
key is missing or holds a value of the wrong shape, so callers never have to guard.

Caching: the first read in a transaction loads *every* setting with one query into
``session.info`` (the table holds a few dozen small rows); later reads in the same transaction
are dictionary look-ups. The snapshot is dropped when the session flushes a ``CitySetting``
change (``put`` or any ORM edit), commits or rolls back, so a new transaction always sees what
other processes committed: nothing is cached across transactions, which keeps several gunicorn
processes consistent without any cross-process signal. Whoever writes ``city_settings`` with raw
SQL inside a transaction must call :func:`forget` before reading again in that transaction.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import uuid
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Text, cast, event, literal
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, select

from backend.models.base import utcnow
from backend.models.settings import CitySetting
from backend.services.city import messaging

log = logging.getLogger(__name__)

DEFAULT_HOTLINES: dict[str, str] = {"police": "113", "fire": "114", "ambulance": "115", "city": "1022"}
DEFAULT_OFFICE_HOURS: dict[str, list[list[str]]] = {
    day: [["07:30", "11:30"], ["13:30", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")
}
DEFAULT_QUIET_HOURS: list[str] = ["21:00", "07:00"]
DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
DEFAULT_JURISDICTION = "phananh.local"
DEFAULT_CITY_NAME = "phananh"


_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_TYPES: dict[str, type] = {
    "city_name": str, "jurisdiction_id": str, "timezone": str, "reopen_window_days": int,
    "close_after_days": int, "reporter_visible_to_units": bool, "moderation_required": bool,
    "hotlines": dict, "office_hours": dict, "quiet_hours": list, "bounds": list,
    "open311_sender_status_changes": bool, "open311_test_endpoint": str,
    "web_unverified_allowed": bool, "web_photo_required": bool,
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_span(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(_HHMM.match(str(v)) for v in value)


def problem(key: str, value: Any) -> str | None:
    """Why ``value`` is unacceptable for a known ``key`` (Vietnamese), else None. Other keys take any JSON."""
    if key == messaging.SETTING:
        return messaging.problem(value)
    expected = _TYPES.get(key)
    if expected is None:
        return None
    if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
        return f"phải có kiểu {expected.__name__}"
    if key == "bounds" and not (len(value) == 4 and all(_is_number(v) for v in value)
                                and value[0] < value[2] and value[1] < value[3]):
        return "phải là [min_lon, min_lat, max_lon, max_lat]"
    if key == "quiet_hours" and not _is_span(value):
        return 'phải là ["HH:MM", "HH:MM"]'
    if key == "office_hours" and not all(isinstance(spans, list) and all(_is_span(s) for s in spans)
                                         for spans in value.values()):
        return 'phải là {thứ: [["HH:MM", "HH:MM"], ...]}'
    if key in ("reopen_window_days", "close_after_days") and value < 0:
        return "không được âm"
    if key == "timezone":
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            return "múi giờ không tồn tại"
    return None


_SNAPSHOT_KEY = "phananh.city_settings"   # session.info: {key: value} of this transaction


@event.listens_for(OrmSession, "after_flush")
def _forget_on_change(session: OrmSession, _context: Any) -> None:
    if any(isinstance(obj, CitySetting) for obj in (*session.new, *session.dirty, *session.deleted)):
        session.info.pop(_SNAPSHOT_KEY, None)


@event.listens_for(OrmSession, "after_transaction_end")
def _forget_on_end(session: OrmSession, transaction: Any) -> None:
    if transaction.parent is None:   # the next transaction may see another process's edit
        session.info.pop(_SNAPSHOT_KEY, None)


@event.listens_for(OrmSession, "after_soft_rollback")
def _forget_on_rollback(session: OrmSession, _previous: Any) -> None:
    session.info.pop(_SNAPSHOT_KEY, None)


# --------------------------------------------------------------------------- version stamps

_STAMPS: list[tuple[str, tuple[type, ...]]] = []


def stamp_on_change(key: str, models: tuple[type, ...]) -> None:
    """Declare that any ORM flush changing a row of ``models`` rewrites the setting ``key`` with a fresh
    random token, in the same transaction: per-process caches of that data keyed by ``key`` are then
    never valid past a commit that changed it (other processes notice at their next transaction)."""
    _STAMPS.append((key, models))


def has_changes(session: OrmSession, models: tuple[type, ...]) -> bool:
    """Whether the session holds pending (unflushed) ORM changes to rows of ``models``."""
    if any(isinstance(obj, models) for obj in (*session.new, *session.deleted)):
        return True
    return any(isinstance(obj, models) and session.is_modified(obj) for obj in session.dirty)


@event.listens_for(OrmSession, "before_flush")
def _stamp_changes(session: OrmSession, _context: Any, _instances: Any) -> None:
    for key, models in _STAMPS:
        if not has_changes(session, models):
            continue
        row = session.get(CitySetting, key)
        if row is None:
            session.add(CitySetting(key=key, value=uuid.uuid4().hex))
        else:
            row.value, row.updated_at = uuid.uuid4().hex, utcnow()


def forget(session: Session) -> None:
    """Drop this transaction's snapshot (after writing ``city_settings`` with raw SQL)."""
    session.info.pop(_SNAPSHOT_KEY, None)


def _snapshot(session: Session) -> dict[str, Any]:
    """Every setting of this transaction (one query the first time; see the module doc)."""
    values = session.info.get(_SNAPSHOT_KEY)
    if values is None:
        keep_snapshot(session, session.execute(SNAPSHOT_QUERY).all())
        values = session.info[_SNAPSHOT_KEY]
    return values


#: the snapshot's query as part 0 of a UNION (see :func:`keep_snapshot`): (0, key, value as JSON text)
SNAPSHOT_QUERY = select(literal(0).label("part"), CitySetting.key, cast(CitySetting.value, Text))  # ORM: autoflushes

#: JSON text → value, per process: every transaction reads the settings, which rarely change; parsed once.
#: The values are shared: :func:`get` hands out copies, :func:`peek` is read-only.
_PARSED: dict[str, Any] = {}
_MAX_PARSED = 2_000


def _parsed(text: str) -> Any:
    value = _PARSED.get(text, _MISSING)
    if value is _MISSING:
        value = json.loads(text)
        if len(_PARSED) >= _MAX_PARSED:
            _PARSED.clear()
        _PARSED[text] = value
    return value


_MISSING = object()


def has_snapshot(session: Session) -> bool:
    """Whether this transaction already read the settings (the next :func:`get` costs no query)."""
    return _SNAPSHOT_KEY in session.info


def keep_snapshot(session: Session, rows: Any) -> list[Any]:
    """Keep the settings among ``rows`` — the result of ``union_all(SNAPSHOT_QUERY, other)``, ``other`` with a
    first column other than 0 — as this transaction's snapshot, as the first :func:`get` would; returns the
    other rows. Lets a caller load the settings and what it needs next in one round trip."""
    values, others = {}, []
    for row in rows:
        if row[0] == 0:
            value = _parsed(row[2]) if row[2] is not None else None
            if value is not None:
                values[row[1]] = value
        else:
            others.append(row)
    session.info[_SNAPSHOT_KEY] = values
    return others


def get(session: Session, key: str, default: Any = None) -> Any:
    """The stored value for ``key`` (a deep copy, safe to mutate), else ``default``."""
    value = _snapshot(session).get(key)
    if value is None:
        return default
    if isinstance(value, str | int | float | bool):
        return value
    return copy.deepcopy(value)


def peek(session: Session, key: str) -> Any:
    """The stored value for ``key`` as this transaction read it, or None — not a copy: read it, never change
    it (for per-process caches keyed by a setting's stored form)."""
    return _snapshot(session).get(key)


def put(session: Session, key: str, value: Any) -> bool:
    """Store ``value`` (JSON-serialisable) under ``key``; ``None`` deletes it. True if anything changed."""
    row = session.get(CitySetting, key)
    if value is None:
        if row is None:
            return False
        session.delete(row)
        session.flush()
        return True
    if row is not None and row.value == value:
        return False
    if row is None:
        row = CitySetting(key=key, value=copy.deepcopy(value))
        session.add(row)
    else:
        row.value = copy.deepcopy(value)
        row.updated_at = utcnow()
    session.flush()
    log.info("city setting %s updated", key)
    return True


def _typed(session: Session, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = get(session, key)
    if value is None or (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        return copy.deepcopy(default)
    return value


def city_name(session: Session) -> str:
    return _typed(session, "city_name", str, DEFAULT_CITY_NAME)


def bounds(session: Session) -> tuple[float, float, float, float] | None:
    """``(min_lon, min_lat, max_lon, max_lat)`` from the ``bounds`` setting, or None."""
    value = get(session, "bounds")
    if not isinstance(value, list | tuple) or len(value) != 4:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return None
    min_lon, min_lat, max_lon, max_lat = (float(v) for v in value)
    if min_lon >= max_lon or min_lat >= max_lat:
        return None
    return (min_lon, min_lat, max_lon, max_lat)


def jurisdiction_id(session: Session) -> str:
    return _typed(session, "jurisdiction_id", str, DEFAULT_JURISDICTION)


def timezone(session: Session) -> str:
    return _typed(session, "timezone", str, DEFAULT_TIMEZONE)


def reopen_window_days(session: Session) -> int:
    return _typed(session, "reopen_window_days", int, 7)


def close_after_days(session: Session) -> int:
    return _typed(session, "close_after_days", int, 7)


def reporter_visible_to_units(session: Session) -> bool:
    return _typed(session, "reporter_visible_to_units", bool, True)


def moderation_required(session: Session) -> bool:
    return _typed(session, "moderation_required", bool, False)


def open311_sender_status_changes(session: Session) -> bool:
    """Whether an Open311 sender's reporter may reopen a finished report (docs/open311.md §2.4)."""
    return _typed(session, "open311_sender_status_changes", bool, False)


def hotlines(session: Session) -> dict[str, str]:
    return _typed(session, "hotlines", dict, DEFAULT_HOTLINES)


def office_hours(session: Session) -> dict[str, list[list[str]]]:
    return _typed(session, "office_hours", dict, DEFAULT_OFFICE_HOURS)


def quiet_hours(session: Session) -> list[str]:
    return _typed(session, "quiet_hours", list, DEFAULT_QUIET_HOURS)


def zalo_policy(session: Session) -> messaging.ZaloPolicy:
    """How the city may message Zalo residents (``city/messaging.py``): windows and ZNS templates."""
    return messaging.parse(get(session, messaging.SETTING))
