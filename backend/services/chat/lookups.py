"""What the chat dialogue reads or does outside its own draft: status lookups, the resident's open
reports, resident comments, the category menu and its keyword suggestion, usable draft photos.

Helpers of ``services/chat/conversations.py``; they take the session, flush, never commit.
"""

from __future__ import annotations

import re

from sqlmodel import Session, select

from backend.errors import DomainError
from backend.models.categories import Category
from backend.models.photos import Photo, PhotoState
from backend.models.reports import OPEN_STATES, Report
from backend.models.units import Unit
from backend.services.chat import intents as d
from backend.services.chat import texts as msg
from backend.services.events import Actor
from backend.services.reports import lookup as reports
from backend.services.reports import workflow


def status_text(session: Session, code: str) -> tuple[str, str | None]:
    """(reply, code found) for "tra cứu <code>": state label, unit and deadline, or "not found"."""
    try:
        report = reports.get_by_code(session, code)
    except DomainError:
        return msg.not_found(code), None
    unit = session.get(Unit, report.unit_id) if report.unit_id else None
    return msg.status(report, unit.name_vi if unit else None), report.code


def open_reports(session: Session, resident_id: int | None, limit: int = 10) -> list[Report]:
    """The resident's open reports, newest first."""
    if resident_id is None:
        return []
    return list(session.exec(
        select(Report).where(Report.resident_id == resident_id, Report.status.in_(list(OPEN_STATES)))
        .order_by(Report.created_at.desc()).limit(limit)).all())


def comment(session: Session, *, resident_id: int | None, text: str | None) -> tuple[str, str] | None:
    """If ``text`` names one of the resident's open reports, add it as a resident comment.

    Returns (reply, code), or None when the message does not refer to such a report.
    """
    code = d.find_code(text)
    if not code:
        return None
    report = next((r for r in open_reports(session, resident_id, limit=50) if r.code == code), None)
    if report is None:
        return None
    pattern = re.escape(code).replace("\\-", "[\\s\\-]*")
    body = re.sub(pattern, "", text or "", flags=re.I).strip(" :,.-\n\t") or (text or "")
    try:
        workflow.apply(session, report, "comment", actor=Actor.resident(resident_id), text=body)
    except DomainError as exc:
        return msg.comment_refused(code, exc.message), code
    return msg.commented(code), code


def categories(session: Session) -> list[Category]:
    """Active categories in menu order."""
    return list(session.exec(select(Category).where(Category.active)
                             .order_by(Category.sort_order, Category.id)).all())


def category(session: Session, code: str | None) -> Category | None:
    return session.exec(select(Category).where(Category.code == code)).first() if code else None


def suggest_category(cats: list[Category], description: str | None) -> str | None:
    """The non-emergency category whose keywords best match ``description`` (accent-insensitive)."""
    text = f" {d.words(description)} "
    if not text.strip():
        return None
    best, best_score = None, 0
    for cat in cats:
        if cat.is_emergency:
            continue
        score = 0
        for kw in [k for k in (d.words(x) for x in (cat.keywords or "").split(",")) if k]:
            if f" {kw} " in text:
                score += 1 + kw.count(" ")
        if score > best_score:
            best, best_score = cat.code, score
    return best


def usable_photos(session: Session, photo_ids: list[int]) -> list[int]:
    """Draft photos that did not fail to download or validate (the others are left out)."""
    ids = [int(i) for i in photo_ids or []]
    if not ids:
        return []
    bad = set(session.exec(select(Photo.id).where(
        Photo.id.in_(ids), Photo.state.in_([PhotoState.REJECTED, PhotoState.FAILED]))).all())
    return [i for i in ids if i not in bad]
