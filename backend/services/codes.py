"""Public report codes: ``PA-`` + 6 characters that humans can read aloud and type back.

The alphabet leaves out every character that is easily confused with another one
(``0``/``O``, ``1``/``I``/``L``) and ``U`` (``U``/``V`` in handwriting): 30 symbols, so there are
30**6 ≈ 729 million codes. Codes are drawn with :mod:`secrets` and checked against the table;
the UNIQUE constraint on ``reports.code`` remains the final guard.

:func:`normalize_code` turns whatever a resident typed ("pa 7k3m9q", "PA7K3M9Q", "PA–7K3M9Q",
"7k3m9q", full-width digits) into the canonical ``PA-7K3M9Q`` or ``None``. Because *both* members
of each confusable pair are excluded, a typed ``O``/``0``/``I``/``1``/``L``/``U`` cannot be mapped
back to a single valid symbol: such input is simply not a code (``None``).
"""

from __future__ import annotations

import logging
import re
import secrets
import unicodedata
from collections.abc import Callable

from sqlmodel import Session, select

from backend.models.reports import Report

log = logging.getLogger(__name__)

PREFIX = "PA-"
ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 6
MAX_ATTEMPTS = 20

_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―_.:/#]+")
_BODY = re.compile(f"^[{ALPHABET}]{{{LENGTH}}}$")


def random_code() -> str:
    """One random code (not checked against the database)."""
    return PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def new_code(session: Session, *, draw: Callable[[], str] = random_code) -> str:
    """A code no report uses yet (``draw`` makes candidates; tests pass a deterministic one).

    Raises RuntimeError after ``MAX_ATTEMPTS`` collisions (never in practice).
    """
    for attempt in range(MAX_ATTEMPTS):
        code = draw()
        taken = session.exec(select(Report.id).where(Report.code == code)).first()
        if taken is None:
            return code
        log.warning("public code collision on attempt %d: %s", attempt + 1, code)
    raise RuntimeError("could not find a free public code")


def normalize_code(text: str | None) -> str | None:
    """Canonical ``PA-XXXXXX`` for anything a human may type, or ``None`` if it is not a code."""
    if not text or not isinstance(text, str) or len(text) > 40:
        return None
    compact = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text)).upper()
    if compact.startswith("PA") and len(compact) == LENGTH + 2:
        compact = compact[2:]
    if not _BODY.match(compact):
        return None
    return PREFIX + compact


_IN_TEXT = re.compile(r"(?<![A-Za-z0-9])PA\s*[-‐‑‒–—―_.:/#]?\s*([A-Za-z0-9]{6})(?![A-Za-z0-9])", re.IGNORECASE)


def find_code(text: str | None) -> str | None:
    """The first code mentioned in free text ("tra cứu pa 7k3m9q giúp tôi"), canonical, or None."""
    if not text or not isinstance(text, str):
        return None
    for match in _IN_TEXT.finditer(unicodedata.normalize("NFKC", text[:2000])):
        code = normalize_code(match.group(1))
        if code:
            return code
    return None


def is_code(text: str | None) -> bool:
    """True when ``text`` is already a canonical code."""
    return bool(text) and normalize_code(text) == text
