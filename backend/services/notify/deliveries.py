"""Sending deliveries with a durable state: pending → sending → sent | failed | undeliverable.

``attempt(session, delivery, ...)`` is called by the ``send_delivery`` job. It commits the
``sending`` mark *before* talking to the outside world, so a process killed after the push left
but before the result was recorded is recognised on retry and never sends a second time (the
message's collapse key also makes the device show it once). Retryable failures (5xx, quota,
network) put the row back to ``pending`` and raise :class:`RetryLater` so the job is retried with
backoff; permanent ones end in ``failed`` (bad request) or ``undeliverable`` (unregistered device,
outside the Zalo window, not a follower). Staff can retry failed/undeliverable rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
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


def attempt(session: Session, delivery: Delivery, *, senders: dict[str, Sender], now: datetime | None = None) -> str:
    """Send ``delivery`` at most once. Returns the final state; raises RetryLater to be retried."""
    now = now or utcnow()
    if delivery.send_state in (SendState.SENT, SendState.UNDELIVERABLE, SendState.FAILED):
        return delivery.send_state
    if delivery.send_state == SendState.SENDING:
        # a previous attempt crashed between sending and recording: assume it went out
        _finish(session, delivery, SendState.SENT, "unconfirmed: previous attempt interrupted", now)
        return delivery.send_state
    sender = senders.get(delivery.channel)
    if sender is None:
        _finish(session, delivery, SendState.UNDELIVERABLE, f"channel {delivery.channel} not configured", now)
        return delivery.send_state
    delivery.send_state, delivery.attempts, delivery.last_attempt_at = SendState.SENDING, delivery.attempts + 1, now
    session.add(delivery)
    session.commit()
    outcome, detail = sender(delivery)
    if outcome == "retry":
        delivery.send_state, delivery.last_error = SendState.PENDING, detail[:1000]
        session.add(delivery)
        session.commit()
        raise RetryLater(detail)
    if outcome == "unregistered":
        _deactivate_device(session, delivery, detail)
        outcome = SendState.UNDELIVERABLE
    _finish(session, delivery, outcome, detail if outcome != SendState.SENT else None, now)
    return delivery.send_state


def _finish(session: Session, delivery: Delivery, state: str, detail: str | None, now: datetime) -> None:
    delivery.send_state = state
    delivery.last_error = detail[:1000] if detail else None
    if state == SendState.SENT:
        delivery.sent_at = now
    session.add(delivery)
    session.flush()


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
