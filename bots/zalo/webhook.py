"""``POST /bots/zalo/webhook``: verify the signature, record the event once, enqueue, answer 200 fast.

- Signature: ``X-ZEvent-Signature`` = sha256(app id + raw body + body timestamp + OA secret key),
  ``mac=`` prefix optional, compared in constant time. Bad or missing → 401, nothing stored.
- Stale timestamps (older/newer than ``ZALO_SIGNATURE_MAX_AGE_S``) → 401, nothing stored.
- At-least-once delivery: ``inbound_messages`` is unique on (channel, external id); a re-delivery
  answers 200 ``duplicate`` and enqueues nothing.
- Our own ``oa_send_*`` echoes are acknowledged and ignored. Unknown events are stored and
  acknowledged (never a 500); only user messages and follows are enqueued on the ``bot`` queue.
- Rate limit per Zalo user (120/minute, after the signature check) → 429.
- No Zalo call and no dialogue work happens here (DESIGN §14 budget): the worker does that.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, jsonify, request
from limits import parse
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from backend import queue
from backend.db import request_session
from backend.http import limiter, problem, settings
from backend.models.base import utcnow
from backend.models.conversations import InboundMessage
from bots.zalo import events

log = logging.getLogger(__name__)

CHANNEL = "zalo"
MAX_BODY_BYTES = 256 * 1024
PER_USER_LIMIT = parse("120/minute")

bp = Blueprint("zalo_bot", __name__, url_prefix="/bots/zalo")


@bp.record_once
def _exempt_from_csrf(state: Any) -> None:
    """Zalo cannot send a CSRF token: the signature is the authentication."""
    csrf = state.app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)


def _over_user_limit(user_id: str | None) -> bool:
    """Per-Zalo-user rate limit (shared limiter storage: Redis in production), counted only for
    events that passed the signature check, so forged traffic cannot exhaust a user's quota.
    One storage round trip; if the storage is down the event is accepted (never lose a message)."""
    if not user_id or not limiter.enabled:
        return False
    try:
        return not limiter.limiter.hit(PER_USER_LIMIT, "zalo-user", user_id)
    except Exception as exc:  # noqa: BLE001 - the limiter must not make us drop events
        log.warning("zalo webhook: rate-limit storage unavailable: %s", exc)
        return False


@bp.post("/webhook")
@limiter.exempt
def webhook() -> Any:
    cfg = settings()
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return problem(413, "too-large", "Nội dung sự kiện quá lớn.")
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY_BYTES:
        return problem(413, "too-large", "Nội dung sự kiện quá lớn.")
    payload = request.get_json(silent=True, cache=True) if request.is_json else None
    if payload is None:
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            payload = None
    if not isinstance(payload, dict):
        return problem(401, "unauthorized", "Chữ ký sự kiện Zalo không hợp lệ.")
    ts = events.timestamp_of(payload, request.headers.get("X-ZEvent-Timestamp"))
    if not events.signature_ok(raw, request.headers.get("X-ZEvent-Signature"), app_id=cfg.zalo_app_id,
                               oa_secret_key=cfg.zalo_oa_secret_key, timestamp=ts):
        log.warning("zalo webhook: bad signature (event %s)", str(payload.get("event_name"))[:64])
        return problem(401, "unauthorized", "Chữ ký sự kiện Zalo không hợp lệ.")
    if not events.is_fresh(ts, max_age_s=cfg.zalo_signature_max_age_s):
        log.warning("zalo webhook: stale timestamp %s", ts[:32])
        return problem(401, "unauthorized", "Sự kiện Zalo đã quá hạn.")
    event = events.parse(payload)
    if event.is_echo:
        return jsonify(status="ignored")
    if event.needs_processing and _over_user_limit(event.user_id):
        resp = problem(429, "rate-limited", "Quá nhiều tin nhắn từ người dùng này; vui lòng thử lại sau.")
        resp.headers["Retry-After"] = "60"
        return resp
    inbound_id = _record_once(event)
    if inbound_id is None:
        return jsonify(status="duplicate")
    return jsonify(status="accepted" if event.needs_processing else "stored")


def _record_once(event: events.ZaloEvent) -> int | None:
    """Insert the inbound row (ON CONFLICT DO NOTHING); enqueue its processing. None if seen before."""
    session = request_session()
    processing = event.needs_processing
    values = {"channel": CHANNEL, "external_id": event.external_id, "event_name": event.event_name,
              "external_user_id": event.user_id, "payload": event.payload, "received_at": utcnow(),
              "processed_at": None if processing else utcnow()}
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (insert(InboundMessage).values(**values)
            .on_conflict_do_nothing(index_elements=["channel", "external_id"])
            .returning(InboundMessage.id))
    inbound_id = session.execute(stmt).scalar()
    if inbound_id is None:
        log.info("zalo webhook: duplicate delivery %s", event.external_id)
        return None
    if processing:
        queue.enqueue(session, "handlers.inbound.process_inbound", inbound_id=int(inbound_id))
    return int(inbound_id)
