"""What the map forms of the web pages share: the city's bounds for the map, and a number typed in a form.

Used by the resident's report form (``/report``), the staff's report on behalf (``/inbox/new``) and the city
page (``/``).
"""

from __future__ import annotations

from flask import request
from sqlmodel import Session

from backend.errors import InvalidInput
from backend.services import city


def map_bounds(session: Session) -> str:
    """The city's ``bounds`` setting as the maps' ``data-bounds`` attribute (``"min_lon,min_lat,max_lon,max_lat"``),
    or ``""`` when it is missing or malformed (the map then frames the reports or the city centre)."""
    box = city.bounds(session)
    return ",".join(str(v) for v in box) if box else ""


def form_number(name: str, *, message: str, code: str = "invalid-location") -> float | None:
    """The form field ``name`` as a float; ``None`` when empty; ``InvalidInput(message)`` when not a finite number."""
    raw = (request.form.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(message, code=code) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidInput(message, code=code)
    return value
