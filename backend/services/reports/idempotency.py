"""Idempotent writes for the app (``Idempotency-Key`` header, DESIGN §2.1).

Protocol, all in the caller's transaction:

1. ``claim(session, resident_id=, key=, request_hash=)`` — before doing the work. Returns the stored
   row when this key was already used with the same request (replay its response), raises
   ``Conflict`` (``idempotency-key-reused``) when it was used with a different request, or inserts
   a placeholder row and returns None (go ahead). The insert comes *first*
   (``INSERT … ON CONFLICT DO NOTHING RETURNING id``: one statement, no savepoint), so a concurrent
   duplicate blocks on the unique ``(resident_id, key)`` index and, once the first transaction
   commits, finds its finished response instead of creating a second report.
2. ``complete(session, resident_id=, key=, status=, body=, report_id=)`` — after the work, same
   transaction: one ``UPDATE`` of the claimed row.

Partners (Open311 senders) name a submission themselves (an ``Idempotency-Key``, their own id of the
report): :func:`once_per_sender` creates the report once per (API client, ``sender_ref``) —
``reports.api_client_id`` + ``reports.sender_ref``, unique — and finds it on a repeat.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from backend.errors import Conflict, InvalidInput, Unavailable
from backend.models.base import utcnow
from backend.models.idempotency import IdempotencyKey
from backend.models.reports import Report
from backend.statements import driver_execute

log = logging.getLogger(__name__)

KEY_RE = re.compile(r"^[\x21-\x7e]{8,255}$")
PENDING = 0


def request_hash(payload: Any) -> str:
    """A stable hash of a parsed request (key order and whitespace do not matter)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> str:
    if not KEY_RE.match(key):
        raise InvalidInput("Idempotency-Key phải dài 8–255 ký tự ASCII in được.", code="invalid-idempotency-key")
    return key


def _find(session: Session, resident_id: int, key: str) -> IdempotencyKey | None:
    return session.exec(select(IdempotencyKey).where(IdempotencyKey.resident_id == resident_id,
                                                     IdempotencyKey.key == key)).first()


def _replay(row: IdempotencyKey, digest: str) -> IdempotencyKey:
    if row.request_hash != digest:
        raise Conflict("Idempotency-Key này đã được dùng cho một yêu cầu khác.", code="idempotency-key-reused")
    if row.response_status == PENDING:
        raise Conflict("Yêu cầu với Idempotency-Key này đang được xử lý; vui lòng thử lại sau.",
                       code="idempotency-key-in-progress")
    return row


#: PostgreSQL: the two hot statements as SQL text, run on the driver's cursor (``statements.driver_execute``: no
#: statement compilation, parameter or result processing per request; still seen by the statement events)
_PG_CLAIM = ("INSERT INTO idempotency_keys (resident_id, key, request_hash, response_status, response_body,"
             " created_at) VALUES (%(resident_id)s, %(key)s, %(request_hash)s, 0, '{}'::jsonb, %(created_at)s)"
             " ON CONFLICT (resident_id, key) DO NOTHING RETURNING id")
_PG_COMPLETE = ("UPDATE idempotency_keys SET response_status = %(status)s, response_body = CAST(%(body)s AS jsonb),"
                " report_id = %(report_id)s WHERE resident_id = %(resident_id)s AND key = %(key)s")
#: other databases (SQLite): Core statements built once
_CLAIM = (sqlite.insert(IdempotencyKey)
          .values(resident_id=bindparam("resident_id"), key=bindparam("key"),
                  request_hash=bindparam("request_hash"), response_status=PENDING,
                  response_body=bindparam("response_body", type_=IdempotencyKey.__table__.c.response_body.type),
                  created_at=bindparam("created_at", type_=IdempotencyKey.__table__.c.created_at.type))
          .on_conflict_do_nothing(index_elements=["resident_id", "key"])
          .returning(IdempotencyKey.__table__.c.id))
_COMPLETE = (update(IdempotencyKey.__table__)
             .where(IdempotencyKey.__table__.c.resident_id == bindparam("r"),
                    IdempotencyKey.__table__.c.key == bindparam("k"))
             .values(response_status=bindparam("status"), response_body=bindparam("body"),
                     report_id=bindparam("report_id")))


def _insert_pending(session: Session, resident_id: int, key: str, digest: str) -> bool:
    """Insert the placeholder row unless the key exists (waits for a concurrent claimer). True if inserted."""
    if session.get_bind().dialect.name == "postgresql":
        return driver_execute(session, _PG_CLAIM, {"resident_id": resident_id, "key": key,
                                                   "request_hash": digest, "created_at": utcnow()}).fetchone() \
            is not None
    result = session.connection().execute(_CLAIM, {"resident_id": resident_id, "key": key, "request_hash": digest,
                                                   "response_body": {}, "created_at": utcnow()})
    return result.first() is not None


def claim(session: Session, *, resident_id: int, key: str, request_hash: str) -> IdempotencyKey | None:
    """The finished row to replay, or None after claiming the key for this request (see module doc)."""
    check_key(key)
    if _insert_pending(session, resident_id, key, request_hash):
        return None
    row = _find(session, resident_id, key)
    if row is None:   # the other claimer rolled back between our insert and our read
        log.info("idempotency key raced for resident %s and vanished", resident_id)
        raise Unavailable("Không xử lý được yêu cầu lúc này; vui lòng thử lại.", code="unavailable")
    return _replay(row, request_hash)


def complete(session: Session, *, resident_id: int, key: str, status: int, body: dict[str, Any] | None = None,
             report_id: int | None = None, encoded: str | None = None) -> None:
    """Store the response of the claimed request (same transaction as the work; one UPDATE): ``body``, or
    ``encoded`` — the body already as JSON text (the response's, so it is not encoded twice)."""
    if session.get_bind().dialect.name == "postgresql":
        text = encoded if encoded is not None else json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        result = driver_execute(session, _PG_COMPLETE, {"status": status, "body": text, "report_id": report_id,
                                                        "resident_id": resident_id, "key": key})
    else:
        value = body if body is not None else json.loads(encoded or "{}")
        result = session.connection().execute(_COMPLETE, {"status": status, "body": value, "report_id": report_id,
                                                          "r": resident_id, "k": key})
    if result.rowcount != 1:  # pragma: no cover - claim() always ran first
        raise Conflict("Idempotency-Key chưa được giữ chỗ.", code="idempotency-key-missing")


# --------------------------------------------------------------------------- partners (Open311 senders)

MAX_SENDER_REF = 128


def sent_report(session: Session, *, api_client_id: int, sender_ref: str | None) -> Report | None:
    """The report API client ``api_client_id`` sent under its own id ``sender_ref``, or None."""
    if not sender_ref:
        return None
    return session.exec(select(Report).where(Report.api_client_id == api_client_id,
                                             Report.sender_ref == sender_ref)).first()


def once_per_sender(session: Session, *, api_client_id: int, sender_ref: str | None,
                    create: Callable[[], Report]) -> Report:
    """The report ``api_client_id`` already sent as ``sender_ref``, else ``create()`` marked as sent by it.

    Without ``sender_ref`` every call creates. ``create`` runs in a savepoint: when a concurrent repeat
    with the same ``sender_ref`` commits first, ours is undone and theirs returned. Raises InvalidInput
    (``sender_ref`` too long) and what ``create`` raises.
    """
    if sender_ref is not None and (len(sender_ref) > MAX_SENDER_REF or "\x00" in sender_ref):
        raise InvalidInput(f"Mã của bên gửi dài quá {MAX_SENDER_REF} ký tự.", code="invalid-sender-ref")
    found = sent_report(session, api_client_id=api_client_id, sender_ref=sender_ref)
    if found is not None:
        return found
    try:
        with session.begin_nested():
            report = create()
            report.api_client_id, report.sender_ref = api_client_id, sender_ref
            session.add(report)
            session.flush()
    except IntegrityError:
        found = sent_report(session, api_client_id=api_client_id, sender_ref=sender_ref)
        if found is None:
            raise
        log.info("sender %s repeated %s concurrently: one report", api_client_id, sender_ref)
        return found
    return report
