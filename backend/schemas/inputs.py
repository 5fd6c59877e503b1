"""What every channel refuses before it stores anything: text the database cannot keep, JSON nested past
any real use, instants outside the range the calendar arithmetic works in.

Pure functions shared by the channels (mobile API, Open311, web, Zalo): each renders the
``InvalidInput`` its own way (problem+json, Open311 error array, a Vietnamese page or flash).
- NUL (PostgreSQL text and jsonb refuse it) and lone UTF-16 surrogates (not encodable as UTF-8, which a
  JSON ``"\\udc00"`` escape produces) are refused in request text.
- JSON bodies nested deeper than :data:`MAX_JSON_DEPTH` are refused without recursion.
- Instants are accepted from :data:`EARLIEST` to :data:`LATEST` (UTC); ``0001-01-01T00:00:00+14:00`` is
  before year 1 in UTC and could not even be converted.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from backend.errors import InvalidInput

MAX_JSON_DEPTH = 32
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class BadJSON(InvalidInput):
    """A body that is not JSON, or nested too deep (400, ``bad-request``)."""

    status = 400
    code = "bad-request"


def unstorable(text: str) -> bool:
    """True if ``text`` holds a NUL or a lone surrogate (nothing can store or encode it)."""
    return _UNSTORABLE.search(text) is not None


def scrub(text: str) -> str:
    """``text`` without NULs and with lone surrogates replaced by U+FFFD (for input we must accept)."""
    return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", text)


def unstorable_paths(data: Any) -> list[list[str | int]]:
    """Locations (as pydantic ``loc`` lists) of every key or string value in ``data`` that
    :func:`unstorable` refuses; iterative, so any nesting is safe."""
    found: list[list[str | int]] = []
    stack: list[tuple[Any, list[str | int]]] = [(data, [])]
    while stack:
        value, loc = stack.pop()
        if isinstance(value, str):
            if unstorable(value):
                found.append(loc)
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and unstorable(key):
                    found.append([*loc, scrub(key)])
                stack.append((item, [*loc, scrub(key) if isinstance(key, str) else key]))
        elif isinstance(value, list | tuple):
            stack.extend((item, [*loc, i]) for i, item in enumerate(value))
    return sorted(found, key=str)


def refuse_unstorable(data: Any) -> None:
    """Raise InvalidInput (422, ``invalid-characters``, one detail per location) if ``data`` holds text
    that :func:`unstorable` refuses."""
    paths = unstorable_paths(data)
    if paths:
        raise InvalidInput("Dữ liệu có ký tự không hợp lệ (NUL hoặc mã UTF-16 lẻ).", code="invalid-characters",
                           details=[{"loc": loc, "msg": "ký tự không hợp lệ (NUL hoặc mã UTF-16 lẻ)",
                                     "type": "invalid_characters"} for loc in paths])


def depth_exceeds(raw: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True if the JSON text opens more than ``limit`` nested arrays/objects (strings skipped)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    if text.count("{") + text.count("[") <= limit:  # the common case: cannot nest that deep
        return False
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def load_json(raw: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse a JSON body; raises :class:`BadJSON` when it is not JSON or nests past ``max_depth``."""
    if depth_exceeds(raw, max_depth):
        raise BadJSON(f"Nội dung JSON lồng quá {max_depth} cấp.", code="too-deep")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadJSON("Nội dung JSON không đọc được.", code="bad-request") from None


def within_range(value: datetime) -> bool:
    """True if the aware ``value`` lies in [EARLIEST, LATEST) once converted to UTC."""
    try:
        utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError:
        return False
    return EARLIEST <= utc < LATEST


def check_instant(value: datetime, *, name: str = "datetime") -> datetime:
    """``value`` in UTC, or InvalidInput (``out-of-range``) outside [EARLIEST, LATEST)."""
    if not within_range(value):
        raise InvalidInput(f"{name} phải nằm trong khoảng {EARLIEST.year}–{LATEST.year - 1}.", code="out-of-range")
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
