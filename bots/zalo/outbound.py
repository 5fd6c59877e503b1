"""Sending one ``deliveries`` row on Zalo: the ``zalo`` sender of ``services.deliveries.attempt``.

``send_notification(settings, delivery) -> (outcome, detail)`` with outcome in
sent | retry | failed | undeliverable:

- the resident must have interacted with the OA within 48 hours (``identities.last_interaction_at``,
  stamped by the dialogue on every inbound message); otherwise ``undeliverable`` /
  ``outside-48h-window`` without calling Zalo (other channels are the notifications' business);
- the text is sent as CS message(s); an after photo (``payload.photo_url`` pointing into our
  ``/media/`` store) is uploaded and sent as a media attachment;
- Zalo answers: unreachable user (-213, -217, -227, -230, -232) → ``undeliverable`` with the reason;
  rate limit / outage / timeout → ``retry``; anything else → ``failed``.

Used by the chat replies (``handlers.inbound``) and by report updates
(``handlers.notifications.send_delivery``).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlmodel import select

from backend import queue
from backend.models.base import utcnow
from backend.models.deliveries import Delivery
from backend.models.reports import Report
from backend.models.residents import Identity
from backend.services.photos import content_type_for, get_storage
from bots.zalo import client as zalo
from bots.zalo import render

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=48)
CHAT_TEMPLATE = "chat_reply"


def client(settings: Any | None = None) -> zalo.Client:
    """One client per job runtime (keeps its HTTP connection pool); tokens live in the database."""
    rt = queue.runtime()
    cached = rt.config.get("zalo_client")
    if cached is None:
        cached = rt.config["zalo_client"] = zalo.from_settings(settings or rt.config["settings"], rt.db)
    return cached


def send_notification(settings: Any, delivery: Delivery) -> tuple[str, str]:
    """Send ``delivery`` (channel ``zalo``, target = OA-scoped user id); see the module docstring."""
    user_id = delivery.target or ""
    if not user_id:
        return "failed", "no Zalo user id"
    if delivery.template != CHAT_TEMPLATE:
        skip = _skip_reason(delivery, user_id)
        if skip:
            return skip
    try:
        render.send(client(settings), user_id, text=_text(delivery), image=_image(settings, delivery),
                    image_url=(delivery.payload or {}).get("photo_url"))
    except zalo.ZaloUnreachable as exc:
        return "undeliverable", exc.reason
    except (zalo.ZaloUnavailable, zalo.ZaloRateLimited) as exc:
        return "retry", f"{exc.reason}: {exc.message}"[:1000]
    except zalo.ZaloError as exc:
        log.warning("zalo delivery %s failed: %s", delivery.id, exc)
        return "failed", f"{exc.reason}: {exc}"[:1000]
    return "sent", ""


def _skip_reason(delivery: Delivery, user_id: str) -> tuple[str, str] | None:
    with queue.runtime().db.session() as session:
        identity = session.exec(select(Identity).where(Identity.provider == "zalo",
                                                       Identity.subject == user_id)).first()
        last = identity.last_interaction_at if identity else None
        if last is None or utcnow() - last > WINDOW:
            return "undeliverable", "outside-48h-window"
        if delivery.template == "received" and delivery.report_id:
            report = session.get(Report, delivery.report_id)
            if report is not None and report.channel == "zalo":
                # the bot's own reply already gave the code and the deadline in this chat
                return "sent", "told in the chat reply"
    return None


def _text(delivery: Delivery) -> str:
    """The body (notification bodies are self-contained sentences; a chat has no subject line)."""
    return (delivery.body or "").strip() or (delivery.title or "").strip()


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
