"""Residents: one resident per identity, and ``last_interaction_at`` written only when it matters."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event

from backend.models import Identity
from backend.models.base import utcnow
from backend.services.residents import residents


def _writes(session, fn) -> list[str]:
    seen: list[str] = []
    engine = session.get_bind().engine

    def listener(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement.split()[0].upper())

    event.listen(engine, "before_cursor_execute", listener)
    try:
        fn()
        session.flush()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return [s for s in seen if s in ("INSERT", "UPDATE", "DELETE")]


def _identity(session, subject: str) -> Identity:
    return session.exec(Identity.__table__.select().where(Identity.subject == subject)).one()


def test_first_use_creates_then_finds_the_same_resident(session) -> None:
    first = residents.resident_for_identity(session, provider="firebase", subject="u-1", data={"email": "a@b.vn"})
    again = residents.resident_for_identity(session, provider="firebase", subject="u-1")
    assert first.id == again.id and first.email == "a@b.vn"


def test_a_recent_interaction_is_not_written_again(session) -> None:
    residents.resident_for_identity(session, provider="firebase", subject="u-2")
    session.flush()
    assert _writes(session, lambda: residents.resident_for_identity(
        session, provider="firebase", subject="u-2")) == []


def test_an_old_interaction_is_refreshed(session) -> None:
    residents.resident_for_identity(session, provider="firebase", subject="u-3")
    identity = session.get(Identity, _identity(session, "u-3").id)
    identity.last_interaction_at = utcnow() - residents.INTERACTION_RESOLUTION - timedelta(seconds=1)
    session.flush()
    assert _writes(session, lambda: residents.resident_for_identity(
        session, provider="firebase", subject="u-3")) == ["UPDATE"]
    assert utcnow() - identity.last_interaction_at < timedelta(minutes=1)


def test_changed_claims_are_still_merged(session) -> None:
    residents.resident_for_identity(session, provider="firebase", subject="u-4", data={"sign_in_provider": "anonymous"})
    residents.resident_for_identity(session, provider="firebase", subject="u-4", data={"sign_in_provider": "password"})
    session.flush()
    session.expire_all()
    assert session.get(Identity, _identity(session, "u-4").id).data["sign_in_provider"] == "password"


def test_chat_identities_keep_an_exact_interaction_time(session) -> None:
    """Zalo's 48-hour reply window is computed from it."""
    residents.resident_for_identity(session, provider="zalo", subject="z-1")
    session.flush()
    assert _writes(session, lambda: residents.resident_for_identity(
        session, provider="zalo", subject="z-1")) == ["UPDATE"]


def test_a_bad_identity_is_refused_by_both_lookups_and_nothing_is_written(session) -> None:
    """The per-process lookup (a lean read first) and the full one refuse the same identities."""
    import pytest
    from sqlmodel import select

    from backend.errors import InvalidInput
    from backend.models import Resident
    from backend.services.residents import resident_id_for_identity

    before = len(session.exec(select(Resident)).all())
    for provider, subject in (("firebase", ""), ("firebase", "x" * 256), ("myspace", "uid-1")):
        for lookup in (resident_id_for_identity, residents.resident_for_identity):
            with pytest.raises(InvalidInput) as refused:
                lookup(session, provider=provider, subject=subject)
            assert refused.value.code == "invalid-identity"
    session.flush()
    assert len(session.exec(select(Resident)).all()) == before
    assert session.exec(select(Identity).where(Identity.subject.in_(["", "x" * 256, "uid-1"]))).all() == []


def test_the_stamp_and_claims_rules_shared_by_both_lookups() -> None:
    now = utcnow()
    res = residents.INTERACTION_RESOLUTION
    assert residents.stamp_due("firebase", None, now)
    assert not residents.stamp_due("firebase", now - res + timedelta(seconds=1), now)
    assert residents.stamp_due("firebase", now - res, now)
    exact = next(iter(residents.EXACT_INTERACTION_PROVIDERS))
    assert residents.stamp_due(exact, now - timedelta(seconds=1), now)
    assert not residents.stamp_due(exact, now, now)
    assert not residents.claims_change({"email": "a@x.vn", "p": 1}, {"email": "a@x.vn"})
    assert residents.claims_change({"email": "a@x.vn"}, {"email": "b@x.vn"})
    assert residents.claims_change(None, {"email": "b@x.vn"})
    assert not residents.claims_change({"email": "a@x.vn"}, None)
