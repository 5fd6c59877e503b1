"""Helpers and JSON schemas for the Open311 conformance tests (modelled on open311/schema-validation)."""

from __future__ import annotations

import io
import re
from typing import Any
from xml.etree import ElementTree as ET

from PIL import Image

W3C_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
INSIDE = {"lat": "9.6031", "long": "105.9739"}  # a point inside the demo city


# --------------------------------------------------------------------------- helpers


def jpeg_bytes(size: tuple[int, int] = (64, 48), color: str = "red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG", quality=80)
    return buf.getvalue()


def parse_xml(body: bytes) -> ET.Element:
    """Strict parse: well-formed, UTF-8 declaration first, no DTD/entities."""
    assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>'), body[:60]
    assert b"<!DOCTYPE" not in body and b"<!ENTITY" not in body
    return ET.fromstring(body)  # noqa: S314 - our own output, DTDs refused above


def xml_errors(body: bytes) -> list[tuple[str, str]]:
    root = parse_xml(body)
    assert root.tag == "errors"
    items = [(e.findtext("code"), e.findtext("description")) for e in root.findall("error")]
    assert items and all(code and description for code, description in items)
    return items  # type: ignore[return-value]


def assert_json_errors(resp: Any, status: int) -> list[dict[str, Any]]:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    validate(body, ERRORS_SCHEMA)
    return body


def validate(data: Any, schema: dict[str, Any]) -> None:
    import jsonschema

    jsonschema.validate(data, schema, format_checker=jsonschema.FormatChecker())


# --------------------------------------------------------------------------- JSON schemas

_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_DT = {"type": "string", "pattern": W3C_Z.pattern}
_NDT = {"type": ["string", "null"], "pattern": W3C_Z.pattern}

ERRORS_SCHEMA = {"type": "array", "minItems": 1, "items": {
    "type": "object", "required": ["code", "description"], "additionalProperties": False,
    "properties": {"code": {"type": "integer"}, "description": {"type": "string", "minLength": 1}}}}

DISCOVERY_SCHEMA = {"type": "object", "required": ["changeset", "contact", "key_service", "endpoints"],
                    "properties": {"changeset": _DT, "contact": _STR, "key_service": _STR, "endpoints": {
                        "type": "array", "minItems": 1, "items": {
                            "type": "object", "required": ["specification", "url", "changeset", "type", "formats"],
                            "properties": {"specification": _STR, "url": _STR, "changeset": _DT,
                                           "type": {"enum": ["production", "test"]},
                                           "formats": {"type": "array", "minItems": 2, "items": {
                                               "enum": ["text/xml", "application/json"]}}}}}}}

SERVICES_SCHEMA = {"type": "array", "items": {
    "type": "object", "additionalProperties": False,
    "required": ["service_code", "service_name", "description", "metadata", "type", "keywords", "group"],
    "properties": {"service_code": _STR, "service_name": _STR, "description": _STR,
                   "metadata": {"type": "boolean"}, "type": {"enum": ["realtime", "batch", "blackbox"]},
                   "keywords": _STR, "group": _STR}}}

DEFINITION_SCHEMA = {"type": "object", "required": ["service_code", "attributes"], "properties": {
    "service_code": _STR, "attributes": {"type": "array", "items": {
        "type": "object", "additionalProperties": False,
        "required": ["variable", "code", "datatype", "required", "datatype_description", "order", "description",
                     "values"],
        "properties": {
            "variable": {"type": "boolean"}, "code": _STR,
            "datatype": {"enum": ["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]},
            "required": {"type": "boolean"}, "datatype_description": _STR,
            "order": {"type": "integer", "minimum": 1}, "description": _STR,
            "values": {"type": "array", "items": {"type": "object", "required": ["key", "name"],
                                                  "properties": {"key": _STR, "name": _STR}}}}}}}}

REQUEST_FIELDS = ["service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url"]

REQUESTS_SCHEMA = {"type": "array", "items": {
    "type": "object", "additionalProperties": False, "required": REQUEST_FIELDS,
    "properties": {"service_request_id": {"type": "string", "pattern": "^PA-[0-9A-Z]{6}$"},
                   "status": {"enum": ["open", "closed"]}, "status_notes": _NSTR, "service_name": _NSTR,
                   "service_code": _NSTR, "description": _NSTR, "agency_responsible": _NSTR,
                   "service_notice": _NSTR, "requested_datetime": _DT, "updated_datetime": _DT,
                   "expected_datetime": _NDT, "address": _NSTR, "address_id": _NSTR, "zipcode": _NSTR,
                   "lat": {"type": ["number", "null"]}, "long": {"type": ["number", "null"]},
                   "media_url": {"type": ["string", "null"], "pattern": "^https?://"}}}}

POST_SCHEMA = {"type": "array", "minItems": 1, "maxItems": 1, "items": {
    "type": "object", "required": ["service_notice", "account_id"],
    "oneOf": [{"required": ["service_request_id"]}, {"required": ["token"]}],
    "properties": {"service_request_id": {"type": "string", "pattern": "^PA-[0-9A-Z]{6}$"}, "token": _STR,
                   "service_notice": _NSTR, "account_id": _NSTR}}}

#: the lower-case extended statuses of mySociety's open311-adapter (``Role/mySociety.pm``), less the two
#: FixMyStreet has no state for (``unchanged``, ``reopen``): see docs/open311.md §2.5
UPDATES_SCHEMA = {"type": "array", "items": {
    "type": "object", "additionalProperties": False,
    "required": ["update_id", "service_request_id", "status", "updated_datetime", "description", "media_url"],
    "properties": {"update_id": {"type": "string", "pattern": "^[0-9]+$"}, "service_request_id": _STR,
                   "updated_datetime": _DT, "description": {"type": "string", "minLength": 1},
                   "media_url": _STR, "extras": {"type": "object", "additionalProperties": _STR},
                   "status": {"enum": [
                       "open", "closed", "fixed", "in_progress", "planned", "action_scheduled", "investigating",
                       "duplicate", "not_councils_responsibility", "no_further_action", "internal_referral",
                       "cancelled", "for_triage"]}}}}
