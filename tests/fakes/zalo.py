"""A fake Zalo OA Open API on 127.0.0.1 (real HTTP), and a signer for webhook events.

Implements what ``bots/zalo/client.py`` calls, with the documented shapes (``reference/zalo.md``):
``POST /v3.0/oa/message/cs``, ``POST /v2.0/oa/upload/{image,file,gif}``, ``GET /v3.0/oa/user/detail``,
``POST /v4/oa/access_token`` (rotating, single-use refresh tokens) and ``GET /cdn/<name>`` serving
image bytes for inbound events. Every request is recorded. Failures on cue:

    fake.fail("/v3.0/oa/message/cs", error=-32, times=2)   # Zalo error body, HTTP 200
    fake.fail("/v3.0/oa/message/cs", status=503)            # HTTP 5xx
    fake.fail("/v3.0/oa/message/cs", delay=3.0)             # slow answer (client timeout)
    fake.expire_access_token()                              # next calls answer -216
    fake.non_followers.add(uid); fake.outside_window.add(uid)   # -213 / -230
"""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

APP_ID = "1234567890123456789"
APP_SECRET = "fake-app-secret"
OA_ID = "4318021979798891234"
OA_SECRET_KEY = "fake-oa-secret-key"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    json: Any = None
    form: dict[str, list[str]] = field(default_factory=dict)
    accepted: bool = False
    uploaded: bytes | None = None


@dataclass
class _Cue:
    prefix: str
    error: int | None
    status: int | None
    delay: float
    times: int
    message: str


def tiny_jpeg(color: tuple[int, int, int] = (200, 80, 40), size: tuple[int, int] = (64, 48)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG", quality=80)
    return buf.getvalue()


class FakeZalo:
    """Start with ``FakeZalo().start()``; ``base`` is ``http://127.0.0.1:<port>``; ``stop()`` at the end."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.lock = threading.Lock()
        self.access_tokens: set[str] = {"at-initial"}
        self.refresh_tokens: set[str] = {"rt-initial"}
        self.spent_refresh_tokens: set[str] = set()
        self.non_followers: set[str] = set()
        self.outside_window: set[str] = set()
        self.cues: list[_Cue] = []
        self.cdn: dict[str, tuple[bytes, str]] = {}
        self.refresh_delay = 0.0
        self._seq = 0
        self.server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeZalo:
        fake = self

        class Handler(_Handler):
            owner = fake

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True, name="fake-zalo").start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    @property
    def base(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def host(self) -> str:
        return self.base.split("://", 1)[1]

    # ------------------------------------------------------------------ cues and state

    def fail(self, prefix: str, *, error: int | None = None, status: int | None = None, delay: float = 0.0,
             times: int = 1, message: str = "") -> None:
        with self.lock:
            self.cues.append(_Cue(prefix, error, status, delay, times, message or f"fake error {error}"))

    def expire_access_token(self) -> None:
        with self.lock:
            self.access_tokens.clear()

    def add_cdn_image(self, name: str, data: bytes | None = None, mime: str = "image/jpeg") -> str:
        self.cdn[name] = (data if data is not None else tiny_jpeg(), mime)
        return f"{self.base}/cdn/{name}"

    def calls(self, prefix: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    def sent(self, user_id: str | None = None) -> list[dict[str, Any]]:
        """Messages accepted by ``/message/cs`` (error 0), in order: the ``message`` objects."""
        with self.lock:
            out = [r for r in self.requests if r.path == "/v3.0/oa/message/cs" and r.accepted]
        return [r.json["message"] for r in out if user_id is None or r.json["recipient"]["user_id"] == user_id]

    def texts(self, user_id: str | None = None) -> list[str]:
        return [m.get("text", "") for m in self.sent(user_id) if m.get("text")]

    def _take_cue(self, path: str) -> _Cue | None:
        with self.lock:
            for cue in self.cues:
                if path.startswith(cue.prefix) and cue.times > 0:
                    cue.times -= 1
                    if cue.times == 0:
                        self.cues.remove(cue)
                    return cue
        return None

    def _next_id(self, prefix: str) -> str:
        with self.lock:
            self._seq += 1
            return f"{prefix}{self._seq:06d}{secrets.token_hex(4)}"


def _error(code: int, message: str) -> dict[str, Any]:
    return {"error": code, "message": message}


class _Handler(BaseHTTPRequestHandler):
    owner: FakeZalo
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    # ------------------------------------------------------------------ plumbing

    def _record(self) -> Recorded:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        rec = Recorded(self.command, parts.path, parse_qs(parts.query), {k.lower(): v for k, v in self.headers.items()},
                       body)
        ctype = rec.headers.get("content-type", "")
        if "json" in ctype and body:
            try:
                rec.json = json.loads(body)
            except ValueError:
                rec.json = None
        elif "x-www-form-urlencoded" in ctype:
            rec.form = parse_qs(body.decode())
        with self.owner.lock:
            self.owner.requests.append(rec)
        return rec

    def _send(self, status: int, payload: Any, ctype: str = "application/json") -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-RateLimit-Limit", "4000")
        self.send_header("X-RateLimit-Remain", "3999")
        self.end_headers()
        self.wfile.write(data)

    def _cued(self, rec: Recorded) -> bool:
        cue = self.owner._take_cue(rec.path)
        if cue is None:
            return False
        if cue.delay:
            time.sleep(cue.delay)
        if cue.status:
            self._send(cue.status, b"<html>upstream error</html>", "text/html")
            return True
        if cue.error is not None:
            self._send(200, _error(cue.error, cue.message))
            return True
        return False

    def _token_ok(self, rec: Recorded) -> bool:
        token = rec.headers.get("access_token", "")
        with self.owner.lock:
            ok = token in self.owner.access_tokens
        if not ok:
            self._send(200, _error(-216, "Access token is invalid"))
        return ok

    # ------------------------------------------------------------------ routes

    def do_GET(self) -> None:
        rec = self._record()
        if rec.path.startswith("/cdn/"):
            return self._cdn(rec)
        if self._cued(rec):
            return None
        if rec.path == "/v3.0/oa/user/detail":
            if not self._token_ok(rec):
                return None
            try:
                uid = str(json.loads(rec.query["data"][0])["user_id"])
            except (KeyError, ValueError, IndexError):
                return self._send(200, _error(-201, "user_id is invalid!"))
            if uid in self.owner.non_followers:
                return self._send(200, _error(-213, "User has not followed OA"))
            return self._send(200, {"error": 0, "message": "Success", "data": {
                "user_id": uid, "user_id_by_app": "app" + uid, "display_name": "Người dùng " + uid[-4:],
                "user_is_follower": True, "user_last_interaction_date": time.strftime("%d/%m/%Y"),
                "avatar": "", "is_sensitive": False, "shared_info": {}}})
        return self._send(404, _error(-404, "not found"))

    def _cdn(self, rec: Recorded) -> None:
        if self._cued(rec):
            return None
        item = self.owner.cdn.get(rec.path[len("/cdn/"):])
        if item is None:
            return self._send(404, b"not found", "text/plain")
        return self._send(200, item[0], item[1])

    def do_POST(self) -> None:
        rec = self._record()
        if rec.path == "/v4/oa/access_token":
            return self._oauth(rec)
        if self._cued(rec):
            return None
        if rec.path == "/v3.0/oa/message/cs":
            return self._cs(rec)
        if rec.path.startswith("/v2.0/oa/upload/"):
            return self._upload(rec)
        return self._send(404, _error(-404, "not found"))

    def _cs(self, rec: Recorded) -> None:
        if not self._token_ok(rec):
            return None
        body = rec.json if isinstance(rec.json, dict) else {}
        uid = str((body.get("recipient") or {}).get("user_id") or "")
        message = body.get("message") or {}
        if not uid:
            return self._send(200, _error(-201, "user_id is invalid!"))
        if not message.get("text") and not message.get("attachment"):
            return self._send(200, _error(-201, "message is invalid!"))
        if len(message.get("text") or "") > 2000:
            return self._send(200, _error(-210, "Parameter exceeds allowable limit"))
        if uid in self.owner.non_followers:
            return self._send(200, _error(-213, "User has not followed OA"))
        if uid in self.owner.outside_window:
            return self._send(200, _error(-230, "User has not interacted with the OA in the past 7 days"))
        rec.accepted = True
        return self._send(200, {"error": 0, "message": "Success", "data": {
            "message_id": self.owner._next_id("m"), "user_id": uid, "sent_time": str(int(time.time() * 1000)),
            "quota": {"quota_type": "reply", "remain": "8", "total": "8"}}})

    def _upload(self, rec: Recorded) -> None:
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

    def _oauth(self, rec: Recorded) -> None:
        if self.owner.refresh_delay:
            time.sleep(self.owner.refresh_delay)
        if self._cued(rec):
            return None
        form = {k: v[0] for k, v in rec.form.items()}
        if rec.headers.get("secret_key") != APP_SECRET or form.get("app_id") != APP_ID:
            return self._send(200, {"error": -14001, "error_name": "invalid_app", "error_reason": "bad app"})
        token = form.get("refresh_token", "")
        with self.owner.lock:
            if form.get("grant_type") != "refresh_token" or token not in self.owner.refresh_tokens:
                reused = token in self.owner.spent_refresh_tokens
                reason = "refresh token was already used" if reused else "refresh token is invalid"
                payload = {"error": -14014, "error_name": "invalid_grant", "error_reason": reason}
            else:
                self.owner.refresh_tokens.discard(token)
                self.owner.spent_refresh_tokens.add(token)
                new_at, new_rt = "at-" + secrets.token_hex(8), "rt-" + secrets.token_hex(8)
                self.owner.access_tokens = {new_at}  # the previous access token stops working
                self.owner.refresh_tokens.add(new_rt)
                payload = {"access_token": new_at, "refresh_token": new_rt, "expires_in": "90000"}
        return self._send(200, payload)


# --------------------------------------------------------------------------- events (Zalo → webhook)


def sign(raw: bytes, timestamp: str, *, app_id: str = APP_ID, secret: str = OA_SECRET_KEY) -> str:
    return "mac=" + hashlib.sha256(app_id.encode() + raw + timestamp.encode() + secret.encode()).hexdigest()


def dumps(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


_msg_seq = [0]


def _msg_id() -> str:
    _msg_seq[0] += 1
    return f"{secrets.token_hex(10)}{_msg_seq[0]:04d}"


def event(name: str, user_id: str, message: dict[str, Any] | None = None, *, ts_ms: int | None = None,
          **extra: Any) -> dict[str, Any]:
    """A user → OA event in the documented envelope (ids and timestamp as strings)."""
    body: dict[str, Any] = {"app_id": APP_ID, "user_id_by_app": "app" + user_id, "event_name": name,
                            "sender": {"id": user_id}, "recipient": {"id": OA_ID}}
    if message is not None:
        message = {"msg_id": _msg_id(), **message}
        body["message"] = message
    body["timestamp"] = str(ts_ms if ts_ms is not None else int(time.time() * 1000))
    body.update(extra)
    return body


def text_event(user_id: str, text: str, **kw: Any) -> dict[str, Any]:
    return event("user_send_text", user_id, {"text": text}, **kw)


def image_event(user_id: str, *urls: str, caption: str | None = None, **kw: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"attachments": [{"type": "image", "payload": {"url": u, "thumbnail": u}}
                                               for u in urls]}
    if caption:
        message["text"] = caption
    return event("user_send_image", user_id, message, **kw)


def location_event(user_id: str, lat: float, lon: float, **kw: Any) -> dict[str, Any]:
    return event("user_send_location", user_id, {"attachments": [
        {"type": "location", "payload": {"coordinates": {"latitude": str(lat), "longitude": str(lon)}}}]}, **kw)


def follow_event(user_id: str, **kw: Any) -> dict[str, Any]:
    body = {"app_id": APP_ID, "oa_id": OA_ID, "follower": {"id": user_id}, "user_id_by_app": "app" + user_id,
            "event_name": "follow", "source": "oa_profile", "timestamp": str(kw.get("ts_ms") or
                                                                           int(time.time() * 1000))}
    return body


def echo_event(user_id: str, text: str) -> dict[str, Any]:
    body = event("oa_send_text", OA_ID, {"text": text})
    body["sender"], body["recipient"] = {"id": OA_ID}, {"id": user_id}
    return body


def signed(payload: dict[str, Any], *, secret: str = OA_SECRET_KEY, bare: bool = False) -> tuple[bytes, dict]:
    """(raw body, headers) as Zalo would POST them."""
    raw = dumps(payload)
    sig = sign(raw, str(payload.get("timestamp", "")), secret=secret)
    return raw, {"X-ZEvent-Signature": sig[4:] if bare else sig, "Content-Type": "application/json"}
