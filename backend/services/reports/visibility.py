"""What the public may see.

- Which reports are listed at all: :func:`listed` (an SQL clause) and :func:`is_listed` (one report) — the
  ONE rule for every public channel (Open311, the mobile API's public reads, the public web pages, open-data
  exports). Staff hide a report with a reason (``services/reports/moderation.py``); a hidden report is
  neither listed nor found by its code there. Its reporter still sees it in their own list and by code.
- What staff forms tell about each text field: will residents see it? Derived from the one visibility rule
  of the event log (``events.resident_fields``), through the event each workflow action writes.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col

from backend.models.reports import Report
from backend.services import events
from backend.services.reports.transitions import TRANSITIONS


def listed() -> Any:
    """SQL clause: the report may appear on public channels (not hidden by staff)."""
    return col(Report.hidden_at).is_(None)


def is_listed(report: Report) -> bool:
    """Whether ``report`` may appear on public channels (see :func:`listed`)."""
    return report.hidden_at is None


def is_public(action: str, field: str) -> bool:
    """Whether residents will see what staff type into ``field`` of ``action``."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        return False
    return events.public_field(transition.event_kind, transition.to_state, field)
