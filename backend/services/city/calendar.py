"""The city's working calendar: office hours, Vietnamese public holidays and admin overrides.

One definition of budget arithmetic everywhere (DESIGN §7):

- a budget in **hours or minutes** is working time counted continuously from the start instant; a
  start outside office hours counts from the next opening (lunch breaks, evenings, weekends and
  holidays are skipped);
- a budget in **working days** follows the Civil Code's rule for periods in days: the day the clock
  starts is not counted, and the deadline is the close of office hours on the N-th working day after
  it (Wednesday 15:00 + 1 working day before 30/4–1/5 → close of the next working day after them).

A day is a working day when, in this order: an admin override says so (extra day off / extra working
day); it is a weekend day the government made a working day in exchange for a bridge holiday
(``holidays.VN().weekend_workdays``, e.g. Saturday 22/8/2026 for Monday 31/8/2026); it is not a
``holidays.VN`` holiday (Tết, Hùng Kings, 30/4, 1/5, 2/9, 24/11, observed days) and its weekday has
office hours. Extra working days on a weekend use the Monday hours. Times are computed in the city's
zone (Asia/Ho_Chi_Minh has no DST) and returned timezone-aware in that zone.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from sqlmodel import Session, select

from backend.db import database_key
from backend.errors import InvalidInput
from backend.models.calendar import CalendarOverride
from backend.services.city import settings as city_settings

log = logging.getLogger(__name__)

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
Interval = tuple[time, time]
DEFAULT_DAY: tuple[Interval, ...] = ((time(7, 30), time(11, 30)), (time(13, 30), time(17, 0)))
#: weekday (0 = Monday) -> office intervals
DEFAULT_HOURS: dict[int, tuple[Interval, ...]] = {wd: DEFAULT_DAY for wd in range(5)} | {5: (), 6: ()}
WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_SCAN_DAYS = 3700  # a calendar with no working day in ten years is a configuration error
MAX_BUDGET_MINUTES = 366 * 24 * 60
MAX_BUDGET_DAYS = 366

_DURATION = re.compile(r"^\s*(\d{1,6})\s*(m|min|phút|phut|h|giờ|gio|d|ngày|ngay)\s*$", re.IGNORECASE)
_UNITS = {"m": "m", "min": "m", "phút": "m", "phut": "m", "h": "h", "giờ": "h", "gio": "h",
          "d": "d", "ngày": "d", "ngay": "d"}


def parse_duration(text: str) -> tuple[int, str]:
    """``"8h"`` → ``(8, "h")``, ``"90m"`` → ``(90, "m")``, ``"3d"`` → ``(3, "d")`` (working days).

    Vietnamese units are accepted too (``"8 giờ"``, ``"3 ngày"``, ``"90 phút"``).
    Raises InvalidInput for anything else, for zero and for budgets over a year.
    """
    match = _DURATION.match(text or "") if isinstance(text, str) else None
    if not match:
        raise InvalidInput(f"Thời hạn không hợp lệ: {str(text)[:40]!r}. Ví dụ hợp lệ: 8h, 90m, 3d.",
                           code="invalid-duration")
    amount, unit = int(match.group(1)), _UNITS[match.group(2).lower()]
    minutes = amount * (60 if unit == "h" else 1)
    if amount <= 0 or (unit == "d" and amount > MAX_BUDGET_DAYS) or (unit != "d" and minutes > MAX_BUDGET_MINUTES):
        raise InvalidInput("Thời hạn phải lớn hơn 0 và không quá một năm.", code="invalid-duration")
    return amount, unit


def _parse_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    hh, _, mm = str(value).strip().partition(":")
    return time(int(hh), int(mm or 0))


def normalize_hours(raw: Any) -> dict[int, tuple[Interval, ...]]:
    """Accept ``{"mon": [["07:30","11:30"], ...], ...}`` (or int weekday keys), or one list of
    intervals applied Monday–Friday. Missing weekdays have no office hours. Raises InvalidInput."""
    if not raw:
        return dict(DEFAULT_HOURS)
    try:
        if isinstance(raw, Mapping):
            hours: dict[int, tuple[Interval, ...]] = {wd: () for wd in range(7)}
            for key, spans in raw.items():
                wd = WEEKDAY_KEYS.index(str(key).lower()[:3]) if not str(key).isdigit() else int(key)
                hours[wd] = _intervals(spans)
        else:
            day = _intervals(raw)
            hours = {wd: (day if wd < 5 else ()) for wd in range(7)}
    except (ValueError, TypeError, IndexError) as exc:
        raise InvalidInput("Giờ làm việc không hợp lệ (ví dụ: 07:30–11:30, 13:30–17:00).",
                           code="invalid-office-hours") from exc
    if not any(hours.values()):
        raise InvalidInput("Lịch làm việc phải có ít nhất một ngày làm việc.", code="invalid-office-hours")
    return hours


def _intervals(spans: Iterable[Any]) -> tuple[Interval, ...]:
    out: list[Interval] = []
    for span in spans:
        if isinstance(span, str):
            span = re.split(r"\s*[-–]\s*", span)
        start, end = (_parse_time(v) for v in span)
        if end <= start or (out and start < out[-1][1]):
            raise ValueError("intervals must be increasing and non-overlapping")
        out.append((start, end))
    return tuple(out)


class WorkingCalendar:
    """Working-time arithmetic for one city. Immutable after construction; cheap to query."""

    def __init__(self, *, hours: Mapping[int, tuple[Interval, ...]] | None = None,
                 timezone: str = DEFAULT_TIMEZONE, overrides: Mapping[date, bool] | None = None) -> None:
        try:
            self.tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidInput(f"Múi giờ không hợp lệ: {timezone!r}.", code="invalid-timezone") from exc
        self.hours = dict(hours or DEFAULT_HOURS)
        self.overrides = dict(overrides or {})
        self._holidays = holidays.country_holidays("VN")
        self._fallback = next((self.hours[wd] for wd in range(7) if self.hours.get(wd)), DEFAULT_DAY)
        self._day_cache: dict[date, tuple[tuple[datetime, datetime], ...]] = {}
        self._epoch: date | None = None
        self._cum: list[float] = [0.0]
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ days

    def is_holiday(self, day: date) -> bool:
        return day in self._holidays

    def holiday_name(self, day: date) -> str | None:
        return self._holidays.get(day)

    def is_working_day(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        is_holiday = day in self._holidays  # populates the year, including its weekend workdays
        if day in self._holidays.weekend_workdays:
            return True
        return bool(self.hours.get(day.weekday())) and not is_holiday

    def day_intervals(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """Aware (open, close) pairs of ``day`` in the city zone; empty on days off."""
        cached = self._day_cache.get(day)
        if cached is None:
            if not self.is_working_day(day):
                cached = ()
            else:
                spans = self.hours.get(day.weekday()) or self._fallback
                cached = tuple((datetime.combine(day, a, self.tz), datetime.combine(day, b, self.tz))
                               for a, b in spans)
            self._day_cache[day] = cached
        return cached

    def day_minutes(self, day: date) -> int:
        return sum(int((b - a).total_seconds()) for a, b in self.day_intervals(day)) // 60

    def working_days_after(self, day: date) -> Iterator[date]:
        """Working days strictly after ``day``, in order."""
        current = day
        for _ in range(MAX_SCAN_DAYS):
            current += timedelta(days=1)
            if self.is_working_day(current):
                yield current
        raise InvalidInput("Lịch làm việc không có ngày làm việc nào.", code="invalid-calendar")

    def close_of_day(self, day: date) -> datetime:
        """Close of office hours on ``day``. Raises InvalidInput if ``day`` is not a working day."""
        spans = self.day_intervals(day)
        if not spans:
            raise InvalidInput(f"Ngày {day:%d/%m/%Y} không phải ngày làm việc.", code="not-working-day")
        return spans[-1][1]

    # ------------------------------------------------------------------ instants

    def local(self, instant: datetime) -> datetime:
        if instant.tzinfo is None:
            raise InvalidInput("Thời điểm phải có múi giờ.", code="naive-datetime")
        return instant.astimezone(self.tz)

    def parse_instant(self, text: str) -> datetime:
        """An ISO 8601 instant; without an offset it is read in the city's time zone. InvalidInput."""
        try:
            value = datetime.fromisoformat(str(text).strip())
        except ValueError as exc:
            raise InvalidInput(f"Thời điểm không hợp lệ: {str(text)[:40]!r} (ví dụ: 2026-11-20T16:55+07:00).",
                               code="invalid-instant") from exc
        return value if value.tzinfo else value.replace(tzinfo=self.tz)

    def is_working_time(self, instant: datetime) -> bool:
        """True when ``instant`` is within office hours (open inclusive, close exclusive)."""
        t = self.local(instant)
        return any(a <= t < b for a, b in self.day_intervals(t.date()))

    def _intervals_from(self, instant: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Office intervals (clipped to start at ``instant``) from ``instant`` onwards."""
        t = self.local(instant)
        day = t.date()
        for _ in range(MAX_SCAN_DAYS):
            for a, b in self.day_intervals(day):
                if b > t:
                    yield max(a, t), b
            day += timedelta(days=1)
        raise InvalidInput("Lịch làm việc không có ngày làm việc nào.", code="invalid-calendar")

    def next_opening(self, instant: datetime) -> datetime:
        """``instant`` itself during office hours, else the next opening (in the city zone)."""
        start, _end = next(self._intervals_from(instant))
        return start

    def add_seconds(self, start: datetime, seconds: float) -> datetime:
        """``start`` + ``seconds`` of working time (0 → the next opening)."""
        remaining = timedelta(seconds=seconds)
        if remaining < timedelta(0):
            raise InvalidInput("Thời hạn không được âm.", code="invalid-duration")
        for a, b in self._intervals_from(start):
            if remaining <= b - a:
                return a + remaining
            remaining -= b - a
        raise AssertionError("unreachable")  # pragma: no cover

    def add_minutes(self, start: datetime, minutes: float) -> datetime:
        return self.add_seconds(start, minutes * 60)

    def add_working_days(self, start: datetime, n: int) -> datetime:
        """Civil-Code day count: close of office hours on the ``n``-th working day after the start day."""
        if n <= 0:
            raise InvalidInput("Số ngày làm việc phải lớn hơn 0.", code="invalid-duration")
        day = self.local(start).date()
        for i, working_day in enumerate(self.working_days_after(day), start=1):
            if i == n:
                return self.close_of_day(working_day)
        raise AssertionError("unreachable")  # pragma: no cover

    def add(self, start: datetime, budget: str | timedelta) -> datetime:
        """Deadline for ``budget`` ("8h", "90m", "3d" or a timedelta of working time) from ``start``."""
        if isinstance(budget, timedelta):
            return self.add_seconds(start, budget.total_seconds())
        amount, unit = parse_duration(budget)
        if unit == "d":
            return self.add_working_days(start, amount)
        return self.add_minutes(start, amount * (60 if unit == "h" else 1))

    def between_seconds(self, a: datetime, b: datetime) -> float:
        """Working seconds from ``a`` to ``b`` (negative when ``b`` is before ``a``).

        O(1) amortised: per-day prefix sums of working time, built lazily around the dates asked for.
        Raises InvalidInput for spans over ten years."""
        if abs(b - a) > timedelta(days=MAX_SCAN_DAYS):
            raise InvalidInput("Khoảng thời gian quá dài (tối đa 10 năm).", code="period-too-long")
        return self._position(b) - self._position(a)

    def _position(self, instant: datetime) -> float:
        """Working seconds from the start of ``self._epoch`` to ``instant``."""
        t = self.local(instant)
        day = t.date()
        within = sum((min(close, t) - start).total_seconds() for start, close in self.day_intervals(day) if start < t)
        return self._before(day) + within

    def _before(self, day: date) -> float:
        with self._lock:  # calendars are shared between threads (see load_calendar)
            if self._epoch is None or day < self._epoch:
                self._epoch = day - timedelta(days=400)
                self._cum = [0.0]
            idx = (day - self._epoch).days
            cum = self._cum
            while len(cum) <= idx:
                previous = self._epoch + timedelta(days=len(cum) - 1)
                cum.append(cum[-1] + sum((b - a).total_seconds() for a, b in self.day_intervals(previous)))
            return cum[idx]

    def between(self, a: datetime, b: datetime) -> int:
        """Whole working minutes from ``a`` to ``b`` (negative when ``b`` is before ``a``)."""
        seconds = self.between_seconds(a, b)
        return int(seconds // 60) if seconds >= 0 else -int(-seconds // 60)


# ---------------------------------------------------------------------- loading


#: city setting rewritten (random token) by every flush that changes ``calendar_overrides``: other
#: processes notice at their next transaction. Whoever edits overrides with raw SQL must write it too.
CALENDAR_VERSION_KEY = "calendar_version"


city_settings.stamp_on_change(CALENDAR_VERSION_KEY, (CalendarOverride,))


def forget_overrides(session: Session) -> None:
    """Make every process re-read the overrides at its next transaction (after a raw SQL edit, or
    from code that cannot rely on this module's flush listener being registered)."""
    city_settings.put(session, CALENDAR_VERSION_KEY, uuid.uuid4().hex)


def load_calendar(session: Session) -> WorkingCalendar:
    """The city calendar: office hours and zone from city settings (defaults if unset) + overrides.

    Overrides are cached per process and database, keyed by the ``calendar_version`` setting read
    in this transaction (see ``CALENDAR_VERSION_KEY``): no query while they are unchanged. The calendar
    itself is kept per process by the settings it was built from, as stored (no parsing while they are
    unchanged: an intake asks for it on every request).
    """
    if city_settings.has_changes(session, (CalendarOverride,)):
        session.flush()   # what the query would autoflush: pending edits must count (and restamp the version)
    stored = (database_key(session), repr(city_settings.peek(session, "office_hours")),
              city_settings.peek(session, "timezone"), city_settings.peek(session, CALENDAR_VERSION_KEY))
    calendar = _BY_SETTINGS.get(stored)
    if calendar is None:
        calendar = _build(session)
        with _cache_lock:
            if len(_BY_SETTINGS) >= 16:
                _BY_SETTINGS.clear()
            _BY_SETTINGS[stored] = calendar
    return calendar


def _build(session: Session) -> WorkingCalendar:
    hours = normalize_hours(city_settings.office_hours(session))
    zone = city_settings.timezone(session) or DEFAULT_TIMEZONE
    overrides = _overrides(session)
    key = (tuple(sorted(hours.items())), str(zone), overrides)
    calendar = _CALENDARS.get(key)
    if calendar is None:
        calendar = WorkingCalendar(hours=hours, timezone=str(zone), overrides=dict(overrides))
        with _cache_lock:
            if len(_CALENDARS) >= 16:
                _CALENDARS.clear()
            _CALENDARS[key] = calendar
    return calendar


def _overrides(session: Session) -> tuple[tuple[date, bool], ...]:
    """(day, is_working) of every override, sorted; cached by database and ``calendar_version``."""
    fingerprint = (database_key(session), city_settings.get(session, CALENDAR_VERSION_KEY))
    cached = _OVERRIDES.get(fingerprint)
    if cached is None:
        rows = session.exec(select(CalendarOverride.day, CalendarOverride.is_working)).all()
        cached = tuple(sorted((day, bool(is_working)) for day, is_working in rows))
        with _cache_lock:
            if len(_OVERRIDES) >= 16:
                _OVERRIDES.clear()
            _OVERRIDES[fingerprint] = cached
    return cached


#: calendars by configuration: they are immutable, so requests and jobs share their caches
_CALENDARS: dict[tuple[Any, ...], WorkingCalendar] = {}
_OVERRIDES: dict[tuple[str, Any], tuple[tuple[date, bool], ...]] = {}
#: calendars by the stored settings they were built from (database, office hours, zone, overrides' version)
_BY_SETTINGS: dict[tuple[Any, ...], WorkingCalendar] = {}
_cache_lock = threading.Lock()


def set_override(session: Session, *, day: date, is_working: bool, note: str = "") -> CalendarOverride:
    """Admin edit: make ``day`` an extra day off or an extra working day (replaces any previous one)."""
    if len(note) > 255:
        raise InvalidInput("Ghi chú quá dài (tối đa 255 ký tự).", code="note-too-long")
    row = session.exec(select(CalendarOverride).where(CalendarOverride.day == day)).first()
    row = row or CalendarOverride(day=day, is_working=is_working)
    row.is_working, row.note = is_working, note
    session.add(row)
    session.flush()
    log.info("calendar override %s is_working=%s", day, is_working)
    return row


def remove_override(session: Session, *, day: date) -> bool:
    """Admin edit: drop the override of ``day``; returns whether there was one."""
    row = session.exec(select(CalendarOverride).where(CalendarOverride.day == day)).first()
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


@lru_cache(maxsize=1)
def default_calendar() -> WorkingCalendar:
    """The default calendar (no settings, no overrides): for code with no session at hand."""
    return WorkingCalendar()
