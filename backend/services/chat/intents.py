"""Channel-agnostic chat messages and the small text rules of the dialogue (no database here).

``Incoming`` is what a chat channel (``bots/zalo``) parses a platform event into; ``Reply`` is what
``services/chat/conversations.py`` answers with and the channel renders. Matching of the resident's words
is accent- and case-insensitive ("HUY", "hủy", "Huỷ" are the same command) through ``text.fold``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from backend.services.reports.codes import normalize_code
from backend.text import fold

CODE_RE = re.compile(r"(?<![0-9A-Z])PA[\s\-‐‑‒–—―_.:#]*([0-9A-Z]{6})(?![0-9A-Z])")


@dataclass
class Incoming:
    """One message from a resident on a chat channel.

    ``kind``: text | image | location | follow | shared_info (the resident shared their details through
    the channel's own form; ``phone`` is what they shared, maybe nothing) | other. ``message_id`` is
    unique per channel; ``at`` is when the resident acted (the channel may deliver it late).
    """

    channel: str
    user_id: str
    message_id: str
    kind: str
    text: str | None = None
    image_urls: list[str] = field(default_factory=list)
    lat: float | None = None
    lon: float | None = None
    at: datetime | None = None
    phone: str | None = None


@dataclass
class Reply:
    """One message to send back; ``data`` carries facts for the channel and the delivery row
    (``report_code``, ``action``: created | cancelled | commented | emergency)."""

    text: str
    data: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- words

YES = frozenset({"co", "ok", "oke", "okay", "dong y", "yes", "y", "xac nhan", "gui", "dung", "u", "uh", "vang",
                 "co gui", "dong y gui", "ok gui"})
NO_SKIP = frozenset({"bo qua", "khong", "ko", "k", "skip", "khong co", "bo"})
CANCEL = frozenset({"huy", "huy bo", "cancel", "thoi", "huy phan anh", "dung lai"})
MINE = frozenset({"cua toi", "phan anh cua toi", "danh sach", "xem phan anh cua toi", "cua minh"})
HELP = frozenset({"help", "tro giup", "huong dan", "menu", "?", "xin chao", "chao", "hello", "hi", "alo",
                  "bat dau", "start"})
START = ("phan anh", "bao cao", "gui phan anh", "tao phan anh", "phan anh moi", "bao")
LOOKUP = ("tra cuu", "tracuu", "kiem tra", "xem")
WITHDRAW_PHONE = frozenset({"xoa so dien thoai", "huy so dien thoai", "xoa sdt", "huy sdt", "xoa so",
                            "khong nhan zns", "thoi nhan zns", "khong nhan thong bao"})

_PUNCT = re.compile(r"[^\w\s\-]", re.UNICODE)


def words(text: str | None) -> str:
    """Folded text without punctuation: "Có!" -> "co", "ĐỒNG Ý." -> "dong y"."""
    return " ".join(_PUNCT.sub(" ", fold(text)).split())


def is_yes(text: str | None) -> bool:
    return words(text) in YES


def is_skip(text: str | None) -> bool:
    return words(text) in NO_SKIP


def is_cancel(text: str | None) -> bool:
    return words(text) in CANCEL


def is_mine(text: str | None) -> bool:
    return words(text) in MINE


def is_withdraw_phone(text: str | None) -> bool:
    """ "Xóa số điện thoại", "hủy SĐT", "không nhận ZNS": the resident takes back their consent."""
    return words(text) in WITHDRAW_PHONE


def is_help(text: str | None) -> bool:
    return words(text) in HELP


def start_remainder(text: str | None) -> str | None:
    """If ``text`` starts a report ("phản ánh: ổ gà ..."), the rest of it (maybe ""); else None."""
    raw = (text or "").strip()
    folded = fold(raw)
    for trigger in sorted(START, key=len, reverse=True):
        if folded == trigger or folded.startswith(trigger + " ") or folded.startswith(trigger + ":"):
            if trigger == "bao" and folded != "bao":
                continue
            rest = _cut_prefix(raw, len(trigger.split()))
            return rest.strip(" :,.-\n\t")
    return None


def _cut_prefix(raw: str, n_words: int) -> str:
    """Drop the first ``n_words`` words of ``raw`` (keeping the resident's own accents in the rest)."""
    parts = re.split(r"(\s+|:)", raw)
    seen = 0
    for idx, part in enumerate(parts):
        if part.strip() and part != ":":
            seen += 1
            if seen == n_words:
                return "".join(parts[idx + 1:])
    return ""


def find_code(text: str | None) -> str | None:
    """The first report code in ``text`` as ``PA-XXXXXX``, else None. A bare 6-character code counts
    when it is the whole message and holds a digit ("7k3m9q")."""
    upper = unicodedata.normalize("NFKC", fold(text)).upper()
    for match in CODE_RE.finditer(upper):
        code = normalize_code(match.group(1))
        if code:
            return code
    bare = upper.strip()
    if len(bare) == 6 and any(ch.isdigit() for ch in bare):
        return normalize_code(bare)
    return None


def lookup_request(text: str | None) -> tuple[bool, str | None]:
    """``(is_lookup, code)``: "tra cứu PA-7K3M9Q" -> (True, code); "PA-7K3M9Q" alone -> (True, code);
    "tra cứu" without a code -> (True, None)."""
    w = words(text)
    code = find_code(text)
    for verb in LOOKUP:
        if w == verb or w.startswith(verb + " "):
            if verb == "xem" and not code:
                return False, None
            return True, code
    if code and _only_code(w):
        return True, code
    return False, None


def _only_code(w: str) -> bool:
    compact = w.replace(" ", "").replace("-", "")
    return bool(normalize_code(compact)) and (compact.startswith("pa") or len(compact) == 6)


def choice_number(text: str | None) -> int | None:
    """ "2", "số 2", "2." -> 2; else None."""
    w = words(text)
    match = re.fullmatch(r"(?:so\s*)?(\d{1,3})", w)
    return int(match.group(1)) if match else None
