"""Domain replies → Zalo CS messages: text split at the 2,000-character limit, images uploaded first.

``send(client, user_id, text=..., image=...)`` is what the worker calls for one reply or update;
errors are the client's typed errors (the caller records the delivery state).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from backend.text import nfc
from bots.zalo.client import TEXT_LIMIT, Client, ZaloError

log = logging.getLogger(__name__)


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """NFC text in chunks of at most ``limit`` characters, cut at line breaks or spaces when possible."""
    text = nfc(text).strip()
    chunks: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut < limit // 2:
            cut = text.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
        chunks.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        chunks.append(text)
    return chunks


def text_payload(user_id: str, text: str) -> dict[str, Any]:
    """The documented ``/v3.0/oa/message/cs`` body for one text message (for logs and tests)."""
    return {"recipient": {"user_id": user_id}, "message": {"text": text}}


def image_attachment(attachment_id: str) -> dict[str, Any]:
    return {"type": "template",
            "payload": {"template_type": "media", "elements": [{"media_type": "image",
                                                                "attachment_id": attachment_id}]}}


UPLOAD_LIMIT = 1024 * 1024  # Zalo accepts jpg/png up to 1 MB on /upload/image


def send(client: Client, user_id: str, *, text: str, image: tuple[bytes, str] | None = None,
         image_url: str | None = None, sent: int = 0, progress: Callable[[int], None] | None = None) -> list[str]:
    """Send ``text`` (split if long), then ``image`` = (bytes, mime) uploaded and sent as media
    (a public ``image_url`` is sent by URL instead when the bytes are too large to upload).

    ``sent`` parts of the text already went out on an earlier attempt and are skipped; ``progress(n)``
    is called after each part, so a retry after a failure half-way never repeats a part. Errors while
    sending the text propagate (typed client errors). Once the text is out, a failing image is only
    logged: retrying the whole delivery would repeat the text. Returns the Zalo message ids.
    """
    ids: list[str] = []
    for n, chunk in enumerate(split_text(text), start=1):
        if n <= sent:
            continue
        ids.append(str(client.send_message(user_id, text=chunk).get("message_id") or ""))
        if progress is not None:
            progress(n)
    if image is None:
        return ids
    try:
        ids.append(_send_image(client, user_id, image, image_url))
    except ZaloError as exc:
        log.warning("zalo: image for %s not sent: %s", user_id, exc)
    return ids


def _send_image(client: Client, user_id: str, image: tuple[bytes, str], image_url: str | None) -> str:
    data, mime = image
    if len(data) > UPLOAD_LIMIT or mime not in ("image/jpeg", "image/png"):
        if not (image_url and image_url.startswith(("http://", "https://"))):
            raise ZaloError(-210, "image too large to upload and no public URL")
        return str(client.send_image(user_id, url=image_url).get("message_id") or "")
    name = "photo.png" if mime == "image/png" else "photo.jpg"
    attachment_id = client.upload_image(data, file_name=name, mime_type=mime)
    return str(client.send_message(user_id, attachment=image_attachment(attachment_id)).get("message_id") or "")
