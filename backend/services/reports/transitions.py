"""The report lifecycle table (DESIGN §6) in one place, and who may do what.

Each :class:`Transition` says, for one workflow action: from which states it may be taken, which
state it leads to (``None`` = the state does not change), who may take it and which fields it
requires. ``services/reports/workflow.py`` applies them; the inbox shows buttons from
:func:`allowed_actions`.

Who ("actor classes", checked against the report):

- ``city``     staff with role ``admin`` or ``dispatcher``: every unit (the IOC).
- ``head``     staff with role ``head`` whose unit is the report's current unit.
- ``unit``     ``head`` or ``officer`` of the report's current unit, and Open311 ``api_client``
               actors bound to that unit (``servicerequestupdates``).
- ``reporter`` the resident who filed the report (``report.resident_id == actor.resident_id``).
- ``sender``   a resident speaking through the Open311 client that sent the report
               (``actor.via_client_id == report.api_client_id``): FixMyStreet's users comment on it.
- ``system``   scheduled jobs and routing (``Actor.system()``): may route and close.

``viewer`` staff never act. ``bot`` actors never act on the workflow: a chat bot acts for a
resident with ``Actor.resident(resident_id)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.models.reports import CLOSED_STATES, ActorKind, EventKind, Report, State
from backend.models.staff import Role
from backend.services.events import Actor

S = State

#: states in which a unit works on a report
WORKING = frozenset({S.ASSIGNED, S.ACKNOWLEDGED, S.IN_PROGRESS, S.ON_HOLD, S.REOPENED})
#: every state that is not final (a report still needs somebody)
ACTIVE = WORKING | {S.RECEIVED, S.TRIAGE}
#: states in which the resident may still talk about the report
TALKABLE = ACTIVE | {S.RESOLVED}
ALL = frozenset(State)

STAFF_ANY = frozenset({"city", "unit"})


@dataclass(frozen=True)
class Transition:
    action: str
    from_states: frozenset[State]
    to_state: State | None
    who: frozenset[str]
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    event_kind: str = EventKind.STATUS_CHANGED
    takes_version: bool = True

    def changes_state(self) -> bool:
        return self.to_state is not None


def _t(action: str, from_states: frozenset[State] | set[State], to_state: State | None, who: set[str],
       required: tuple[str, ...] = (), optional: tuple[str, ...] = (), event_kind: str = EventKind.STATUS_CHANGED,
       ) -> Transition:
    return Transition(action, frozenset(from_states), to_state, frozenset(who), required, optional, event_kind)


TRANSITIONS: dict[str, Transition] = {t.action: t for t in (
    # route from triage (IOC) or a fresh report; the target state is ``triage`` when the unit is the IOC
    _t("route", {S.RECEIVED, S.TRIAGE}, S.ASSIGNED, {"city", "unit", "system"},
       optional=("unit_id", "priority"), event_kind=EventKind.ROUTED),
    # acknowledge, start, resume: an optional public reply said with the change (a unit system's words)
    _t("acknowledge", {S.ASSIGNED, S.REOPENED}, S.ACKNOWLEDGED, STAFF_ANY, optional=("reply",)),
    _t("assign", WORKING, None, STAFF_ANY, required=("assignee_id",), event_kind=EventKind.ASSIGNED),
    _t("transfer", WORKING | {S.TRIAGE}, S.ASSIGNED, STAFF_ANY, required=("unit_id", "reason"),
       event_kind=EventKind.TRANSFERRED),
    _t("start", {S.ASSIGNED, S.ACKNOWLEDGED, S.REOPENED}, S.IN_PROGRESS, STAFF_ANY, optional=("reply",)),
    _t("hold", {S.ACKNOWLEDGED, S.IN_PROGRESS, S.REOPENED}, S.ON_HOLD, STAFF_ANY, required=("reason",)),
    _t("resume", {S.ON_HOLD}, S.IN_PROGRESS, STAFF_ANY, optional=("reply",)),
    _t("extend", WORKING, None, {"city", "head"}, required=("budget", "reason"),
       event_kind=EventKind.SLA_EXTENDED),
    _t("reply", ALL, None, STAFF_ANY, required=("text",), event_kind=EventKind.PUBLIC_REPLY),
    _t("note", ALL, None, STAFF_ANY, required=("text",), event_kind=EventKind.INTERNAL_NOTE),
    _t("change_category", ACTIVE, None, STAFF_ANY, required=("category_code",),
       event_kind=EventKind.CATEGORY_CHANGED),
    # staff correct the point (drag the pin); re-routing is offered, not forced (services/reports/location.py)
    _t("relocate", ACTIVE, None, STAFF_ANY, required=("lat", "lon"), event_kind=EventKind.LOCATION_CHANGED),
    _t("change_priority", ACTIVE, None, STAFF_ANY, required=("priority",),
       event_kind=EventKind.PRIORITY_CHANGED),
    _t("mark_duplicate", ACTIVE, S.DUPLICATE, STAFF_ANY, required=("of_code",), optional=("reply",),
       event_kind=EventKind.DUPLICATE_LINKED),
    _t("reject", ACTIVE, S.REJECTED, STAFF_ANY, required=("reason",)),
    _t("not_competent", ACTIVE, S.NOT_COMPETENT, STAFF_ANY, required=("reason", "guidance")),
    _t("resolve", WORKING, S.RESOLVED, STAFF_ANY, required=("reply",), optional=("after_photo_ids",)),
    # staff may reopen any finished report; the reporter only a resolved/closed one, within the window
    _t("reopen", CLOSED_STATES | {S.RESOLVED}, S.REOPENED, {"city", "unit", "reporter"},
       required=("reason",), optional=("photo_ids",), event_kind=EventKind.REOPENED),
    _t("close", {S.RESOLVED}, S.CLOSED, {"city", "unit", "system"}, optional=("reason",)),
    # a follow-up needs text or at least one photo
    _t("comment", TALKABLE, None, {"reporter"}, optional=("text", "photo_ids"),
       event_kind=EventKind.RESIDENT_COMMENT),
    # a sender's resident speaks in any state (FixMyStreet takes comments on closed reports too)
    _t("sender_comment", ALL, None, {"sender"}, optional=("text", "photo_ids"),
       event_kind=EventKind.RESIDENT_COMMENT),
    _t("rate", {S.RESOLVED}, S.CLOSED, {"reporter"}, required=("rating",), optional=("text",),
       event_kind=EventKind.RATED),
    # moderation (services/reports/moderation.py): staff of the report's unit or the city, in any state
    _t("edit_text", ALL, None, STAFF_ANY, required=("description", "reason"), event_kind=EventKind.TEXT_EDITED),
    _t("hide", ALL, None, STAFF_ANY, required=("reason",), event_kind=EventKind.HIDDEN),
    _t("unhide", ALL, None, STAFF_ANY, required=("reason",), event_kind=EventKind.UNHIDDEN),
)}

#: reporter may reopen only from these (not from a rejection or a duplicate: they ask staff)
REPORTER_REOPEN_FROM = frozenset({S.RESOLVED, S.CLOSED})


def actor_classes(report: Report, actor: Actor) -> frozenset[str]:
    """Which actor classes ``actor`` belongs to for this report (empty = may not act)."""
    if actor.kind == ActorKind.SYSTEM:
        return frozenset({"system"})
    if actor.kind == ActorKind.RESIDENT:
        own = actor.resident_id is not None and report.resident_id == actor.resident_id
        sender = actor.via_client_id is not None and actor.via_client_id == report.api_client_id
        return frozenset({"reporter"} if own else ()) | frozenset({"sender"} if sender else ())
    if actor.kind == ActorKind.API_CLIENT:
        own_unit = actor.unit_id is not None and actor.unit_id == report.unit_id
        return frozenset({"unit"}) if own_unit else frozenset()
    if actor.kind != ActorKind.STAFF:
        return frozenset()
    if actor.role in (Role.ADMIN, Role.DISPATCHER):
        return frozenset({"city"})
    if actor.role in (Role.HEAD, Role.OFFICER) and actor.unit_id is not None and actor.unit_id == report.unit_id:
        return frozenset({"unit", "head"}) if actor.role == Role.HEAD else frozenset({"unit"})
    return frozenset()


def may(report: Report, actor: Actor, transition: Transition) -> bool:
    """Role × unit × ownership check, without looking at the state."""
    classes = actor_classes(report, actor) & transition.who
    if not classes:
        return False
    return not (transition.action == "reopen" and classes == {"reporter"}
                and report.status not in REPORTER_REOPEN_FROM)


def allowed_actions(report: Report, actor: Actor) -> list[str]:
    """Actions ``actor`` may take on ``report`` in its current state, in table order.

    Checks state, role, unit and ownership. Conditions that need the database or input
    (the reporter's reopen window, an after photo, field values) are checked by ``apply``.
    """
    return [name for name, t in TRANSITIONS.items() if report.status in t.from_states and may(report, actor, t)]
