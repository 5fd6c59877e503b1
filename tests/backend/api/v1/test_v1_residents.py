"""My devices and my notification feed."""

from __future__ import annotations

import pytest
from sqlmodel import select

from backend.models import Delivery, Device, Identity

D = "/api/v1/devices"


def resident_id(session, uid: str) -> int:
    return session.exec(select(Identity).where(Identity.subject == uid)).one().resident_id


def test_register_and_remove_device(client, session, auth):
    r = client.post(D, json={"token": "fcm-token-abcdef", "platform": "ios", "locale": "en"}, headers=auth())
    assert r.status_code == 201 and r.json["kind"] == "token" and r.json["is_active"]
    assert "token" not in {k for k in r.json if k != "kind"}
    again = client.post(D, json={"token": "fcm-token-abcdef"}, headers=auth())
    assert again.json["id"] == r.json["id"]
    assert_404 = client.delete(f"{D}/{r.json['id']}", headers=auth("someone-else"))
    assert assert_404.status_code == 404
    assert client.delete(f"{D}/{r.json['id']}", headers=auth()).status_code == 204
    assert session.get(Device, r.json["id"]).is_active is False
    assert client.delete(f"{D}/999999", headers=auth()).status_code == 404


def test_device_moves_to_the_last_user(client, session, auth):
    first = client.post(D, json={"token": "shared-phone-token", "kind": "fid"}, headers=auth("a")).json
    second = client.post(D, json={"token": "shared-phone-token", "kind": "fid"}, headers=auth("b")).json
    assert first["id"] == second["id"]
    assert session.get(Device, first["id"]).resident_id == resident_id(session, "b")


@pytest.mark.parametrize("body", [{}, {"token": ""}, {"token": "short"}, {"token": "x" * 5000},
                                  {"token": "has spaces in it"}, {"token": "valid-token-1", "kind": "sms"},
                                  {"token": "valid-token-1", "platform": "nokia"}, {"token": 123456789}])
def test_register_bad_input(client, session, auth, body):
    r = client.post(D, json=body, headers=auth())
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert session.exec(select(Device)).all() == []


def test_devices_need_token(client):
    assert client.post(D, json={"token": "fcm-token-abcdef"}).status_code == 401
    assert client.delete(f"{D}/1").status_code == 401


def test_my_notifications_feed(client, session, auth, new_report):
    code = new_report("reader").json["code"]
    rid = resident_id(session, "reader")
    from backend.models import Report

    report = session.exec(select(Report).where(Report.code == code)).one()
    for i in range(3):
        session.add(Delivery(dedupe_key=f"t-{i}", report_id=report.id, recipient_kind="resident",
                             recipient_id=rid, channel="feed", template="status", title=f"Cập nhật {i}",
                             body="Phản ánh của bạn đã được chuyển đơn vị xử lý."))
    session.add(Delivery(dedupe_key="push-1", recipient_kind="resident", recipient_id=rid, channel="push",
                         template="status", title="not in the feed"))
    session.add(Delivery(dedupe_key="other-1", recipient_kind="resident", recipient_id=rid + 1000,
                         channel="feed", template="status", title="someone else's"))
    session.flush()
    r = client.get("/api/v1/me/notifications?per_page=2", headers=auth("reader"))
    assert r.status_code == 200
    assert len(r.json["items"]) == 2 and r.json["next_page"] == 2
    assert r.json["items"][0]["report_code"] == code
    rest = client.get("/api/v1/me/notifications?per_page=2&page=2", headers=auth("reader")).json
    titles = {i["title"] for i in r.json["items"] + rest["items"]}
    assert titles == {"Cập nhật 0", "Cập nhật 1", "Cập nhật 2"}
    assert client.get("/api/v1/me/notifications").status_code == 401
    assert client.get("/api/v1/me/notifications?page=-1", headers=auth("reader")).status_code == 422
