"""Settings: every knob comes from the environment, read once in the app factory.

``Settings()`` is never instantiated at import time; ``create_app(settings=None)`` builds it.
Production (``PHANANH_ENV=production``) refuses placeholder or low-entropy secrets, a missing
``REDIS_URL``, a non-https ``BASE_URL`` and the Firebase Auth emulator, see
:meth:`Settings.check_production`.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import AliasChoices, Field, PrivateAttr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "dev-insecure-change-me"  # noqa: S105 - the placeholder production refuses
INSTANCE_DIR = Path("instance")
#: least estimated entropy of a production SECRET_KEY (``secrets.token_urlsafe(48)`` gives ~330 bits)
MIN_SECRET_BITS = 128


def estimated_bits(secret: str) -> float:
    """Entropy estimate of ``secret`` from its own character frequencies (Shannon × length).

    A lower bound for random keys of any alphabet (hex of 64 characters ≈ 250 bits); repeated or
    few distinct characters score low: 32 × "a" is 0 bits, "abab…" 1 bit per character. A key made
    of a repeated unit ("0123456789" × 4) counts as that unit once.
    """
    unit = secret[:_period(secret)]
    counts = Counter(unit)
    n = len(unit)
    return -sum(c * math.log2(c / n) for c in counts.values()) if n else 0.0


def _period(text: str) -> int:
    """Length of the shortest unit whose repetition gives ``text`` (``len(text)`` when none)."""
    n = len(text)
    for p in range(1, n // 2 + 1):
        if all(text[i] == text[i - p] for i in range(p, n)):
            return p
    return n


class Settings(BaseSettings):
    """Configuration of one deployment. Field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    phananh_env: Literal["development", "production", "test"] = "development"
    database_url: str = Field(default_factory=lambda: f"sqlite:///{(INSTANCE_DIR / 'phananh.db').resolve()}")
    redis_url: str | None = None
    secret_key: str = PLACEHOLDER_SECRET
    media_dir: Path = Field(default_factory=lambda: (INSTANCE_DIR / "media").resolve())
    port: int = 5000
    # the address residents' links point at; empty = the address actually served, http://127.0.0.1:<PORT>
    base_url: str = ""
    # how long a reporter's signed link (/r/<code>?t=…) lets them comment, rate and reopen
    reporter_link_days: int = Field(default=90, ge=1, le=3650)
    _base_url_explicit: bool = PrivateAttr(default=False)
    log_json: bool = False
    log_level: str = "INFO"

    # intake limits
    max_upload_bytes: int = 15 * 1024 * 1024
    max_description_chars: int = 4000

    # Firebase (mobile app residents, FCM)
    firebase_project_id: str = "demo-phananh"
    google_application_credentials: str | None = None
    firebase_auth_emulator_host: str | None = None
    # where the public keys of ID tokens are fetched (default: Google's); benchmarks and tests serve their own
    firebase_certs_url: str | None = None
    fcm_endpoint: str | None = None

    # Zalo Official Account
    zalo_app_id: str = ""
    zalo_app_secret: str = ""
    zalo_oa_secret_key: str = ""
    zalo_access_token: str = ""
    zalo_refresh_token: str = ""
    zalo_api_base: str = "https://openapi.zalo.me"
    zalo_oauth_base: str = "https://oauth.zaloapp.com"
    zalo_zns_base: str = "https://business.openapi.zalo.me"
    zalo_media_hosts: str = "zdn.vn,zadn.vn,dlfl.vn"
    # how old a new webhook event may be (Zalo retries an unanswered event for ~110 min); a known
    # event is answered "duplicate" whatever its age. ZALO_SIGNATURE_MAX_AGE_S is the former name.
    zalo_event_max_age_s: int = Field(default=3 * 3600, ge=60, validation_alias=AliasChoices(
        "zalo_event_max_age_s", "zalo_signature_max_age_s"))

    # e-mail to units (optional)
    smtp_url: str | None = None
    mail_from: str = "phananh@localhost"

    # rate limits
    ratelimit_enabled: bool = True

    # base maps (docs/maps.md): an XYZ tile template and its attribution; the CSP allows its origin only
    tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    tile_attribution: str = "© Những người đóng góp OpenStreetMap"
    # where the public page sends residents who want to report (empty: the link is not shown)
    resident_app_url: str = ""
    zalo_oa_url: str = ""

    @model_validator(mode="after")
    def _served_address(self) -> Settings:
        """``BASE_URL`` defaults to where this process serves (``PORT``), not a fixed port."""
        self._base_url_explicit = bool(self.base_url.strip())
        if not self._base_url_explicit:
            self.base_url = f"http://127.0.0.1:{self.port}"
        return self

    @property
    def is_production(self) -> bool:
        return self.phananh_env == "production"

    @property
    def is_embedded(self) -> bool:
        """No Redis: jobs run on the in-process runner."""
        return not self.redis_url

    @property
    def tile_origin(self) -> str | None:
        """``scheme://host[:port]`` of ``TILE_URL`` (what the CSP's ``img-src`` adds), None without tiles."""
        parts = urlparse(self.tile_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return None
        return f"{parts.scheme}://{parts.netloc}"

    def check_production(self) -> None:
        """Refuse to start a production deployment with unsafe settings."""
        if not self.is_production:
            return
        problems = []
        if self.secret_key in ("", PLACEHOLDER_SECRET) or len(self.secret_key) < 32:
            problems.append("SECRET_KEY must be set to a random value of at least 32 characters")
        elif estimated_bits(self.secret_key) < MIN_SECRET_BITS:
            problems.append(f"SECRET_KEY is not random enough (≈{estimated_bits(self.secret_key):.0f} bits, "
                            f"{MIN_SECRET_BITS} needed): use e.g. python -c 'import secrets; "
                            "print(secrets.token_urlsafe(48))'")
        if not self.redis_url:
            problems.append("REDIS_URL is required in production (shared rate limits and login throttling, "
                            "durable RQ queues instead of the in-process runner)")
        if not self._base_url_explicit:
            problems.append("BASE_URL must be set explicitly in production (the https:// address residents' "
                            "links point at)")
        elif urlparse(self.base_url).scheme != "https" or not urlparse(self.base_url).netloc:
            problems.append("BASE_URL must be an https:// URL in production (links sent to residents, "
                            "Secure cookies)")
        if self.firebase_auth_emulator_host:
            problems.append("FIREBASE_AUTH_EMULATOR_HOST must not be set in production")
        if self.firebase_certs_url:
            problems.append("FIREBASE_CERTS_URL must not be set in production (Google's keys only)")
        if self.database_url.startswith("sqlite"):
            problems.append("DATABASE_URL must point to PostgreSQL in production")
        if self.zalo_app_id and not self.zalo_oa_secret_key:
            problems.append("ZALO_OA_SECRET_KEY is required when ZALO_APP_ID is set")
        if problems:
            raise RuntimeError("Refusing to start in production: " + "; ".join(problems))
