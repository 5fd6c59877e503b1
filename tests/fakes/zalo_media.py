"""Uploads of the fake Zalo OA API (``/v2.0/oa/upload/*``) and a tiny JPEG for inbound events.

``POST /v2.0/oa/upload/image`` (jpg/png up to 1 MB) answers ``{"data": {"attachment_id"}}``; ``/file`` and
``/gif`` answer ``{"data": {"token"}}`` (docs/zalo.md §4). ``self`` is the fake's request handler.
"""

from __future__ import annotations

import hashlib
import io
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any


def tiny_jpeg(color: tuple[int, int, int] = (200, 80, 40), size: tuple[int, int] = (64, 48)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG", quality=80)
    return buf.getvalue()


def _error(code: int, message: str) -> dict[str, Any]:
    return {"error": code, "message": message}


def upload(self: Any, rec: Any) -> None:
    """``POST /v2.0/oa/upload/{image,file,gif}`` (multipart ``file``): an attachment id or a file token."""
    if not self._token_ok(rec):
        return None
    ctype = rec.headers.get("content-type", "")
    if "multipart/form-data" not in ctype:
        return self._send(200, _error(-201, "file is invalid!"))
    msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + rec.body)
    files = [p for p in msg.iter_parts() if p.get_param("name", header="content-disposition") == "file"]
    if not files:
        return self._send(200, _error(-201, "file is invalid!"))
    data = files[0].get_payload(decode=True) or b""
    rec.uploaded = data
    if rec.path.endswith("/image"):
        if len(data) > 1024 * 1024 or not (data[:3] == b"\xff\xd8\xff" or data[:8] == b"\x89PNG\r\n\x1a\n"):
            return self._send(200, _error(-201, "file is invalid!"))
        return self._send(200, {"error": 0, "message": "Success",
                                "data": {"attachment_id": "att-" + hashlib.sha256(data).hexdigest()[:16]}})
    return self._send(200, {"error": 0, "message": "Success", "data": {"token": self.owner._next_id("ft")}})

