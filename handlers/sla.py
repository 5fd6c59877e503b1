"""Deadline jobs: the minute sweep that marks breaches, and the escalation of one breach."""

from __future__ import annotations

import logging

from sqlmodel import Session

from backend.services import deadlines

log = logging.getLogger(__name__)


def sweep_deadlines(session: Session) -> None:
    """Periodic (every minute): mark expired clocks once each and enqueue their escalation."""
    marked = deadlines.sweep(session)
    if marked:
        log.info("deadline sweep: %d breach(es)", marked)


def escalate_breach(session: Session, *, report_id: int, clock: str) -> None:
    """Escalate one breach to the unit head and the IOC (idempotent)."""
    event = deadlines.escalate(session, report_id=report_id, clock=clock)
    if event is not None:
        log.info("report %s escalated (%s clock)", report_id, clock)
