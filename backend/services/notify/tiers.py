"""Zalo delivery tiers: which way a notification reaches a Zalo resident, and what the city pays for.

The policy is the city setting ``zalo_delivery`` (``city/messaging.py``), defaulting to Zalo's
published values (``docs/zalo.md`` §3, §6):

==================================  =================================================================
time since the resident's last      tier
interaction with the OA
==================================  =================================================================
≤ free window (48 h)                ``cs_free``: customer-service (CS) message, free
≤ paid window (7 days)              ``cs_paid``: CS message, charged per message
later, or never                     ``zns``: a ZNS template message to the phone number the resident
                                    consented to share, with the city's approved template for that
                                    kind of notification. Without a phone or a template nothing is
                                    sent and the delivery says why (:data:`REASONS`).
==================================  =================================================================

Zalo's own clock decides in the end: a CS message refused as outside the window (-230/-232) falls
back to ZNS once (:func:`fallback`). A chat reply answers a message that just arrived and never goes
by ZNS. :func:`reschedule` (:func:`retry_delay`) spaces the retries after a quota error;
:func:`paid_counts` is the month's bill per unit. Decisions and small queries: the sending is
``bots/zalo``'s, the send-once claim ``deliveries.attempt``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, select

from backend import queue
from backend.models import Delivery, Report, SendState, Tier, Unit
from backend.services.city.messaging import ZNS_FIELDS, ZaloPolicy, ZnsTemplate

NO_PHONE = "outside-window-no-phone"
NO_TEMPLATE = "outside-window-no-zns-template"
#: why a Zalo delivery was not sent, for the staff pages (Vietnamese)
REASONS: dict[str, str] = {
    NO_PHONE: "Đã quá thời hạn gửi tin tư vấn kể từ lần cuối người dân nhắn cho OA (theo chính sách của thành "
              "phố, mặc định 7 ngày như quy định của Zalo) và người dân "
              "chưa chia sẻ số điện thoại để nhận thông báo ZNS; cập nhật có tại đường dẫn đã gửi trước đó.",
    NO_TEMPLATE: "Đã quá thời hạn gửi tin tư vấn kể từ lần cuối người dân nhắn cho OA và thành phố chưa "
                 "khai báo mẫu ZNS đã duyệt cho loại thông báo này.",
    "outside-interaction-window": "Zalo từ chối: người dân không tương tác với OA trong 7 ngày qua.",
    "not-follower": "Người dân chưa quan tâm (follow) OA.",
    "user-unreachable": "Zalo không cho gửi tới người dân này (đã chặn OA hoặc tài khoản ngừng hoạt động).",
    "zns-unreachable": "ZNS không gửi được tới số điện thoại này (không có tài khoản Zalo hoặc đã từ chối ZNS).",
}
#: spacing of retries after a quota error (Zalo quotas reset daily; a balance when it is topped up)
QUOTA_BACKOFF = (timedelta(minutes=15), timedelta(minutes=30), timedelta(hours=1), timedelta(hours=2),
                 timedelta(hours=4), timedelta(hours=8), timedelta(hours=16), timedelta(hours=24))
#: a notification still not sent this long after it was planned is given up (it would be stale)
QUOTA_HORIZON = timedelta(days=2)
ZNS_NIGHT_END = time(6, 0)  # ZNS -133: no template messages 22:00-06:00, Vietnam time


@dataclass(frozen=True)
class Choice:
    """A tier to send with, or None and the reason (a :data:`REASONS` key) nothing can be sent."""

    tier: str | None
    reason: str = ""
    template: ZnsTemplate | None = None


def choose(policy: ZaloPolicy, *, kind: str, last_interaction_at: datetime | None, now: datetime,
           phone: str | None, chat: bool = False) -> Choice:
    """The tier for a notification of ``kind`` (or a ``chat`` reply) to a resident (module docstring)."""
    if last_interaction_at is not None:
        age = now - last_interaction_at
        if age <= policy.free_window:
            return Choice(Tier.CS_FREE)
        if age <= policy.paid_window:
            return Choice(Tier.CS_PAID)
    if chat:
        return Choice(None, "outside-interaction-window")
    return fallback(policy, kind=kind, phone=phone)


def fallback(policy: ZaloPolicy, *, kind: str, phone: str | None) -> Choice:
    """ZNS when the resident consented to a phone and the city has a template for ``kind``."""
    template = policy.zns_templates.get(kind)
    if template is None:
        return Choice(None, NO_TEMPLATE)
    if not phone:
        return Choice(None, NO_PHONE)
    return Choice(Tier.ZNS, template=template)


def zns_data(template: ZnsTemplate, values: dict[str, Any]) -> dict[str, str]:
    """``template_data`` for ``template``: each parameter gets its field's value, cut to the field's length."""
    return {param: " ".join(str(values.get(ours) or "").split())[:ZNS_FIELDS[ours]] or "-"
            for param, ours in template.params.items()}


def tracking_id(delivery: Delivery) -> str:
    """Our id in ZNS's records (reconciliation with Zalo's bill): one per delivery."""
    return f"phananh-d{delivery.id}"


def retry_delay(*, attempts: int, created_at: datetime, now: datetime, night_ban: bool = False,
                tz: str = "Asia/Ho_Chi_Minh") -> timedelta | None:
    """When to try again after a quota error (or ZNS's night ban): None when it is time to give up."""
    if now - created_at > QUOTA_HORIZON:
        return None
    if night_ban:
        local = now.astimezone(ZoneInfo(tz))
        morning = datetime.combine(local.date(), ZNS_NIGHT_END, local.tzinfo)
        if morning <= local:
            morning += timedelta(days=1)
        return morning - local + timedelta(minutes=1)
    return QUOTA_BACKOFF[min(max(attempts, 1), len(QUOTA_BACKOFF)) - 1]


def reschedule(session: Session, delivery: Delivery, *, now: datetime, tz: str = "Asia/Ho_Chi_Minh") -> bool:
    """After a failed attempt whose detail says a quota ran out (``out-of-quota:``) or ZNS's night ban
    (``night-ban:``): send it again later (the job is enqueued with a delay), or give up once the
    notification is :data:`QUOTA_HORIZON` old (``failed``, the reason kept). False for other failures
    (the job's own short back-off applies)."""
    detail = delivery.last_error or ""
    if not detail.startswith(("out-of-quota:", "night-ban:")):
        return False
    delay = retry_delay(attempts=delivery.attempts, created_at=delivery.created_at, now=now,
                        night_ban=detail.startswith("night-ban:"), tz=tz)
    if delay is None:
        delivery.send_state, delivery.last_error = SendState.FAILED, f"gave up after {QUOTA_HORIZON.days} days; "\
            f"{detail}"[:1000]
        session.add(delivery)
        return True
    queue.enqueue(session, "handlers.notifications.send_delivery", _delay=delay, delivery_id=delivery.id)
    return True


@dataclass(frozen=True)
class UnitBill:
    """A unit's Zalo messages of one month: counts by tier (paid = ``cs_paid`` + ``zns``)."""

    unit_id: int | None
    unit_name: str
    cs_free: int
    cs_paid: int
    zns: int

    @property
    def paid(self) -> int:
        return self.cs_paid + self.zns


def month_bounds(month: date, tz: str) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) of ``month`` in the city's time zone."""
    zone = ZoneInfo(tz)
    start = datetime(month.year, month.month, 1, tzinfo=zone)
    end = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=zone)
    return start, end


def paid_counts(session: Session, *, month: date, tz: str = "Asia/Ho_Chi_Minh") -> list[UnitBill]:
    """Zalo messages sent in ``month`` per unit of their report, by tier; units with none are left out,
    the most paid first. A delivery counts for the unit its report is with now."""
    start, end = month_bounds(month, tz)
    rows = session.exec(
        select(Report.unit_id, Delivery.tier, func.count())
        .join(Report, Report.id == Delivery.report_id, isouter=True)
        .where(Delivery.channel == "zalo", Delivery.send_state == SendState.SENT, Delivery.tier.is_not(None),
               Delivery.sent_at >= start, Delivery.sent_at < end)
        .group_by(Report.unit_id, Delivery.tier)).all()
    counts: dict[int | None, dict[str, int]] = {}
    for unit_id, tier, n in rows:
        counts.setdefault(unit_id, {})[tier] = n
    names = dict(session.exec(select(Unit.id, Unit.name_vi).where(Unit.id.in_([u for u in counts if u]))).all())
    bills = [UnitBill(unit_id, names.get(unit_id, "Chưa gắn đơn vị") if unit_id else "Chưa gắn đơn vị",
                      by.get(Tier.CS_FREE, 0), by.get(Tier.CS_PAID, 0), by.get(Tier.ZNS, 0))
             for unit_id, by in counts.items()]
    return sorted(bills, key=lambda b: (-b.paid, -b.cs_free, b.unit_name))
