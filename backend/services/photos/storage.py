"""Photo storage behind one small interface: a local directory by default, S3-compatible later.

Keys are relative, slash-separated names chosen by the caller (``orig/2026/11/<random>``,
``p/<content-hash>.jpg``). Each key is stored either **public** (served by ``/media/<key>`` with
long cache headers) or **private** (never served by that route: originals). ``url(key)`` answers
``None`` for private or unknown keys, so a caller cannot leak an original by mistake.

An S3-compatible backend implements the same :class:`Storage` protocol (public objects under a
public prefix/bucket, private ones elsewhere) and is chosen in :func:`get_storage`; callers never
change.
"""

from __future__ import annotations

import io
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable

from backend.errors import NotFound, Unavailable

log = logging.getLogger(__name__)

_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")

CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
                 ".heic": "image/heic", ".heif": "image/heif"}


@runtime_checkable
class Storage(Protocol):
    """Where photo bytes live. Every method takes a key validated by :func:`check_key`."""

    def put(self, key: str, data: bytes, *, content_type: str, public: bool) -> None: ...

    def get(self, key: str) -> bytes: ...

    def open(self, key: str) -> BinaryIO: ...

    def delete(self, key: str) -> None: ...

    def exists(self, key: str) -> bool: ...

    def is_public(self, key: str) -> bool: ...

    def url(self, key: str) -> str | None: ...


def check_key(key: str) -> str:
    """Reject anything that is not a plain relative key (no ``..``, no absolute path, no backslash)."""
    if not isinstance(key, str) or len(key) > 255 or not _KEY_RE.match(key) or ".." in key:
        raise NotFound("Không tìm thấy tệp.", code="media-not-found")
    return key


def content_type_for(key: str) -> str:
    return CONTENT_TYPES.get(os.path.splitext(key)[1].lower(), "application/octet-stream")


class LocalStorage:
    """A directory: ``<root>/public/<key>`` and ``<root>/private/<key>`` (never served publicly).

    Writes are atomic (temporary file + rename), so a reader never sees half a photo.
    """

    def __init__(self, root: Path | str, base_url: str = "/media") -> None:
        self.root = Path(root)
        self.base_url = base_url.rstrip("/")

    def _file(self, key: str, public: bool) -> Path:
        return self.root / ("public" if public else "private") / check_key(key)

    def path(self, key: str) -> Path | None:
        """The file holding ``key`` (public first), or ``None``."""
        for public in (True, False):
            p = self._file(key, public)
            if p.is_file():
                return p
        return None

    def put(self, key: str, data: bytes, *, content_type: str, public: bool) -> None:
        target = self._file(key, public)
        other = self._file(key, not public)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        except OSError as exc:
            log.error("media storage not writable (%s): %s", target.parent, exc)
            raise Unavailable("Không lưu được ảnh lúc này; vui lòng thử lại sau.", code="unavailable") from exc
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            log.error("media storage write failed (%s): %s", key, exc)
            raise Unavailable("Không lưu được ảnh lúc này; vui lòng thử lại sau.", code="unavailable") from exc
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if other.exists():  # a key lives in exactly one visibility
            other.unlink()
        log.debug("stored %s (%d bytes, %s, public=%s)", key, len(data), content_type, public)

    def open(self, key: str) -> BinaryIO:
        p = self.path(key)
        if p is None:
            raise NotFound("Không tìm thấy tệp.", code="media-not-found")
        return p.open("rb")

    def get(self, key: str) -> bytes:
        with self.open(key) as fh:
            return fh.read()

    def delete(self, key: str) -> None:
        for public in (True, False):
            self._file(key, public).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self.path(key) is not None

    def is_public(self, key: str) -> bool:
        try:
            return self._file(key, True).is_file()
        except NotFound:
            return False

    def url(self, key: str) -> str | None:
        return f"{self.base_url}/{key}" if key and self.is_public(key) else None


class MemoryStorage:
    """In-memory storage with the same behaviour (benchmarks, scripts)."""

    def __init__(self, base_url: str = "/media") -> None:
        self.base_url = base_url.rstrip("/")
        self.objects: dict[str, tuple[bytes, str, bool]] = {}

    def put(self, key: str, data: bytes, *, content_type: str, public: bool) -> None:
        self.objects[check_key(key)] = (bytes(data), content_type, public)

    def get(self, key: str) -> bytes:
        if key not in self.objects:
            raise NotFound("Không tìm thấy tệp.", code="media-not-found")
        return self.objects[key][0]

    def open(self, key: str) -> BinaryIO:
        return io.BytesIO(self.get(key))

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    def exists(self, key: str) -> bool:
        return key in self.objects

    def is_public(self, key: str) -> bool:
        return key in self.objects and self.objects[key][2]

    def url(self, key: str) -> str | None:
        return f"{self.base_url}/{key}" if self.is_public(key) else None


def get_storage(settings: Any) -> Storage:
    """The storage configured by ``settings`` (``media_dir``; S3 will be chosen here too)."""
    return LocalStorage(Path(settings.media_dir), base_url="/media")
