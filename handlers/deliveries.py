"""Delivery housekeeping: a daily summary of stuck deliveries for the administrators."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session, select

from backend import queue
from backend.models import Delivery, Role, SendState, Staff
from backend.models.base import utcnow
from backend.services import notify

log = logging.getLogger(__name__)


def sweep_deliveries(session: Session, *, now: datetime | None = None) -> int:
    """Periodic: once a day, tell every active admin how many deliveries are stuck (if any).

    Idempotent per day and admin (deterministic dedupe key); returns the number of summaries written.
    """
    now = now or utcnow()
    summary = notify.stuck_summary(session, now=now)
    if not summary["total"]:
        return 0
    settings = queue.runtime().config.get("settings")
    day = now.date().isoformat()
    detail = ", ".join(f"{k}: {v}" for k, v in sorted(summary["by_channel_state"].items()))
    body = f"Có {summary['total']} thông báo chưa gửi được sau hơn 1 giờ ({detail}). Xem trang Thông báo lỗi."
    written = 0
    for admin in session.exec(select(Staff).where(Staff.role == Role.ADMIN, Staff.is_active)).all():
        channels = ["feed"] + (["email"] if settings is not None and settings.smtp_url else [])
        for channel in channels:
            row = notify.insert_once(session, Delivery(
                dedupe_key=f"stuck:{day}:staff{admin.id}:{channel}", recipient_kind="staff",
                recipient_id=admin.id, channel=channel, target=admin.email if channel == "email" else None,
                template="stuck_summary", locale=admin.locale, title="Thông báo chưa gửi được", body=body,
                payload=summary, send_state=SendState.SENT if channel == "feed" else SendState.PENDING,
                sent_at=now if channel == "feed" else None))
            if row is None:  # already told today
                continue
            if channel != "feed":
                queue.enqueue(session, "handlers.notifications.send_delivery", delivery_id=row.id)
            written += 1
    log.info("stuck deliveries summary: %s", summary)
    return written
