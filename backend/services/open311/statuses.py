"""mySociety's extended status vocabulary both ways (``docs/open311.md`` §2.5): which of our states a word
describes, which word each state publishes, which workflow action a unit key's word takes from which state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from backend.errors import InvalidInput
from backend.models.reports import (
    CLOSED_STATES,
    FIXED_STATES,
    OPEN_STATES,
    ReportEvent,
    State,
)

#: a closed request (GeoReport ``closed``): resolved or final
DONE_STATES = CLOSED_STATES | FIXED_STATES
S = State

# --------------------------------------------------------------------------- the status vocabulary

_STARTABLE = frozenset({S.ASSIGNED, S.ACKNOWLEDGED, S.REOPENED})
_WORKING = frozenset({S.ASSIGNED, S.ACKNOWLEDGED, S.IN_PROGRESS, S.ON_HOLD, S.REOPENED})


@dataclass(frozen=True)
class Status:
    """One word of mySociety's extended vocabulary (``docs/open311.md`` §2.5).

    ``describes``: our states the word is true of (the feed publishes a posted word for them);
    ``published_for``: our states that publish this word when an event carries no word of its own;
    ``unit_actions``: state before → workflow action when a unit key posts the word (else a reply).
    """

    word: str
    describes: frozenset[str] = frozenset()
    published_for: frozenset[str] = frozenset()
    unit_actions: dict[str, str] = field(default_factory=dict)


def _each(states: frozenset[str], action: str) -> dict[str, str]:
    return {state: action for state in states}


STATUSES: dict[str, Status] = {s.word: s for s in (
    Status("OPEN", OPEN_STATES, frozenset({S.RECEIVED, S.TRIAGE, S.ASSIGNED, S.REOPENED}),
           _each(DONE_STATES, "reopen")),
    Status("REOPEN", unit_actions=_each(DONE_STATES, "reopen")),
    Status("UNCHANGED"),
    Status("INVESTIGATING", OPEN_STATES, frozenset({S.ACKNOWLEDGED}),
           {S.ASSIGNED: "acknowledge", S.REOPENED: "acknowledge"}),
    Status("IN_PROGRESS", OPEN_STATES, frozenset({S.IN_PROGRESS}), {**_each(_STARTABLE, "start"), S.ON_HOLD: "resume"}),
    Status("ACTION_SCHEDULED", OPEN_STATES, frozenset({S.ON_HOLD}), _each(_STARTABLE, "start")),
    Status("PLANNED", OPEN_STATES, unit_actions=_each(_STARTABLE, "start")),
    Status("FIXED", frozenset({S.RESOLVED, S.CLOSED}), frozenset({S.RESOLVED}), _each(_WORKING, "resolve")),
    Status("CLOSED", frozenset({S.RESOLVED, S.CLOSED}), frozenset({S.CLOSED}),
           {**_each(_WORKING, "resolve"), S.RESOLVED: "close"}),
    Status("NO_FURTHER_ACTION", frozenset({S.REJECTED}), frozenset({S.REJECTED}), _each(OPEN_STATES, "reject")),
    Status("CANCELLED", frozenset({S.REJECTED}), unit_actions=_each(OPEN_STATES, "reject")),
    Status("NOT_COUNCILS_RESPONSIBILITY", frozenset({S.NOT_COMPETENT}), frozenset({S.NOT_COMPETENT}),
           _each(OPEN_STATES, "not_competent")),
    Status("DUPLICATE", frozenset({S.DUPLICATE}), frozenset({S.DUPLICATE}), _each(OPEN_STATES, "mark_duplicate")),
    Status("INTERNAL_REFERRAL", OPEN_STATES, unit_actions=_each(_WORKING, "refer")),
    Status("FOR_TRIAGE", OPEN_STATES, unit_actions=_each(_WORKING, "refer")),
)}
#: our state -> the word it publishes
STATE_WORDS: dict[str, str] = {state: s.word for s in STATUSES.values() for state in s.published_for}


def parse_status(value: str) -> Status:
    """The :class:`Status` of a posted word (any case, spaces for underscores). Raises InvalidInput."""
    word = value.strip().upper().replace(" ", "_")
    if word not in STATUSES:
        raise InvalidInput(f"Trạng thái {value[:40]} không được hỗ trợ.", code="invalid-status")
    return STATUSES[word]


def published_status(event: ReportEvent, state: str) -> str:
    """The lower-case word the feed publishes for ``event``, the report being in ``state`` after it."""
    posted = STATUSES.get(str((event.data or {}).get("open311_status") or ""))
    word = posted.word if posted is not None and state in posted.describes else STATE_WORDS.get(state, "OPEN")
    return word.lower()
