"""The reporter's link: ``<BASE_URL>/r/<code>?t=<token>``, the page where the person who reported follows
their report and can add information, rate or reopen it without the app (DESIGN §8, resident web).

The token is itsdangerous' ``URLSafeTimedSerializer`` keyed by ``SECRET_KEY`` with the salt
``phananh.reporter-link.v1``; it signs ``[report id, resident id]`` and the time it was made, so a fresh
link carries a fresh token. The page that checks it is the resident web's (``/r/<code>``); this module
is the one place a link is made (notifications, chat replies).
"""

from __future__ import annotations

from itsdangerous import URLSafeTimedSerializer

from backend.models import Report

SALT = "phananh.reporter-link.v1"


def reporter_link(report: Report, *, base_url: str, secret_key: str) -> str:
    """The reporter's signed link to ``report`` (the report must have a reporter)."""
    token = URLSafeTimedSerializer(secret_key, salt=SALT).dumps([report.id, report.resident_id])
    return f"{base_url.rstrip('/')}/r/{report.code}?t={token}"
