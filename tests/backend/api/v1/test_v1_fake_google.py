"""The loopback Google fake drives the real firebase-admin FCM path (shared with the notifications tests)."""

from __future__ import annotations

import firebase_admin
import pytest
from firebase_admin import credentials, exceptions, messaging
from v1_helpers import PROJECT


@pytest.fixture
def fcm_app(fake_google):
    cred = credentials.Certificate(fake_google.service_account_info(PROJECT))
    app = firebase_admin.initialize_app(cred, {"projectId": PROJECT}, name="fcm-fake-test")
    yield app
    firebase_admin.delete_app(app)


def msg(target: str) -> messaging.Message:
    return messaging.Message(fid=target, notification=messaging.Notification(title="Cập nhật", body="PA-ABC234"),
                             data={"code": "PA-ABC234"})


def test_send_runs_oauth_and_records_the_call(fcm_app, fake_google):
    name = messaging.send(msg("fid-ok"), app=fcm_app)
    assert name == f"projects/{PROJECT}/messages/1"
    assert len(fake_google.token_calls) == 1
    assert fake_google.token_calls[0]["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    call, = fake_google.fcm_calls
    assert call["headers"]["Authorization"] == "Bearer fake-access-token"
    assert fake_google.sent_messages() == [{"fid": "fid-ok", "notification": {"title": "Cập nhật",
                                                                              "body": "PA-ABC234"},
                                            "data": {"code": "PA-ABC234"}}]


def test_unregistered_target_and_per_target_failures(fcm_app, fake_google):
    fake_google.unregister("fid-dead")
    fake_google.fail("fid-flaky", 400, "INVALID_ARGUMENT", "bad payload", "INVALID_ARGUMENT", times=1)
    batch = messaging.send_each([msg("fid-ok"), msg("fid-dead"), msg("fid-flaky")], app=fcm_app)
    ok, dead, flaky = batch.responses
    assert ok.success and not dead.success and not flaky.success
    assert isinstance(dead.exception, messaging.UnregisteredError)
    assert isinstance(flaky.exception, exceptions.InvalidArgumentError)
    assert messaging.send(msg("fid-flaky"), app=fcm_app)  # failed once only


def test_token_endpoint_failure_surfaces(fcm_app, fake_google):
    import google.auth.exceptions

    fake_google.token_error = ({"error": "invalid_grant"}, 400)
    with pytest.raises(google.auth.exceptions.RefreshError):
        messaging.send(msg("fid-ok"), app=fcm_app)
    assert fake_google.fcm_calls == []
