"""Notifications (DESIGN §10): planning who hears what after an event, the Vietnamese/English texts, the
durable deliveries (one per recipient × channel, attempted and retried), FCM push and e-mail senders.

Public functions: ``plan is_urgent feed Sender RetryLater attempt insert_once retry problems stuck_summary
send_push send_mail``; the reporter's signed link: ``reporter_link reporter_of`` (make / check);
Zalo delivery tiers (free CS, paid CS, ZNS): ``Choice choose_tier zns_fallback zns_data
zns_tracking_id quota_retry_delay reschedule_after_quota paid_counts UnitBill DELIVERY_REASONS``; handing the
reporter's link to a caller (staff report on behalf): ``handover_text zalo_contact send_link_by_zalo``.
"""

from backend.services.notify.deliveries import RetryLater, Sender, attempt, insert_once, problems, retry, stuck_summary
from backend.services.notify.handover import handover_text, send_link_by_zalo, zalo_contact
from backend.services.notify.links import public_link, reporter_link, reporter_of
from backend.services.notify.mail import send as send_mail
from backend.services.notify.notifications import feed, is_urgent, plan
from backend.services.notify.push import send as send_push
from backend.services.notify.tiers import REASONS as DELIVERY_REASONS
from backend.services.notify.tiers import Choice, UnitBill, paid_counts, zns_data
from backend.services.notify.tiers import choose as choose_tier
from backend.services.notify.tiers import fallback as zns_fallback
from backend.services.notify.tiers import reschedule as reschedule_after_quota
from backend.services.notify.tiers import retry_delay as quota_retry_delay
from backend.services.notify.tiers import tracking_id as zns_tracking_id

__all__ = ["DELIVERY_REASONS", "Choice", "RetryLater", "Sender", "UnitBill", "attempt", "choose_tier", "feed",
           "handover_text", "insert_once", "is_urgent", "paid_counts", "plan", "problems", "public_link",
           "quota_retry_delay", "reporter_link", "reporter_of", "reschedule_after_quota", "retry",
           "send_link_by_zalo", "send_mail", "send_push", "stuck_summary", "zalo_contact", "zns_data",
           "zns_fallback", "zns_tracking_id"]
