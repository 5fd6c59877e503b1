"""Staff accounts: authentication without an account lockout (the caller throttles), generic errors,
password change ending every session, the throttle counters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backend.errors import InvalidInput, Unauthorized
from backend.services.city import staff as staff_service
from backend.services.city import throttle

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
PW = "mat-khau-dung-10"


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    from argon2 import PasswordHasher

    monkeypatch.setattr(staff_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def admin(session: Any) -> Any:
    return staff_service.create_staff(session, email="Admin@Demo.vn", password=PW, role="admin", name="Quản trị")


def test_authenticate_is_case_insensitive_and_stamps_login(session: Any, admin: Any) -> None:
    who = staff_service.authenticate(session, email=" admin@demo.VN ", password=PW, now=NOW)
    assert who.id == admin.id and who.last_login_at == NOW and who.failed_logins == 0


def test_wrong_password_and_unknown_email_give_the_same_error(session: Any, admin: Any) -> None:
    with pytest.raises(Unauthorized) as bad:
        staff_service.authenticate(session, email="admin@demo.vn", password="sai", now=NOW)
    with pytest.raises(Unauthorized) as unknown:
        staff_service.authenticate(session, email="ai@demo.vn", password="sai", now=NOW)
    assert bad.value.message == unknown.value.message == "E-mail hoặc mật khẩu không đúng."
    assert bad.value.code == unknown.value.code == "bad-credentials"


def test_no_account_lockout_an_attacker_could_set_off(session: Any, admin: Any) -> None:
    for _ in range(20):
        with pytest.raises(Unauthorized):
            staff_service.authenticate(session, email="admin@demo.vn", password="sai", now=NOW)
    assert staff_service.authenticate(session, email="admin@demo.vn", password=PW, now=NOW).id == admin.id


def test_database_counter_backs_off_exponentially(db: Any) -> None:
    counter = throttle.DatabaseCounter(db)
    policy = throttle.Policy(free=2, base_s=5)
    results = [counter.attempt("k", policy, NOW) for _ in range(4)]
    assert [r[0] for r in results] == [True, True, True, False]  # 2 free, then one ticket per period
    assert results[2][2] is True and results[3][1] == 5
    later = counter.attempt("k", policy, NOW + timedelta(seconds=6))  # the next period: one more try
    assert later[0] is True and later[2] is True
    assert counter.attempt("k", policy, NOW + timedelta(seconds=7))[1] == 19  # opened at +6 for 5 · 2² s
    counter.succeeded("k", clear=True)
    assert counter.attempt("k", policy, NOW + timedelta(seconds=8))[0] is True


def test_throttle_counters_store_no_email_or_address_and_expire(db: Any) -> None:
    from sqlalchemy import text

    counter = throttle.DatabaseCounter(db)
    for _ in range(3):  # a resident's e-mail typed by mistake, from a home address
        throttle.check(counter, email="Nguyen.Van.A@gmail.com", ip="203.113.7.9", now=NOW)
    with db.begin() as conn:
        rows = [tuple(r) for r in conn.execute(text("SELECT * FROM login_throttle"))]
    assert len(rows) == 2 and all("gmail" not in str(r).lower() and "203.113" not in str(r) for r in rows)
    # an hour later, anyone's next attempt removes the counters whose window and back-off are over
    throttle.check(counter, email="other@demo.vn", ip="198.51.100.2", now=NOW + timedelta(hours=1, minutes=1))
    with db.begin() as conn:
        keys = {r[0] for r in conn.execute(text("SELECT key FROM login_throttle"))}
    assert keys == {throttle.account_key("other@demo.vn", "198.51.100.2"), throttle.address_key("198.51.100.2")}


def test_inactive_account_cannot_sign_in(session: Any, admin: Any) -> None:
    admin.is_active = False
    with pytest.raises(Unauthorized):
        staff_service.authenticate(session, email="admin@demo.vn", password=PW, now=NOW)


def test_change_password(session: Any, admin: Any) -> None:
    with pytest.raises(InvalidInput) as wrong:
        staff_service.change_password(session, staff=admin, current="sai", new="mat-khau-moi-10", now=NOW)
    assert wrong.value.code == "wrong-password"
    with pytest.raises(InvalidInput) as weak:
        staff_service.change_password(session, staff=admin, current=PW, new="ngan", now=NOW)
    assert weak.value.code == "weak-password"
    with pytest.raises(InvalidInput):
        staff_service.change_password(session, staff=admin, current=PW, new=PW, now=NOW)
    epoch = admin.session_epoch
    staff_service.change_password(session, staff=admin, current=PW, new="mat-khau-moi-10", now=NOW)
    assert admin.password_changed_at == NOW
    assert admin.session_epoch == epoch + 1  # every session of the account ends
    assert staff_service.authenticate(session, email="admin@demo.vn", password="mat-khau-moi-10", now=NOW)
    assert admin.password_hash.startswith("$argon2id$")
