"""Tolerant parsing of Zalo payloads and rendering of long replies (pure functions)."""

from __future__ import annotations

import time

from bots.zalo import events, render

from fakes import zalo as fz


def test_location_variants_and_strings():
    ev = fz.location_event("u1", 9.6, 105.97)
    inc = events.to_incoming(ev)
    assert (inc.kind, inc.lat, inc.lon, inc.user_id) == ("location", 9.6, 105.97, "u1")
    ev["message"]["attachments"][0]["payload"] = {"lat": "9.61", "long": "105.98"}
    assert events.to_incoming(ev).lat == 9.61
    ev["message"] = {"msg_id": "m", "location": {"latitude": 9.62, "longitude": 105.99}}
    assert events.to_incoming(ev).lon == 105.99
    ev["message"] = {"msg_id": "m", "attachments": [{"type": "location", "payload": {"coordinates": {
        "latitude": "NaN", "longitude": "x"}}}]}
    assert events.to_incoming(ev).kind == "other"


def test_image_with_caption_and_several_attachments():
    ev = fz.image_event("u2", "https://a.zdn.vn/1.jpg", "https://a.zdn.vn/2.jpg", caption="Ổ gà")
    inc = events.to_incoming(ev)
    assert inc.kind == "image" and inc.image_urls == ["https://a.zdn.vn/1.jpg", "https://a.zdn.vn/2.jpg"]
    assert inc.text == "Ổ gà"


def test_hostile_shapes_never_raise():
    for payload in ({}, {"event_name": None}, {"message": "x"}, {"sender": [1]},
                    {"event_name": "user_send_image", "sender": {"id": "u"},
                     "message": {"attachments": "nope"}}, {"event_name": "user_send_text", "message": {"text": {}}}):
        assert events.parse(payload).external_id
        assert events.to_incoming(payload).kind in ("other", "text")


def test_ids_for_dedupe():
    follow = fz.follow_event("u3")
    assert events.parse(follow).external_id == f"follow:u3:{follow['timestamp']}"
    text = fz.text_event("u3", "hi")
    assert events.parse(text).external_id == text["message"]["msg_id"]
    assert events.parse(fz.echo_event("u3", "x")).user_id == "u3"


def test_signature_and_freshness():
    raw, headers = fz.signed(fz.text_event("u4", "x", ts_ms=1700000000000))
    sig = headers["X-ZEvent-Signature"]
    kw = {"app_id": fz.APP_ID, "oa_secret_key": fz.OA_SECRET_KEY, "timestamp": "1700000000000"}
    assert events.signature_ok(raw, sig, **kw) and events.signature_ok(raw, sig[4:].upper(), **kw)
    assert not events.signature_ok(raw, sig, **{**kw, "oa_secret_key": ""})
    assert not events.signature_ok(raw, "mac=zz", **kw) and not events.signature_ok(raw, None, **kw)
    assert events.is_fresh(str(int(time.time() * 1000)), max_age_s=60)
    assert not events.is_fresh("1700000000000", max_age_s=60) and not events.is_fresh("abc", max_age_s=60)


def test_long_text_is_split_under_the_limit():
    text = ("Dòng thông tin phản ánh số nhiều.\n" * 150).strip()
    parts = render.split_text(text)
    assert len(parts) > 1 and all(len(p) <= 2000 for p in parts)
    assert "".join(p.replace("\n", "") for p in parts) == text.replace("\n", "")
