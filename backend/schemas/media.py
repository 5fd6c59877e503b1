"""Uploaded media (photos) as the app sees them: an id to attach to a report, never a storage key."""

from __future__ import annotations

from pydantic import BaseModel

from backend.schemas.common import AwareDatetime


class MediaPublic(BaseModel):
    id: int
    mime: str
    size_bytes: int
    state: str
    created_at: AwareDatetime


class PhotoView(BaseModel):
    """A processed public photo: stripped copy and thumbnails (URLs), never the private original."""

    id: int
    role: str = "report"
    url: str | None = None
    thumbnails: dict[str, str] = {}
    width: int | None = None
    height: int | None = None
