"""The Idempotency-Key protocol (claim → work → complete) on each database's statement path."""

from __future__ import annotations

import pytest
from sqlmodel import select

from backend.errors import Conflict, InvalidInput
from backend.models import IdempotencyKey, Resident
from backend.services import reports

BODY = {"code": "PA-7K3M9Q", "description": "Ổ gà — đường Trần Hưng Đạo", "photos": [{"id": 1}], "n": 1.5}


@pytest.fixture
def resident_id(session) -> int:
    resident = Resident()
    session.add(resident)
    session.flush()
    return resident.id


def test_claim_replay_conflict_and_in_progress(session, resident_id):
    digest = reports.request_hash({"a": 1})
    assert reports.claim_key(session, resident_id=resident_id, key="key-0001-abc", request_hash=digest) is None
    with pytest.raises(Conflict) as pending:
        reports.claim_key(session, resident_id=resident_id, key="key-0001-abc", request_hash=digest)
    assert pending.value.code == "idempotency-key-in-progress"
    reports.complete_key(session, resident_id=resident_id, key="key-0001-abc", status=201, body=BODY)
    session.expire_all()
    stored = reports.claim_key(session, resident_id=resident_id, key="key-0001-abc", request_hash=digest)
    assert stored is not None and (stored.response_status, stored.response_body) == (201, BODY)
    with pytest.raises(Conflict) as reused:
        reports.claim_key(session, resident_id=resident_id, key="key-0001-abc",
                          request_hash=reports.request_hash({"a": 2}))
    assert reused.value.code == "idempotency-key-reused"
    rows = session.exec(select(IdempotencyKey).where(IdempotencyKey.resident_id == resident_id)).all()
    assert len(rows) == 1 and rows[0].request_hash == digest


def test_a_body_given_already_encoded_is_stored_as_the_same_document(session, resident_id):
    import json

    digest = reports.request_hash({"b": 1})
    assert reports.claim_key(session, resident_id=resident_id, key="key-0002-abc", request_hash=digest) is None
    reports.complete_key(session, resident_id=resident_id, key="key-0002-abc", status=201, body=BODY,
                         encoded=json.dumps(BODY, ensure_ascii=False, separators=(",", ":")))
    session.expire_all()
    stored = reports.claim_key(session, resident_id=resident_id, key="key-0002-abc", request_hash=digest)
    assert stored is not None and stored.response_body == BODY


def test_keys_are_per_resident_and_checked(session, resident_id):
    other = Resident()
    session.add(other)
    session.flush()
    digest = reports.request_hash({"c": 1})
    for rid in (resident_id, other.id):
        assert reports.claim_key(session, resident_id=rid, key="shared-key-1", request_hash=digest) is None
    with pytest.raises(InvalidInput):
        reports.claim_key(session, resident_id=resident_id, key="short", request_hash=digest)
