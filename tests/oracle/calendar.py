"""The city's working calendar, minute by minute (DESIGN §7): Monday–Friday 07:30–11:30 and 13:30–17:00 in
Asia/Ho_Chi_Minh, minus Vietnamese public holidays, plus the Saturdays the government made working days.

Everything here walks one minute at a time: slow and obviously right. Instants are whole minutes.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
MINUTE = timedelta(minutes=1)
OFFICE = ((time(7, 30), time(11, 30)), (time(13, 30), time(17, 0)))
CLOSE = time(17, 0)
_VN = holidays.country_holidays("VN", years=range(2024, 2029))


@cache
def is_working_day(day: date) -> bool:
    if day in _VN.weekend_workdays:
        return True
    return day.weekday() < 5 and day not in _VN


def is_working_minute(instant: datetime) -> bool:
    """Is the minute starting at ``instant`` office time?"""
    local = instant.astimezone(TZ)
    if not is_working_day(local.date()):
        return False
    return any(a <= local.time() < b for a, b in OFFICE)


def working_minutes(a: datetime, b: datetime) -> int:
    """Office minutes in [a, b)."""
    count, t = 0, a
    while t < b:
        count += is_working_minute(t)
        t += MINUTE
    return count


def add_minutes(start: datetime, minutes: int) -> datetime:
    """The instant at which ``minutes`` office minutes have elapsed since ``start`` (0 → ``start`` itself)."""
    t, left = start, minutes
    while left > 0:
        if is_working_minute(t):
            left -= 1
        t += MINUTE
    return t


def add_days(start: datetime, days: int) -> datetime:
    """Civil Code: the start day is not counted; close of office on the ``days``-th working day after it."""
    day, left = start.astimezone(TZ).date(), days
    while left > 0:
        day += timedelta(days=1)
        left -= is_working_day(day)
    return datetime.combine(day, CLOSE, TZ)


def add(start: datetime, budget: str) -> datetime:
    """``"4h"``, ``"90m"`` or ``"3d"`` from ``start``."""
    amount, unit = int(budget[:-1]), budget[-1]
    if unit == "d":
        return add_days(start, amount)
    return add_minutes(start, amount * (60 if unit == "h" else 1))
