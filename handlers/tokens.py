"""Periodic: refresh chat-channel tokens before they expire (Zalo OA access tokens live 25 h)."""

from __future__ import annotations

import logging

from sqlmodel import Session

from backend import queue

log = logging.getLogger(__name__)


def refresh_tokens(session: Session) -> None:
    """Refresh the Zalo OA token pair within an hour of expiry, under the token store's lock."""
    settings = queue.runtime().config["settings"]
    if not settings.zalo_app_id:
        return
    from bots.zalo import client as zalo
    from bots.zalo import outbound

    try:
        outbound.client(settings).tokens.access_token()
    except zalo.ZaloError as exc:
        log.error("zalo token refresh failed: %s", exc)
