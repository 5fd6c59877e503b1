"""FCM push through firebase-admin (the real HTTP path), with ``FCM_ENDPOINT`` for tests and proxies.

``send(settings, deliveries)`` sends one message per delivery with ``messaging.send_each`` and
returns one :class:`PushResult` per delivery: ``sent``, ``unregistered`` (the device must be
deactivated), ``retry`` (5xx, quota, network: try again later) or ``failed`` (a bad payload).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import google.auth.exceptions
from firebase_admin import exceptions, messaging

from backend.config import Settings
from backend.models import Delivery
from backend.services.residents import firebase

log = logging.getLogger(__name__)

RETRYABLE = (exceptions.UnavailableError, exceptions.InternalError, exceptions.DeadlineExceededError,
             exceptions.UnknownError, messaging.QuotaExceededError)


@dataclass(frozen=True)
class PushResult:
    outcome: str  # sent | unregistered | retry | failed
    detail: str = ""


def _service(settings: Settings) -> Any:
    app = firebase.get_app(settings)
    service = messaging._get_messaging_service(app)
    if settings.fcm_endpoint:
        service._fcm_url = settings.fcm_endpoint.format(settings.firebase_project_id)
    return service, app


def message_for(delivery: Delivery) -> messaging.Message:
    """Notification + data payload with the report code and a deep link; collapses per event."""
    kind, _, token = (delivery.target or ":").partition(":")
    payload = delivery.payload or {}
    data = {k: str(v) for k, v in {"code": payload.get("code"), "link": payload.get("link"),
                                    "state": payload.get("state"), "template": delivery.template}.items() if v}
    collapse = delivery.dedupe_key[:64]
    target = {"fid": token} if kind == "fid" else {"token": token}
    return messaging.Message(
        notification=messaging.Notification(title=delivery.title, body=delivery.body[:1000],
                                            image=payload.get("photo_url") or None),
        data=data,
        android=messaging.AndroidConfig(priority="high", collapse_key=collapse,
                                        notification=messaging.AndroidNotification(channel_id="reports")),
        apns=messaging.APNSConfig(headers={"apns-collapse-id": collapse}),
        **target,
    )


def send(settings: Settings, deliveries: list[Delivery]) -> list[PushResult]:
    """Send each delivery once; never raises for FCM or OAuth failures (they become results)."""
    if not deliveries:
        return []
    _, app = _service(settings)
    try:
        batch = messaging.send_each([message_for(d) for d in deliveries], app=app)
    except (exceptions.FirebaseError, google.auth.exceptions.GoogleAuthError) as exc:
        log.warning("FCM batch failed: %s", exc)
        return [PushResult("retry", f"{type(exc).__name__}: {exc}")] * len(deliveries)
    return [_result(r) for r in batch.responses]


def _result(response: Any) -> PushResult:
    if response.success:
        return PushResult("sent", response.message_id or "")
    exc = response.exception
    detail = f"{type(exc).__name__}: {exc}"[:900]
    if isinstance(exc, messaging.UnregisteredError | messaging.SenderIdMismatchError):
        return PushResult("unregistered", detail)
    if isinstance(exc, RETRYABLE):
        return PushResult("retry", detail)
    return PushResult("failed", detail)
