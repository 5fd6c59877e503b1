"""Chat conversations (drafts of reports built message by message) and inbound messages (dedup)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel, UniqueConstraint

from backend.models.base import dt_field, json_field


class Conversation(SQLModel, table=True):
    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "external_user_id", name="uq_conversation"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    external_user_id: str = Field(max_length=128)
    resident_id: int | None = Field(default=None, foreign_key="residents.id")
    state: str = Field(default="idle", max_length=32)
    draft: dict[str, Any] = json_field()
    expires_at: datetime | None = dt_field()
    last_inbound_at: datetime | None = dt_field()
    updated_at: datetime = dt_field(default_now=True)


class InboundMessage(SQLModel, table=True):
    """Every webhook delivery, recorded once: ``(channel, external_id)`` is unique."""

    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_inbound_message"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=255)
    event_name: str = Field(default="", max_length=64)
    external_user_id: str | None = Field(default=None, max_length=128)
    payload: dict[str, Any] = json_field()
    received_at: datetime = dt_field(default_now=True)
    processed_at: datetime | None = dt_field()
    error: str | None = Field(default=None, max_length=1000)


class ChannelToken(SQLModel, table=True):
    """OAuth tokens of a chat channel (Zalo OA: 25 h access token, single-use refresh token)."""

    __tablename__ = "channel_tokens"

    channel: str = Field(primary_key=True, max_length=16)
    access_token: str = Field(default="", max_length=2048)
    refresh_token: str = Field(default="", max_length=2048)
    expires_at: datetime | None = dt_field()
    version: int = 0
    updated_at: datetime = dt_field(default_now=True)
