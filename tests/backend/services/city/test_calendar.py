"""Working-calendar arithmetic, checked against deadlines worked out by hand on a paper calendar.

Default calendar: Mon–Fri 07:30–11:30 and 13:30–17:00, Asia/Ho_Chi_Minh, holidays.VN.
Days off that matter below: Tue 24/11/2026 (Ngày Văn hóa Việt Nam), Thu 30/4 + Fri 1/5/2026,
Mon 31/8 + Tue 1/9 + Wed 2/9/2026 (31/8 swapped with Saturday 22/8/2026, a working day),
Thu 4/2 – Wed 10/2/2027 (Tết Đinh Mùi).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, text

from backend.errors import InvalidInput
from backend.models.calendar import CalendarOverride
from backend.services.city import loading as cities
from backend.services.city import settings as city_settings
from backend.services.city.calendar import (
    WorkingCalendar,
    forget_overrides,
    load_calendar,
    normalize_hours,
    parse_duration,
    remove_override,
    set_override,
)

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=VN)


CAL = WorkingCalendar()

CASES = [
    # Friday 16:55: 5 min on Friday, then Monday 16/11.
    (at(2026, 11, 13, 16, 55), "8h", at(2026, 11, 17, 7, 55)),   # Mon 7h30 + Tue 25 min
    (at(2026, 11, 13, 16, 55), "4h", at(2026, 11, 16, 11, 25)),  # Mon 07:30 + 3h55
    (at(2026, 11, 13, 16, 55), "3d", at(2026, 11, 18, 17, 0)),   # Mon(1) Tue(2) Wed(3)
    (at(2026, 11, 13, 16, 55), "15d", at(2026, 12, 7, 17, 0)),   # skips Tue 24/11
    # Friday 16:55 a week later: Monday 23/11 then the holiday on Tuesday 24/11.
    (at(2026, 11, 20, 16, 55), "8h", at(2026, 11, 25, 7, 55)),
    # During lunch: the clock starts at 13:30.
    (at(2026, 11, 17, 12, 10), "8h", at(2026, 11, 18, 14, 0)),   # 3h30 + 4h + 30 min
    (at(2026, 11, 17, 12, 10), "4h", at(2026, 11, 18, 8, 0)),    # 3h30 Tue + 30 min Wed
    (at(2026, 11, 17, 12, 10), "3d", at(2026, 11, 20, 17, 0)),
    (at(2026, 11, 17, 12, 10), "15d", at(2026, 12, 9, 17, 0)),
    (at(2026, 11, 17, 11, 0), "90m", at(2026, 11, 17, 14, 30)),  # 30 min before lunch, 60 after
    (at(2026, 11, 17, 13, 30), "210m", at(2026, 11, 17, 17, 0)),  # ends exactly at the close
    # Eve of Tết 2027: Wednesday 3/2, then nothing until Thursday 11/2.
    (at(2027, 2, 3, 16, 0), "8h", at(2027, 2, 11, 16, 30)),
    (at(2027, 2, 3, 16, 0), "4h", at(2027, 2, 11, 10, 30)),
    (at(2027, 2, 3, 16, 0), "3d", at(2027, 2, 15, 17, 0)),       # Thu 11(1) Fri 12(2) Mon 15(3)
    (at(2027, 2, 3, 16, 0), "15d", at(2027, 3, 3, 17, 0)),
    # Substituted working Saturday 22/8/2026 (for Monday 31/8).
    (at(2026, 8, 22, 9, 0), "4h", at(2026, 8, 22, 15, 0)),
    (at(2026, 8, 22, 9, 0), "8h", at(2026, 8, 24, 9, 30)),       # 6h Sat + 2h Mon
    (at(2026, 8, 22, 9, 0), "3d", at(2026, 8, 26, 17, 0)),
    (at(2026, 8, 22, 9, 0), "15d", at(2026, 9, 16, 17, 0)),      # skips 31/8, 1/9, 2/9
    (at(2026, 8, 21, 16, 0), "8h", at(2026, 8, 22, 16, 30)),     # Friday → the working Saturday
    # Across 30/4–1/5/2026 (Thursday, Friday).
    (at(2026, 4, 29, 15, 0), "1d", at(2026, 5, 4, 17, 0)),       # DESIGN §7 example
    (at(2026, 4, 29, 15, 0), "8h", at(2026, 5, 4, 15, 30)),
    (at(2026, 4, 29, 15, 0), "4h", at(2026, 5, 4, 9, 30)),
    (at(2026, 4, 29, 15, 0), "3d", at(2026, 5, 6, 17, 0)),
    (at(2026, 4, 29, 15, 0), "15d", at(2026, 5, 22, 17, 0)),
    # Weekend / night starts count from the next opening; days count from the next day.
    (at(2026, 11, 14, 10, 0), "8h", at(2026, 11, 17, 8, 0)),     # Mon 7h30 + Tue 30 min
    (at(2026, 11, 14, 10, 0), "1d", at(2026, 11, 16, 17, 0)),
    (at(2026, 11, 16, 22, 0), "1h", at(2026, 11, 17, 8, 30)),
]


@pytest.mark.parametrize(("start", "budget", "expected"), CASES,
                         ids=[f"{s:%Y-%m-%d_%H%M}+{b}" for s, b, _ in CASES])
def test_add_matches_hand_computed_deadline(start: datetime, budget: str, expected: datetime) -> None:
    result = CAL.add(start, budget)
    assert result == expected
    assert result.utcoffset() == timedelta(hours=7)


@pytest.mark.parametrize(("start", "budget", "expected"),
                         [c for c in CASES if c[1].endswith(("h", "m"))])
def test_between_gives_the_hour_budget_back(start: datetime, budget: str, expected: datetime) -> None:
    amount, unit = parse_duration(budget)
    assert CAL.between(start, expected) == amount * (60 if unit == "h" else 1)


def test_between_examples() -> None:
    assert CAL.between(at(2026, 11, 17, 11, 0), at(2026, 11, 17, 14, 0)) == 60     # lunch excluded
    assert CAL.between(at(2026, 11, 13, 16, 55), at(2026, 11, 16, 7, 35)) == 10    # weekend excluded
    assert CAL.between(at(2027, 2, 3, 8, 0), at(2027, 2, 11, 8, 0)) == 450         # Tết excluded
    assert CAL.between(at(2026, 11, 17, 14, 0), at(2026, 11, 17, 11, 0)) == -60    # signed
    assert CAL.between(at(2026, 11, 14, 0, 0), at(2026, 11, 15, 23, 0)) == 0


def test_utc_inputs_are_converted_to_city_time() -> None:
    start_utc = datetime(2026, 11, 13, 9, 55, tzinfo=ZoneInfo("UTC"))  # 16:55 in Hà Nội / HCMC
    assert CAL.add(start_utc, "8h") == at(2026, 11, 17, 7, 55)


def test_working_time_and_next_opening() -> None:
    assert CAL.is_working_time(at(2026, 11, 17, 7, 30))
    assert not CAL.is_working_time(at(2026, 11, 17, 11, 30))
    assert not CAL.is_working_time(at(2026, 11, 24, 9, 0))       # Ngày Văn hóa Việt Nam
    assert CAL.is_working_time(at(2026, 8, 22, 9, 0))            # substituted Saturday
    assert not CAL.is_working_time(at(2026, 8, 31, 9, 0))
    assert CAL.next_opening(at(2026, 11, 14, 10, 0)) == at(2026, 11, 16, 7, 30)
    assert CAL.next_opening(at(2026, 11, 17, 12, 0)) == at(2026, 11, 17, 13, 30)
    assert CAL.next_opening(at(2026, 11, 17, 9, 0)) == at(2026, 11, 17, 9, 0)
    assert CAL.close_of_day(date(2026, 11, 17)) == at(2026, 11, 17, 17, 0)
    with pytest.raises(InvalidInput):
        CAL.close_of_day(date(2026, 11, 24))


def test_overrides_add_days_off_and_working_days() -> None:
    cal = WorkingCalendar(overrides={date(2026, 11, 16): False, date(2026, 11, 14): True})
    assert cal.add(at(2026, 11, 13, 16, 55), "4h") == at(2026, 11, 14, 11, 25)  # Saturday 14 works
    assert cal.add(at(2026, 11, 13, 16, 55), "8h") == at(2026, 11, 17, 7, 55)   # Monday 16 is off
    assert cal.add(at(2026, 11, 13, 16, 55), "3d") == at(2026, 11, 18, 17, 0)  # Sat(1) Tue(2) Wed(3)
    assert cal.add(at(2026, 11, 13, 16, 55), "2d") == at(2026, 11, 17, 17, 0)


def test_custom_office_hours() -> None:
    cal = WorkingCalendar(hours=normalize_hours({"mon": ["08:00-12:00"], "sat": [["08:00", "10:00"]]}))
    assert cal.add(at(2026, 11, 14, 9, 0), "2h") == at(2026, 11, 16, 9, 0)
    assert normalize_hours([["07:00", "11:00"]])[4] and not normalize_hours([["07:00", "11:00"]])[5]


@pytest.mark.parametrize("bad", ["", "8", "8x", "-1h", "0h", "1000000h", "400d", "h8", "8 h 3", None, 8])
def test_parse_duration_rejects_bad_input(bad: object) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_duration(bad)  # type: ignore[arg-type]
    assert err.value.code == "invalid-duration"


def test_parse_duration_accepts_vietnamese_units() -> None:
    assert parse_duration("8 giờ") == (8, "h")
    assert parse_duration("3 NGÀY") == (3, "d")
    assert parse_duration(" 90m ") == (90, "m")


@pytest.mark.parametrize("bad", [{"mon": ["17:00-08:00"]}, {"funday": ["08:00-10:00"]}, [["25:00", "26:00"]],
                                 {"mon": []}, [["08:00", "12:00"], ["11:00", "13:00"]]])
def test_bad_office_hours_are_refused(bad: object) -> None:
    with pytest.raises(InvalidInput):
        normalize_hours(bad)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(InvalidInput):
        CAL.add(datetime(2026, 11, 17, 9, 0), "1h")


def test_load_calendar_reads_overrides(session) -> None:
    session.add(CalendarOverride(day=date(2026, 11, 16), is_working=False, note="Nghỉ đột xuất"))
    session.flush()
    cal = load_calendar(session)
    assert not cal.is_working_day(date(2026, 11, 16))
    set_override(session, day=date(2026, 11, 21), is_working=True, note="Làm bù")
    cal = load_calendar(session)
    assert cal.is_working_day(date(2026, 11, 21))
    assert cal.add(at(2026, 11, 20, 16, 0), "2h") == at(2026, 11, 21, 8, 30)


@contextmanager
def override_reads(session) -> Iterator[list[str]]:
    seen: list[str] = []
    engine = session.get_bind().engine

    def listener(_conn, _cursor, statement, *_args) -> None:
        if "FROM calendar_overrides" in statement and "WHERE" not in statement:   # the full read
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def test_overrides_are_read_once_until_they_change(session) -> None:
    load_calendar(session)
    with override_reads(session) as reads:
        city_settings.forget(session)   # as in a new transaction
        first = load_calendar(session)
        assert load_calendar(session) is first and reads == []
        set_override(session, day=date(2026, 11, 16), is_working=False)
        assert not load_calendar(session).is_working_day(date(2026, 11, 16)) and len(reads) == 1
        remove_override(session, day=date(2026, 11, 16))
        assert load_calendar(session).is_working_day(date(2026, 11, 16)) and len(reads) == 2


def test_orm_edits_count_before_they_are_flushed(session) -> None:
    load_calendar(session)
    row = CalendarOverride(day=date(2026, 11, 17), is_working=False)
    session.add(row)
    assert not load_calendar(session).is_working_day(date(2026, 11, 17))
    row.is_working = True
    assert load_calendar(session).is_working_day(date(2026, 11, 17))
    session.delete(row)
    session.flush()
    assert load_calendar(session).overrides == {}


def test_raw_sql_edits_need_forget_overrides(session) -> None:
    load_calendar(session)
    session.execute(text("INSERT INTO calendar_overrides (day, is_working, note) VALUES (:d, :w, '')"),
                    {"d": date(2026, 11, 18), "w": False})
    assert load_calendar(session).is_working_day(date(2026, 11, 18))   # cached: the version did not change
    forget_overrides(session)
    assert not load_calendar(session).is_working_day(date(2026, 11, 18))


def test_a_city_pack_with_new_overrides_is_seen(session) -> None:
    load_calendar(session)
    pack = {"units": [{"code": "ioc", "kind": "ioc", "is_triage": True, "name_vi": "Trung tâm điều hành"}],
            "calendar_overrides": [{"day": "2026-12-31", "is_working": False, "note": "Nghỉ bù"}]}
    cities.load_city_pack(session, pack)
    assert not load_calendar(session).is_working_day(date(2026, 12, 31))


def test_parse_instant() -> None:
    assert CAL.parse_instant("2026-11-20T16:55") == at(2026, 11, 20, 16, 55)
    assert CAL.parse_instant("2026-11-20T09:55:00+00:00") == at(2026, 11, 20, 16, 55)
    for bad in ("", "hôm qua", "2026-13-01", "20/11/2026"):
        with pytest.raises(InvalidInput):
            CAL.parse_instant(bad)
