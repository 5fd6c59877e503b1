"""Phone numbers as residents type them: recognised in any usual Vietnamese form, nothing else taken."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.services.residents import phones

national = st.tuples(st.sampled_from("35789"), st.text("0123456789", min_size=8, max_size=8)).map("".join)


def _spaced(digits: str, sep: str) -> str:
    return sep.join([digits[:3], digits[3:6], digits[6:]])


@settings(max_examples=150, deadline=None)
@given(national, st.sampled_from(["", " ", ".", "-"]),
       st.sampled_from(["0{}", "+84 {}", "84{}", "(+84) {}", "0084{}", "+84 0{}", "SĐT: 0{}", "sdt 0{}",
                        "Số điện thoại: 0{}", "so dien thoai cua toi la 0{}", "  0{}.  "]))
def test_every_usual_form_of_a_mobile_number_is_recognised(digits, sep, form):
    assert phones.parse(form.format(_spaced(digits, sep))) == "84" + digits


@settings(max_examples=150, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_anything_else_is_not_a_number_or_is_a_valid_one(text):
    found = phones.parse(text)
    assert found is None or (len(found) == 11 and found.startswith("84") and found[2] in "35789")


@pytest.mark.parametrize("text", ["", "xin chào", "0123456789", "0212345678", "091234567", "09123456789",
                                  "gọi 0912345678", "0912345678 0987654321", "++84912345678", "84+912345678",
                                  "PA-7K3M9Q", "1", "0" * 70])
def test_not_a_vietnamese_mobile(text):
    assert phones.parse(text) is None


def test_how_a_number_is_shown():
    assert phones.local("84912345678") == "0912 345 678"
    assert phones.masked("84912345678") == "0912 *** 678"
