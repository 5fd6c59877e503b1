"""``models.base.construct`` builds the same row as the model's own constructor (the hot write paths use it)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from backend.models.base import construct
from backend.models.photos import Photo
from backend.models.reports import Report, ReportEvent

AT = datetime(2026, 12, 6, 8, 30, tzinfo=UTC)

CASES = [
    (Report, {"channel": "app", "status": "received", "priority": "normal", "description": "Ổ gà",
              "lat": 9.6, "lon": 105.97, "resident_id": 3, "attributes": {"k": "v"}, "created_at": AT,
              "updated_at": AT}),
    (Report, {"channel": "zalo", "status": "received", "description": "", "created_at": AT, "updated_at": AT}),
    (ReportEvent, {"report_id": 7, "at": AT, "actor_kind": "system", "kind": "created", "is_public": True,
                   "data": {"channel": "app"}}),
    (Photo, {"id": 5, "report_id": 7, "resident_id": 3, "role": "report", "state": "ready", "mime": "image/jpeg",
             "created_at": AT}),
]


@pytest.mark.parametrize(("model", "values"), CASES)
def test_construct_equals_the_constructor(model, values) -> None:
    built, made = construct(model, values), model(**values)
    assert built.model_dump() == made.model_dump()


def test_construct_gives_each_row_its_own_default_containers() -> None:
    a = construct(Report, {"channel": "app", "created_at": AT, "updated_at": AT})
    b = construct(Report, {"channel": "app", "created_at": AT, "updated_at": AT})
    a.attributes["x"] = 1
    assert b.attributes == {} and a.attributes is not b.attributes


def test_a_constructed_row_is_saved_and_tracked_like_a_made_one(session) -> None:
    report = construct(Report, {"channel": "app", "status": "received", "description": "Đèn tắt",
                                "code": "PA-TEST22", "created_at": AT, "updated_at": AT})
    session.add(report)
    session.flush()
    report.description = "Đèn đường tắt"
    session.flush()
    session.expire_all()
    stored = session.get(Report, report.id)
    assert stored.description == "Đèn đường tắt" and stored.channel == "app" and stored.code == "PA-TEST22"
