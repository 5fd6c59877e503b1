"""Property test: no sequence of actions by any actor leaves a report inconsistent.

Random sequences of (action, actor, field values, time step) are applied to a fresh report. An
action the table allows may still be refused for its input; an action it does not allow must be
refused. Every refusal must leave the report, its events and its version untouched; every success
bumps the version by exactly one and writes at least one event. After each step the invariants of
DESIGN §6 hold.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import func, select

from backend.errors import DomainError
from backend.models import CLOSED_STATES, Report, ReportEvent, State
from backend.services.events import Actor
from backend.services.reports import intake, workflow
from backend.services.reports.transitions import TRANSITIONS
from tests.fixtures.examples import examples

from fixtures.wf_city import INSIDE, INSIDE_NO_AREA, T0, City, city_fixture  # noqa: F401

ACTORS = ["officer", "head", "ward", "disp", "admin", "viewer", "ioc_officer", "reporter", "stranger", "system",
          "bot", "api_roads"]
TEXTS = ["Đơn vị đang xử lý"] * 6 + ["", "  ", "x" * 4001]


def _actor(city: City, name: str) -> Actor:
    if name == "reporter":
        return city.resident(0)
    if name == "stranger":
        return city.resident(1)
    if name == "system":
        return Actor.system()
    if name == "bot":
        return Actor.bot("zalo")
    if name == "api_roads":
        return Actor(kind="api_client", id="1", unit_id=city.units["roads"].id, name="roads")
    return city.actor(name)


def _fields(data: st.DataObject, city: City, action: str, actor: Actor, original: Report) -> dict[str, Any]:
    def pick(values: list[Any]) -> Any:
        return data.draw(st.sampled_from(values))

    unit_ids = [u.id for u in city.units.values()] * 2 + [9999]
    text = pick(TEXTS)
    match action:
        case "route":
            return pick([{}, {"unit_id": pick(unit_ids)}, {"unit_id": pick(unit_ids), "priority": "urgent"}])
        case "assign":
            return {"assignee_id": pick([s.id for s in city.staff.values()] + [None])}
        case "transfer":
            return {"unit_id": pick(unit_ids), "reason": text}
        case "hold" | "reject":
            return {"reason": text}
        case "extend":
            return {"budget": pick(["2d", "8h", "bad"]), "reason": text}
        case "reply" | "note" | "comment":
            return {"text": text}
        case "change_category":
            return {"category_code": pick(["pothole", "lamp", "trash", "fire", "old", "none"])}
        case "change_priority":
            return {"priority": pick(["urgent", "normal", "complex", "later"])}
        case "mark_duplicate":
            return {"of_code": pick([original.code, "PA-ZZZZZZ"])}
        case "not_competent":
            return {"reason": text, "guidance": pick(TEXTS)}
        case "resolve":
            photos = []
            if actor.kind == "staff" and data.draw(st.integers(0, 3)) > 0:
                photos = [city.photo(staff=next(k for k, s in city.staff.items() if str(s.id) == actor.id))]
            return {"reply": text, "after_photo_ids": photos}
        case "reopen":
            return {"reason": text}
        case "rate":
            return {"rating": pick([0, 1, 2, 3, 4, 5, 6]), "text": pick(["Tốt", None])}
    return {}


def _snapshot(session: Any, report: Report) -> tuple[dict[str, Any], int]:
    session.flush()
    in_memory = report.model_dump()
    session.refresh(report)
    assert report.model_dump() == in_memory, "the report object disagrees with the database"
    events = session.exec(select(func.count()).select_from(ReportEvent)
                          .where(ReportEvent.report_id == report.id)).one()
    return report.model_dump(), events


def _check_invariants(session: Any, city: City, report: Report, successes: int) -> None:
    status = report.status
    assert status in {s.value for s in State}
    assert report.version == 1 + successes
    if status in CLOSED_STATES:
        assert report.closed_at is not None
    else:
        assert report.closed_at is None
    if status == State.RESOLVED:
        assert report.resolved_at is not None and report.public_reply
    if status in (State.ACKNOWLEDGED, State.IN_PROGRESS, State.ON_HOLD):
        assert report.acknowledged_at is not None
    assert (status == State.DUPLICATE) == (report.duplicate_of_id is not None)
    assert (status == State.ON_HOLD) == (report.sla_paused_at is not None)
    if status == State.TRIAGE:
        assert report.unit_id == city.units["ioc"].id
    if report.rating is not None:
        assert status == State.CLOSED
    assert report.unit_id is not None and report.ack_due_at is not None and report.resolve_due_at is not None
    kinds = session.exec(select(ReportEvent.kind, ReportEvent.to_state, ReportEvent.from_state)
                         .where(ReportEvent.report_id == report.id).order_by(ReportEvent.id)).all()
    assert report.reopen_count == sum(1 for k, _, _ in kinds if k == "reopened")
    if any(to == State.ACKNOWLEDGED for _, to, _ in kinds):
        assert report.acknowledged_at is not None
    # the last state change recorded is the current state
    changes = [to for _, to, frm in kinds if to and to != frm]
    assert changes and changes[-1] == status


#: refusals that allowed_actions(session=...) must have predicted
NOT_INPUT_ERRORS = {"action-forbidden", "invalid-transition", "version-conflict", "reopen-window-passed",
                    "too-early", "extend-forbidden"}
#: actions that move a report forward (drawn more often than the ones that end it early)
PROGRESS = {"route", "acknowledge", "start", "hold", "resume", "resolve", "rate", "reopen", "close", "extend"}
#: who acts, weighted towards actors who usually may
actors = st.sampled_from(ACTORS + ["officer", "head", "disp", "reporter"] * 3)
#: hours between steps: mostly within a working week, sometimes past the reopen/close windows
hours = st.one_of(st.integers(0, 48), st.integers(0, 48), st.integers(24 * 7, 24 * 9))


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(category=st.sampled_from(["pothole", "lamp", None]), where=st.sampled_from([INSIDE, INSIDE_NO_AREA]),
       n_steps=st.integers(1, 25), data=st.data())
def test_no_sequence_reaches_an_inconsistent_report(session, city: City, category, where, n_steps, data) -> None:
    original = intake.create_report(session, channel="app", actor=city.resident(1), category_code="lamp",
                                    description="gốc", lat=INSIDE[0], lon=INSIDE[1], at=T0)
    report = intake.create_report(session, channel="app", actor=city.resident(0), category_code=category,
                                  description="Phản ánh", lat=where[0], lon=where[1], at=T0)
    at, successes = T0, 0
    _check_invariants(session, city, report, successes)
    for _ in range(n_steps):
        at = at + timedelta(hours=data.draw(hours))
        capable = [a for a in ACTORS if workflow.allowed_actions(report, _actor(city, a))]
        who = data.draw(st.sampled_from(capable)) if capable and data.draw(st.booleans()) else data.draw(actors)
        actor = _actor(city, who)
        options = workflow.allowed_actions(report, actor, session=session, at=at)
        if options and data.draw(st.integers(0, 3)) > 0:
            action = data.draw(st.sampled_from(options + [a for a in options if a in PROGRESS] * 3))
        else:
            action = data.draw(st.sampled_from(sorted(TRANSITIONS)))
        allowed = action in options
        stale = data.draw(st.integers(0, 9)) == 0
        fields = _fields(data, city, action, actor, original)
        version = report.version - 1 if stale else report.version
        before = _snapshot(session, report)
        try:
            event = workflow.apply(session, report, action, actor=actor, expected_version=version, at=at, **fields)
        except DomainError as exc:
            assert _snapshot(session, report) == before, f"{action} by {who} raised but changed the report"
            if allowed and not stale:  # the buttons the inbox shows only fail for their input
                assert exc.code not in NOT_INPUT_ERRORS, f"{action} by {who} offered but refused: {exc.code}"
        else:
            assert allowed, f"{action} by {who} in {before[0]['status']} should have been refused"
            assert not stale, "a stale version was accepted"
            successes += 1
            assert event.report_id == report.id
            after = _snapshot(session, report)
            assert after[1] > before[1], f"{action} wrote no event"
            assert after[0]["version"] == before[0]["version"] + 1
        _check_invariants(session, city, report, successes)
