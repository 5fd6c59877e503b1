"""The app's sign-in maps uid → resident from a per-process cache (issue 20) without breaking the
identity's stamping contract, first use, rolled-back requests or retention."""

from __future__ import annotations

import time
import types
from datetime import timedelta

from sqlalchemy import event
from sqlmodel import select
from v1_helpers import INSIDE

from backend.models import Identity, Report, Resident
from backend.models.base import utcnow
from backend.services import retention
from backend.services.residents import INTERACTION_RESOLUTION, known

R = "/api/v1/reports"
BODY = {"category": "duong-hu-hong", "description": "Ổ gà", "location": INSIDE}


def _post(client, session, headers, body=BODY) -> tuple[int, int]:
    """(status, identity queries) of one intake."""
    seen: list[str] = []

    def listener(_conn, _cursor, statement, *_args) -> None:
        if "identities" in statement:
            seen.append(statement)

    engine = session.get_bind().engine
    event.listen(engine, "before_cursor_execute", listener)
    try:
        r = client.post(R, json=body, headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return r.status_code, len(seen)


def _identity(session, uid: str) -> Identity:
    session.expire_all()
    return session.exec(select(Identity).where(Identity.provider == "firebase", Identity.subject == uid)).one()


def test_a_repeat_request_makes_no_identity_query_and_a_new_uid_gets_its_resident(client, session, auth, demo_city):
    status, queries = _post(client, session, auth("newcomer"))
    assert status == 201 and queries >= 1  # first use: looked up and created
    identity = _identity(session, "newcomer")
    report = session.exec(select(Report).where(Report.resident_id == identity.resident_id)).one()
    assert report.description == "Ổ gà"
    status, queries = _post(client, session, auth("newcomer"))
    assert (status, queries) == (201, 0)
    reports = session.exec(select(Report).where(Report.resident_id == identity.resident_id)).all()
    assert len(reports) == 2


def test_after_the_window_the_identity_is_stamped_again(client, session, auth, demo_city, monkeypatch):
    assert _post(client, session, auth("regular"))[0] == 201
    identity = _identity(session, "regular")
    old = utcnow() - 2 * INTERACTION_RESOLUTION
    identity.last_interaction_at = old
    session.add(identity)
    session.commit()
    later = time.monotonic() + INTERACTION_RESOLUTION.total_seconds() + 1
    monkeypatch.setattr(known, "time", types.SimpleNamespace(monotonic=lambda: later))
    status, queries = _post(client, session, auth("regular"))
    assert status == 201 and queries >= 1
    assert _identity(session, "regular").last_interaction_at > utcnow() - timedelta(minutes=1)


def test_new_claims_take_the_full_lookup(client, session, auth, demo_city):
    assert _post(client, session, auth("linker"))[0] == 201
    status, queries = _post(client, session, auth("linker", email="linker@example.vn"))
    assert status == 201 and queries >= 1
    assert _identity(session, "linker").data.get("email") == "linker@example.vn"


def test_a_rolled_back_first_request_caches_nothing(client, session, auth, demo_city):
    bad = {**BODY, "category": "khong-co-loai-nay"}
    r = client.post(R, json=bad, headers=auth("unlucky"))
    assert 400 <= r.status_code < 500
    assert session.exec(select(Identity).where(Identity.subject == "unlucky")).first() is None
    status, _ = _post(client, session, auth("unlucky"))
    assert status == 201  # a cached id of the rolled-back resident would break the report's foreign key
    assert _identity(session, "unlucky").resident_id is not None


def test_a_resident_anonymised_by_retention_gets_a_fresh_resident(client, session, auth, demo_city):
    assert client.get("/api/v1/me/reports", headers=auth("leaver")).status_code == 200
    first = _identity(session, "leaver").resident_id
    # idle for years, no report: the scrub of idle residents takes them
    assert retention.anonymize(session, older_than="24m", now=utcnow() + timedelta(days=3 * 365))["residents"] >= 1
    session.commit()
    assert session.get(Resident, first).anonymized_at is not None
    status, _ = _post(client, session, auth("leaver"))
    assert status == 201
    fresh = _identity(session, "leaver").resident_id
    assert fresh != first
    assert session.exec(select(Report.resident_id)).all() == [fresh]


def test_a_known_resident_new_to_this_process_costs_one_read_and_no_write(client, session, auth, demo_city):
    """Another worker (or this one before a restart) served the resident: the first request here reads the
    identity once, writes nothing to it (stamp fresh, same claims), and is cached afterwards."""
    assert _post(client, session, auth("wanderer"))[0] == 201
    stamp = _identity(session, "wanderer").last_interaction_at
    known.forget()   # as a process that never saw this uid
    seen: list[str] = []

    def listener(_conn, _cursor, statement, *_args) -> None:
        if "identities" in statement or "residents" in statement:
            seen.append(statement.split()[0].upper())

    engine = session.get_bind().engine
    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert client.post(R, json=BODY, headers=auth("wanderer")).status_code == 201
        assert client.post(R, json=BODY, headers=auth("wanderer")).status_code == 201
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert seen == ["SELECT"]
    assert _identity(session, "wanderer").last_interaction_at == stamp
    assert len(session.exec(select(Report).where(Report.resident_id == _identity(session, "wanderer").resident_id))
               .all()) == 3
