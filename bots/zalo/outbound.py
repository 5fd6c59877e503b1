"""Sending one ``deliveries`` row on Zalo: the ``zalo`` sender of ``notify.attempt``.

``send_notification(settings, delivery) -> (outcome, detail)`` with outcome in
sent | retry | failed | undeliverable. The tier comes from the city's policy (``notify.choose_tier``:
free CS within 48 h of the resident's last interaction, paid CS up to 7 days, then ZNS by the phone the
resident consented to share, with the city's approved template) and is recorded on the delivery:

- CS: the text (split at 2,000 characters; parts already sent on an earlier attempt are skipped), an
  after photo uploaded as media, the request-user-info card when the reply asks for the phone. To a
  reporter without a phone, the message ends with their signed link: once Zalo's window closes,
  updates can only be read there.
- A CS message refused as outside the window (-230/-232) falls back to ZNS once; nothing sent twice; a
  retry of that delivery (ZNS quota, night ban) retries the ZNS, never the refused CS again.
- ZNS: ``template_data`` built from the delivery (code, status, unit, content, date).
- Answers: unreachable (-213, -217, -227; ZNS -118, -139) → ``undeliverable`` with the reason; quota
  (-211, -218; ZNS -115, -144) and ZNS's night ban (-133) → ``retry`` with ``quota:``/``night-ban:``
  details (the job reschedules it hours later); rate limit, outage, timeout → ``retry``; anything
  else → ``failed``.

A chat reply (template ``chat_reply``) answers a message just received: CS only. An ``anonymous_reply``
goes to a user who does not follow the OA, by their conversation id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import select

from backend import queue
from backend.models import Delivery, Identity, Report, Tier
from backend.models.base import utcnow
from backend.services import city, notify, reports
from backend.services.city import ZaloPolicy, ZnsTemplate
from backend.services.photos import content_type_for, get_storage
from bots.zalo import client as zalo
from bots.zalo import render

log = logging.getLogger(__name__)

CHAT_TEMPLATE = "chat_reply"
ANONYMOUS_TEMPLATE = "anonymous_reply"
CARD_IMAGE = "/static/web/zalo-card.png"
LINK_NOTE = "Các cập nhật tiếp theo về phản ánh {code} sẽ có tại: {link}"
LINK_NOTE_ABOVE = "Các cập nhật tiếp theo về phản ánh {code} sẽ có tại đường dẫn trên."


def client(settings: Any | None = None) -> zalo.Client:
    """One client per job runtime (keeps its HTTP connection pool); tokens live in the database."""
    rt = queue.runtime()
    cached = rt.config.get("zalo_client")
    if cached is None:
        cached = rt.config["zalo_client"] = zalo.from_settings(settings or rt.config["settings"], rt.db)
    return cached


@dataclass
class _Facts:
    """What the sender needs to know, read in one short transaction."""

    policy: ZaloPolicy
    last_interaction_at: datetime | None
    phone: str | None
    timezone: str
    city_name: str
    reporter_link: str | None = None  # set when the resident is the reporter and has no phone
    told_in_chat: bool = False


def send_notification(settings: Any, delivery: Delivery) -> tuple[str, str]:
    """Send ``delivery`` (channel ``zalo``, target = OA-scoped user id); see the module docstring."""
    if not delivery.target:
        return "failed", "no Zalo user id"
    try:
        if delivery.template == ANONYMOUS_TEMPLATE:
            client(settings).send_anonymous(delivery.target, str((delivery.payload or {}).get("conversation_id")),
                                            _text(delivery))
            return "sent", ""
        facts = _facts(settings, delivery)
        if facts.told_in_chat:
            return "sent", "told in the chat reply"
        chat = delivery.template == CHAT_TEMPLATE
        if (delivery.payload or {}).get("zns_fallback") and not chat:
            choice = notify.zns_fallback(facts.policy, kind=delivery.template, phone=facts.phone)
            if choice.tier is None:  # Zalo already refused CS for this user: retry the ZNS, not the CS
                return "undeliverable", choice.reason
            return _zns(settings, delivery, facts, choice.template)
        choice = notify.choose_tier(facts.policy, kind=delivery.template, last_interaction_at=facts.last_interaction_at,
                                    now=utcnow(), phone=facts.phone, chat=chat)
        if choice.tier is None:
            return "undeliverable", choice.reason
        if choice.tier == Tier.ZNS:
            return _zns(settings, delivery, facts, choice.template)
        return _cs(settings, delivery, facts, choice.tier, chat=chat)
    except zalo.ZaloError as exc:
        return _outcome(delivery, exc)


def _outcome(delivery: Delivery, exc: zalo.ZaloError) -> tuple[str, str]:
    if isinstance(exc, zalo.ZaloUnreachable):
        return "undeliverable", exc.reason
    if isinstance(exc, zalo.ZaloQuota | zalo.ZaloUnavailable | zalo.ZaloRateLimited):
        return "retry", f"{exc.reason}: {exc.code} {exc.message}"[:1000]
    log.warning("zalo delivery %s failed: %s", delivery.id, exc)
    return "failed", f"{exc.reason}: {exc}"[:1000]


def _cs(settings: Any, delivery: Delivery, facts: _Facts, tier: str, *, chat: bool) -> tuple[str, str]:
    """A customer-service message; refused as outside the window → ZNS once (not for chat replies)."""
    delivery.tier = tier
    payload = delivery.payload or {}
    try:
        render.send(client(settings), delivery.target or "", text=_text(delivery, facts),
                    image=None if payload.get("image_sent") else _image(settings, delivery),
                    image_url=payload.get("photo_url"), sent=int(payload.get("parts_sent") or 0),
                    progress=lambda n: _note(delivery, parts_sent=n))
    except zalo.ZaloOutsideWindow as exc:
        if chat or payload.get("zns_fallback") or payload.get("parts_sent"):
            return "undeliverable", exc.reason
        choice = notify.zns_fallback(facts.policy, kind=delivery.template, phone=facts.phone)
        if choice.tier is None:
            return "undeliverable", choice.reason
        log.info("zalo delivery %s: outside Zalo's window (%s), sending by ZNS", delivery.id, exc.code)
        _note(delivery, zns_fallback=True)
        return _zns(settings, delivery, facts, choice.template)
    _note(delivery, image_sent=True)  # sent or given up (render logs it): never twice
    if payload.get("request_user_info"):
        _card(settings, delivery, facts)
    return "sent", ""


def _card(settings: Any, delivery: Delivery, facts: _Facts) -> None:
    """Zalo's request-user-info card under the question. Best effort: the question already says the
    number can be typed, and a retry would repeat the text."""
    try:
        client(settings).send_request_user_info(
            delivery.target or "", title=f"{facts.city_name}: nhận kết quả phản ánh"[:100],
            subtitle="Chia sẻ số điện thoại để nhận kết quả xử lý qua tin nhắn ZNS của Zalo",
            image_url=settings.base_url.rstrip("/") + CARD_IMAGE)
    except zalo.ZaloError as exc:
        log.warning("zalo delivery %s: request-user-info card not sent: %s", delivery.id, exc)


def _zns(settings: Any, delivery: Delivery, facts: _Facts, template: ZnsTemplate | None) -> tuple[str, str]:
    """A ZNS template message to the consented phone number."""
    assert template is not None and facts.phone
    delivery.tier = Tier.ZNS
    payload = delivery.payload or {}
    at = datetime.fromisoformat(payload["at"]) if payload.get("at") else utcnow()
    status = str(payload.get("status") or payload.get("state") or "")
    values = {"code": payload.get("code"), "status": reports.state_label(status),
              "unit": payload.get("unit"), "content": payload.get("content"),
              "date": at.astimezone(ZoneInfo(facts.timezone)).strftime("%d/%m/%Y")}
    client(settings).send_zns(facts.phone, template_id=template.template_id,
                              template_data=notify.zns_data(template, values),
                              tracking_id=notify.zns_tracking_id(delivery))
    return "sent", ""


def _note(delivery: Delivery, **facts: Any) -> None:
    """Remember progress on the delivery row (a new dict: JSON columns track assignment)."""
    delivery.payload = {**(delivery.payload or {}), **facts}


def _facts(settings: Any, delivery: Delivery) -> _Facts:
    with queue.runtime().db.session() as session:
        identity = session.exec(select(Identity).where(Identity.provider == "zalo",
                                                       Identity.subject == delivery.target)).first()
        facts = _Facts(policy=city.zalo_policy(session), timezone=city.timezone(session),
                       city_name=city.city_name(session),
                       last_interaction_at=identity.last_interaction_at if identity else None,
                       phone=identity.phone if identity else None)
        report = session.get(Report, delivery.report_id) if delivery.report_id else None
        if report is None:
            return facts
        if delivery.template == "received" and report.channel == "zalo":
            facts.told_in_chat = True  # the bot's own reply already gave the code and the deadline
        elif _for_reporter(delivery, report) and not facts.phone:
            planned = str((delivery.payload or {}).get("link") or "")
            facts.reporter_link = planned if f"/r/{report.code}?t=" in planned else reports.reporter_link(
                report, base_url=settings.base_url, secret_key=settings.secret_key)
    return facts


def _for_reporter(delivery: Delivery, report: Report) -> bool:
    if report.resident_id is None or delivery.recipient_id != report.resident_id:
        return False
    return delivery.template != CHAT_TEMPLATE or (delivery.payload or {}).get("action") == "created"


def _text(delivery: Delivery, facts: _Facts | None = None) -> str:
    """The body (notification bodies are self-contained sentences; a chat has no subject line), and the
    reporter's link when Zalo's window may close before the next update."""
    text = (delivery.body or "").strip() or (delivery.title or "").strip()
    link = facts.reporter_link if facts else None
    code = (delivery.payload or {}).get("code") or (delivery.payload or {}).get("report_code") or ""
    if link and link not in text:
        text += "\n\n" + LINK_NOTE.format(code=code, link=link)
    elif link:  # the notification's text already ends with the reporter's link
        text += "\n\n" + LINK_NOTE_ABOVE.format(code=code)
    return text


def _image(settings: Any, delivery: Delivery) -> tuple[bytes, str] | None:
    url = str((delivery.payload or {}).get("photo_url") or "")
    if "/media/" not in url:
        return None
    key = url.split("/media/", 1)[1].split("?", 1)[0]
    try:
        return get_storage(settings).get(key), content_type_for(key)
    except Exception as exc:  # noqa: BLE001 - a missing file must not block the text
        log.warning("zalo delivery %s: photo %s unreadable: %s", delivery.id, key, exc)
        return None
