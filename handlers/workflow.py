"""Periodic workflow housekeeping: resolved reports become closed after the city's delay."""

from __future__ import annotations

from sqlmodel import Session

from backend.services import reports


def close_resolved(session: Session) -> None:
    """Close every report resolved more than ``close_after_days`` ago (DESIGN §6); idempotent."""
    reports.close_resolved(session)
