"""Resident-side shapes: push devices and the notification feed."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from backend.schemas.common import AwareDatetime, Schema


class DeviceCreate(Schema):
    """An FCM registration ``token`` or a Firebase installation id (``kind="fid"``)."""

    token: str = Field(min_length=8, max_length=4096, pattern=r"^[\x21-\x7e]+$")
    kind: Literal["token", "fid"] = "token"
    platform: Literal["android", "ios", "web"] = "android"
    locale: Literal["vi", "en"] = "vi"


class DevicePublic(Schema):
    id: int
    kind: str
    platform: str
    locale: str
    is_active: bool
    created_at: AwareDatetime


class NotificationPublic(Schema):
    id: int
    report_code: str | None = None
    template: str
    title: str
    body: str
    created_at: AwareDatetime
    read_at: AwareDatetime | None = None


class Me(Schema):
    id: int
    is_anonymous_account: bool
    locale: str
