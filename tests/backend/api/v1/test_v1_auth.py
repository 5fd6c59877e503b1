"""Bearer Firebase ID tokens through the real firebase-admin verification path, offline."""

from __future__ import annotations

import secrets

import pytest
from sqlmodel import select

from backend.app import create_app
from backend.config import Settings
from backend.models import Identity, Resident

from fakes.google import keypair, signed_id_token

PROJECT = "demo-phananh"
ME = "/api/v1/me/reports"


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


def assert_problem(r, status: int, type_suffix: str) -> None:
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.mimetype == "application/problem+json"
    assert r.json["type"].endswith("/" + type_suffix)
    assert r.json["status"] == status


def test_valid_token_creates_resident_once(client, session, auth):
    r = client.get(ME, headers=auth("alice"))
    assert r.status_code == 200
    assert r.json == {"items": [], "page": 1, "per_page": 20, "next_page": None}
    assert client.get(ME, headers=auth("alice")).status_code == 200
    ids = session.exec(select(Identity).where(Identity.provider == "firebase", Identity.subject == "alice")).all()
    assert len(ids) == 1
    assert ids[0].data["sign_in_provider"] == "password"
    resident = session.get(Resident, ids[0].resident_id)
    assert resident.is_anonymous_account is False


def test_anonymous_firebase_user_is_a_resident(client, session, auth):
    r = client.get(ME, headers=auth("anon-1", provider="anonymous"))
    assert r.status_code == 200
    ident = session.exec(select(Identity).where(Identity.subject == "anon-1")).one()
    assert session.get(Resident, ident.resident_id).is_anonymous_account is True


def test_missing_token_is_401_with_challenge(client):
    r = client.get(ME)
    assert_problem(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get(ME, headers={"Accept-Language": "en"}).json["title"] == "Unauthorized"
    assert r.json["title"] == "Chưa xác thực"


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer    ", "token xyz", "Bearer a.b.c"])
def test_malformed_authorization_is_401(client, header):
    assert_problem(client.get(ME, headers={"Authorization": header}), 401, "unauthorized")


def test_expired_token_is_401(client, token):
    r = client.get(ME, headers=bearer(token("alice", exp_in=-120)))
    assert_problem(r, 401, "unauthorized")
    assert "hết hạn" in r.json["detail"]


def test_wrong_audience_is_401(client, token):
    assert_problem(client.get(ME, headers=bearer(token(aud="someone-else"))), 401, "unauthorized")


def test_wrong_issuer_is_401(client, token):
    tok = token(iss="https://securetoken.google.com/someone-else")
    assert_problem(client.get(ME, headers=bearer(tok)), 401, "unauthorized")


def test_bad_signature_is_401(client):
    forged = signed_id_token(PROJECT, "alice", key=keypair("attacker")[0])
    assert_problem(client.get(ME, headers=bearer(forged)), 401, "unauthorized")


def test_unknown_key_id_is_401(client, token):
    assert_problem(client.get(ME, headers=bearer(token(kid="kid-404"))), 401, "unauthorized")


def test_cert_endpoint_down_is_503_not_500(client, token, fake_google, session):
    fake_google.certs_status = 500
    r = client.get(ME, headers=bearer(token()))
    assert_problem(r, 503, "unavailable")
    assert r.headers["Retry-After"]
    assert session.exec(select(Resident)).all() == []


def test_cert_endpoint_unreachable_is_503(client, token, fake_google):
    fake_google.stop()
    assert_problem(client.get(ME, headers=bearer(token())), 503, "unavailable")
    fake_google.start()


def test_certificates_are_cached(client, auth, fake_google):
    for uid in ("a1", "a2", "a3"):
        assert client.get(ME, headers=auth(uid)).status_code == 200
    assert fake_google.cert_calls == 1


def test_public_reads_need_no_token(client, demo_city):
    assert client.get("/api/v1/categories").status_code == 200
    assert client.get("/api/v1/reports").status_code == 200


def test_emulator_tokens_accepted_in_development(client, emulator_token, session):
    r = client.get(ME, headers=bearer(emulator_token("emu-user")))
    assert r.status_code == 200
    assert session.exec(select(Identity).where(Identity.subject == "emu-user")).one()


def test_emulator_token_refused_without_emulator(client):
    from fakes.google import emulator_id_token

    assert_problem(client.get(ME, headers=bearer(emulator_id_token(PROJECT))), 401, "unauthorized")


def test_emulator_wrong_audience_still_refused(client, emulator_token):
    assert_problem(client.get(ME, headers=bearer(emulator_token(aud="other"))), 401, "unauthorized")


def test_production_refuses_emulator_host(monkeypatch):
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")
    s = Settings(phananh_env="production", secret_key=secrets.token_urlsafe(48),
                 database_url="postgresql://u@127.0.0.1/db", redis_url="redis://127.0.0.1:6379/0",
                 base_url="https://phananh.example.vn")
    with pytest.raises(RuntimeError, match="FIREBASE_AUTH_EMULATOR_HOST"):
        create_app(s)


def test_production_refuses_to_verify_if_emulator_appears_later(monkeypatch, app, token):
    from backend.errors import Unavailable
    from backend.services.residents import firebase

    s = Settings(phananh_env="production", secret_key=secrets.token_urlsafe(48),
                 database_url="postgresql://u@127.0.0.1/db", redis_url="redis://127.0.0.1:6379/0",
                 base_url="https://phananh.example.vn")
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")
    with pytest.raises(Unavailable):
        firebase.verify_token(token(), settings=s)


def test_key_rotation_unknown_kid_refetches_once(client, auth, token, fake_google):
    """Google rotates its keys: a token naming a kid we do not hold makes us fetch the keys again once."""
    assert client.get(ME, headers=auth("before")).status_code == 200
    assert fake_google.cert_calls == 1
    fake_google.certs = {"kid-2": keypair("rotated")[1]}
    rotated = signed_id_token(PROJECT, "after", key=keypair("rotated")[0], kid="kid-2")
    assert client.get(ME, headers=bearer(rotated)).status_code == 200
    assert client.get(ME, headers=bearer(rotated)).status_code == 200
    assert fake_google.cert_calls == 2
    assert_problem(client.get(ME, headers=bearer(token("old-key"))), 401, "unauthorized")  # retired kid
    assert fake_google.cert_calls == 2  # refetched at most once per interval, whatever the forger sends
