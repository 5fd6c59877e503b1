"""Public report codes: ``PA-`` + 6 characters that humans can read aloud and type back.

The alphabet leaves out every character that is easily confused with another one
(``0``/``O``, ``1``/``I``/``L``) and ``U`` (``U``/``V`` in handwriting): 30 symbols, so there are
30**6 ≈ 729 million codes. Codes are drawn with :mod:`secrets`. :func:`insert_with_code` (intake)
lets the UNIQUE index on ``reports.code`` do the check: it inserts the report inside a SAVEPOINT and,
when the code is taken (by a committed report or by a concurrent intake that drew the same one),
rolls back to the savepoint and tries a new code. :func:`new_code` checks against the table first.

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

from sqlalchemy.exc import IntegrityError
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


def insert_with_code(session: Session, report: Report, *, prepare: Callable[[Report], None] | None = None,
                     draw: Callable[[], str] = random_code) -> Report:
    """Give the new ``report`` a free code and INSERT it (flushed): SAVEPOINT, INSERT, RELEASE.

    ``prepare(report)`` runs after each draw (fields derived from the code, e.g. the search text).
    Anything else pending is flushed first, so a rolled-back attempt loses nothing but the report
    row. Raises RuntimeError after ``MAX_ATTEMPTS`` collisions (never in practice); any other
    integrity error propagates.
    """
    session.flush()
    for attempt in range(MAX_ATTEMPTS):
        report.code = draw()
        if prepare is not None:
            prepare(report)
        try:
            with session.begin_nested():
                session.add(report)
                session.flush()
            return report
        except IntegrityError as exc:
            if not _is_code_clash(exc):
                raise
            log.warning("public code collision on attempt %d: %s", attempt + 1, report.code)
    raise RuntimeError("could not find a free public code")


def _is_code_clash(exc: IntegrityError) -> bool:
    diag = getattr(exc.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name is not None:
        return name == "ix_reports_code"
    return "reports.code" in str(exc.orig)   # SQLite: "UNIQUE constraint failed: reports.code"


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
