"""Photo jobs on the ``media`` queue: download a remote photo, render a pending one. Idempotent.

- A file that is broken or refused ends ``rejected`` with its reason (no retry: it will not heal).
- A transient failure (network, storage) raises so the job is retried; on the last attempt the
  photo ends ``failed`` instead, so nothing stays ``pending`` for ever.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import Session

from backend import queue
from backend.errors import DomainError, Unavailable
from backend.models.photos import Photo, PhotoState
from backend.services import photos
from backend.services.photos import get_storage

log = logging.getLogger(__name__)


def _settings() -> Any:
    return queue.runtime().config["settings"]


def process_photo(session: Session, *, photo_id: int) -> None:
    """Render photo ``photo_id`` (public copy, thumbnails, hashes, EXIF, provenance flags)."""
    photo = session.get(Photo, photo_id)
    if photo is None or photo.state != PhotoState.PENDING:
        return
    try:
        photos.process(session, photo=photo, storage=get_storage(_settings()))
    except Unavailable:  # the media store is briefly unwritable: retry like any transient failure
        if not queue.is_last_attempt():
            raise
        photos.reject(session, photo=photo, error="storage-unavailable", state=PhotoState.FAILED)
    except (DomainError, MemoryError) as exc:  # NotFound original, exhausted memory...
        photos.reject(session, photo=photo, error=exc if isinstance(exc, DomainError) else "out-of-memory",
                      state=PhotoState.FAILED)
    except Exception as exc:
        if not queue.is_last_attempt():
            raise
        log.exception("photo %s failed for good", photo_id)
        photos.reject(session, photo=photo, error=f"{type(exc).__name__}: {exc}", state=PhotoState.FAILED)


def fetch_photo(session: Session, *, photo_id: int, source: str = "open311") -> None:
    """Download the remote original of photo ``photo_id`` under the policy of ``source``, then render it."""
    photo = session.get(Photo, photo_id)
    if photo is None or photo.state != PhotoState.PENDING:
        return
    settings = _settings()
    storage = get_storage(settings)
    if not photo.original_key:
        try:
            got = photos.fetch(photo.source_url or "", policy=photos.policy_for(source, settings))
            photos.store_fetched(session, photo=photo, data=got.data, storage=storage,
                                 max_bytes=settings.max_upload_bytes)
        except Unavailable as exc:
            if not queue.is_last_attempt():
                raise
            photos.reject(session, photo=photo, error=exc, state=PhotoState.FAILED)
            return
        except DomainError as exc:
            photos.reject(session, photo=photo, error=exc)
            return
    process_photo(session, photo_id=photo_id)
