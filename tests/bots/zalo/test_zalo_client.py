"""The Zalo client against the fake OA API: envelopes, typed errors, token refresh under a lock."""

from __future__ import annotations

import threading

import pytest
from sqlmodel import select

from backend.models import ChannelToken
from bots.zalo import client as zc
from bots.zalo.tokens import TokenStore

from fakes import zalo as fz


def make_client(fake: fz.FakeZalo, db, **kw) -> zc.Client:
    client = zc.Client(app_id=fz.APP_ID, app_secret=fz.APP_SECRET, api_base=fake.base, oauth_base=fake.base,
                       zns_base=fake.zns_base, backoff_s=0.01, timeout=(1.0, 1.0), **kw)
    client.tokens = TokenStore(db, refresher=client.refresh_access_token, bootstrap_access="at-initial",
                               bootstrap_refresh="rt-initial")
    return client


def test_send_text_uses_cs_endpoint_and_access_token_header(fake_zalo, db):
    client = make_client(fake_zalo, db)
    data = client.send_message("u1", text="Xin chào")
    assert data["message_id"] and data["user_id"] == "u1"
    call = fake_zalo.calls("/v3.0/oa/message/cs")[0]
    assert call.headers["access_token"] == "at-initial"
    assert call.json == {"recipient": {"user_id": "u1"}, "message": {"text": "Xin chào"}}


def test_upload_then_send_image_and_user_detail(fake_zalo, db):
    client = make_client(fake_zalo, db)
    att = client.upload_image(fz.tiny_jpeg())
    assert att.startswith("att-")
    client.send_image("u2", attachment_id=att)
    sent = fake_zalo.sent("u2")[0]
    assert sent["attachment"]["payload"]["elements"][0] == {"media_type": "image", "attachment_id": att}
    detail = client.get_user_detail("u2")
    assert detail["user_id"] == "u2" and detail["user_is_follower"] is True
    assert fake_zalo.calls("/v3.0/oa/user/detail")[0].query["data"] == ['{"user_id":"u2"}']


def test_error_body_with_http_200_raises_typed_errors(fake_zalo, db):
    client = make_client(fake_zalo, db, rate_limit_retries=1)
    fake_zalo.non_followers.add("nf")
    with pytest.raises(zc.ZaloNotFollower) as err:
        client.send_text("nf", "x")
    assert err.value.code == -213 and err.value.reason == "not-follower"
    fake_zalo.outside_window.add("old")
    with pytest.raises(zc.ZaloOutsideWindow):
        client.send_text("old", "x")
    fake_zalo.fail("/v3.0/oa/message/cs", error=-201, message="message is invalid!")
    with pytest.raises(zc.ZaloError) as err:
        client.send_text("u3", "x")
    assert err.value.code == -201
    fake_zalo.fail("/v3.0/oa/message/cs", error=-32, times=5)
    with pytest.raises(zc.ZaloRateLimited):
        client.send_text("u3", "x")


def test_rate_limit_is_retried_with_backoff(fake_zalo, db):
    slept: list[float] = []
    client = make_client(fake_zalo, db, sleep=slept.append)
    fake_zalo.fail("/v3.0/oa/message/cs", error=-32, times=2)
    client.send_text("u4", "sau giới hạn")
    assert fake_zalo.texts("u4") == ["sau giới hạn"]
    assert slept == [0.01, 0.02]


def test_5xx_and_timeouts_are_unavailable(fake_zalo, db):
    client = make_client(fake_zalo, db)
    fake_zalo.fail("/v3.0/oa/message/cs", status=502)
    with pytest.raises(zc.ZaloUnavailable):
        client.send_text("u5", "x")
    fake_zalo.fail("/v3.0/oa/message/cs", delay=1.5)
    with pytest.raises(zc.ZaloUnavailable):
        client.send_text("u5", "x")


def test_expired_token_is_refreshed_once_and_persisted_before_use(fake_zalo, db):
    client = make_client(fake_zalo, db)
    client.send_text("u6", "một")
    fake_zalo.expire_access_token()
    client.send_text("u6", "hai")
    assert fake_zalo.texts("u6") == ["một", "hai"]
    refreshes = fake_zalo.calls("/v4/oa/access_token")
    assert len(refreshes) == 1
    assert refreshes[0].headers["secret_key"] == fz.APP_SECRET
    assert refreshes[0].form == {"refresh_token": ["rt-initial"], "app_id": [fz.APP_ID],
                                 "grant_type": ["refresh_token"]}
    with db.session() as s:
        row = s.exec(select(ChannelToken)).one()
        assert row.access_token in fake_zalo.access_tokens and row.refresh_token in fake_zalo.refresh_tokens
        assert row.expires_at is not None and row.version == 1


def test_token_rejected_after_refresh_is_not_refreshed_twice(fake_zalo, db):
    client = make_client(fake_zalo, db)
    fake_zalo.fail("/v3.0/oa/message/cs", error=-216, times=2)
    with pytest.raises(zc.ZaloAuthError):
        client.send_text("u7", "x")
    assert len(fake_zalo.calls("/v4/oa/access_token")) == 1


def test_refused_refresh_is_a_refresh_error(fake_zalo, db):
    client = make_client(fake_zalo, db)
    fake_zalo.refresh_tokens.clear()
    fake_zalo.expire_access_token()
    with pytest.raises(zc.ZaloRefreshError):
        client.send_text("u8", "x")


def test_two_workers_refreshing_at_once_spend_the_refresh_token_once(fake_zalo, live_db):
    """Two clients (two workers) see -216 at the same moment: exactly one OAuth refresh call."""
    fake_zalo.refresh_delay = 0.3
    clients = [make_client(fake_zalo, live_db) for _ in range(2)]
    clients[0].tokens.access_token()  # bootstrap the row
    fake_zalo.expire_access_token()
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def work(c: zc.Client, n: int) -> None:
        try:
            barrier.wait()
            c.send_text("u9", f"tin {n}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c, n)) for n, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    assert len(fake_zalo.calls("/v4/oa/access_token")) == 1
    assert sorted(fake_zalo.texts("u9")) == ["tin 0", "tin 1"]


def test_access_token_refreshed_before_expiry(fake_zalo, db):
    from datetime import timedelta

    from backend.models.base import utcnow

    client = make_client(fake_zalo, db)
    client.tokens.access_token()
    with db.session() as s:
        row = s.get(ChannelToken, "zalo")
        row.expires_at = utcnow() + timedelta(minutes=10)
        s.add(row)
        s.commit()
    client.send_text("u10", "x")
    assert len(fake_zalo.calls("/v4/oa/access_token")) == 1
    assert fake_zalo.calls("/v3.0/oa/message/cs")[0].headers["access_token"] != "at-initial"


def test_reset_replaces_the_stored_pair(fake_zalo, db):
    client = make_client(fake_zalo, db)
    fake_zalo.refresh_tokens.clear()
    fake_zalo.expire_access_token()
    with pytest.raises(zc.ZaloRefreshError):
        client.send_text("u11", "x")
    fake_zalo.refresh_tokens.add("rt-new")
    client.tokens.reset(access_token="stale", refresh_token="rt-new")
    client.send_text("u11", "sau khi cấp lại quyền")
    assert fake_zalo.texts("u11") == ["sau khi cấp lại quyền"]


# --------------------------------------------------------------------------- ZNS, request-user-info, anonymous


def test_zns_goes_to_its_own_host_with_the_oa_token(fake_zalo, db):
    client = make_client(fake_zalo, db)
    fake_zalo.approve_zns_template("231677", {"code": 30, "status": 30})
    data = client.send_zns("84912345678", template_id="231677", template_data={"code": "PA-7K3M9Q",
                                                                              "status": "Đã xử lý"},
                           tracking_id="phananh-d1")
    assert data["msg_id"] and data["quota"]["remainingQuota"]
    [call] = fake_zalo.calls("/message/template")
    assert call.server == "zns" and call.headers["access_token"] == "at-initial"
    assert call.json == {"phone": "84912345678", "template_id": "231677", "tracking_id": "phananh-d1",
                         "template_data": {"code": "PA-7K3M9Q", "status": "Đã xử lý"}}


@pytest.mark.parametrize(("code", "error"), [(-109, zc.ZaloZnsRejected), (-1122, zc.ZaloZnsRejected),
                                             (-108, zc.ZaloZnsRejected), (-115, zc.ZaloQuota),
                                             (-133, zc.ZaloNightBan), (-118, zc.ZaloZnsUnreachable),
                                             (-139, zc.ZaloZnsUnreachable), (-100, zc.ZaloUnavailable)])
def test_zns_errors_are_typed(fake_zalo, db, code, error):
    client = make_client(fake_zalo, db)
    fake_zalo.fail("/message/template", error=code)
    with pytest.raises(error) as raised:
        client.send_zns("84912345678", template_id="1", template_data={"code": "x"})
    assert raised.value.code == code


def test_zns_invalid_token_is_refreshed_once(fake_zalo, db):
    client = make_client(fake_zalo, db)
    fake_zalo.approve_zns_template("1", {"code": 30})
    fake_zalo.expire_access_token()
    client.send_zns("0912345678", template_id="1", template_data={"code": "PA-1"})
    assert len(fake_zalo.calls("/v4/oa/access_token")) == 1 and len(fake_zalo.zns_sent("84912345678")) == 1
    assert [c.json for c in fake_zalo.calls("/message/template") if not c.accepted] == [
        {"phone": "0912345678", "template_id": "1", "template_data": {"code": "PA-1"}}]  # -124, then refreshed


def test_cs_quota_is_a_quota_error(fake_zalo, db):
    client = make_client(fake_zalo, db)
    for code in (-211, -218):
        fake_zalo.fail("/v3.0/oa/message/cs", error=code)
        with pytest.raises(zc.ZaloQuota):
            client.send_text("u12", "x")


def test_request_user_info_card(fake_zalo, db):
    client = make_client(fake_zalo, db)
    client.send_request_user_info("u13", title="Thành phố: nhận kết quả", subtitle="Chia sẻ số điện thoại",
                                  image_url="https://example.org/card.png")
    payload = fake_zalo.sent("u13")[0]["attachment"]["payload"]
    assert payload == {"template_type": "request_user_info", "elements": [
        {"title": "Thành phố: nhận kết quả", "subtitle": "Chia sẻ số điện thoại",
         "image_url": "https://example.org/card.png"}]}


def test_anonymous_reply_and_its_v3_fallback(fake_zalo, db):
    client = make_client(fake_zalo, db)
    client.send_anonymous("anon-9", "conv-9", "Vui lòng quan tâm OA")
    assert fake_zalo.anonymous_sent()[0]["recipient"] == {"anonymous_id": "anon-9", "conversation_id": "conv-9"}
    fake_zalo.fail("/v2.0/oa/message", error=-240, message="MessageV2 API has been shut down")
    with pytest.raises(zc.ZaloError):  # the fake (like the docs we have) knows no v3 anonymous reply
        client.send_anonymous("anon-9", "conv-9", "lần hai")
    [v3] = fake_zalo.calls("/v3.0/oa/message/cs")
    assert v3.json["recipient"] == {"anonymous_id": "anon-9", "conversation_id": "conv-9"}
