"""Idempotent writes for the app (``Idempotency-Key`` header, DESIGN §2.1).

Protocol, all in the caller's transaction:

1. ``claim(session, resident_id=, key=, request_hash=)`` — before doing the work. Returns the stored
   row when this key was already used with the same request (replay its response), raises
   ``Conflict`` (``idempotency-key-reused``) when it was used with a different request, or inserts
   a placeholder row and returns None (go ahead). The insert comes *first*, so a concurrent
   duplicate blocks on the unique ``(resident_id, key)`` index and, once the first transaction
   commits, finds its finished response instead of creating a second report.
2. ``complete(session, row_key=..., status=, body=, report_id=)`` — after the work, same transaction.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from backend.errors import Conflict, InvalidInput, Unavailable
from backend.models.idempotency import IdempotencyKey

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


def claim(session: Session, *, resident_id: int, key: str, request_hash: str) -> IdempotencyKey | None:
    """The finished row to replay, or None after claiming the key for this request (see module doc)."""
    check_key(key)
    row = _find(session, resident_id, key)
    if row is not None:
        return _replay(row, request_hash)
    try:
        with session.begin_nested():
            session.add(IdempotencyKey(resident_id=resident_id, key=key, request_hash=request_hash,
                                       response_status=PENDING, response_body={}))
            session.flush()
    except IntegrityError:
        log.info("idempotency key raced for resident %s; replaying the winner", resident_id)
        row = _find(session, resident_id, key)
        if row is None:
            raise Unavailable("Không xử lý được yêu cầu lúc này; vui lòng thử lại.", code="unavailable") from None
        return _replay(row, request_hash)
    return None


def complete(session: Session, *, resident_id: int, key: str, status: int, body: dict[str, Any],
             report_id: int | None = None) -> IdempotencyKey:
    """Store the response of the claimed request (same transaction as the work)."""
    row = _find(session, resident_id, key)
    if row is None:  # pragma: no cover - claim() always ran first
        raise Conflict("Idempotency-Key chưa được giữ chỗ.", code="idempotency-key-missing")
    row.response_status, row.response_body, row.report_id = status, body, report_id
    session.add(row)
    session.flush()
    return row
