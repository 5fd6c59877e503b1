"""Fuzzing the Zalo webhook with signed events (issue 21, finding 7): hostile text, ids and timestamps
never give a 5xx (Zalo would redeliver it forever); a refused event stores nothing."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import func, select

from backend.models import InboundMessage

from fakes import zalo as fz
from fixtures.hostile import date, text

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(message=text, user=text, timestamp=st.one_of(st.none(), date, st.integers().map(str)))
def test_signed_events_never_5xx(zclient, session, message, user, timestamp):
    event = fz.text_event(user or "u", message)
    if timestamp is not None:
        event["timestamp"] = timestamp
    raw = json.dumps(event, separators=(",", ":")).encode("ascii")  # surrogates travel as \\u escapes
    before = session.scalar(select(func.count()).select_from(InboundMessage))
    resp = zclient.post("/bots/zalo/webhook", data=raw,
                        headers={"X-ZEvent-Signature": fz.sign(raw, str(event["timestamp"])),
                                 "Content-Type": "application/json"})
    assert resp.status_code < 500, resp.get_data(as_text=True)[:300]
    if resp.status_code >= 400:
        session.expire_all()
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == before
