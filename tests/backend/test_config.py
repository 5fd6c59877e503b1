"""Production refuses unsafe settings; settings come from the environment only in the factory."""

import pytest

from backend.app import create_app
from backend.config import PLACEHOLDER_SECRET, Settings

GOOD = "x" * 48


def prod(**kw):
    base = {"phananh_env": "production", "secret_key": GOOD, "database_url": "postgresql://u@h/db"}
    return Settings(**{**base, **kw})


@pytest.mark.parametrize("kw, needle", [
    ({"secret_key": PLACEHOLDER_SECRET}, "SECRET_KEY"),
    ({"secret_key": "short"}, "SECRET_KEY"),
    ({"firebase_auth_emulator_host": "127.0.0.1:9099"}, "FIREBASE_AUTH_EMULATOR_HOST"),
    ({"database_url": "sqlite:///x.db"}, "DATABASE_URL"),
    ({"zalo_app_id": "123"}, "ZALO_OA_SECRET_KEY"),
])
def test_production_refuses_unsafe_settings(kw, needle):
    with pytest.raises(RuntimeError, match=needle):
        create_app(prod(**kw))


def test_production_accepts_safe_settings():
    prod().check_production()


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
