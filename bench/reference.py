"""Reference endpoints of DESIGN §14: the durable work of intake and of the Zalo webhook, least Python.

``gunicorn bench.reference:app`` (same settings as ours), on the project's migrated, seeded database:

- ``POST /api/v1/reports``: RS256 check of the Firebase ID token with a cached public key
  (``BENCH_PUBLIC_KEY``), uid → resident cached per process, then in ONE transaction on a pooled
  psycopg 3 connection with prepared statements: the idempotency claim, the report row (``ON CONFLICT
  (code) DO NOTHING RETURNING``), its four events and two outbox rows (one CTE), the photo claim (``UPDATE …
  RETURNING``), the idempotency completion; COMMIT; then both RQ jobs in one Redis pipeline; a 201 body
  of the same fields as ours. Routing and deadlines are constants computed at start (ours compute them).
- ``POST /bots/zalo/webhook``: signature, parse, freshness, one autocommit statement (inbound row +
  outbox row), then the per-user counter and the job push in one Redis pipeline.

Nothing here is used by the product; it is the yardstick ``bench/intake.py`` and ``bench/webhook.py``
measure ours against, side by side in alternating rounds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import queue as stdqueue
import secrets
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from flask import Flask, Response, request
from psycopg.types.json import Jsonb
from redis import Redis
from rq import Queue

app = Flask("reference")
PROJECT = os.environ.get("FIREBASE_PROJECT_ID", "demo-phananh")
ISSUER = f"https://securetoken.google.com/{PROJECT}"
ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
PER_USER_LIMIT = 120

_KEY = serialization.load_pem_public_key(os.environ["BENCH_PUBLIC_KEY"].encode()) \
    if os.environ.get("BENCH_PUBLIC_KEY") else None
_REDIS = Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
_QUEUES = {name: Queue(name, connection=_REDIS) for name in ("default", "bot")}
_POOL: stdqueue.LifoQueue[psycopg.Connection] = stdqueue.LifoQueue()
_RESIDENTS: dict[str, int] = {}
_CITY: dict[str, Any] = {}


def _connect() -> psycopg.Connection:
    url = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(url, prepare_threshold=0, options="-c timezone=UTC -c jit=off")


@contextmanager
def _conn() -> Any:
    try:
        conn = _POOL.get_nowait()
    except stdqueue.Empty:
        conn = _connect()
    try:
        yield conn
    except BaseException:
        conn.rollback()
        raise
    finally:
        if conn.closed:
            return  # noqa: B012 - a broken connection is dropped
        _POOL.put(conn)


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify(token: str) -> dict[str, Any] | None:
    """RS256 signature with the cached key, then the claims Firebase requires; None if bad."""
    try:
        head, body, sig = token.split(".")
        _KEY.verify(_b64(sig), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]
        claims = json.loads(_b64(body))
    except Exception:  # noqa: BLE001 - any malformed or forged token
        return None
    now = time.time()
    if claims.get("aud") != PROJECT or claims.get("iss") != ISSUER or not claims.get("sub") \
            or claims.get("exp", 0) <= now or claims.get("iat", now + 1) > now:
        return None
    return claims


def _city(conn: psycopg.Connection) -> dict[str, Any]:
    """Category, unit and area of the bench's reports, read once (ours route each report)."""
    if not _CITY:
        cat = conn.execute("SELECT id, default_unit_id, priority_default, name_vi FROM categories "
                           "WHERE code = 'duong-hu-hong'").fetchone()
        unit = cat[1] or conn.execute("SELECT id FROM units ORDER BY id LIMIT 1").fetchone()[0]
        area = conn.execute("SELECT id FROM areas ORDER BY id LIMIT 1").fetchone()
        _CITY.update(category_id=cat[0], unit_id=unit, priority=cat[2], name=cat[3],
                     area_id=area[0] if area else None)
        conn.commit()
    return _CITY


def _resident(conn: psycopg.Connection, uid: str) -> int | None:
    rid = _RESIDENTS.get(uid)
    if rid is None:
        row = conn.execute("SELECT resident_id FROM identities WHERE provider = 'firebase' AND subject = %s",
                           (uid,)).fetchone()
        if row is None:
            return None
        rid = _RESIDENTS[uid] = row[0]
    return rid


def _json(payload: Any, status: int) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False), status=status, mimetype="application/json")


_IDEM_CLAIM = ("INSERT INTO idempotency_keys (resident_id, key, request_hash, response_status, response_body,"
               " created_at) VALUES (%s, %s, %s, 0, '{}', %s) ON CONFLICT (resident_id, key) DO NOTHING RETURNING id")
_REPORT = ("INSERT INTO reports (code, channel, category_id, unit_id, status, priority, description, lat, lon,"
           " accuracy_m, area_id, resident_id, is_anonymous, attributes, flags, search_text, reopen_count, version,"
           " ack_due_at, resolve_due_at, routed_at, created_at, updated_at) VALUES (%s, 'app', %s, %s, 'assigned',"
           " %s, %s, %s, %s, %s, %s, %s, false, '{}', '{}', %s, 0, 1, %s, %s, %s, %s, %s)"
           " ON CONFLICT (code) DO NOTHING RETURNING id")
_EVENTS = ("WITH ev AS (INSERT INTO report_events (report_id, at, actor_kind, actor_id, kind, is_public,"
           " from_state, to_state, from_unit_id, to_unit_id, data) VALUES"
           " (%(r)s, %(at)s, 'resident', %(actor)s, 'created', true, NULL, 'received', NULL, NULL, %(d0)s),"
           " (%(r)s, %(at)s, 'system', NULL, 'routed', true, 'received', 'assigned', NULL, %(u)s, %(d1)s),"
           " (%(r)s, %(at)s, 'system', NULL, 'sla_started', false, NULL, NULL, NULL, NULL, %(d2)s),"
           " (%(r)s, %(at)s, 'system', NULL, 'sla_started', false, NULL, NULL, NULL, NULL, %(d3)s)"
           " RETURNING id, kind)"
           " INSERT INTO outbox (job_name, args, queue, created_at, attempts, dispatched_at)"
           " SELECT 'handlers.notifications.notify_event', jsonb_build_object('event_id', ev.id), 'default',"
           " %(at)s, 0, %(at)s FROM ev WHERE ev.kind IN ('created', 'routed') ORDER BY ev.id RETURNING id")
_PHOTO = ("UPDATE photos SET report_id = %s WHERE id = ANY(%s) AND report_id IS NULL AND resident_id = %s"
          " AND state NOT IN ('rejected', 'failed') RETURNING id")
_IDEM_DONE = ("UPDATE idempotency_keys SET response_status = 201, response_body = %s, report_id = %s"
              " WHERE resident_id = %s AND key = %s")


def _push(ids: list[int], queue_name: str, pipe: Any) -> None:
    q = _QUEUES[queue_name]
    for outbox_id in ids:
        job = q.create_job("backend.queue.execute", args=(outbox_id,), timeout=60, job_id=f"outbox-{outbox_id}",
                           result_ttl=3600, failure_ttl=7 * 86400)
        q.enqueue_job(job, pipeline=pipe)


@app.post("/api/v1/reports")
def intake() -> Response:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    claims = verify(token) if scheme.lower() == "bearer" else None
    if claims is None:
        return _json({"title": "unauthorized"}, 401)
    data = request.get_json(silent=True)
    loc = data.get("location") if isinstance(data, dict) else None
    if not isinstance(loc, dict) or not isinstance(data.get("description", ""), str):
        return _json({"title": "invalid"}, 422)
    key = request.headers.get("Idempotency-Key")
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                            .encode()).hexdigest()
    now = datetime.now(UTC)
    with _conn() as conn:
        city = _city(conn)
        rid = _resident(conn, claims["sub"])
        if key and conn.execute(_IDEM_CLAIM, (rid, key, digest, now)).fetchone() is None:
            conn.rollback()
            return _json({"title": "replay"}, 409)
        ack, resolve = now + timedelta(hours=8), now + timedelta(days=5)
        text = data.get("description", "")
        report_id, code = None, ""
        while report_id is None:
            code = "PA-" + "".join(secrets.choice(ALPHABET) for _ in range(6))
            row = conn.execute(_REPORT, (code, city["category_id"], city["unit_id"], city["priority"], text,
                                         loc.get("lat"), loc.get("lon"), loc.get("accuracy_m"), city["area_id"], rid,
                                         f"{code} {text} {city['name']}".lower(), ack, resolve, now, now,
                                         now)).fetchone()
            report_id = row[0] if row else None
        media = [int(i) for i in data.get("media_ids") or []]
        outbox = [r[0] for r in conn.execute(_EVENTS, {
            "r": report_id, "at": now, "actor": str(rid), "u": city["unit_id"],
            "d0": Jsonb({"channel": "app", "photo_ids": media, "category": "duong-hu-hong"}),
            "d1": Jsonb({"rule_id": None, "is_triage": False, "area_id": city["area_id"], "priority": "normal",
                         "actor_name": "routing"}),
            "d2": Jsonb({"clock": "ack", "due_at": ack.isoformat(), "actor_name": "sla"}),
            "d3": Jsonb({"clock": "resolve", "due_at": resolve.isoformat(), "actor_name": "sla"})}).fetchall()]
        if media and len(conn.execute(_PHOTO, (report_id, media, rid)).fetchall()) != len(media):
            conn.rollback()
            return _json({"title": "photo-already-attached"}, 409)
        body = _body(code, text, loc, now, resolve, city)
        if key:
            conn.execute(_IDEM_DONE, (Jsonb(body), report_id, rid, key))
        conn.commit()
    with _REDIS.pipeline() as pipe:
        _push(outbox, "default", pipe)
        pipe.execute()
    resp = _json(body, 201)
    resp.headers["Location"] = f"/api/v1/reports/{code}"
    return resp


def _body(code: str, text: str, loc: dict[str, Any], now: datetime, resolve: datetime,
          city: dict[str, Any]) -> dict[str, Any]:
    at = now.isoformat()
    step = {"at": at, "text": None, "rating": None, "of_code": None}
    return {"code": code, "status": "assigned", "status_label": "Đã chuyển đơn vị xử lý", "is_open": True,
            "category": {"code": "duong-hu-hong", "name": city["name"]}, "description": text,
            "lat": loc.get("lat"), "lon": loc.get("lon"), "address": None, "created_at": at, "updated_at": at,
            "resolve_due_at": resolve.isoformat(), "resolved_at": None, "public_reply": None, "duplicate_of": None,
            "followers": 0, "photos": [], "is_mine": True, "is_anonymous": False,
            "accuracy_m": loc.get("accuracy_m"), "rating": None, "rating_text": None, "can_rate": False,
            "can_reopen": False, "reopen_until": None, "attributes": {},
            "timeline": [{**step, "kind": "created", "label": "Đã gửi phản ánh", "state": "received",
                          "state_label": "Mới tiếp nhận", "unit": None},
                         {**step, "kind": "routed", "label": "Đã chuyển đơn vị xử lý", "state": "assigned",
                          "state_label": "Đã chuyển đơn vị xử lý", "unit": "Sở Xây dựng"}]}


# --------------------------------------------------------------------------- webhook

_APP_ID = os.environ.get("ZALO_APP_ID", "")
_OA_SECRET = os.environ.get("ZALO_OA_SECRET_KEY", "")
_INBOUND = (
    "WITH src AS (INSERT INTO inbound_messages (channel, external_id, event_name, external_user_id, payload,"
    " received_at) VALUES ('zalo', %(x)s, %(e)s, %(u)s, CAST(%(p)s AS jsonb), %(at)s)"
    " ON CONFLICT (channel, external_id) DO NOTHING RETURNING id),"
    " ob AS (INSERT INTO outbox (job_name, args, queue, created_at, attempts, dispatched_at)"
    " SELECT 'handlers.inbound.process_inbound', jsonb_build_object('inbound_id', src.id), 'bot', %(at)s, 0,"
    " %(at)s FROM src RETURNING id) SELECT ob.id FROM ob")


@app.post("/bots/zalo/webhook")
def webhook() -> Response:
    raw = request.get_data()
    try:
        payload = json.loads(raw)
        ts = str(payload["timestamp"])
        want = hashlib.sha256(_APP_ID.encode() + raw + ts.encode() + _OA_SECRET.encode()).hexdigest()
        got = request.headers.get("X-ZEvent-Signature", "").removeprefix("mac=")
        ok = hmac.compare_digest(want, got) and abs(time.time() - int(ts) / 1000) < 3 * 3600
        user, msg_id = payload["sender"]["id"], payload["message"]["msg_id"]
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        return _json({"title": "unauthorized"}, 401)
    with _conn() as conn:
        conn.autocommit = True
        try:
            row = conn.execute(_INBOUND, {"x": msg_id, "e": payload.get("event_name"), "u": user,
                                          "p": raw.decode(), "at": datetime.now(UTC)}).fetchone()
        finally:
            conn.autocommit = False
    if row is None:
        return _json({"status": "duplicate"}, 200)
    window = f"ref-zalo-user:{user}:{int(time.time() // 60)}"
    with _REDIS.pipeline() as pipe:
        _push([row[0]], "bot", pipe)
        pipe.incr(window)
        pipe.expire(window, 60)
        count = pipe.execute()[-2]
    if count > PER_USER_LIMIT:
        return _json({"title": "rate-limited"}, 429)
    return _json({"status": "accepted"}, 200)


@app.get("/healthz")
def healthz() -> Response:
    return _json({"status": "ok"}, 200)
