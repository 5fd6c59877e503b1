"""Notification jobs: plan the deliveries of a report event, send one delivery.

``notify_event`` runs for every notifiable event (enqueued by ``services.events.record``);
``send_delivery`` sends one delivery on its channel (FCM, Zalo CS message, e-mail) with the
durable state machine of ``services.deliveries``. Quiet hours delay non-urgent pushes.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from backend import queue
from backend.models import Delivery
from backend.models.base import utcnow
from backend.services import city, notify

log = logging.getLogger(__name__)


def _settings():
    return queue.runtime().config["settings"]


def notify_event(session: Session, *, event_id: int) -> None:
    """Create the deliveries of one event (idempotent) and enqueue their sending."""
    settings = _settings()
    notify.plan(session, event_id=event_id, base_url=settings.base_url, smtp_enabled=bool(settings.smtp_url),
                secret_key=settings.secret_key)


def send_delivery(session: Session, *, delivery_id: int) -> None:
    """Send one delivery; retried with backoff by the runner while the channel fails transiently."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return
    if delivery.channel == "fcm" and not notify.is_urgent(delivery):
        wait = _quiet_wait(session, utcnow())
        if wait and delivery.attempts == 0 and delivery.send_state == "pending":
            log.info("delivery %s deferred %s by quiet hours", delivery.id, wait)
            queue.enqueue(session, "handlers.notifications.send_delivery", _delay=wait, delivery_id=delivery.id)
            return
    try:
        notify.attempt(session, delivery, senders=_senders())
    except notify.RetryLater:
        # a quota ran out (or ZNS's night ban): hours, not the job's seconds-to-minutes back-off
        if not notify.reschedule_after_quota(session, delivery, now=utcnow(), tz=city.timezone(session)):
            raise


def _senders() -> dict[str, notify.Sender]:
    settings = _settings()
    senders: dict[str, notify.Sender] = {
        "fcm": lambda d: _push_one(settings, d),
    }
    if settings.smtp_url:
        senders["email"] = lambda d: _mail_one(settings, d)
    zalo = _zalo_sender(settings)
    if zalo is not None:
        senders["zalo"] = zalo
    return senders


def _push_one(settings, delivery: Delivery) -> tuple[str, str]:
    result = notify.send_push(settings, [delivery])[0]
    return result.outcome, result.detail


def _mail_one(settings, delivery: Delivery) -> tuple[str, str]:
    try:
        notify.send_mail(settings.smtp_url, sender=settings.mail_from, to=delivery.target or "",
                  subject=delivery.title, body=delivery.body)
    except OSError as exc:
        return "retry", f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - smtplib refusals are permanent for this message
        return "failed", f"{type(exc).__name__}: {exc}"
    return "sent", ""


def _zalo_sender(settings) -> notify.Sender | None:
    """The Zalo CS-message sender of the bot, when the bot is configured."""
    if not settings.zalo_app_id:
        return None
    try:
        from bots.zalo import outbound
    except ImportError:
        return None
    return lambda d: outbound.send_notification(settings, d)


def _quiet_wait(session: Session, now: datetime) -> timedelta | None:
    """Time left until the end of the city's quiet hours (e.g. 21:00–07:00), or None."""
    hours = city.quiet_hours(session)
    if not hours:
        return None
    start_s, end_s = hours
    tz = ZoneInfo(city.timezone(session))
    local = now.astimezone(tz)
    start, end = time.fromisoformat(start_s), time.fromisoformat(end_s)
    t = local.time()
    inside = (start <= t or t < end) if start > end else (start <= t < end)
    if not inside:
        return None
    end_at = datetime.combine(local.date(), end, tz)
    if end_at <= local:
        end_at += timedelta(days=1)
    return end_at - local
