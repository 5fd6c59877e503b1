"""Public codes: format, alphabet, collision retry, normalisation of what humans type."""

from __future__ import annotations

import re
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import select

from backend.models import Report
from backend.services.reports import codes

CODE = re.compile(r"^PA-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{6}$")


def test_random_codes_use_the_unambiguous_alphabet() -> None:
    for _ in range(500):
        code = codes.random_code()
        assert CODE.match(code), code
        assert not set(code[3:]) & set("0O1ILU")


def test_new_code_skips_codes_already_taken(session) -> None:
    session.add(Report(code="PA-AAAAAA"))
    session.flush()
    drawn = iter(["PA-AAAAAA", "PA-AAAAAA", "PA-BBBBBB"])
    assert codes.new_code(session, draw=lambda: next(drawn)) == "PA-BBBBBB"


def test_new_code_gives_up_loudly_when_every_draw_collides(session) -> None:
    session.add(Report(code="PA-AAAAAA"))
    session.flush()
    with pytest.raises(RuntimeError):
        codes.new_code(session, draw=lambda: "PA-AAAAAA")


@pytest.mark.parametrize("typed", ["PA-7K3M9Q", "pa-7k3m9q", "PA7K3M9Q", "pa 7k3m9q", " PA - 7K3M9Q ",
                                   "PA–7K3M9Q", "7k3m9q", "ＰＡ－７Ｋ３Ｍ９Ｑ", "PA.7K3M9Q", "pa_7k3m9q"])
def test_normalize_accepts_what_people_type(typed: str) -> None:
    assert codes.normalize_code(typed) == "PA-7K3M9Q"


@pytest.mark.parametrize("typed", [None, "", "PA-", "PA-7K3M9", "PA-7K3M9QQ", "PA-0K3M9Q", "PA-OK3M9Q",
                                   "PA-1K3M9Q", "PA-IK3M9Q", "PA-LK3M9Q", "PA-UK3M9Q", "XY-7K3M9Q",
                                   "tra cứu PA-7K3M9Q", "PA-7K3M9Q" * 10, "PA-7K3M9!", 12345])
def test_normalize_refuses_non_codes(typed) -> None:
    assert codes.normalize_code(typed) is None


@given(st.text(max_size=60))
def test_normalize_never_raises_and_returns_canonical_or_none(text: str) -> None:
    result = codes.normalize_code(text)
    assert result is None or CODE.match(result)


@given(st.builds(lambda: codes.random_code()))
def test_random_codes_round_trip(code: str) -> None:
    assert codes.normalize_code(code) == code
    assert codes.normalize_code(code.lower().replace("-", " ")) == code
    assert codes.is_code(code)


@pytest.mark.parametrize(("text", "code"), [
    ("tra cứu PA-7K3M9Q", "PA-7K3M9Q"), ("tra cuu pa 7k3m9q giúp tôi", "PA-7K3M9Q"),
    ("mã: PA7K3M9Q.", "PA-7K3M9Q"), ("Tra cứu PA-0K3M9Q", None), ("không có mã", None), ("", None),
    ("PAPA-7K3M9Q", None), ("PA-7K3M9Q2", None),
])
def test_find_code_in_free_text(text: str, code: str | None) -> None:
    assert codes.find_code(text) == code


def test_insert_with_code_retries_a_taken_code(session) -> None:
    session.add(Report(code="PA-AAAAAA"))
    session.flush()
    drawn = iter(["PA-AAAAAA", "PA-AAAAAA", "PA-BBBBBB"])
    seen: list[str] = []
    report = Report(description="mới")
    codes.insert_with_code(session, report, prepare=lambda r: seen.append(r.code), draw=lambda: next(drawn))
    assert report.id is not None and report.code == "PA-BBBBBB"
    assert seen == ["PA-AAAAAA", "PA-AAAAAA", "PA-BBBBBB"]   # derived fields follow every new draw
    # a taken code inserts nothing (ON CONFLICT DO NOTHING): the transaction goes on with both rows
    assert set(session.exec(select(Report.code)).all()) == {"PA-AAAAAA", "PA-BBBBBB"}


@pytest.mark.parametrize("claim", ["claim_statement_with", "claim_statement_with_one"])
def test_insert_with_code_then_claims_only_for_the_inserted_row(session, claim) -> None:
    """PostgreSQL: intake's photo claim rides on the report's INSERT; a draw that collides inserts nothing
    and claims nothing, the next one does both (the list form and the one-photo form)."""
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("the combined statement is PostgreSQL's (SQLite claims by its own UPDATE)")
    from backend.models import Photo
    from backend.services.photos import linking

    session.add(Report(code="PA-AAAAAA"))
    photo = Photo(mime="image/jpeg", state="pending")
    session.add(photo)
    session.flush()
    drawn = iter(["PA-AAAAAA", "PA-BBBBBB"])
    report = Report(description="mới")
    rows = codes.insert_with_code_then(session, report, getattr(linking, claim),
                                       linking.claim_params([photo.id], resident_id=None, staff_id=None),
                                       draw=lambda: next(drawn))
    assert report.code == "PA-BBBBBB"
    assert [(r[0], r[1]) for r in rows] == [(photo.id, report.id)]   # (id, report_id), photos column order
    session.expire_all()
    assert session.get(Photo, photo.id).report_id == report.id


def test_insert_with_code_keeps_earlier_pending_changes(session) -> None:
    earlier = Report(code="PA-CCCCCC")
    session.add(earlier)   # pending, not flushed: a failed attempt must not take it down
    session.add(Report(code="PA-AAAAAA"))
    session.flush()
    earlier.description = "sửa trước khi tạo phản ánh mới"
    drawn = iter(["PA-AAAAAA", "PA-DDDDDD"])
    codes.insert_with_code(session, Report(), draw=lambda: next(drawn))
    session.expire_all()
    assert session.get(Report, earlier.id).description == "sửa trước khi tạo phản ánh mới"


def test_insert_with_code_gives_up_loudly(session) -> None:
    session.add(Report(code="PA-AAAAAA"))
    session.flush()
    with pytest.raises(RuntimeError):
        codes.insert_with_code(session, Report(), draw=lambda: "PA-AAAAAA")


def test_concurrent_intakes_drawing_the_same_code_both_succeed(live_db) -> None:
    """The other transaction holds the code uncommitted: ours waits on the unique index, then retries."""
    if live_db.is_sqlite:
        pytest.skip("SQLite transactions take the write lock at BEGIN: writers never interleave")
    flushed, done = threading.Event(), threading.Event()

    def other() -> None:
        with live_db.session() as s:
            s.add(Report(code="PA-RACE22"))
            s.flush()
            flushed.set()
            time.sleep(0.3)   # our INSERT is blocked on the index meanwhile
            s.commit()
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    assert flushed.wait(10)
    drawn = iter(["PA-RACE22", "PA-RACE33"])
    with live_db.session() as s:
        report = codes.insert_with_code(s, Report(), draw=lambda: next(drawn))
        s.commit()
        assert report.code == "PA-RACE33"
    thread.join(10)
    assert done.is_set()
    with live_db.session() as s:
        assert set(s.exec(select(Report.code)).all()) == {"PA-RACE22", "PA-RACE33"}
