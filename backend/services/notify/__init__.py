"""Notifications (DESIGN §10): planning who hears what after an event, the Vietnamese/English texts, the
durable deliveries (one per recipient × channel, attempted and retried), FCM push and e-mail senders.

Public functions: ``plan is_urgent feed Sender RetryLater attempt insert_once retry problems stuck_summary
send_push send_mail``.
"""

from backend.services.notify.deliveries import RetryLater, Sender, attempt, insert_once, problems, retry, stuck_summary
from backend.services.notify.mail import send as send_mail
from backend.services.notify.notifications import feed, is_urgent, plan
from backend.services.notify.push import send as send_push

__all__ = ["RetryLater", "Sender", "attempt", "feed", "insert_once", "is_urgent", "plan", "problems", "retry",
           "send_mail", "send_push", "stuck_summary"]
