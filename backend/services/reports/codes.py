"""Public report codes: ``PA-`` + 6 characters that humans can read aloud and type back.

The alphabet leaves out every character that is easily confused with another one
(``0``/``O``, ``1``/``I``/``L``) and ``U`` (``U``/``V`` in handwriting): 30 symbols, so there are
30**6 ≈ 729 million codes. Codes are drawn with :mod:`secrets`. :func:`insert_with_code` (intake)
lets the UNIQUE index on ``reports.code`` do the check: ``INSERT … ON CONFLICT (code) DO NOTHING
RETURNING id`` inserts nothing when the code is taken (by a committed report or by a concurrent intake
that drew the same one, once it commits), and a new code is drawn — no savepoint. :func:`new_code`
checks against the table first.

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
from typing import Any

from sqlalchemy import bindparam, delete, true
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, select

from backend.models.reports import Report
from backend.statements import DriverStatement

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
    """Give the new ``report`` a free code and INSERT it: ``INSERT … ON CONFLICT (code) DO NOTHING
    RETURNING id``, one statement per draw (no savepoint); anything else pending is flushed first.

    ``prepare(report)`` runs after each draw (fields derived from the code, e.g. the search text). The
    row is written by a Core statement from the object's column values; the object then joins the
    session as persistent (``report.id`` set, no history), so later changes are ordinary UPDATEs.
    Raises RuntimeError after ``MAX_ATTEMPTS`` collisions (never in practice); any other integrity error
    (another unique index) propagates.
    """
    _insert(session, report, prepare, draw, lambda: (session.execute(_insert_statement(session),
                                                                      _row(report)).scalar(), None))
    return report


def insert_with_code_then(session: Session, report: Report, then: Callable[[Any], Any], params: dict[str, Any], *,
                          prepare: Callable[[Report], None] | None = None,
                          draw: Callable[[], str] = random_code) -> list[tuple[Any, ...]]:
    """PostgreSQL: :func:`insert_with_code` and, in the same statement, ``then(new_id)`` — a DML statement
    with RETURNING built from the new row's id column (``then`` is called once; its statement is kept), run
    only when the row was inserted (a data-modifying CTE). Returns its rows (each ``RETURNING`` row as a
    tuple), an empty list when it returned none. ``params``: its parameters."""
    stmt = _COMBINED.get(then)
    if stmt is None:
        table = Report.__table__  # type: ignore[attr-defined]
        new = (postgresql.insert(table).values({key: bindparam(f"r_{key}", type_=table.c[key].type)
                                                for key, _ in _COLUMNS})
               .on_conflict_do_nothing(index_elements=["code"]).returning(table.c.id).cte("new_report"))
        after = then(new.c.id).cte("then_rows")
        stmt = _COMBINED[then] = DriverStatement(
            sa_select(new.c.id, *after.c).select_from(new.outerjoin(after, true())))

    def execute() -> tuple[Any, Any]:
        values = {f"r_{key}": report.__dict__.get(key) for key, _ in _COLUMNS}
        rows = stmt.rows(session, {**values, **params})
        if not rows:
            return None, None
        return rows[0][0], [r[1:] for r in rows if r[1] is not None]

    return _insert(session, report, prepare, draw, execute)


_COMBINED: dict[Any, Any] = {}


def _insert(session: Session, report: Report, prepare: Callable[[Report], None] | None, draw: Callable[[], str],
            execute: Callable[[], tuple[Any, Any]]) -> Any:
    session.flush()  # what is pending goes first (no SQL when nothing is)
    for attempt in range(MAX_ATTEMPTS):
        report.code = draw()
        if prepare is not None:
            prepare(report)
        new_id, extra = execute()
        if new_id is not None:
            report.id = int(new_id)
            make_transient_to_detached(report)
            _forget_stale(session, report)
            session.add(report)
            return extra
        log.warning("public code collision on attempt %d: %s", attempt + 1, report.code)
    raise RuntimeError("could not find a free public code")


def withdraw(session: Session, report: Report) -> None:
    """Undo :func:`insert_with_code` for a report nothing else refers to yet (intake refused its photos
    after inserting it): its row is deleted and the object leaves the session."""
    session.execute(_DELETE, {"report_id": report.id})
    session.expunge(report)


_DELETE = delete(Report.__table__).where(Report.__table__.c.id == bindparam("report_id"))  # type: ignore[attr-defined]


def _forget_stale(session: Session, report: Report) -> None:
    """Drop an object the session still maps to the new row's id: one left from a rolled-back insert whose
    id the database gave out again (SQLite reuses rowids). The ORM expunges the objects it inserted itself on
    rollback, but not one attached after a Core INSERT, so a stale twin would refuse ``session.add``."""
    stale = session.identity_map.get(identity_key(Report, report.id))
    if stale is not None and stale is not report:
        session.expunge(stale)


_INSERTS: dict[str, Any] = {}


def _insert_statement(session: Session) -> Any:
    """``INSERT INTO reports … ON CONFLICT (code) DO NOTHING RETURNING id``, built once per dialect; the
    values are execution parameters, so the compiled form is reused (one per set of columns given)."""
    name = session.get_bind().dialect.name
    stmt = _INSERTS.get(name)
    if stmt is None:
        table = Report.__table__  # type: ignore[attr-defined]
        dialect_insert = postgresql.insert if name == "postgresql" else sqlite.insert
        stmt = _INSERTS[name] = (dialect_insert(table).on_conflict_do_nothing(index_elements=["code"])
                                 .returning(table.c.id))
    return stmt


#: (column, left out when None: the column has a default), once
_COLUMNS = tuple((c.key, c.server_default is not None or c.default is not None)
                 for c in Report.__table__.columns if c.key != "id")  # type: ignore[attr-defined]


def _row(report: Report) -> dict[str, Any]:
    """The report's column values for a Core INSERT (None left out where the column has a default)."""
    values = report.__dict__  # a new report: every value it has is in its dict (none expired)
    row: dict[str, Any] = {}
    for key, has_default in _COLUMNS:
        value = values.get(key)
        if value is None and has_default:
            continue
        row[key] = value
    return row


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
