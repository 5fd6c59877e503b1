"""Webhook events as Zalo sends them (Zalo → our webhook), signed with the documented formula.

Shapes and sources: ``docs/zalo.md`` §2 (envelope, ids and timestamps as strings, ``mac=`` signature
of sha256(app id + raw body + timestamp + OA secret key)). Re-exported by ``fakes.zalo``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any

APP_ID = "1234567890123456789"
OA_ID = "4318021979798891234"
OA_SECRET_KEY = "fake-oa-secret-key"


def sign(raw: bytes, timestamp: str, *, app_id: str = APP_ID, secret: str = OA_SECRET_KEY) -> str:
    return "mac=" + hashlib.sha256(app_id.encode() + raw + timestamp.encode() + secret.encode()).hexdigest()


def dumps(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


_msg_seq = [0]


def _msg_id() -> str:
    _msg_seq[0] += 1
    return f"{secrets.token_hex(10)}{_msg_seq[0]:04d}"


def _now_ms(ts_ms: int | None) -> str:
    return str(ts_ms if ts_ms is not None else int(time.time() * 1000))


def event(name: str, user_id: str, message: dict[str, Any] | None = None, *, ts_ms: int | None = None,
          **extra: Any) -> dict[str, Any]:
    """A user → OA event in the documented envelope (ids and timestamp as strings)."""
    body: dict[str, Any] = {"app_id": APP_ID, "user_id_by_app": "app" + user_id, "event_name": name,
                            "sender": {"id": user_id}, "recipient": {"id": OA_ID}}
    if message is not None:
        message = {"msg_id": _msg_id(), **message}
        body["message"] = message
    body["timestamp"] = _now_ms(ts_ms)
    body.update(extra)
    return body


def text_event(user_id: str, text: str, **kw: Any) -> dict[str, Any]:
    return event("user_send_text", user_id, {"text": text}, **kw)


def image_event(user_id: str, *urls: str, caption: str | None = None, **kw: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"attachments": [{"type": "image", "payload": {"url": u, "thumbnail": u}}
                                               for u in urls]}
    if caption:
        message["text"] = caption
    return event("user_send_image", user_id, message, **kw)


def location_event(user_id: str, lat: float, lon: float, **kw: Any) -> dict[str, Any]:
    return event("user_send_location", user_id, {"attachments": [
        {"type": "location", "payload": {"coordinates": {"latitude": str(lat), "longitude": str(lon)}}}]}, **kw)


def follow_event(user_id: str, **kw: Any) -> dict[str, Any]:
    return {"app_id": APP_ID, "oa_id": OA_ID, "follower": {"id": user_id}, "user_id_by_app": "app" + user_id,
            "event_name": "follow", "source": "oa_profile", "timestamp": _now_ms(kw.get("ts_ms"))}


def echo_event(user_id: str, text: str) -> dict[str, Any]:
    body = event("oa_send_text", OA_ID, {"text": text})
    body["sender"], body["recipient"] = {"id": OA_ID}, {"id": user_id}
    return body


def anonymous_text_event(anonymous_id: str, text: str, *, conversation_id: str | None = None,
                         **kw: Any) -> dict[str, Any]:
    """``anonymous_send_text``: a user who does not follow the OA writes from its profile; the message
    carries a ``conversation_id`` and ``sender.id`` is an anonymous id (docs/zalo.md §2.5)."""
    return event("anonymous_send_text", anonymous_id,
                 {"text": text, "conversation_id": conversation_id or "conv-" + anonymous_id}, **kw)


def submit_info_event(user_id: str, *, phone: str | None, name: str = "Nguyễn Văn An", newer_form: bool = False,
                      **kw: Any) -> dict[str, Any]:
    """``user_submit_info``: the answer to a request-user-info message. Two ``info`` forms are seen in
    the wild (docs/zalo.md §2.6): flat ``{name, phone, address, ward, district, city}`` and the newer
    ``{name, phone, user_dob, gender, full_address{...}}``; ``phone`` is ``84…`` without ``+``."""
    if newer_form:
        info: dict[str, Any] = {"name": name, "phone": phone, "user_dob": "01/01/1990", "gender": "male",
                                "full_address": {"user_city": "Cần Thơ", "user_ward": "Phường 1",
                                                 "user_address": "12 Lê Lợi"}}
    else:
        info = {"name": name, "phone": phone, "address": "12 Lê Lợi", "ward": "Phường 1", "district": "",
                "city": "Cần Thơ"}
    if phone is None:
        info.pop("phone")
    return event("user_submit_info", user_id, None, info=info, **kw)


def signed(payload: dict[str, Any], *, secret: str = OA_SECRET_KEY, bare: bool = False) -> tuple[bytes, dict]:
    """(raw body, headers) as Zalo would POST them."""
    raw = dumps(payload)
    sig = sign(raw, str(payload.get("timestamp", "")), secret=secret)
    return raw, {"X-ZEvent-Signature": sig[4:] if bare else sig, "Content-Type": "application/json"}
