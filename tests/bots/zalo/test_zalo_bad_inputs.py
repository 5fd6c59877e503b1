"""Hostile but signed Zalo events (issue 21, finding 7): a lone surrogate in the text is accepted and
answered politely (a 503 made Zalo redeliver it forever), an absurd timestamp is a 401, never a 500."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from backend.models import InboundMessage

from fakes import zalo as fz


def _post(zclient, raw: bytes, timestamp: str):
    headers = {"X-ZEvent-Signature": fz.sign(raw, timestamp), "Content-Type": "application/json"}
    return zclient.post("/bots/zalo/webhook", data=raw, headers=headers)


def _inbound(session):
    session.expire_all()
    return session.exec(select(InboundMessage)).all()


@pytest.mark.parametrize("text", ["\ud800", "tra cứu \udc00", "\udfff\ud800"])
def test_lone_surrogate_escape_is_accepted_and_stored_readably(zclient, session, text):
    event = fz.text_event("u-sur", text)
    raw = json.dumps(event, separators=(",", ":")).encode("ascii")  # "\\ud800" escapes, as a client may send
    resp = _post(zclient, raw, event["timestamp"])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["status"] == "accepted"
    (row,) = _inbound(session)
    stored = row.payload["message"]["text"]
    assert "\ufffd" in stored and not any(0xD800 <= ord(c) <= 0xDFFF for c in stored)


def test_surrogate_as_raw_utf8_bytes_is_accepted(zclient, session):
    event = fz.text_event("u-sur2", "PLACEHOLDER")
    raw = fz.dumps(event).replace(b"PLACEHOLDER", b"\xed\xa0\x80 hi")
    resp = _post(zclient, raw, event["timestamp"])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    (row,) = _inbound(session)
    assert row.payload["message"]["text"] == "\ufffd hi"


def test_the_bot_answers_a_surrogate_text_politely(zclient, run_jobs, fake_zalo):
    event = fz.text_event("u-sur3", "\ud800")
    raw = json.dumps(event, separators=(",", ":")).encode("ascii")
    assert _post(zclient, raw, event["timestamp"]).status_code == 200
    run_jobs()
    replies = fake_zalo.texts("u-sur3")
    assert replies and all(r.strip() for r in replies)


@pytest.mark.parametrize("timestamp", ['"1e400"', "1e400", '"inf"', '"-1e400"', '"NaN"', '"99999999999999999999999"'])
def test_absurd_timestamp_is_401_never_500(zclient, session, timestamp):
    event = fz.text_event("u-ts", "xin chào")
    raw = fz.dumps(event).replace(f'"timestamp":"{event["timestamp"]}"'.encode(),
                                  f'"timestamp":{timestamp}'.encode())
    resp = _post(zclient, raw, json.loads(timestamp) if timestamp.startswith('"') else timestamp)
    assert resp.status_code == 401, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    assert _inbound(session) == []


def test_json_nested_5000_deep_is_401_and_nothing_stored(zclient, session):
    raw = b'{"a":' * 5000 + b"1" + b"}" * 5000
    resp = _post(zclient, raw, "1")
    assert resp.status_code == 401 and _inbound(session) == []
