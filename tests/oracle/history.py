"""One report's history replayed from its events alone: the resolve deadline in force at every moment, and
the facts the KPIs count (DESIGN §7, docs/kpis.md). Written from the definitions, not from the product code.

Budgets come from the test's own table (category × priority), not from the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.oracle import calendar as cal

OPEN = {"received", "triage", "assigned", "acknowledged", "in_progress", "on_hold", "reopened"}
AWAITING_ACK = {"received", "triage", "assigned"}


@dataclass
class Event:
    at: datetime
    kind: str
    from_state: str | None
    to_state: str | None
    to_unit: int | None
    data: dict[str, Any]


@dataclass
class Closure:
    at: datetime
    unit: int | None
    on_time: bool
    resolved: bool
    clock_start: datetime
    rerouted: bool


@dataclass
class Report:
    """What the oracle knows about one report after replaying its events up to some instant."""

    created: datetime | None = None
    state: str | None = None
    unit: int | None = None
    due: datetime | None = None
    ack_due: datetime | None = None
    paused_at: datetime | None = None
    arrivals: list[tuple[datetime, int]] = field(default_factory=list)
    acks: list[tuple[datetime, int | None, datetime]] = field(default_factory=list)  # at, unit, from
    closures: list[Closure] = field(default_factory=list)
    reopens: list[tuple[datetime, int | None]] = field(default_factory=list)
    ratings: list[tuple[datetime, int | None, int]] = field(default_factory=list)


class Replay:
    """Walks the events in order; ``budgets[category code][priority]`` is the test's SLA table."""

    def __init__(self, budgets: dict[str, dict[str, str]], triage: set[int], category: str, priority: str) -> None:
        self.budgets, self.triage = budgets, triage
        self.category, self.priority = category, priority
        self.r = Report()
        self.clock_start: datetime | None = None
        self.budget: str | None = None
        self.added = 0  # office minutes added to the clock by holds and extensions
        self.hop_at: datetime | None = None
        self.awaiting_ack = False
        self.rerouted = False

    def current_budget(self) -> str:
        return self.budgets[self.category].get(self.priority) or self.budgets[self.category]["normal"]

    def push(self, new_due: datetime) -> None:
        assert self.r.due is not None
        self.added += cal.working_minutes(self.r.due, new_due)
        self.r.due = new_due

    def start_clock(self, at: datetime) -> None:
        self.clock_start, self.budget, self.added = at, self.current_budget(), 0
        self.r.due = cal.add(at, self.budget)

    def apply(self, e: Event) -> None:
        r = self.r
        if e.kind == "created":
            r.created, r.state = e.at, e.to_state or "received"
            return
        if e.kind in ("routed", "transferred"):
            if e.kind == "transferred" and r.unit is not None and r.unit not in self.triage:
                self.rerouted = True
            if e.to_unit is not None and e.to_unit != r.unit:
                r.arrivals.append((e.at, e.to_unit))
            r.unit, self.hop_at, self.awaiting_ack = e.to_unit, e.at, True
            r.ack_due = cal.add(e.at, self.budgets[self.category].get("ack") or "8h")
            if r.state == "on_hold" and (e.to_state or r.state) != "on_hold":
                self.end_hold(e.at)  # a transfer out of "on hold" ends the pause like any other move
            r.state = e.to_state or r.state
            if self.clock_start is None:
                self.start_clock(e.at)
            return
        if e.kind in ("category_changed", "priority_changed"):
            if e.kind == "category_changed":
                self.category = str(e.data["to_category"])
            else:
                self.priority = str(e.data["to_priority"])
            if r.state in OPEN and self.clock_start is not None and self.current_budget() != self.budget:
                self.budget = self.current_budget()
                r.due = cal.add_minutes(cal.add(self.clock_start, self.budget), self.added)
            return
        if e.kind == "sla_extended":
            assert r.due is not None
            self.push(cal.add(r.due, str(e.data["budget"])))
            return
        if e.kind == "rated" and e.data.get("rating") is not None:
            r.ratings.append((e.at, r.unit, int(e.data["rating"])))
        if e.to_state and e.to_state != r.state:
            self.change_state(e.at, r.state, e.to_state)

    def push_by_hold(self, at: datetime) -> None:
        """The working minutes of the hold that ends at ``at`` move a deadline not yet passed when it began."""
        r = self.r
        assert r.paused_at is not None
        paused = cal.working_minutes(r.paused_at, at)
        if r.due is not None and r.paused_at < r.due and paused > 0:
            self.push(cal.add_minutes(r.due, paused))

    def end_hold(self, at: datetime) -> None:
        if self.r.paused_at is not None:
            self.push_by_hold(at)
        self.r.paused_at = None

    def change_state(self, at: datetime, old: str | None, new: str) -> None:
        r = self.r
        if self.awaiting_ack and old in AWAITING_ACK and new not in AWAITING_ACK:
            r.acks.append((at, r.unit, self.hop_at or at))
            self.awaiting_ack = False
        if old == "on_hold" and r.paused_at is not None:
            self.push_by_hold(at)
        if old in OPEN and new not in OPEN:
            on_time = r.due is None or at <= r.due or (r.paused_at is not None and r.paused_at <= r.due)
            r.closures.append(Closure(at, r.unit, on_time, new == "resolved", self.clock_start or at, self.rerouted))
        if old == "on_hold":
            r.paused_at = None
        if new == "on_hold":
            r.paused_at = at
        r.state = new
        if new == "reopened":
            r.reopens.append((at, r.unit))
            self.start_clock(at)

    def breached(self, now: datetime) -> bool:
        """Is a running clock past its deadline at ``now`` (the inbox's "Quá hạn")? The deadline itself is
        still on time."""
        r = self.r
        late_ack = r.state in AWAITING_ACK and r.ack_due is not None and r.ack_due < now
        late = r.state in OPEN and r.paused_at is None and r.due is not None and r.due < now
        return late_ack or late

    def overdue(self, as_of: datetime) -> bool:
        r = self.r
        if r.state not in OPEN or r.due is None:
            return False
        return r.due < as_of if r.paused_at is None else r.paused_at > r.due


def replay(events: list[Event], *, until: datetime, budgets: dict[str, dict[str, str]], triage: set[int],
           category: str, priority: str) -> Replay:
    """The report as it stood at ``until`` (events before it)."""
    rp = Replay(budgets, triage, category, priority)
    for e in events:
        if e.at >= until:
            break
        rp.apply(e)
    return rp
