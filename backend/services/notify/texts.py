"""Texts of notifications, Vietnamese (formal, with diacritics) and English, by template key.

``render(template, locale, context)`` returns ``(title, body)``; unknown locales fall back to
Vietnamese. Placeholders come from ``notifications._context``. Every body ends with ``{link}``, the report's page
(the reporter's own signed link for the reporter, the public page for others).
"""

from __future__ import annotations

from typing import Any

TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "received": {
        "vi": ("Đã tiếp nhận phản ánh {code}",
               "Phản ánh {code} đã được tiếp nhận và chuyển đến {unit_vi}. Thời hạn xử lý dự kiến: {due}. Theo "
               "dõi tại {link}"),
        "en": ("Report {code} received",
               "Your report {code} was received and sent to {unit_en}. Expected resolution: {due}. Follow it at"
               " {link}"),
    },
    "routed": {
        "vi": ("Phản ánh {code} đã chuyển đơn vị xử lý",
               "Phản ánh {code} đã được chuyển đến {unit_vi} để xử lý. Thời hạn dự kiến: {due}. Theo dõi tại "
               "{link}"),
        "en": ("Report {code} assigned",
               "Report {code} was assigned to {unit_en}. Expected resolution: {due}. Follow it at {link}"),
    },
    "acknowledged": {
        "vi": ("Đơn vị đã tiếp nhận phản ánh {code}",
               "{unit_vi} đã tiếp nhận phản ánh {code} và đang tổ chức xử lý. Theo dõi tại {link}"),
        "en": ("Report {code} acknowledged",
               "{unit_en} acknowledged report {code} and is working on it. Follow it at {link}"),
    },
    "reply": {
        "vi": ("Phản hồi cho phản ánh {code}",
               "{unit_vi} trả lời: {reply} Theo dõi tại {link}"),
        "en": ("Reply on report {code}",
               "{unit_en} replied: {reply} Follow it at {link}"),
    },
    "resolved": {
        "vi": ("Phản ánh {code} đã được xử lý",
               "{unit_vi} đã xử lý phản ánh {code}: {reply} Mời Quý công dân đánh giá kết quả tại {link}"),
        "en": ("Report {code} resolved",
               "{unit_en} resolved report {code}: {reply} Please rate the result at {link}"),
    },
    "rejected": {
        "vi": ("Phản ánh {code} không hợp lệ",
               "Phản ánh {code} không được xử lý. Lý do: {reason} Theo dõi tại {link}"),
        "en": ("Report {code} rejected",
               "Report {code} will not be handled. Reason: {reason} Follow it at {link}"),
    },
    "not_competent": {
        "vi": ("Phản ánh {code} không thuộc thẩm quyền",
               "Phản ánh {code} không thuộc thẩm quyền giải quyết. Hướng dẫn: {guidance} Theo dõi tại {link}"),
        "en": ("Report {code}: not our competence",
               "Report {code} is outside our competence. Guidance: {guidance} Follow it at {link}"),
    },
    "duplicate": {
        "vi": ("Phản ánh {code} trùng với {duplicate_of}",
               "Phản ánh {code} trùng với phản ánh {duplicate_of} đang được xử lý; Quý công dân sẽ được thông "
               "báo khi có kết quả. Theo dõi tại {link}"),
        "en": ("Report {code} duplicates {duplicate_of}",
               "Report {code} duplicates {duplicate_of}, which is being handled; you will hear when it is done."
               " Follow it at {link}"),
    },
    "reopened": {
        "vi": ("Phản ánh {code} được mở lại",
               "Phản ánh {code} đã được mở lại. Lý do: {reason} Theo dõi tại {link}"),
        "en": ("Report {code} reopened",
               "Report {code} was reopened. Reason: {reason} Follow it at {link}"),
    },
    "new_in_queue": {
        "vi": ("Phản ánh mới {code}",
               "Có phản ánh mới {code} trong hàng đợi của đơn vị. Hạn xử lý: {due}. Theo dõi tại {link}"),
        "en": ("New report {code}",
               "New report {code} in your unit's queue. Due: {due}. Follow it at {link}"),
    },
    "comment": {
        "vi": ("Người dân bổ sung phản ánh {code}",
               "Người phản ánh bổ sung: {comment} Theo dõi tại {link}"),
        "en": ("Resident follow-up on {code}",
               "The reporter added: {comment} Follow it at {link}"),
    },
    "breach": {
        "vi": ("Quá hạn: phản ánh {code}",
               "Phản ánh {code} tại {unit_vi} đã quá hạn ({clock}). Theo dõi tại {link}"),
        "en": ("Overdue: report {code}",
               "Report {code} at {unit_en} is overdue ({clock}). Follow it at {link}"),
    },
}


class _Safe(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return ""


def render(template: str, locale: str, context: dict[str, Any]) -> tuple[str, str]:
    """(title, body) of ``template`` in ``locale`` (vi fallback); missing placeholders render empty."""
    texts = TEXTS[template]
    title, body = texts.get((locale or "vi")[:2], texts["vi"])
    values = _Safe({k: ("" if v is None else v) for k, v in context.items()})
    return title.format_map(values), " ".join(body.format_map(values).split())[:4000]
