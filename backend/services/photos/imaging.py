"""Pure Pillow work on photo bytes: sniffing, validation, EXIF reading, rendering, redaction.

No database, no storage: bytes in, bytes and facts out (the photo service orchestrates).

- :func:`probe` validates cheaply *before* any real work: real type from the bytes (never the
  name or header), polyglots, animation, pixel/dimension limits (decompression bombs) and
  truncation (JPEG checked with a 1/8 draft decode, PNG with chunk CRCs, WebP/HEIC decoded).
- :func:`render` does the work: JPEG draft-mode decoding (DCT scaling in libjpeg) and
  reduce-before-resize, auto-orientation, sRGB conversion, a public copy with **no metadata at all**
  and two thumbnails, plus a perceptual hash.
"""

from __future__ import annotations

import io
import logging
import re
import struct
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import imagehash
import numpy as np
from PIL import Image, ImageCms, ImageFilter

from backend.errors import InvalidInput, Unsupported

log = logging.getLogger(__name__)

try:  # HEIC/HEIF from iPhones
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a dependency
    pillow_heif = None

MAX_PIXELS = 40_000_000  # our own limit (a 200 MP sensor photo is refused; 12-50 MP phones pass)
MAX_SIDE = 12_000  # per side: refuses 30000x30000 headers and absurd strips
MIN_SIDE = 16
Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow raises DecompressionBombError above twice this

PUBLIC_MAX = 2048  # public copy: longest side <= 2048 px
PUBLIC_MIN_AFTER_DRAFT = 1536  # JPEG DCT scaling may stop here (e.g. 4032 -> 2016) instead of resampling
THUMB_SIZES = (640, 160)
THUMB_FORMAT = "WEBP"  # bench/photos.py: ~60 % fewer bytes than JPEG q78 at 640 px for ~5 ms (method 2)
PUBLIC_QUALITY = 82
THUMB_QUALITY = 78
THUMB_REDUCING_GAP = 1.0  # box-reduce by the whole integer factor, then a short Lanczos step

MIMES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "HEIF": "image/heic"}
EXT = {"JPEG": "jpg", "WEBP": "webp", "PNG": "png", "HEIF": "heic"}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_ACTIVE = re.compile(rb"(?i)<(?:script|html|\?php|svg|iframe|object|embed)[\s>/]")
VN_TZ = timezone(timedelta(hours=7))


@dataclass(frozen=True)
class Probe:
    """What validation learned from the header: the sniffed type and the stored pixel size."""

    mime: str
    format: str
    width: int
    height: int


@dataclass
class ExifFacts:
    """Private facts from EXIF (never published)."""

    has_exif: bool = False
    lat: float | None = None
    lon: float | None = None
    taken_at: datetime | None = None
    orientation: int = 1


@dataclass
class Rendered:
    """Output of :func:`render`: public copy, thumbnails {size: bytes}, perceptual hash, EXIF facts."""

    public: bytes
    width: int
    height: int
    thumbs: dict[int, bytes] = field(default_factory=dict)
    phash: str = ""
    exif: ExifFacts = field(default_factory=ExifFacts)


# --------------------------------------------------------------------------- sniffing and validation


def sniff(data: bytes) -> str:
    """The Pillow format name from magic bytes; raises Unsupported for anything else."""
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp" and _is_heif(data):
        return "HEIF"
    kind = "GIF" if head[:4] == b"GIF8" else "PDF" if head.startswith(b"%PDF") else None
    what = f" ({kind})" if kind else ""
    raise Unsupported(f"Định dạng tệp không được hỗ trợ{what}. Vui lòng gửi ảnh JPEG, PNG, WebP hoặc HEIC.",
                      code="unsupported-image-type")


def _is_heif(data: bytes) -> bool:
    size = int.from_bytes(data[0:4], "big")
    if size < 16 or size > 4096 or size > len(data):
        return False
    major = data[8:12]
    brands = {data[i:i + 4] for i in range(16, size - 3, 4)} | {major}
    return major not in (b"avif", b"avis") and bool(brands & _HEIF_BRANDS)


def is_polyglot(data: bytes) -> bool:
    """A ZIP/JAR appended to the image (end-of-central-directory that ends the file) or active markup."""
    start = max(0, len(data) - 65_557)
    i = data.rfind(b"PK\x05\x06", start)
    if i >= 0 and i + 22 <= len(data):
        comment_len = int.from_bytes(data[i + 20:i + 22], "little")
        if i + 22 + comment_len == len(data):
            return True
    return bool(_ACTIVE.search(data)) or b"%PDF-" in data[:1024]


def probe(data: bytes, *, max_pixels: int = MAX_PIXELS, max_side: int = MAX_SIDE) -> Probe:
    """Validate ``data`` before any work. Raises Unsupported (type) or InvalidInput (broken, bomb, size)."""
    if not data:
        raise InvalidInput("Tệp ảnh rỗng.", code="empty-image")
    fmt = sniff(data)
    if is_polyglot(data):
        raise Unsupported("Tệp ảnh chứa dữ liệu lạ (tệp ghép). Vui lòng chụp hoặc lưu lại ảnh rồi gửi.",
                          code="polyglot-image")
    with _pillow_errors():
        im = Image.open(io.BytesIO(data), formats=[fmt])
        width, height = im.size
        _check_size(width, height, max_pixels=max_pixels, max_side=max_side)
        if fmt in ("PNG", "WEBP") and getattr(im, "is_animated", False):
            raise Unsupported("Không nhận ảnh động. Vui lòng gửi ảnh chụp.", code="animated-image")
        _check_complete(im, data, fmt)
    return Probe(mime=MIMES[fmt], format=fmt, width=width, height=height)


def _check_size(width: int, height: int, *, max_pixels: int, max_side: int) -> None:
    if width * height > max_pixels or max(width, height) > max_side:
        raise InvalidInput(f"Ảnh quá lớn ({width}×{height} điểm ảnh); tối đa {max_side} điểm ảnh mỗi cạnh và "
                           f"{max_pixels // 1_000_000} triệu điểm ảnh.", code="image-too-large")
    if min(width, height) < MIN_SIDE:
        raise InvalidInput("Ảnh quá nhỏ.", code="image-too-small")


def _check_complete(im: Image.Image, data: bytes, fmt: str) -> None:
    """Detect truncated/corrupt files at a fraction of a full decode where the format allows."""
    if fmt == "JPEG":
        if data.rstrip(b"\x00").endswith(b"\xff\xd9"):
            return  # complete entropy stream; a corrupt one is still caught by the worker's decode
        im.draft("RGB", (max(1, im.size[0] // 8), max(1, im.size[1] // 8)))  # trailer (motion photo...)
        im.load()
    elif fmt == "PNG":
        im.verify()  # every chunk's CRC up to IEND, no inflate of the pixels
    else:
        im.load()


class _pillow_errors:
    """Turn Pillow/decoder failures into a clear InvalidInput (never a 500, never a worker crash)."""

    def __enter__(self) -> None:
        self._warn = warnings.catch_warnings()
        self._warn.__enter__()
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)

    def __exit__(self, exc_type: Any, exc: BaseException | None, _tb: Any) -> bool:
        self._warn.__exit__(None, None, None)
        if exc is None or isinstance(exc, (InvalidInput, Unsupported)):
            return False
        if isinstance(exc, Image.DecompressionBombError):
            raise InvalidInput("Ảnh có số điểm ảnh quá lớn (nghi ngờ tệp phá hoại).", code="image-bomb") from exc
        if isinstance(exc, (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError,
                            struct.error, RuntimeError, ZeroDivisionError)):
            log.info("image rejected: %s: %s", type(exc).__name__, exc)
            raise InvalidInput("Tệp ảnh bị hỏng hoặc không đầy đủ. Vui lòng gửi lại ảnh.",
                               code="corrupt-image") from exc
        return False


# --------------------------------------------------------------------------- EXIF


def read_exif(im: Image.Image) -> ExifFacts:
    """GPS position, capture time and orientation; hostile EXIF yields empty facts, never an error."""
    facts = ExifFacts()
    try:
        exif = im.getexif()
    except Exception:  # noqa: BLE001 - broken EXIF is treated as none
        return facts
    facts.has_exif = len(exif) > 0
    try:
        facts.orientation = int(exif.get(0x0112, 1) or 1)
    except (TypeError, ValueError):
        facts.orientation = 1
    facts.lat, facts.lon = _gps(exif)
    facts.taken_at = _taken_at(exif)
    return facts


def _gps(exif: Image.Exif) -> tuple[float | None, float | None]:
    try:
        gps = exif.get_ifd(0x8825)
        lat = _dms(gps[2], gps.get(1, "N"), "S")
        lon = _dms(gps[4], gps.get(3, "E"), "W")
    except Exception:  # noqa: BLE001 - missing or malformed GPS
        return None, None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None, None
    return round(lat, 7), round(lon, 7)


def _dms(value: Any, ref: Any, negative: str) -> float:
    d, m, s = (float(x) for x in value)
    ref = ref.decode() if isinstance(ref, bytes) else str(ref)
    deg = d + m / 60 + s / 3600
    return -deg if ref.strip("\x00 ").upper() == negative else deg


def _taken_at(exif: Image.Exif) -> datetime | None:
    try:
        sub = exif.get_ifd(0x8769)
        raw = sub.get(0x9003) or exif.get(0x0132)
        if not raw:
            return None
        taken = datetime.strptime(str(raw).strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
        offset = str(sub.get(0x9011) or "").strip("\x00 ")
        tz = VN_TZ  # phones rarely write the zone; the city is in Asia/Ho_Chi_Minh
        if re.fullmatch(r"[+-]\d\d:\d\d", offset):
            sign = -1 if offset[0] == "-" else 1
            tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
        return taken.replace(tzinfo=tz).astimezone(UTC)
    except Exception:  # noqa: BLE001 - malformed date
        return None


# --------------------------------------------------------------------------- rendering


def draft_scale(width: int, height: int) -> int:
    """Largest JPEG DCT scale (8, 4, 2) whose result still has a long side >= PUBLIC_MIN_AFTER_DRAFT."""
    long_side = max(width, height)
    for s in (8, 4, 2):
        if long_side // s >= PUBLIC_MIN_AFTER_DRAFT:
            return s
    return 1


def render(data: bytes, *, max_pixels: int = MAX_PIXELS, max_side: int = MAX_SIDE) -> Rendered:
    """Decode once (draft-mode for JPEG), orient, and produce the public copy, thumbnails and phash."""
    with _pillow_errors():
        im = Image.open(io.BytesIO(data), formats=list(MIMES))
        _check_size(*im.size, max_pixels=max_pixels, max_side=max_side)
        fmt = im.format
        if fmt == "JPEG":
            s = draft_scale(*im.size)
            if s > 1:
                im.draft("RGB" if im.mode == "RGB" else None, (im.size[0] // s, im.size[1] // s))
        im.load()  # before EXIF: PNG's getexif() would load (and swallow a decode error) itself
        facts = read_exif(im)
        icc = im.info.get("icc_profile")
        im = _fit(_flatten(im), PUBLIC_MAX)
        im = _orient(im, facts.orientation if fmt != "HEIF" else 1)
        im = _to_srgb(im, icc)
        public = save_clean(im, "JPEG", PUBLIC_QUALITY)
        out = Rendered(public=public, width=im.size[0], height=im.size[1], exif=facts)
        out.thumbs, smallest = _thumbs(im)
        out.phash = str(imagehash.phash(smallest))
    return out


def _fit(im: Image.Image, limit: int, gap: float = 2.0) -> Image.Image:
    w, h = im.size
    if max(w, h) <= limit:
        return im
    ratio = limit / max(w, h)
    size = (max(1, round(w * ratio)), max(1, round(h * ratio)))
    return im.resize(size, Image.Resampling.LANCZOS, reducing_gap=gap)  # reduce() first, then resample


def _orient(im: Image.Image, orientation: int) -> Image.Image:
    method = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}.get(orientation)
    return im.transpose(method) if method is not None else im


def _flatten(im: Image.Image) -> Image.Image:
    """Only RGB, L or CMYK go on: alpha flattened on white, palettes expanded, 16-bit scaled to 8."""
    if im.mode in ("RGB", "L", "CMYK"):
        return im
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        bg = Image.new("RGB", rgba.size, (255, 255, 255))
        bg.paste(rgba, mask=rgba.getchannel("A"))
        return bg
    if im.mode.startswith("I") or im.mode == "F":
        arr = np.asarray(im, dtype=np.float32)
        scale = 255.0 / 65535.0 if float(arr.max(initial=0)) > 255 else 1.0
        return Image.fromarray((arr * scale).clip(0, 255).astype(np.uint8), "L")
    return im.convert("RGB")


def _to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """RGB, colours converted to sRGB when a profile is embedded (the profile itself is dropped)."""
    if icc and im.mode in ("RGB", "CMYK"):
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(im, src, _SRGB, outputMode="RGB")
        except Exception:  # noqa: BLE001 - a broken profile: fall back to a plain conversion
            log.info("ignoring unusable ICC profile")
    return im if im.mode == "RGB" else im.convert("RGB")


_SRGB = ImageCms.createProfile("sRGB")


def _thumbs(im: Image.Image) -> tuple[dict[int, bytes], Image.Image]:
    thumbs: dict[int, bytes] = {}
    src = im
    for size in THUMB_SIZES:  # largest first: each thumbnail is made from the previous, smaller image
        src = _fit(src, size, gap=THUMB_REDUCING_GAP)
        thumbs[size] = save_clean(src, THUMB_FORMAT, THUMB_QUALITY)
    return thumbs, src


def save_clean(im: Image.Image, fmt: str, quality: int) -> bytes:
    """Encode with no EXIF, XMP, ICC, comment or text chunks: the pixels only."""
    clean = im if not im.info else im.copy()
    clean.info = {}
    buf = io.BytesIO()
    if fmt == "JPEG":
        clean.save(buf, "JPEG", quality=quality, exif=b"", comment=b"", optimize=False, progressive=False)
    elif fmt == "WEBP":
        clean.save(buf, "WEBP", quality=quality, method=2, exif=b"", xmp=b"", icc_profile=b"")
    else:
        clean.save(buf, fmt)
    return buf.getvalue()


# --------------------------------------------------------------------------- redaction


def blur_rect(public: bytes, rect: tuple[int, int, int, int]) -> tuple[bytes, Image.Image]:
    """Pixelate then blur ``rect`` = (x, y, width, height) of the public copy; returns new bytes and image."""
    return blur_rects(public, [rect])


def blur_rects(public: bytes, rects: Sequence[tuple[int, int, int, int]]) -> tuple[bytes, Image.Image]:
    """Pixelate then blur every (x, y, width, height) of ``rects`` on the public copy, encoded once.

    Raises InvalidInput (nothing is written) when any rectangle is empty or lies outside the image.
    """
    with _pillow_errors():
        im = Image.open(io.BytesIO(public))
        im.load()
        im = im.convert("RGB")
    boxes = [_box(im.size, rect) for rect in rects]
    if not boxes:
        raise InvalidInput("Vùng cần che không hợp lệ.", code="invalid-rect")
    for box in boxes:
        region = im.crop(box)
        block = max(6, min(region.size) // 6)
        small = region.resize((max(1, region.size[0] // block), max(1, region.size[1] // block)),
                              Image.Resampling.BILINEAR)
        region = small.resize(region.size, Image.Resampling.NEAREST).filter(ImageFilter.GaussianBlur(block / 2))
        im.paste(region, box[:2])
    return save_clean(im, "JPEG", PUBLIC_QUALITY), im


def _box(size: tuple[int, int], rect: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """``rect`` clipped to the image as a Pillow box; InvalidInput when less than 2×2 pixels remain."""
    x, y, w, h = (int(v) for v in rect)
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(size[0], x + w), min(size[1], y + h)
    if w <= 0 or h <= 0 or x1 - x0 < 2 or y1 - y0 < 2:
        raise InvalidInput("Vùng cần che không hợp lệ hoặc nằm ngoài ảnh.", code="invalid-rect")
    return x0, y0, x1, y1


def thumbnails_of(im: Image.Image) -> dict[int, bytes]:
    return _thumbs(im)[0]


def image_ext(fmt: str) -> str:
    return EXT.get(fmt, "bin")
