"""The ZNS part of the fake Zalo: ``POST /message/template`` on its own host (``business.openapi.zalo.me``).

Request (docs/zalo.md §5): header ``access_token`` (the OA's access token), JSON body
``{"phone": "84912345678", "template_id": "231677", "template_data": {...}, "tracking_id": "..."}``.
Answer, HTTP 200 either way: ``{"error": 0, "message": "Success", "data": {"msg_id", "sent_time",
"sending_mode", "quota": {"dailyQuota", "remainingQuota"}}}`` or ``{"error": <negative>, "message"}``:

- -124 access token invalid;  -108 phone number invalid;  -109 template id invalid;
- -111 template data empty;  -1122 a parameter of the template missing;  -112 / -1124 a parameter
  unknown, not a string/number or longer than the template allows;
- -118 no Zalo account for that phone;  -115 out of quota (ZNS balance);
- anything else on cue (``fake.fail("/message/template", error=-144)``), e.g. -133 (night) or -139.
"""

from __future__ import annotations

import re
import time
from typing import Any

PATH = "/message/template"
DAILY_QUOTA = 500
_DIGITS = re.compile(r"\D")


def normalize_phone(value: Any) -> str | None:
    """The forms ZNS accepts (``84xxxxxxxxx``, ``0xxxxxxxxx``, or the 9 digits without the 0) as ``84…``."""
    if not isinstance(value, str):
        return None
    digits = _DIGITS.sub("", value)
    if len(digits) == 11 and digits.startswith("84"):
        return digits
    if len(digits) == 10 and digits.startswith("0"):
        return "84" + digits[1:]
    if len(digits) == 9 and not digits.startswith("0"):
        return "84" + digits
    return None


def _data_error(template: dict[str, int], data: Any) -> tuple[int, str] | None:
    if not isinstance(data, dict) or not data:
        return -111, "Template data empty"
    missing = sorted(set(template) - set(data))
    if missing:
        return -1122, f"Missing param: {missing[0]}"
    for key, value in data.items():
        if key not in template or isinstance(value, bool) or not isinstance(value, str | int | float):
            return -112, f"Template data invalid: {key}"
        if len(str(value)) > template[key]:
            return -1124, f"Param {key} exceeds max length {template[key]}"
    return None


def _error_for(owner: Any, rec: Any) -> tuple[int, str] | None:
    with owner.lock:
        token_ok = rec.headers.get("access_token", "") in owner.access_tokens
    if not token_ok:
        return -124, "Access token is invalid"
    body = rec.json if isinstance(rec.json, dict) else {}
    phone = normalize_phone(body.get("phone"))
    if phone is None:
        return -108, "Phone number invalid"
    template = owner.zns_templates.get(str(body.get("template_id") or ""))
    if template is None:
        return -109, "Template ID invalid"
    problem = _data_error(template, body.get("template_data"))
    if problem:
        return problem
    if phone in owner.zns_no_zalo:
        return -118, "Zalo account not existed"
    with owner.lock:
        if owner.zns_balance is not None:
            if owner.zns_balance <= 0:
                return -115, "Out of quota"
            owner.zns_balance -= 1
    return None


def post(handler: Any, rec: Any) -> None:
    """Route one POST on the ZNS host (``handler`` is the fake's request handler)."""
    if handler._cued(rec):
        return None
    if rec.path != PATH:
        return handler._send(404, {"error": -106, "message": "Method unsupported"})
    owner = handler.owner
    problem = _error_for(owner, rec)
    if problem:
        return handler._send(200, {"error": problem[0], "message": problem[1]})
    rec.accepted = True
    with owner.lock:
        used = sum(1 for r in owner.requests if r.server == "zns" and r.accepted)
    return handler._send(200, {"error": 0, "message": "Success", "data": {
        "msg_id": owner._next_id("zns"), "sent_time": str(int(time.time() * 1000)), "sending_mode": "1",
        "quota": {"dailyQuota": str(DAILY_QUOTA), "remainingQuota": str(max(DAILY_QUOTA - used, 0))}}})
