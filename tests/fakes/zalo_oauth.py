"""OAuth v4 of the fake Zalo (``POST /v4/oa/access_token``): rotating, single-use refresh tokens.

Form body ``refresh_token, app_id, grant_type=refresh_token`` with header ``secret_key``; answer
``{"access_token", "refresh_token", "expires_in": "90000"}`` or an error object without ``access_token``
(docs/zalo.md §6). A refresh invalidates the previous access token. ``self`` is the request handler.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from fakes.zalo_events import APP_ID

APP_SECRET = "fake-app-secret"


def post(self: Any, rec: Any) -> None:
    """``POST /v4/oa/access_token``: spend a single-use refresh token for a new pair."""
    if self.owner.refresh_delay:
        time.sleep(self.owner.refresh_delay)
    if self._cued(rec):
        return None
    form = {k: v[0] for k, v in rec.form.items()}
    if rec.headers.get("secret_key") != APP_SECRET or form.get("app_id") != APP_ID:
        return self._send(200, {"error": -14001, "error_name": "invalid_app", "error_reason": "bad app"})
    token = form.get("refresh_token", "")
    with self.owner.lock:
        if form.get("grant_type") != "refresh_token" or token not in self.owner.refresh_tokens:
            reused = token in self.owner.spent_refresh_tokens
            reason = "refresh token was already used" if reused else "refresh token is invalid"
            payload = {"error": -14014, "error_name": "invalid_grant", "error_reason": reason}
        else:
            self.owner.refresh_tokens.discard(token)
            self.owner.spent_refresh_tokens.add(token)
            new_at, new_rt = "at-" + secrets.token_hex(8), "rt-" + secrets.token_hex(8)
            self.owner.access_tokens = {new_at}  # the previous access token stops working
            self.owner.refresh_tokens.add(new_rt)
            payload = {"access_token": new_at, "refresh_token": new_rt, "expires_in": "90000"}
    return self._send(200, payload)
