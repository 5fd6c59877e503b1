"""The only code that calls Zalo: a thin ``requests`` client for the OA Open API v3 and OAuth v4.

Method names follow the community ``zalo_sdk.oa.Client`` (``send_message``, ``upload_file``,
``get_user_detail``, ``refresh_access_token``). Zalo answers application errors with HTTP 200 and
``{"error": <negative int>, "message": ...}``; every call checks the body and raises a typed error:

- ``ZaloAuthError`` (-216/-220): the access token is refreshed once (under the token store's lock)
  and the call retried once;
- ``ZaloRateLimited`` (-32): retried with exponential backoff, then raised;
- ``ZaloUnreachable`` (-213 not a follower, -217, -227; ``ZaloOutsideWindow`` -230/-232): the user
  cannot be messaged now; callers record the delivery as not sent, with the reason;
- ``ZaloUnavailable``: timeouts, connection errors, HTTP 5xx, non-JSON bodies (the job is retried);
- ``ZaloQuota`` (-211, -218; ZNS -115, -144, and ``ZaloNightBan`` -133): nothing sent, try again later;
- ``ZaloRefreshError``: OAuth refused the refresh token (an OA admin must re-consent).

ZNS (template messages by phone number) lives on another host (``zns_base``, Zalo's
``business.openapi.zalo.me``) with its own error codes: -124 is an invalid access token (refreshed
like -216), ``ZaloZnsRejected`` a bad phone/template/data (permanent), ``ZaloZnsUnreachable`` a phone
ZNS cannot reach. Shapes and sources: ``docs/zalo.md``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import requests

from backend.models.base import utcnow
from bots.zalo.types import (  # noqa: F401 - re-exported: the client's errors and token types
    StaticTokens,
    TokenPair,
    TokenProvider,
    ZaloAuthError,
    ZaloError,
    ZaloNightBan,
    ZaloNotFollower,
    ZaloOutsideWindow,
    ZaloQuota,
    ZaloRateLimited,
    ZaloRefreshError,
    ZaloUnavailable,
    ZaloUnreachable,
    ZaloZnsRejected,
    ZaloZnsUnreachable,
    error_for,
    zns_error_for,
)

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://openapi.zalo.me"
DEFAULT_OAUTH_BASE = "https://oauth.zaloapp.com"
DEFAULT_ZNS_BASE = "https://business.openapi.zalo.me"
TEXT_LIMIT = 2000
#: -240: "MessageV2 API has been shut down" (the anonymous reply is documented on v2 only)
V2_SHUT_DOWN = -240


class Client:
    """Zalo OA API client. ``tokens`` supplies (and refreshes) the access token."""

    def __init__(self, *, app_id: str = "", app_secret: str = "", api_base: str = DEFAULT_API_BASE,
                 oauth_base: str = DEFAULT_OAUTH_BASE, zns_base: str = DEFAULT_ZNS_BASE,
                 tokens: TokenProvider | None = None,
                 timeout: tuple[float, float] = (3.05, 10.0), rate_limit_retries: int = 3,
                 backoff_s: float = 0.5, http: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.api_base = api_base.rstrip("/")
        self.oauth_base = oauth_base.rstrip("/")
        self.zns_base = zns_base.rstrip("/")
        self.tokens: TokenProvider = tokens or StaticTokens("")
        self.timeout = timeout
        self.rate_limit_retries = rate_limit_retries
        self.backoff_s = backoff_s
        self.http = http or requests.Session()
        self.sleep = sleep

    # ------------------------------------------------------------------ messages

    def send_message(self, user_id: str, *, text: str | None = None,
                     attachment: dict[str, Any] | None = None) -> dict[str, Any]:
        """``POST /v3.0/oa/message/cs`` (consultation message). Returns the ``data`` object."""
        message: dict[str, Any] = {}
        if text:
            message["text"] = text[:TEXT_LIMIT]
        if attachment:
            message["attachment"] = attachment
        if not message:
            raise ValueError("a message needs text or an attachment")
        body = {"recipient": {"user_id": str(user_id)}, "message": message}
        return self._call("POST", "/v3.0/oa/message/cs", json_body=body).get("data") or {}

    def send_text(self, user_id: str, text: str) -> dict[str, Any]:
        return self.send_message(user_id, text=text)

    def send_image(self, user_id: str, *, attachment_id: str | None = None, url: str | None = None,
                   caption: str | None = None) -> dict[str, Any]:
        """A media template with one image (uploaded ``attachment_id`` or a public ``url``)."""
        element: dict[str, Any] = {"media_type": "image"}
        if attachment_id:
            element["attachment_id"] = attachment_id
        elif url:
            element["url"] = url
        else:
            raise ValueError("send_image needs attachment_id or url")
        attachment = {"type": "template", "payload": {"template_type": "media", "elements": [element]}}
        return self.send_message(user_id, text=caption, attachment=attachment)

    def send_request_user_info(self, user_id: str, *, title: str, subtitle: str, image_url: str) -> dict[str, Any]:
        """The request-user-info card (one element); the answer comes later as ``user_submit_info``."""
        element = {"title": title[:100], "subtitle": subtitle[:500], "image_url": image_url}
        attachment = {"type": "template", "payload": {"template_type": "request_user_info", "elements": [element]}}
        return self.send_message(user_id, attachment=attachment)

    def send_anonymous(self, anonymous_id: str, conversation_id: str, text: str) -> dict[str, Any]:
        """Answer a user who wrote without following the OA (``anonymous_send_*``): documented on
        ``/v2.0/oa/message`` only; if Zalo answers -240 (v2 shut down), the same body on ``/v3.0/oa/message/cs``."""
        body = {"recipient": {"anonymous_id": str(anonymous_id), "conversation_id": str(conversation_id)},
                "message": {"text": text[:TEXT_LIMIT]}}
        try:
            return self._call("POST", "/v2.0/oa/message", json_body=body).get("data") or {}
        except ZaloError as exc:
            if exc.code != V2_SHUT_DOWN:
                raise
        return self._call("POST", "/v3.0/oa/message/cs", json_body=body).get("data") or {}

    def send_zns(self, phone: str, *, template_id: str, template_data: dict[str, str],
                 tracking_id: str | None = None) -> dict[str, Any]:
        """``POST {zns_base}/message/template``: a ZNS template message to ``phone`` (``84…``), with the
        OA's access token. Returns the ``data`` object (``msg_id``, ``sent_time``, ``quota``)."""
        body: dict[str, Any] = {"phone": phone, "template_id": str(template_id), "template_data": template_data}
        if tracking_id:
            body["tracking_id"] = tracking_id[:48]
        return self._call("POST", "/message/template", json_body=body, zns=True).get("data") or {}

    # ------------------------------------------------------------------ uploads and users

    def upload_file(self, data: bytes, *, file_type: str = "image", file_name: str = "image.jpg",
                    mime_type: str = "image/jpeg") -> str:
        """``POST /v2.0/oa/upload/{image|file|gif}`` (multipart ``file``): the attachment id / token."""
        kind = file_type if file_type in ("image", "file", "gif") else "file"
        body = self._call("POST", f"/v2.0/oa/upload/{kind}", files={"file": (file_name, data, mime_type)})
        result = body.get("data") or {}
        value = result.get("attachment_id") or result.get("token")
        if not value:
            raise ZaloError(-201, "upload answered without an attachment id")
        return str(value)

    def upload_image(self, data: bytes, *, file_name: str = "image.jpg", mime_type: str = "image/jpeg") -> str:
        return self.upload_file(data, file_type="image", file_name=file_name, mime_type=mime_type)

    def get_user_detail(self, user_id: str) -> dict[str, Any]:
        """``GET /v3.0/oa/user/detail?data={"user_id": ...}``: the profile ``data`` object."""
        params = {"data": json.dumps({"user_id": str(user_id)}, separators=(",", ":"))}
        return self._call("GET", "/v3.0/oa/user/detail", params=params).get("data") or {}

    # ------------------------------------------------------------------ OAuth

    def refresh_access_token(self, refresh_token: str) -> TokenPair:
        """Spend the single-use ``refresh_token``: ``POST /v4/oa/access_token`` → a new pair.

        The caller must persist the new pair before using it (tokens.py does, under a lock).
        """
        url = f"{self.oauth_base}/v4/oa/access_token"
        form = {"refresh_token": refresh_token, "app_id": self.app_id, "grant_type": "refresh_token"}
        try:
            resp = self.http.post(url, data=form, headers={"secret_key": self.app_secret}, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ZaloUnavailable(-1, f"oauth unreachable: {type(exc).__name__}") from exc
        if resp.status_code >= 500:
            raise ZaloUnavailable(-1, f"oauth HTTP {resp.status_code}", http_status=resp.status_code)
        try:
            body = resp.json()
        except ValueError as exc:
            raise ZaloUnavailable(-1, "oauth answered non-JSON", http_status=resp.status_code) from exc
        access = body.get("access_token") if isinstance(body, dict) else None
        if not access:
            code = _int(body.get("error"), -14000) if isinstance(body, dict) else -14000
            reason = (body.get("error_reason") or body.get("message") or body.get("error_name") or "refused"
                      ) if isinstance(body, dict) else "refused"
            raise ZaloRefreshError(code, str(reason)[:300], http_status=resp.status_code)
        seconds = _int(body.get("expires_in"), 90000)
        return TokenPair(access_token=str(access), refresh_token=str(body.get("refresh_token") or refresh_token),
                         expires_at=utcnow() + timedelta(seconds=seconds))

    # ------------------------------------------------------------------ plumbing

    def _call(self, method: str, path: str, *, json_body: Any = None, params: dict[str, str] | None = None,
              files: dict[str, Any] | None = None, zns: bool = False) -> dict[str, Any]:
        refreshed = False
        limited = 0
        while True:
            token = self.tokens.access_token()
            try:
                return self._once(method, path, token, json_body=json_body, params=params, files=files, zns=zns)
            except ZaloAuthError:
                if refreshed:
                    raise
                refreshed = True
                log.info("zalo: access token rejected on %s, refreshing", path)
                self.tokens.refresh(stale=token)
            except ZaloRateLimited:
                if limited >= self.rate_limit_retries:
                    raise
                delay = self.backoff_s * (2 ** limited)
                limited += 1
                log.warning("zalo: rate limited on %s, retrying in %.2fs", path, delay)
                self.sleep(delay)

    def _once(self, method: str, path: str, token: str, *, json_body: Any, params: dict[str, str] | None,
              files: dict[str, Any] | None, zns: bool) -> dict[str, Any]:
        headers = {"access_token": token}
        base = self.zns_base if zns else self.api_base
        try:
            resp = self.http.request(method, base + path, json=json_body, params=params, files=files,
                                     headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ZaloUnavailable(-1, f"{path}: {type(exc).__name__}") from exc
        if resp.status_code >= 500 or resp.status_code == 429:
            raise ZaloUnavailable(-1, f"{path}: HTTP {resp.status_code}", http_status=resp.status_code)
        try:
            body = resp.json()
        except ValueError as exc:
            raise ZaloUnavailable(-1, f"{path}: non-JSON answer (HTTP {resp.status_code})",
                                  http_status=resp.status_code) from exc
        if not isinstance(body, dict):
            raise ZaloUnavailable(-1, f"{path}: unexpected answer", http_status=resp.status_code)
        code = _int(body.get("error"), 0)
        if code != 0 or resp.status_code >= 400:
            typed = zns_error_for if zns else error_for
            raise typed(code or -resp.status_code, str(body.get("message") or "")[:300], http_status=resp.status_code)
        return body


def _int(value: Any, default: int) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def from_settings(settings: Any, db: Any, **kwargs: Any) -> Client:
    """A client whose tokens live in the database (bootstrapped from ZALO_ACCESS/REFRESH_TOKEN)."""
    from bots.zalo.tokens import TokenStore

    client = Client(app_id=settings.zalo_app_id, app_secret=settings.zalo_app_secret,
                    api_base=settings.zalo_api_base or DEFAULT_API_BASE,
                    oauth_base=settings.zalo_oauth_base or DEFAULT_OAUTH_BASE,
                    zns_base=settings.zalo_zns_base or DEFAULT_ZNS_BASE, **kwargs)
    client.tokens = TokenStore(db, refresher=client.refresh_access_token,
                               bootstrap_access=settings.zalo_access_token,
                               bootstrap_refresh=settings.zalo_refresh_token)
    return client
