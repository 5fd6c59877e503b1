"""The reporter's link: ``<BASE_URL>/r/<code>?t=<token>``, the page where the person who reported follows
their report and can add information, rate or reopen it without the app (DESIGN §8, resident web).

The token is itsdangerous' ``URLSafeTimedSerializer`` keyed by ``SECRET_KEY`` with the salt
``phananh.reporter-link.v1``; it signs ``[report id, resident id]`` and the time it was made, so a fresh
link carries a fresh token. The page that checks it is the resident web's (``/r/<code>``); this module
is the one place a link is made (notifications, chat replies, the staff's report on behalf; ``public_link``
for everyone else) and checked (``reporter_of``).
"""

from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from backend.errors import Forbidden
from backend.models import Report

SALT = "phananh.reporter-link.v1"
BAD_LINK = ("Đường dẫn này không hợp lệ hoặc không dành cho phản ánh này. Không có thay đổi nào được lưu. "
            "Vui lòng mở lại đường dẫn trong thông báo đã nhận.")


def public_link(report: Report, *, base_url: str) -> str:
    """The report's public page, ``<BASE_URL>/r/<code>`` (what everyone but the reporter is sent)."""
    return f"{base_url.rstrip('/')}/r/{report.code}"


def reporter_link(report: Report, *, base_url: str, secret_key: str) -> str:
    """The reporter's signed link to ``report`` (the report must have a reporter)."""
    token = URLSafeTimedSerializer(secret_key, salt=SALT).dumps([report.id, report.resident_id])
    return f"{public_link(report, base_url=base_url)}?t={token}"


def reporter_of(report: Report, token: str | None, *, secret_key: str, max_days: int) -> int:
    """The resident id a reporter's ``token`` was made for, if it is genuine, younger than ``max_days``
    and made for ``report`` and its current reporter. Raises Forbidden (a Vietnamese message) otherwise."""
    if not token or len(token) > 500:
        raise Forbidden(BAD_LINK, code="bad-reporter-link")
    try:
        signed = URLSafeTimedSerializer(secret_key, salt=SALT).loads(token, max_age=max_days * 86400)
    except SignatureExpired as exc:
        raise Forbidden("Đường dẫn này đã hết hạn. Vui lòng dùng đường dẫn trong thông báo mới nhất, "
                        "hoặc theo dõi phản ánh trên ứng dụng.", code="expired-reporter-link") from exc
    except BadSignature as exc:
        raise Forbidden(BAD_LINK, code="bad-reporter-link") from exc
    if (not isinstance(signed, list) or len(signed) != 2 or signed[0] != report.id
            or report.resident_id is None or signed[1] != report.resident_id):
        raise Forbidden(BAD_LINK, code="bad-reporter-link")
    return int(report.resident_id)
