"""The webhook is a lean view (``http.lean``): it keeps the request id, the common security headers and
its metrics, and skips what it does not need (Flask-Limiter's hooks, the cookie session), which still
apply to the other views."""

from __future__ import annotations

from backend.app import create_app
from backend.observability import REGISTRY

from fakes import zalo as fz


def _requests_counted(rule: str, status: str) -> float:
    return REGISTRY.get_sample_value("phananh_request_seconds_count",
                                     {"endpoint": rule, "method": "POST", "status": status}) or 0.0


def test_the_webhook_keeps_request_id_headers_and_metrics_and_skips_the_limiter(
        zalo_settings, db, runner):
    app = create_app(zalo_settings.model_copy(update={"ratelimit_enabled": True}), database=db, runner=runner)
    client = app.test_client()
    before = _requests_counted("/bots/zalo/webhook", "200")
    raw, headers = fz.signed(fz.text_event("lean-u1", "Ổ gà"))
    r = client.post("/bots/zalo/webhook", data=raw, headers={**headers, "X-Request-Id": "req-lean-1"})
    assert r.status_code == 200 and r.json == {"status": "accepted"}
    assert r.headers["X-Request-Id"] == "req-lean-1"
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["Referrer-Policy"] == "same-origin"
    assert "Set-Cookie" not in r.headers
    assert not [name for name, _value in r.headers.items() if name.lower().startswith("x-ratelimit")]
    assert _requests_counted("/bots/zalo/webhook", "200") == before + 1
    raw, headers = fz.signed(fz.text_event("lean-u1", "hai"))
    generated = client.post("/bots/zalo/webhook", data=raw, headers=headers).headers["X-Request-Id"]
    assert len(generated) == 16 and int(generated, 16) >= 0
    # the hooks skipped here still apply to the other views: tests/backend/test_lean_views.py
