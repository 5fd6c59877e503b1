"""``POST /bots/zalo/webhook``: verify the signature, record the event once, enqueue, answer 200 fast.

- Signature: ``X-ZEvent-Signature`` = sha256(app id + raw body + body timestamp + OA secret key),
  ``mac=`` prefix optional, compared in constant time. Bad or missing → 401, nothing stored.
- At-least-once delivery: ``inbound_messages`` is unique on (channel, external id); a re-delivery
  answers 200 ``duplicate`` and enqueues nothing, **whatever its age** (a known event is looked up
  before its timestamp is judged).
- Late deliveries are normal (Zalo retries an unanswered event at 30 s, 5, 15, 30 min and 1 h): a new
  event is accepted up to ``ZALO_EVENT_MAX_AGE_S`` old (default 3 h) and 5 minutes ahead of our clock;
  older or further ahead → 401, nothing stored. Replay protection is the three together: signature,
  event-id uniqueness, age window.
- Our own ``oa_send_*`` echoes are acknowledged and ignored. Unknown events are stored and
  acknowledged (never a 500); only user messages and follows are enqueued on the ``bot`` queue.
- Rate limit per Zalo user (120/minute, after the signature check) → 429. With RQ the counter is counted
  in the same Redis round trip as the job push (a Lua script: count, and push only within the limit);
  an event over the limit is deleted again (it was committed first) and Zalo redelivers it later.
  Embedded mode: the limiter is asked before the insert, as before.
- No Zalo call and no dialogue work happens here (DESIGN §14 budget): the worker does that.

Hot path (DESIGN §14: >= 60 % of a bare Flask endpoint): no ORM Session. On PostgreSQL ONE
statement in autocommit inserts the inbound row (ON CONFLICT DO NOTHING) and, for a new row that
needs processing, its outbox row: both commit together before the 200, then the job is pushed to
the ``bot`` queue in one Redis round trip. Redis down: the push fails, the outbox row's mark is
cleared and the relay dispatches it later (nothing lost; the job runs once, ``queue.execute``).
SQLite (embedded): the same two inserts in one short transaction.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

from flask import Blueprint, Response, current_app, request
from limits import parse
from sqlalchemy import delete, insert, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from backend import queue
from backend.db import Database
from backend.http import lean, limiter, problem, settings
from backend.models.base import utcnow
from backend.models.conversations import InboundMessage
from backend.models.outbox import Outbox
from backend.schemas import inputs
from bots.zalo import events

log = logging.getLogger(__name__)

CHANNEL = "zalo"
MAX_BODY_BYTES = 256 * 1024
PER_USER_LIMIT = parse("120/minute")
PROCESS_JOB = "handlers.inbound.process_inbound"

_PG_INSERT_INBOUND = (
    "INSERT INTO inbound_messages (channel, external_id, event_name, external_user_id, payload, received_at,"
    " processed_at) VALUES (%(channel)s, %(external_id)s, %(event_name)s, %(external_user_id)s,"
    " CAST(%(payload)s AS jsonb), %(received_at)s, %(processed_at)s)"
    " ON CONFLICT (channel, external_id) DO NOTHING RETURNING id")
_PG_INSERT_INBOUND_AND_JOB = queue.pg_insert_with_job(_PG_INSERT_INBOUND, "inbound_id")

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
@lean
def webhook() -> Any:
    cfg = settings()
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return problem(413, "too-large", "Nội dung sự kiện quá lớn.")
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY_BYTES:
        return problem(413, "too-large", "Nội dung sự kiện quá lớn.")
    payload = _parse(raw)
    if not isinstance(payload, dict):
        return problem(401, "unauthorized", "Chữ ký sự kiện Zalo không hợp lệ.")
    environ = request.environ
    ts = events.timestamp_of(payload, environ.get("HTTP_X_ZEVENT_TIMESTAMP"))
    if not events.signature_ok(raw, environ.get("HTTP_X_ZEVENT_SIGNATURE"), app_id=cfg.zalo_app_id,
                               oa_secret_key=cfg.zalo_oa_secret_key, timestamp=ts):
        log.warning("zalo webhook: bad signature (event %s)", str(payload.get("event_name"))[:64])
        return problem(401, "unauthorized", "Chữ ký sự kiện Zalo không hợp lệ.")
    event = events.parse(payload)
    if event.is_echo:
        return _status("ignored")
    if not events.is_fresh(ts, max_age_s=cfg.zalo_event_max_age_s):
        if _is_known(event):  # a late redelivery of an event we hold: still "duplicate"
            log.info("zalo webhook: late duplicate delivery %s", event.external_id)
            return _status("duplicate")
        log.warning("zalo webhook: stale timestamp %s", ts[:32])
        return problem(401, "unauthorized", "Sự kiện Zalo đã quá hạn.")
    limited = event.needs_processing and bool(event.user_id) and limiter.enabled
    combined = limited and queue.has_limited_push()  # the limit and the push: one Redis round trip
    if limited and not combined and _over_user_limit(event.user_id):
        return _too_many()
    recorded = _record_once(event, raw, user_limit=combined)
    if recorded is None:
        return _status("duplicate")
    if recorded is False:
        return _too_many()
    return _status("accepted" if event.needs_processing else "stored")


#: the 200 bodies, as ``jsonify(status=…)`` writes them (built once: the hot path only copies them)
_STATUS_BODIES = {name: json.dumps({"status": name}, separators=(",", ":")).encode() + b"\n"
                  for name in ("accepted", "stored", "duplicate", "ignored")}


def _status(name: str) -> Response:
    """``200 {"status": name}`` (application/json)."""
    return current_app.response_class(_STATUS_BODIES[name], mimetype="application/json")


def _too_many() -> Any:
    resp = problem(429, "rate-limited", "Quá nhiều tin nhắn từ người dùng này; vui lòng thử lại sau.")
    resp.headers["Retry-After"] = "60"
    return resp


def _is_known(event: events.ZaloEvent) -> bool:
    """Whether the event was recorded before (only asked for events outside the age window: for the
    others the insert's ON CONFLICT answers it in the same round trip)."""
    db: Database = current_app.extensions["phananh.db"]
    with db.begin() as conn:
        found = conn.execute(select(InboundMessage.id).where(InboundMessage.channel == CHANNEL,
                                                             InboundMessage.external_id == event.external_id)
                             .limit(1)).first()
    return found is not None


def _record_once(event: events.ZaloEvent, raw: bytes, *, user_limit: bool = False) -> int | bool | None:
    """Insert the inbound row (ON CONFLICT DO NOTHING) and, if it needs processing, its outbox row,
    committed together; then push the job. None if the event was recorded before (nothing enqueued).

    ``user_limit``: the per-user counter is counted with the push, in one Redis round trip (a new event
    only: a redelivery is not counted); over the limit, both rows are deleted again and False is
    returned (answer 429, Zalo redelivers later). Redis down: the event is kept, the relay pushes it."""
    db: Database = current_app.extensions["phananh.db"]
    now = utcnow()
    values = {"channel": CHANNEL, "external_id": event.external_id, "event_name": event.event_name,
              "external_user_id": event.user_id, "received_at": now,
              "processed_at": None if event.needs_processing else now}
    job = queue.new_row_values(PROCESS_JOB) if event.needs_processing else None
    if db.is_sqlite:
        inbound_id, outbox_id = _insert_sqlite(db, {**values, "payload": event.payload}, job)
    else:
        inbound_id, outbox_id = _insert_pg(db, {**values, "payload": _json_text(raw, event.payload)}, job)
    if inbound_id is None:
        log.info("zalo webhook: duplicate delivery %s", event.external_id)
        return None
    if outbox_id is None:
        return inbound_id
    row = queue.Committed(outbox_id, PROCESS_JOB)
    if not user_limit:
        queue.push_committed([row])
        return inbound_id
    window = int(PER_USER_LIMIT.get_expiry())
    counter = f"phananh:zalo-user:{event.user_id}:{int(time.time() // window)}"
    if queue.push_committed_limited(row, counter=counter, limit=PER_USER_LIMIT.amount, window_s=window) is False:
        _forget(db, inbound_id, outbox_id)
        log.info("zalo webhook: user %s over the limit, event %s not kept", event.user_id, event.external_id)
        return False
    return inbound_id


def _forget(db: Database, inbound_id: int, outbox_id: int) -> None:
    """Undo a refused event (over the per-user limit): its job was never pushed, Zalo redelivers it."""
    with db.begin() as conn:
        conn.execute(delete(Outbox).where(Outbox.id == outbox_id))
        conn.execute(delete(InboundMessage).where(InboundMessage.id == inbound_id))


def _insert_pg(db: Database, values: dict[str, Any], job: dict[str, Any] | None) -> tuple[int | None, int | None]:
    """One statement, one round trip, its own commit (autocommit)."""
    params = values if job is None else {**values, **{f"ob_{k}": v for k, v in job.items()}}
    row = db.execute_autocommit(_PG_INSERT_INBOUND if job is None else _PG_INSERT_INBOUND_AND_JOB, params)
    if row is None:
        return None, None
    return int(row[0]), (int(row[1]) if job is not None else None)


def _insert_sqlite(db: Database, values: dict[str, Any], job: dict[str, Any] | None
                   ) -> tuple[int | None, int | None]:
    """Embedded mode: the same two inserts in one short transaction."""
    with db.begin() as conn:
        inbound_id = conn.execute(sqlite_insert(InboundMessage).values(**values)
                                  .on_conflict_do_nothing(index_elements=["channel", "external_id"])
                                  .returning(InboundMessage.id)).scalar()
        if inbound_id is None or job is None:
            return inbound_id, None
        outbox_id = conn.execute(insert(Outbox).values(**job, args={"inbound_id": int(inbound_id)})
                                 .returning(Outbox.id)).scalar()
    return int(inbound_id), int(outbox_id)


#: a JSON escape of a UTF-16 surrogate (paired or lone; PostgreSQL's jsonb refuses lone ones), or a
#: surrogate encoded as UTF-8 bytes (which json.loads decodes with "surrogatepass")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


def _json_text(raw: bytes, payload: dict[str, Any]) -> str:
    """The body as JSON text for the jsonb column: the UTF-8 body itself (no re-encoding) when it is
    plainly an object, else the parsed payload serialized again (other encodings, a BOM, escapes).
    NUL characters, which PostgreSQL text and jsonb refuse, are dropped and lone surrogates replaced
    by U+FFFD (Zalo would redeliver such an event forever)."""
    if (raw[:1] == b"{" and b"\x00" not in raw and b"\\u0000" not in raw
            and _SURROGATE_ESCAPE.search(raw) is None):
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return json.dumps(_without_nul(payload), ensure_ascii=False)


def _without_nul(value: Any) -> Any:
    """``value`` with NULs dropped and lone surrogates replaced by U+FFFD in every key and string."""
    if isinstance(value, str):
        return inputs.scrub(value)
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def _parse(raw: bytes) -> Any:
    """The JSON body without NUL characters or lone surrogates (a JSON ``"\\ud800"`` escape: replaced
    by U+FFFD, the text stays readable), or None when it is not JSON (any encoding json accepts; nesting
    too deep → None, never a RecursionError)."""
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if b"\x00" in raw or b"\\u0000" in raw or _SURROGATE_ESCAPE.search(raw) is not None:
        return _without_nul(payload)
    return payload
