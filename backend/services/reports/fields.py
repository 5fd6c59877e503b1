"""Validation of the fields workflow actions take: texts, ids, photos, categories.

Every function here only reads; it raises InvalidInput (or Forbidden for someone else's photo) before
anything is written, as ``workflow.apply`` requires.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from backend.errors import InvalidInput
from backend.models.categories import Category
from backend.services.city import catalog
from backend.services.photos.linking import attach_photos, check_photos
from backend.services.reports.effects import Context
from backend.text import nfc

MAX_TEXT = 4000
MAX_REASON = 2000

#: Vietnamese names of the fields, for "missing" messages
FIELD_LABELS = {
    "unit_id": "đơn vị xử lý", "assignee_id": "cán bộ được giao", "reason": "lý do", "budget": "thời hạn gia hạn",
    "text": "nội dung", "reply": "nội dung trả lời công khai", "guidance": "hướng dẫn cho người dân",
    "lat": "vĩ độ", "lon": "kinh độ",
    "category_code": "lĩnh vực", "priority": "mức ưu tiên", "of_code": "mã phản ánh gốc",
    "rating": "điểm đánh giá", "description": "nội dung phản ánh",
}



def text_field(ctx: Context, name: str, *, max_len: int = MAX_TEXT, required: bool = True) -> str | None:
    value, slug = ctx.fields.get(name), name.replace("_", "-")
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        if not required and isinstance(value, str):
            return None
        raise InvalidInput(_TEXT_REQUIRED.get(name, f"Vui lòng nhập {name}."), code=f"{slug}-required")
    value = nfc(value).strip()
    if len(value) > max_len:
        raise InvalidInput(f"Nội dung quá dài (tối đa {max_len} ký tự).", code=f"{slug}-too-long")
    if "\x00" in value:
        raise InvalidInput("Nội dung chứa ký tự không hợp lệ.", code=f"{slug}-invalid")
    return value


_TEXT_REQUIRED = {
    "reason": "Vui lòng nêu lý do.",
    "text": "Vui lòng nhập nội dung.",
    "reply": "Vui lòng nhập nội dung trả lời công khai cho người dân.",
    "guidance": "Vui lòng hướng dẫn người dân nơi có thẩm quyền giải quyết.",
}


MAX_DB_ID = 2**31 - 1


def is_db_id(value: Any) -> bool:
    """A plausible primary key: an int (not a bool) that fits the INTEGER columns."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_DB_ID


def photo_id_list(value: Any) -> list[int]:
    """Validate a list of photo ids (shape and range only); duplicates are dropped."""
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(is_db_id(v) for v in value):
        raise InvalidInput("Danh sách ảnh không hợp lệ.", code="invalid-photo-ids")
    return list(dict.fromkeys(value))


def id_list(ctx: Context, name: str) -> list[int]:
    return photo_id_list(ctx.fields.get(name))


def photos_for(ctx: Context, name: str, role: str) -> Callable[[], list[int]]:
    """Validate the photo ids in ``name`` now; the returned function attaches them (effect phase)."""
    ids = id_list(ctx, name)
    resident_id, staff_id = ctx.actor.resident_id, ctx.actor.staff_id
    check_photos(ctx.session, photo_ids=ids, resident_id=resident_id, staff_id=staff_id)

    def attach() -> list[int]:
        attach_photos(ctx.session, photo_ids=ids, report=ctx.report, resident_id=resident_id,
                      staff_id=staff_id, role=role)
        return ids

    return attach


def existing_category(session: Session, code: Any) -> Category:
    """An active, non-emergency category by code (InvalidInput otherwise)."""
    category = None
    if isinstance(code, str) and code.strip() and len(code) <= 64 and "\x00" not in code:
        category = catalog.cached_category(session, code.strip())
    if category is None or not category.active:
        raise InvalidInput("Lĩnh vực phản ánh không tồn tại hoặc đã ngừng tiếp nhận.", code="unknown-category",
                           details={"category_code": str(code)[:64] if code is not None else None})
    return category
