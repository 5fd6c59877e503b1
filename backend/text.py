"""Text helpers for Vietnamese: accent- and case-insensitive folding for matching and search."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")


def fold(text: str | None) -> str:
    """Lower-case, strip diacritics (đ -> d), collapse whitespace: "Tra Cứu" == "tra cuu"."""
    if not text:
        return ""
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    return _SPACES.sub(" ", text).strip().lower()


def nfc(text: str | None) -> str:
    """Normalise to NFC (the form Zalo and browsers count characters in)."""
    return unicodedata.normalize("NFC", text or "")
