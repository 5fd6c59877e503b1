"""Properties of working-time arithmetic over 2026–2027 (Tết, 30/4, 2/9, swapped Saturdays included)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from backend.services.city.calendar import WorkingCalendar
from tests.fixtures.examples import examples

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CAL = WorkingCalendar()
EPOCH = datetime(2026, 1, 1, tzinfo=VN)

instants = st.integers(min_value=0, max_value=2 * 365 * 24 * 60).map(lambda m: EPOCH + timedelta(minutes=m))
minutes = st.integers(min_value=1, max_value=15 * 450)
days = st.integers(min_value=1, max_value=20)


def inside_or_at_close(instant: datetime) -> bool:
    local = instant.astimezone(VN)
    return any(a <= local <= b for a, b in CAL.day_intervals(local.date()))


@settings(max_examples=examples(300), deadline=None)
@given(instants, minutes)
def test_adding_then_measuring_gives_the_budget_back(start: datetime, budget: int) -> None:
    assert CAL.between(start, CAL.add_minutes(start, budget)) == budget


@settings(max_examples=examples(300), deadline=None)
@given(instants, minutes, minutes)
def test_add_is_monotonic_in_budget(start: datetime, a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert CAL.add_minutes(start, low) <= CAL.add_minutes(start, high)


@settings(max_examples=examples(300), deadline=None)
@given(instants, instants, minutes)
def test_add_is_monotonic_in_start(s1: datetime, s2: datetime, budget: int) -> None:
    early, late = sorted((s1, s2))
    assert CAL.add_minutes(early, budget) <= CAL.add_minutes(late, budget)


@settings(max_examples=examples(300), deadline=None)
@given(instants, minutes, days)
def test_never_lands_outside_office_hours(start: datetime, budget: int, n: int) -> None:
    assert inside_or_at_close(CAL.add_minutes(start, budget))
    assert inside_or_at_close(CAL.add_working_days(start, n))
    assert CAL.add_working_days(start, n) == CAL.close_of_day(CAL.add_working_days(start, n).date())


@settings(max_examples=examples(200), deadline=None)
@given(instants, instants, instants)
def test_between_is_additive(a: datetime, b: datetime, c: datetime) -> None:
    x, y, z = sorted((a, b, c))
    assert CAL.between_seconds(x, z) == CAL.between_seconds(x, y) + CAL.between_seconds(y, z)


@settings(max_examples=examples(200), deadline=None)
@given(instants, days)
def test_working_days_are_counted_from_the_next_day(start: datetime, n: int) -> None:
    deadline = CAL.add_working_days(start, n)
    local = start.astimezone(VN).date()
    counted = sum(1 for i in range(1, (deadline.date() - local).days + 1)
                  if CAL.is_working_day(local + timedelta(days=i)))
    assert counted == n
