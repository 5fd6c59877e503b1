"""Periodic workflow housekeeping: resolved reports become closed after the city's delay; units whose end has
come hand their open reports to their successors."""

from __future__ import annotations

from sqlmodel import Session

from backend.models.base import utcnow
from backend.services import reports


def close_resolved(session: Session) -> None:
    """Close every report resolved more than ``close_after_days`` ago (DESIGN §6); idempotent."""
    reports.close_resolved(session)


def hand_over_ended_units(session: Session) -> None:
    """Move the open reports of units whose end has come to their successors (``services/reports/handover.py``);
    idempotent: a unit with nothing open is skipped."""
    reports.hand_over_due(session, now=utcnow())
