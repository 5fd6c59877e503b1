"""What staff forms tell about each text field: will residents see it? Derived from the one visibility
rule of the event log (``events.resident_fields``), through the event each workflow action writes."""

from __future__ import annotations

from backend.services import events
from backend.services.reports.transitions import TRANSITIONS


def is_public(action: str, field: str) -> bool:
    """Whether residents will see what staff type into ``field`` of ``action``."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        return False
    return events.public_field(transition.event_kind, transition.to_state, field)
