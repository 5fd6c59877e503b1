"""Constants and builders shared by the mobile API tests (imported as ``from v1_helpers import ...``)."""

from __future__ import annotations

import io

from PIL import Image

PROJECT = "demo-phananh"
INSIDE = {"lat": 9.603, "lon": 105.975}  # inside the demo city (Sóc Trăng)
OUTSIDE = {"lat": 21.028, "lon": 105.854}  # Hà Nội


def jpeg_bytes(size: tuple[int, int] = (64, 48), color: str = "red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG", quality=80)
    return buf.getvalue()
