"""A fake Zalo on 127.0.0.1 (real HTTP): the OA Open API and, on its own base URL, ZNS.

Written from Zalo's published shapes (``docs/zalo.md``, with the source of each), not from our client.

OA Open API (``base``): ``POST /v3.0/oa/message/cs`` (text, media, request-user-info template),
``POST /v2.0/oa/message`` (reply to an anonymous user), ``POST /v2.0/oa/upload/{image,file,gif}``,
``GET /v3.0/oa/user/detail``, ``POST /v4/oa/access_token`` (rotating, single-use refresh tokens) and
``GET /cdn/<name>`` serving image bytes for inbound events.
ZNS (``zns_base``, Zalo's ``business.openapi.zalo.me``): ``POST /message/template`` (template message by
phone number, with the OA access token), see ``fakes.zalo_zns``.

Every request on both servers is recorded. The CS window is modelled per user when the test says when
the user last interacted (``fake.interacted(uid, hours_ago=...)``): within 48 h a CS message is free,
48 h - 7 days it is accepted and recorded ``billable``, after 7 days it is refused with -230. Failures on cue:

    fake.fail("/v3.0/oa/message/cs", error=-32, times=2)   # Zalo error body, HTTP 200 (-211 quota, -232 ...)
    fake.fail("/v3.0/oa/message/cs", status=503)            # HTTP 5xx
    fake.fail("/v3.0/oa/message/cs", delay=3.0)             # slow answer (client timeout)
    fake.fail("/message/template", error=-115)              # ZNS: out of quota
    fake.expire_access_token()                              # next calls answer -216 (ZNS: -124)
    fake.non_followers.add(uid); fake.outside_window.add(uid)   # -213 / -230

Webhook events (Zalo → us) are built and signed by ``fakes.zalo_events`` (re-exported here).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fakes import zalo_media, zalo_oauth, zalo_zns
from fakes.zalo_events import (  # noqa: F401 - re-exported: tests use fz.text_event, fz.signed, ...
    APP_ID,
    OA_ID,
    OA_SECRET_KEY,
    anonymous_text_event,
    dumps,
    echo_event,
    event,
    follow_event,
    image_event,
    location_event,
    sign,
    signed,
    submit_info_event,
    text_event,
)
from fakes.zalo_media import tiny_jpeg

APP_SECRET = zalo_oauth.APP_SECRET
#: Zalo's CS message windows after the user's last interaction (docs/zalo.md §4)
FREE_WINDOW_S = 48 * 3600
CS_WINDOW_S = 7 * 24 * 3600


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
    server: str = "oa"  # oa | zns
    billable: bool = False  # a CS message sent 48 h - 7 days after the user's last interaction


@dataclass
class _Cue:
    prefix: str
    error: int | None
    status: int | None
    delay: float
    times: int
    message: str
    after: int = 0  # matching requests let through before the cue applies


class FakeZalo:
    """Start with ``FakeZalo().start()``; ``base`` is ``http://127.0.0.1:<port>``; ``stop()`` at the end."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.requests: list[Recorded] = []
        self.lock = threading.Lock()
        self.clock = clock
        self.access_tokens: set[str] = {"at-initial"}
        self.refresh_tokens: set[str] = {"rt-initial"}
        self.spent_refresh_tokens: set[str] = set()
        self.non_followers: set[str] = set()
        self.outside_window: set[str] = set()
        self.interactions: dict[str, float] = {}  # user id -> epoch seconds of the last interaction
        self.cues: list[_Cue] = []
        self.cdn: dict[str, tuple[bytes, str]] = {}
        self.refresh_delay = 0.0
        # ZNS: approved templates {template_id: {param: max length}}, phones without a Zalo account,
        # the ZNS balance in messages (None = unlimited; 0 → -115 out of quota)
        self.zns_templates: dict[str, dict[str, int]] = {}
        self.zns_no_zalo: set[str] = set()
        self.zns_balance: int | None = None
        self._seq = 0
        self.server: ThreadingHTTPServer | None = None
        self.zns_server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeZalo:
        self.server = self._serve("oa")
        self.zns_server = self._serve("zns")
        return self

    def _serve(self, role: str) -> ThreadingHTTPServer:
        fake = self

        class Handler(_Handler):
            owner = fake
            server_role = role

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True, name=f"fake-zalo-{role}").start()
        return server

    def stop(self) -> None:
        for server in (self.server, self.zns_server):
            if server:
                server.shutdown()
                server.server_close()

    @staticmethod
    def _url(server: ThreadingHTTPServer | None) -> str:
        assert server is not None
        host, port = server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base(self) -> str:
        """The OA Open API (``openapi.zalo.me``) and OAuth (``oauth.zaloapp.com``)."""
        return self._url(self.server)

    @property
    def zns_base(self) -> str:
        """ZNS (``business.openapi.zalo.me``): a different host, like Zalo's."""
        return self._url(self.zns_server)

    @property
    def host(self) -> str:
        return self.base.split("://", 1)[1]

    # ------------------------------------------------------------------ cues and state

    def fail(self, prefix: str, *, error: int | None = None, status: int | None = None, delay: float = 0.0,
             times: int = 1, message: str = "", after: int = 0) -> None:
        """The next ``times`` requests to paths starting with ``prefix`` (once ``after`` went through) fail."""
        with self.lock:
            self.cues.append(_Cue(prefix, error, status, delay, times, message or f"fake error {error}", after))

    def expire_access_token(self) -> None:
        with self.lock:
            self.access_tokens.clear()

    def add_cdn_image(self, name: str, data: bytes | None = None, mime: str = "image/jpeg") -> str:
        self.cdn[name] = (data if data is not None else tiny_jpeg(), mime)
        return f"{self.base}/cdn/{name}"

    def interacted(self, user_id: str, *, hours_ago: float) -> None:
        """The user's last interaction with the OA (message, follow, button) was ``hours_ago`` ago."""
        self.interactions[user_id] = self.clock() - hours_ago * 3600

    def approve_zns_template(self, template_id: str, params: dict[str, int]) -> None:
        """An approved ZNS template: its parameter names and their maximum lengths."""
        self.zns_templates[str(template_id)] = dict(params)

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

    def billable(self, user_id: str | None = None) -> list[dict[str, Any]]:
        """Accepted CS messages Zalo would charge for (sent 48 h - 7 days after the last interaction)."""
        with self.lock:
            out = [r for r in self.requests if r.path == "/v3.0/oa/message/cs" and r.accepted and r.billable]
        return [r.json["message"] for r in out if user_id is None or r.json["recipient"]["user_id"] == user_id]

    def zns_sent(self, phone: str | None = None) -> list[dict[str, Any]]:
        """Template messages accepted by ZNS, in order: the request bodies (phone as sent)."""
        with self.lock:
            out = [r.json for r in self.requests if r.server == "zns" and r.accepted]
        return [b for b in out if phone is None or zalo_zns.normalize_phone(b.get("phone")) == phone]

    def anonymous_sent(self) -> list[dict[str, Any]]:
        """Messages accepted for anonymous users (``recipient`` with anonymous_id + conversation_id)."""
        with self.lock:
            return [r.json for r in self.requests if r.path == "/v2.0/oa/message" and r.accepted]

    def _take_cue(self, path: str) -> _Cue | None:
        with self.lock:
            for cue in self.cues:
                if path.startswith(cue.prefix) and cue.after > 0:
                    cue.after -= 1
                    return None
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


def _attachment_ok(attachment: Any) -> bool:
    """A ``request_user_info`` template has exactly one element with a title, a subtitle and an image
    (official Java SDK ``SendRequestUserInfoCSMessage``); other attachments are taken as they come."""
    if not attachment:
        return True
    payload = attachment.get("payload") if isinstance(attachment, dict) else None
    if not isinstance(payload, dict) or payload.get("template_type") != "request_user_info":
        return True
    elements = payload.get("elements")
    return (isinstance(elements, list) and len(elements) == 1 and isinstance(elements[0], dict)
            and all(str(elements[0].get(k) or "").strip() for k in ("title", "subtitle", "image_url"))
            and len(elements[0]["title"]) <= 100 and len(elements[0]["subtitle"]) <= 500)


class _Handler(BaseHTTPRequestHandler):
    owner: FakeZalo
    server_role = "oa"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    # ------------------------------------------------------------------ plumbing

    def _record(self) -> Recorded:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        rec = Recorded(self.command, parts.path, parse_qs(parts.query), {k.lower(): v for k, v in self.headers.items()},
                       body, server=self.server_role)
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
        if self.server_role == "zns":
            return self._send(404, _error(-106, "Method unsupported"))
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
        if self.server_role == "zns":
            return zalo_zns.post(self, rec)
        if rec.path == "/v4/oa/access_token":
            return zalo_oauth.post(self, rec)
        if self._cued(rec):
            return None
        if rec.path == "/v3.0/oa/message/cs":
            return self._cs(rec)
        if rec.path == "/v2.0/oa/message":
            return self._anonymous(rec)
        if rec.path.startswith("/v2.0/oa/upload/"):
            return zalo_media.upload(self, rec)
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
        if not _attachment_ok(message.get("attachment")):
            return self._send(200, _error(-201, "attachment is invalid!"))
        if uid in self.owner.non_followers:
            return self._send(200, _error(-213, "User has not followed OA"))
        last = self.owner.interactions.get(uid)
        age = None if last is None else self.owner.clock() - last
        if uid in self.owner.outside_window or (age is not None and age > CS_WINDOW_S):
            return self._send(200, _error(-230, "User has not interacted with the OA in the past 7 days"))
        rec.billable = age is not None and age > FREE_WINDOW_S
        rec.accepted = True
        return self._send(200, {"error": 0, "message": "Success", "data": {
            "message_id": self.owner._next_id("m"), "user_id": uid, "sent_time": str(int(time.time() * 1000))}})

    def _anonymous(self, rec: Recorded) -> None:
        """Reply to an anonymous user (official Java SDK ``SendTextAnonymousMessage``)."""
        if not self._token_ok(rec):
            return None
        body = rec.json if isinstance(rec.json, dict) else {}
        recipient = body.get("recipient") or {}
        text = (body.get("message") or {}).get("text")
        if not recipient.get("anonymous_id") or not recipient.get("conversation_id"):
            return self._send(200, _error(-201, "recipient is invalid!"))
        if not text or len(text) > 2000:
            return self._send(200, _error(-201, "message is invalid!"))
        rec.accepted = True
        return self._send(200, {"error": 0, "message": "Success", "data": {"message_id": self.owner._next_id("m")}})
