"""Production refuses unsafe settings; settings come from the environment only in the factory."""

import secrets

import pytest

from backend.app import create_app
from backend.config import PLACEHOLDER_SECRET, Settings

GOOD = secrets.token_urlsafe(48)


def prod(**kw):
    base = {"phananh_env": "production", "secret_key": GOOD, "database_url": "postgresql://u@h/db",
            "redis_url": "redis://127.0.0.1:6379/0", "base_url": "https://phananh.soctrang.gov.vn"}
    return Settings(**{**base, **kw})


@pytest.mark.parametrize("kw, needle", [
    ({"secret_key": PLACEHOLDER_SECRET}, "SECRET_KEY"),
    ({"secret_key": "short"}, "SECRET_KEY"),
    ({"firebase_auth_emulator_host": "127.0.0.1:9099"}, "FIREBASE_AUTH_EMULATOR_HOST"),
    # issue 20: the benchmarks' local signer of ID tokens is never trusted in production
    ({"firebase_certs_url": "http://127.0.0.1:9/certs"}, "FIREBASE_CERTS_URL"),
    ({"database_url": "sqlite:///x.db"}, "DATABASE_URL"),
    ({"zalo_app_id": "123"}, "ZALO_OA_SECRET_KEY"),
    # issue 21 (10): a long key of one repeated character, or of two, is not a secret
    ({"secret_key": "a" * 32}, "SECRET_KEY is not random enough"),
    ({"secret_key": "ab" * 40}, "SECRET_KEY is not random enough"),
    ({"secret_key": "0123456789" * 4}, "SECRET_KEY is not random enough"),
    # per-process rate limits and in-process jobs are a development setup
    ({"redis_url": None}, "REDIS_URL"),
    ({"redis_url": ""}, "REDIS_URL"),
    # links to residents and Secure cookies need https
    ({"base_url": "http://phananh.soctrang.gov.vn"}, "BASE_URL"),
    ({"base_url": "https://"}, "BASE_URL"),
    ({"base_url": "phananh.soctrang.gov.vn"}, "BASE_URL"),
])
def test_production_refuses_unsafe_settings(kw, needle):
    with pytest.raises(RuntimeError, match=needle):
        create_app(prod(**kw))


def test_production_accepts_safe_settings():
    prod().check_production()
    prod(secret_key=secrets.token_hex(32)).check_production()  # 64 hex digits pass the entropy check


def test_every_problem_is_named_at_once():
    with pytest.raises(RuntimeError) as info:
        prod(secret_key="a" * 32, redis_url=None, base_url="http://x").check_production()
    assert all(name in str(info.value) for name in ("SECRET_KEY", "REDIS_URL", "BASE_URL"))


def test_environment_is_read_by_the_factory(monkeypatch):
    monkeypatch.setenv("PHANANH_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", PLACEHOLDER_SECRET)
    with pytest.raises(RuntimeError):
        create_app()
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")
    with pytest.raises(RuntimeError, match="FIREBASE_AUTH_EMULATOR_HOST"):
        create_app()


def test_development_defaults_are_embedded():
    s = Settings(_env_file=None)
    assert s.is_embedded and s.database_url.startswith("sqlite:///")


def test_base_url_defaults_to_the_address_served(monkeypatch):
    """Links sent to residents point where this process answers: PORT, not a fixed 5000."""
    monkeypatch.delenv("BASE_URL", raising=False)
    monkeypatch.setenv("PORT", "8123")
    assert Settings().base_url == "http://127.0.0.1:8123"
    assert Settings(port=5001).base_url == "http://127.0.0.1:5001"
    monkeypatch.setenv("BASE_URL", "http://pa.local:9000")
    assert Settings().base_url == "http://pa.local:9000"
    assert Settings().reporter_link_days == 90


def test_production_refuses_to_start_without_an_explicit_base_url(monkeypatch):
    monkeypatch.delenv("BASE_URL", raising=False)
    base = prod().model_dump(exclude={"base_url"})
    with pytest.raises(RuntimeError, match="BASE_URL must be set explicitly"):
        create_app(Settings(**base))
    monkeypatch.setenv("BASE_URL", "https://phananh.soctrang.gov.vn")
    Settings(**base).check_production()  # from the environment: explicit
