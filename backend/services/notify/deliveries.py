"""Sending deliveries with a durable state: pending → sending → sent | failed | undeliverable.

``attempt(session, delivery, ...)`` is called by the ``send_delivery`` and ``process_inbound`` jobs. It
claims the row (``sending`` + a new ``attempt_id``, one conditional UPDATE committed on its own) *before*
talking to the outside world and records the outcome right after, conditional on that claim: a job that
loaded the row earlier, a re-dispatched copy of the job, or a process killed after the push left, never
sends a second time (the message's collapse key also makes the device show it once). Retryable failures (5xx, quota,
network) put the row back to ``pending`` and raise :class:`RetryLater` so the job is retried with
backoff; permanent ones end in ``failed`` (bad request) or ``undeliverable`` (unregistered device,
outside the Zalo window, not a follower). Staff can retry failed/undeliverable rows.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, select

from backend import queue
from backend.errors import InvalidInput, NotFound
from backend.models import Delivery, Device, SendState
from backend.models.base import utcnow

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """The channel failed in a way worth retrying; the job runner retries with backoff."""


#: a sender takes the delivery and returns (outcome, detail); outcome in sent|retry|failed|undeliverable
Sender = Callable[[Delivery], tuple[str, str]]


#: a ``sending`` claim older than this belongs to an attempt that died between sending and recording:
#: longer than the timeout of the sending jobs (60 s), shorter than their retries add up to
CLAIM_STALE = timedelta(seconds=65)
_FINAL = (SendState.SENT, SendState.UNDELIVERABLE, SendState.FAILED)


def attempt(session: Session, delivery: Delivery, *, senders: dict[str, Sender], now: datetime | None = None) -> str:
    """Send ``delivery`` at most once. Returns the final state; raises RetryLater to be retried.

    Send-once: the row is *claimed* first — one conditional UPDATE ``pending → sending`` with a new
    ``attempt_id``, committed before the external call — and only the attempt holding the claim sends and
    records the outcome (again conditional on its ``attempt_id``, committed right after the call). A job
    that loaded the row earlier, or a re-dispatched copy running meanwhile, finds it claimed or sent and
    does not send. A claim younger than ``CLAIM_STALE`` is another attempt in flight (RetryLater: look
    again later); an older one died after the call may have left, and counts as sent (unconfirmed).
    """
    now = now or utcnow()
    session.refresh(delivery)  # the row as committed now, not as this job loaded it earlier
    if delivery.send_state in _FINAL:
        return delivery.send_state
    if delivery.send_state == SendState.SENDING:
        if delivery.last_attempt_at is not None and now - delivery.last_attempt_at < CLAIM_STALE:
            raise RetryLater(f"delivery {delivery.id} is being sent by attempt {delivery.attempt_id}")
        _complete(session, delivery, delivery.attempt_id, SendState.SENT, "unconfirmed: previous attempt interrupted",
                  now)
        return delivery.send_state
    sender = senders.get(delivery.channel)
    if sender is None:
        _complete(session, delivery, None, SendState.UNDELIVERABLE, f"channel {delivery.channel} not configured", now)
        return delivery.send_state
    attempt_id = claim(session, delivery, now=now)
    if attempt_id is None:  # another attempt claimed it between our read and our claim
        return delivery.send_state
    outcome, detail = sender(delivery)
    if outcome == "retry":
        _complete(session, delivery, attempt_id, SendState.PENDING, detail, now)
        raise RetryLater(detail)
    if outcome == "unregistered":
        _deactivate_device(session, delivery, detail)
        outcome = SendState.UNDELIVERABLE
    _complete(session, delivery, attempt_id, outcome, detail if outcome != SendState.SENT else None, now)
    return delivery.send_state


def claim(session: Session, delivery: Delivery, *, now: datetime) -> str | None:
    """Claim a pending delivery for one attempt in its own committed step; its ``attempt_id``, or None
    when the row is no longer pending (claimed or finished by someone else)."""
    attempt_id = uuid.uuid4().hex
    claimed = session.execute(
        update(Delivery).where(Delivery.id == delivery.id, Delivery.send_state == SendState.PENDING)
        .values(send_state=SendState.SENDING, attempt_id=attempt_id, attempts=Delivery.attempts + 1,
                last_attempt_at=now).execution_options(synchronize_session=False)).rowcount == 1
    session.commit()
    if not claimed:
        session.refresh(delivery)
        return None
    # no SELECT now: it would open a transaction (SQLite: the write lock) for the whole external call
    _remember(delivery, send_state=SendState.SENDING, attempt_id=attempt_id, attempts=(delivery.attempts or 0) + 1,
              last_attempt_at=now)
    return attempt_id


def _remember(delivery: Delivery, **values: Any) -> None:
    """Set committed column values on the in-memory row without marking it changed."""
    for key, value in values.items():
        set_committed_value(delivery, key, value)


def _complete(session: Session, delivery: Delivery, attempt_id: str | None, state: str, detail: str | None,
              now: datetime) -> None:
    """Record the outcome of the attempt holding the claim (``attempt_id``; None: of a row nobody claimed),
    committed at once; a row claimed by another attempt meanwhile is left alone."""
    guard = (Delivery.attempt_id == attempt_id) if attempt_id else (Delivery.send_state == SendState.PENDING)
    values: dict[str, Any] = {"send_state": state, "last_error": detail[:1000] if detail else None}
    if state == SendState.SENT:
        values["sent_at"] = now
    done = session.execute(update(Delivery).where(Delivery.id == delivery.id, guard).values(**values)
                           .execution_options(synchronize_session=False)).rowcount == 1
    session.commit()
    if done:
        _remember(delivery, **values)
    else:
        session.refresh(delivery)


def _deactivate_device(session: Session, delivery: Delivery, reason: str) -> None:
    kind, _, token = (delivery.target or ":").partition(":")
    device = session.exec(select(Device).where(Device.kind == kind, Device.token == token)).first()
    if device is not None and device.is_active:
        device.is_active = False
        device.deactivated_reason = reason[:255]
        session.add(device)
        log.info("device %s deactivated: %s", device.id, reason)


def insert_once(session: Session, row: Delivery) -> Delivery | None:
    """Insert ``row`` unless a delivery with its ``dedupe_key`` exists (also under concurrency: the
    unique index decides). Returns the row, or None when it was already there."""
    if session.exec(select(Delivery.id).where(Delivery.dedupe_key == row.dedupe_key)).first():
        return None
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row


def retry(session: Session, *, delivery_id: int) -> Delivery:
    """Staff action: send a failed or undeliverable delivery again."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        raise NotFound("Không tìm thấy thông báo.", code="unknown-delivery")
    if delivery.send_state not in (SendState.FAILED, SendState.UNDELIVERABLE):
        raise InvalidInput("Chỉ gửi lại được thông báo lỗi hoặc không gửi được.", code="not-retryable")
    delivery.send_state, delivery.last_error = SendState.PENDING, None
    session.add(delivery)
    queue.enqueue(session, "handlers.notifications.send_delivery", delivery_id=delivery.id)
    return delivery


def problems(session: Session, *, limit: int = 200) -> list[Delivery]:
    """Failed and undeliverable deliveries, newest first (the staff page)."""
    stmt = (select(Delivery).where(Delivery.send_state.in_([SendState.FAILED, SendState.UNDELIVERABLE]))
            .order_by(Delivery.id.desc()).limit(limit))
    return list(session.exec(stmt).all())


def stuck_summary(session: Session, *, now: datetime | None = None, older_than: timedelta = timedelta(hours=1),
                  ) -> dict[str, Any]:
    """Counts by channel and state of deliveries not sent after ``older_than`` (daily admin summary)."""
    cutoff = (now or utcnow()) - older_than
    rows = session.exec(select(Delivery.channel, Delivery.send_state, func.count())
                        .where(Delivery.send_state != SendState.SENT, Delivery.created_at < cutoff)
                        .group_by(Delivery.channel, Delivery.send_state)).all()
    by = {f"{channel}/{state}": count for channel, state, count in rows}
    return {"total": sum(by.values()), "by_channel_state": by}
