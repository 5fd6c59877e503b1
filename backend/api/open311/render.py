"""Open311 serialisation: one data shape, rendered as JSON (bare arrays) or XML (spec element names).

Values are normalised once (:func:`normalize`): datetimes become ``YYYY-MM-DDTHH:MM:SSZ`` in UTC,
``None`` stays ``null`` in JSON and becomes an empty element in XML, booleans are ``true``/``false``.
A list under a key becomes a container element whose children carry the singular name from
:data:`CHILD` (``attributes`` → ``attribute``, ``values`` → ``value`` …), as in the spec.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

from flask import Response

FORMATS = ("json", "xml")
MIME = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'

#: container element -> repeated child element
CHILD: dict[str, str] = {
    "services": "service",
    "attributes": "attribute",
    "values": "value",
    "service_requests": "request",
    "service_request_updates": "request_update",
    "endpoints": "endpoint",
    "formats": "format",
    "errors": "error",
    "media_urls": "media_url",
}


def w3c(value: datetime) -> str:
    """UTC, ``Z`` suffix, no fractions (naive datetimes are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def normalize(value: Any) -> Any:
    """JSON-ready copy of ``value`` (datetimes as W3C strings, non-finite floats as null)."""
    if isinstance(value, datetime):
        return w3c(value)
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalize(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return _xml_safe(str(value))


def _xml_safe(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (control characters other than tab/newline/CR)."""
    return "".join(ch for ch in text if ch in "\t\n\r" or (ord(ch) >= 0x20 and ch not in "\ufffe\uffff"))


def _child_name(container: str) -> str:
    return CHILD.get(container, container[:-1] if container.endswith("s") else "item")


def _fill(parent: ET.Element, key: str, value: Any) -> None:
    element = ET.SubElement(parent, key)
    if isinstance(value, dict):
        for k, v in value.items():
            _fill(element, k, v)
    elif isinstance(value, list):
        child = _child_name(key)
        for item in value:
            _fill(element, child, item)
    else:
        element.text = _text(value)


def to_xml(data: Any, root: str) -> bytes:
    """Serialise ``data`` under element ``root``: a list gives repeated children, a dict sub-elements."""
    data = normalize(data)
    element = ET.Element(root)
    if isinstance(data, list):
        child = _child_name(root)
        for item in data:
            _fill(element, child, item)
    elif isinstance(data, dict):
        for k, v in data.items():
            _fill(element, k, v)
    ET.indent(element)
    return (XML_DECLARATION + ET.tostring(element, encoding="unicode") + "\n").encode("utf-8")


def to_json(data: Any) -> bytes:
    return json.dumps(normalize(data), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def respond(data: Any, fmt: str, *, root: str, status: int = 200) -> Response:
    """A response in ``fmt`` (``json``: ``data`` as is; ``xml``: under element ``root``), always UTF-8
    and saying so (discovery too: its ``contact`` is Vietnamese)."""
    body = to_json(data) if fmt == "json" else to_xml(data, root)
    return Response(body, status=status, content_type=MIME[fmt])


def errors(fmt: str, items: list[tuple[int | str, str]], status: int) -> Response:
    """The spec's error array: ``[{"code": 400, "description": "…"}]`` / ``<errors><error>…``."""
    data = [{"code": code, "description": description} for code, description in items]
    return respond(data, fmt if fmt in FORMATS else "xml", root="errors", status=status)
