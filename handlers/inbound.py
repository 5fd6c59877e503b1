"""Chat job (``bot`` queue): handle one inbound Zalo message and send the replies.

``process_inbound(inbound_id)`` is idempotent in two phases:

1. if ``inbound_messages.processed_at`` is empty: run the dialogue (``services.conversations``), write
   one ``deliveries`` row per reply (``dedupe_key = zalo:inbound:<id>:<n>``, template ``chat_reply``,
   pending), stamp ``processed_at`` and **commit** — the report, the conversation and the replies to
   send are durable before anything leaves;
2. send every still-pending reply of that message through ``services.deliveries.attempt`` (which
   marks ``sending`` before the call, so a crash mid-send never sends twice) with the Zalo sender of
   ``bots.zalo.outbound``. A retry after a Zalo outage resends only what was not sent; a user who
   cannot be reached (not a follower, outside the window) ends ``undeliverable`` with the reason.

A user who writes without following the OA (``anonymous_send_*``) gets a note that reports need a
followed OA (template ``anonymous_reply``, at most once per 12 hours), no resident and no report.

Report updates (routed, acknowledged, resolved...) reach Zalo residents through the notifications
jobs, which use the same ``bots.zalo.outbound`` sender.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlmodel import Session, select

from backend import queue
from backend.models.base import utcnow
from backend.models.conversations import InboundMessage
from backend.models.deliveries import Delivery, SendState
from backend.models.reports import Report
from backend.models.residents import Identity
from backend.services import chat, notify
from backend.services.chat import FAILED_GENERIC
from bots.zalo import events, outbound

log = logging.getLogger(__name__)

CHANNEL = "zalo"
ANONYMOUS_QUIET = timedelta(hours=12)


def process_inbound(session: Session, *, inbound_id: int) -> None:
    """Handle one recorded webhook event (see the module docstring). Raises to be retried."""
    row = session.get(InboundMessage, inbound_id)
    if row is None:
        log.warning("inbound %s vanished", inbound_id)
        return
    if row.processed_at is None:
        try:
            _converse(session, row)
        except Exception:
            if not queue.is_last_attempt():
                raise
            log.exception("inbound %s failed for good; apologising", inbound_id)
            session.rollback()
            _apologise(session, session.get(InboundMessage, inbound_id))
        session.commit()
    pending = session.exec(select(Delivery).where(Delivery.dedupe_key.startswith(f"{CHANNEL}:inbound:{row.id}:"),
                                                  Delivery.send_state.in_([SendState.PENDING, SendState.SENDING]))
                           .order_by(Delivery.id)).all()
    if not pending:
        return
    settings = queue.runtime().config["settings"]
    senders: dict[str, notify.Sender] = {CHANNEL: lambda d: outbound.send_notification(settings, d)}
    for delivery in pending:
        try:
            notify.attempt(session, delivery, senders=senders)
        except notify.RetryLater:
            if not notify.reschedule_after_quota(session, delivery, now=utcnow()):
                raise
        session.commit()


def _answer_anonymous(session: Session, row: InboundMessage, anonymous_id: str, conversation_id: str) -> None:
    """A user who does not follow the OA: the note that reports need a followed OA (no resident, no
    report: we could never tell them the outcome), at most once per :data:`ANONYMOUS_QUIET` per user."""
    since = utcnow() - ANONYMOUS_QUIET
    told = session.exec(select(Delivery.id).where(Delivery.channel == CHANNEL, Delivery.target == anonymous_id,
                                                  Delivery.template == outbound.ANONYMOUS_TEMPLATE,
                                                  Delivery.created_at >= since).limit(1)).first()
    if told is not None:
        return
    session.add(Delivery(dedupe_key=f"{CHANNEL}:inbound:{row.id}:0", recipient_kind="anonymous", channel=CHANNEL,
                         target=anonymous_id, template=outbound.ANONYMOUS_TEMPLATE, body=chat.ANONYMOUS_NOTE,
                         payload={"inbound_id": row.id, "conversation_id": conversation_id}))
    session.flush()


def _apologise(session: Session, row: InboundMessage) -> None:
    """The dialogue kept failing: still answer (never silence), and mark the message handled."""
    row.processed_at = utcnow()
    row.error = "dialogue failed; apology sent"
    session.add(row)
    anonymous = events.anonymous_recipient(row.payload) if row.channel == CHANNEL else None
    if anonymous is not None:
        session.add(Delivery(dedupe_key=f"{CHANNEL}:inbound:{row.id}:0", recipient_kind="anonymous", channel=CHANNEL,
                             target=anonymous[0], template=outbound.ANONYMOUS_TEMPLATE, body=FAILED_GENERIC,
                             payload={"inbound_id": row.id, "conversation_id": anonymous[1]}))
        session.flush()
        return
    incoming = events.to_incoming(row.payload, channel=CHANNEL) if row.channel == CHANNEL else None
    if incoming is not None and incoming.user_id:
        session.add(Delivery(dedupe_key=f"{CHANNEL}:inbound:{row.id}:0", recipient_kind="resident", channel=CHANNEL,
                             target=incoming.user_id, template=outbound.CHAT_TEMPLATE, body=FAILED_GENERIC,
                             payload={"inbound_id": row.id}))
    session.flush()


def _converse(session: Session, row: InboundMessage) -> None:
    row.processed_at = utcnow()
    session.add(row)
    anonymous = events.anonymous_recipient(row.payload) if row.channel == CHANNEL else None
    if anonymous is not None:
        _answer_anonymous(session, row, *anonymous)
        return
    incoming = events.to_incoming(row.payload, channel=CHANNEL) if row.channel == CHANNEL else None
    if incoming is None or not incoming.user_id:
        return
    replies = chat.handle(session, incoming=incoming)
    resident_id = session.exec(select(Identity.resident_id).where(Identity.provider == CHANNEL,
                                                                  Identity.subject == incoming.user_id)).first()
    for n, reply in enumerate(replies):
        code = reply.data.get("report_code")
        report_id = session.exec(select(Report.id).where(Report.code == code)).first() if code else None
        session.add(Delivery(
            dedupe_key=f"{CHANNEL}:inbound:{row.id}:{n}", report_id=report_id, recipient_kind="resident",
            recipient_id=resident_id, channel=CHANNEL, target=incoming.user_id,
            template=outbound.CHAT_TEMPLATE, body=reply.text[:4000],
            payload={"inbound_id": row.id, **reply.data}))
    session.flush()
