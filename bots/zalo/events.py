"""Zalo OA webhook events: signature check and tolerant parsing into a channel-agnostic message.

Zalo payload shapes vary between event types and documentation sources (``reference/zalo.md``
§2-§3): ids and timestamps are strings, coordinates may be strings or numbers, the location may
sit in ``attachments[].payload.coordinates`` or elsewhere. Nothing here raises on odd input:
unknown shapes become ``kind="other"`` and are stored and acknowledged by the webhook.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from backend.services.chat import Incoming

#: user-generated message events that the dialogue handles
USER_EVENT_PREFIX = "user_send_"
#: our own messages echoed back by Zalo (never processed, avoids reply loops)
ECHO_PREFIX = "oa_send_"
#: delivery receipts: stored, never processed
RECEIPT_EVENTS = frozenset({"user_received_message", "user_seen_message"})
#: a user who does not follow the OA writes from its page: answered, never a report
ANONYMOUS_PREFIX = "anonymous_send_"
#: other events that lead to a bot answer (user_submit_info: the answer to the request-user-info card)
ACTIONABLE_EVENTS = frozenset({"follow", "user_submit_info"})


def compute_signature(app_id: str, raw: bytes, timestamp: str, oa_secret_key: str) -> str:
    """``sha256(app_id + raw_body + timestamp + OA secret key)`` as lower-case hex (not HMAC)."""
    data = app_id.encode("utf-8") + raw + str(timestamp).encode("utf-8") + oa_secret_key.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def signature_ok(raw: bytes, header: str | None, *, app_id: str, oa_secret_key: str, timestamp: str) -> bool:
    """Constant-time check of ``X-ZEvent-Signature`` (with or without the ``mac=`` prefix)."""
    if not header or not oa_secret_key or not timestamp:
        return False
    got = header.strip()
    if got[:4].lower() == "mac=":
        got = got[4:].strip()
    want = compute_signature(app_id, raw, timestamp, oa_secret_key)
    return hmac.compare_digest(want.encode("ascii"), got.lower().encode("ascii", "replace"))


def timestamp_of(payload: dict[str, Any], header: str | None = None) -> str:
    """The event timestamp (epoch milliseconds, as the string Zalo signed); header as fallback."""
    value = payload.get("timestamp")
    if value is None or value == "":
        value = header or ""
    return str(value)


#: how far ahead of our clock a signed event may claim to be (clock skew), in seconds
MAX_FUTURE_S = 300


def is_fresh(timestamp: str, *, max_age_s: int, max_future_s: int = MAX_FUTURE_S, now: float | None = None) -> bool:
    """True if the epoch-ms ``timestamp`` is at most ``max_age_s`` old and at most ``max_future_s`` ahead.

    The age window must cover Zalo's retry ladder (30 s, 5, 15, 30 min, 1 h: ~110 min after the first
    attempt); the future bound is only clock skew, so a signed event cannot be kept for a later replay.
    """
    try:
        ts = int(float(timestamp))
    except (TypeError, ValueError, OverflowError):  # "1e400" is inf: not a time
        return False
    ts_s = ts / 1000.0 if ts > 10**11 else float(ts)  # milliseconds, or seconds
    now = time.time() if now is None else now
    return -max_future_s <= now - ts_s <= max_age_s


@dataclass
class ZaloEvent:
    """What the webhook and the worker need from one delivery."""

    event_name: str
    external_id: str
    user_id: str | None
    timestamp: str
    payload: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def is_echo(self) -> bool:
        return self.event_name.startswith(ECHO_PREFIX)

    @property
    def is_anonymous(self) -> bool:
        return self.event_name.startswith(ANONYMOUS_PREFIX)

    @property
    def needs_processing(self) -> bool:
        """User and anonymous messages, follows and shared info get an answer; receipts, unfollows and the
        rest are only stored."""
        return bool(self.user_id) and (self.event_name.startswith((USER_EVENT_PREFIX, ANONYMOUS_PREFIX))
                                       or self.event_name in ACTIONABLE_EVENTS)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def user_id_of(payload: dict[str, Any]) -> str | None:
    """The OA-scoped user id: ``sender.id`` for user events, ``follower.id`` for follow events,
    ``recipient.id`` for OA echoes and receipts (sender and recipient are swapped there)."""
    name = str(payload.get("event_name") or "")
    if name.startswith(ECHO_PREFIX) or name in RECEIPT_EVENTS:
        return _str(_dict(payload.get("recipient")).get("id"))
    return (_str(_dict(payload.get("sender")).get("id")) or _str(_dict(payload.get("follower")).get("id"))
            or _str(payload.get("user_id")))


def parse(payload: Any) -> ZaloEvent:
    """Parse one webhook body (already JSON-decoded). Never raises for a dict."""
    payload = _dict(payload)
    name = (_str(payload.get("event_name")) or "unknown")[:64]
    message = _dict(payload.get("message"))
    ts = timestamp_of(payload)
    user = user_id_of(payload)
    msg_id = _str(message.get("msg_id")) or _str(message.get("message_id"))
    if msg_id:
        external_id = f"{name}:{msg_id}" if not name.startswith(USER_EVENT_PREFIX) else msg_id
    else:
        # events without a message id: (event, user, timestamp) — reference §6
        external_id = f"{name}:{user or '-'}:{ts or '-'}"
    return ZaloEvent(event_name=name, external_id=external_id[:255], user_id=(user or None) and user[:128],
                     timestamp=ts, payload=payload)


def _float(value: Any) -> float | None:
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    if number != number or number in (float("inf"), float("-inf")):  # NaN / inf
        return None
    return number


def _coordinates(obj: dict[str, Any]) -> tuple[float | None, float | None]:
    for holder in (_dict(obj.get("coordinates")), _dict(obj.get("location")), obj):
        lat = _float(holder.get("latitude", holder.get("lat")))
        lon = _float(holder.get("longitude", holder.get("long", holder.get("lng", holder.get("lon")))))
        if lat is not None and lon is not None:
            return lat, lon
    return None, None


def _attachments(message: dict[str, Any]) -> list[dict[str, Any]]:
    items = message.get("attachments")
    if isinstance(items, dict):
        items = [items]
    return [_dict(a) for a in items] if isinstance(items, list) else []


def anonymous_recipient(payload: dict[str, Any]) -> tuple[str, str] | None:
    """``(anonymous id, conversation id)`` of an ``anonymous_send_*`` event, the address of the answer."""
    event = parse(payload)
    conversation = _str(_dict(payload.get("message")).get("conversation_id"))
    if not event.is_anonymous or not event.user_id or not conversation:
        return None
    return event.user_id, conversation[:128]


def shared_phone(payload: dict[str, Any]) -> str | None:
    """The phone in a ``user_submit_info`` event (``info.phone``, both known shapes), as sent."""
    phone = _str(_dict(payload.get("info")).get("phone"))
    return phone[:32] if phone else None


def to_incoming(payload: dict[str, Any], *, channel: str = "zalo") -> Incoming:
    """Translate a stored Zalo event into the dialogue's channel-agnostic ``Incoming`` message."""
    event = parse(payload)
    if event.event_name == "user_submit_info":
        return Incoming(channel=channel, user_id=event.user_id or "", message_id=event.external_id,
                        kind="shared_info", phone=shared_phone(payload), at=_at(event.timestamp))
    message = _dict(payload.get("message"))
    text = _str(message.get("text"))
    images: list[str] = []
    lat = lon = None
    kinds: set[str] = set()
    for att in _attachments(message):
        a_type = str(att.get("type") or "").lower()
        body = _dict(att.get("payload"))
        if a_type in ("image", "photo"):
            url = _str(body.get("url")) or _str(body.get("thumbnail"))
            if url:
                images.append(url)
                kinds.add("image")
        elif a_type == "location":
            lat, lon = _coordinates(body)
            if lat is not None:
                kinds.add("location")
        elif a_type:
            kinds.add("other")
    if event.event_name == "user_send_location" and lat is None:
        lat, lon = _coordinates(_dict(message.get("location")) or message)
        if lat is not None:
            kinds.add("location")
    kind = _kind(event.event_name, kinds, text)
    if event.event_name == "user_send_location" and kind == "location":
        text = None  # Zalo puts the map label there, not a user sentence
    return Incoming(channel=channel, user_id=event.user_id or "", message_id=event.external_id, kind=kind,
                    text=text, image_urls=images[:10], lat=lat, lon=lon, at=_at(event.timestamp))


def _kind(name: str, kinds: set[str], text: str | None) -> str:
    if name == "follow":
        return "follow"
    if "image" in kinds:
        return "image"
    if "location" in kinds:
        return "location"
    if name == "user_send_text" and text:
        return "text"
    if kinds or name.startswith(USER_EVENT_PREFIX):
        return "other" if not (text and name == "user_send_link") else "text"
    return "other"


def _at(timestamp: str) -> datetime:
    try:
        ts = int(float(timestamp))
        return datetime.fromtimestamp(ts / 1000.0 if ts > 10**11 else ts, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(UTC)


def dumps(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, the way Zalo sends it (used by the fake and the benchmark)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
