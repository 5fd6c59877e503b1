"""What the chat bot says: short, polite Vietnamese messages (English when the resident's locale is en).

Pure formatting: callers pass rows already loaded. Dates are shown in the city's time zone as
``dd/mm/yyyy HH:MM``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from backend.models.categories import Category
from backend.models.reports import Report, State
from backend.services.reports import lookup as reports

TZ = ZoneInfo("Asia/Ho_Chi_Minh")

HELP = ("Xin chào! Đây là kênh tiếp nhận phản ánh hiện trường của thành phố.\n"
        "• Gửi ảnh hoặc chia sẻ vị trí (hoặc nhắn \"phản ánh\") để bắt đầu một phản ánh.\n"
        "• Nhắn \"tra cứu PA-XXXXXX\" để xem tình trạng xử lý.\n"
        "• Nhắn \"của tôi\" để xem các phản ánh đang xử lý của bạn.\n"
        "• Nhắn \"hủy\" để hủy phản ánh đang soạn.")
STARTED = "Bắt đầu tạo phản ánh mới."
UNSUPPORTED = "Xin lỗi, hiện tôi chưa xử lý được loại tin nhắn này."
ASK_LOCATION = ("Vui lòng chia sẻ vị trí nơi xảy ra sự việc (trong Zalo: bấm dấu \"+\" → \"Vị trí\"), "
                "hoặc nhập địa chỉ cụ thể.")
ASK_LOCATION_PHOTO_HINT = " Bạn cũng có thể gửi thêm ảnh hiện trường."
ASK_DESCRIPTION = "Vui lòng mô tả ngắn gọn sự việc (hoặc nhắn \"bỏ qua\")."
ASK_CONFIRM = "Nhắn \"có\" để gửi phản ánh, hoặc \"hủy\" để hủy."
CANCELLED = "Đã hủy phản ánh đang soạn. Bạn có thể gửi ảnh hoặc vị trí để bắt đầu lại bất cứ lúc nào."
NOTHING_TO_CANCEL = "Hiện bạn không có phản ánh nào đang soạn."
EXPIRED = ("Phản ánh bạn đang soạn đã bị hủy vì không có phản hồi trong 30 phút. "
           "Vui lòng gửi lại ảnh hoặc vị trí để bắt đầu lại.")
OUTSIDE_CITY = ("Vị trí bạn gửi nằm ngoài địa bàn thành phố nên chưa thể tiếp nhận. "
                "Vui lòng chia sẻ lại vị trí hoặc nhập địa chỉ.")
ADDRESS_TOO_SHORT = "Địa chỉ quá ngắn. Vui lòng chia sẻ vị trí hoặc nhập địa chỉ cụ thể hơn."
PHOTO_FAILED = "Xin lỗi, tôi không nhận được ảnh này. Vui lòng gửi lại ảnh khác."
LOOKUP_NEEDS_CODE = "Vui lòng nhắn kèm mã phản ánh, ví dụ: \"tra cứu PA-7K3M9Q\"."
NONE_OPEN = "Bạn không có phản ánh nào đang được xử lý."
WELCOME = "Cảm ơn bạn đã quan tâm!\n" + HELP.split("\n", 1)[1]
COMMENT_HINT = ("Để bổ sung ý kiến cho một phản ánh, vui lòng nhắn kèm mã, "
                "ví dụ: \"PA-7K3M9Q ổ gà vẫn chưa được sửa\".")
FAILED_GENERIC = "Xin lỗi, hệ thống đang bận. Vui lòng thử lại sau ít phút."
ASK_PHONE = ("Phản ánh thường được xử lý trong vài ngày. Zalo chỉ cho phép chúng tôi nhắn tin cho bạn trong "
             "7 ngày kể từ lần cuối bạn nhắn cho chúng tôi; để vẫn nhận được kết quả sau thời gian đó (qua tin "
             "nhắn thông báo ZNS của Zalo), bạn có thể chia sẻ số điện thoại: bấm \"Chia sẻ thông tin\" ở thẻ "
             "bên dưới, hoặc nhắn số điện thoại của bạn (ví dụ: 0912 345 678). Số điện thoại chỉ dùng để gửi "
             "thông báo về phản ánh của bạn và không hiển thị công khai. Nhắn \"không\" nếu bạn không muốn.")
PHONE_DECLINED = ("Đã ghi nhận: chúng tôi sẽ không hỏi số điện thoại của bạn nữa. Bạn vẫn có thể theo dõi phản "
                  "ánh bằng cách nhắn \"tra cứu\" kèm mã phản ánh.")
PHONE_REMOVED = ("Đã xóa số điện thoại của bạn; chúng tôi sẽ không gửi thông báo ZNS tới số đó nữa. Bạn vẫn có "
                 "thể theo dõi phản ánh bằng cách nhắn \"tra cứu\" kèm mã phản ánh.")
PHONE_MISSING = ("Chúng tôi chưa nhận được số điện thoại trong thông tin bạn chia sẻ. Bạn có thể nhắn trực tiếp "
                 "số điện thoại (ví dụ: 0912 345 678).")
#: a user who writes without following the OA: Zalo lets us answer, not follow up later
ANONYMOUS_NOTE = ("Cảm ơn bạn đã liên hệ. Để gửi phản ánh và nhận thông báo kết quả xử lý, vui lòng bấm "
                  "\"Quan tâm\" Official Account của thành phố rồi nhắn lại cho chúng tôi: kênh này chỉ tiếp nhận "
                  "phản ánh từ người đã quan tâm OA. Trường hợp khẩn cấp, vui lòng gọi 113 (Công an), "
                  "114 (Cứu hỏa) hoặc 115 (Cấp cứu).")


def fmt_dt(value: datetime | None) -> str | None:
    return value.astimezone(TZ).strftime("%d/%m/%Y %H:%M") if value else None


def state_label(state: str, locale: str = "vi") -> str:
    return reports.state_label(state, locale)


def photo_ack(count: int) -> str:
    return f"Đã nhận ảnh (tổng cộng {count} ảnh)."


def photos_dropped(count: int) -> str:
    return f"Lưu ý: {count} ảnh không tải được nên không được đính kèm."


def location_ack(draft: dict[str, Any]) -> str:
    if draft.get("lat") is not None:
        return "Đã nhận vị trí."
    return f"Đã ghi nhận địa chỉ: {draft.get('address')}."


def category_menu(categories: list[Category], suggested: str | None) -> str:
    lines = ["Vui lòng chọn loại phản ánh (trả lời bằng số):"]
    for idx, cat in enumerate(categories, start=1):
        mark = " (gợi ý)" if suggested and cat.code == suggested else ""
        lines.append(f"{idx}. {cat.name_vi}{mark}")
    return "\n".join(lines)


def bad_choice(count: int) -> str:
    return f"Vui lòng trả lời bằng một số từ 1 đến {count}."


def summary(draft: dict[str, Any], category: Category | None) -> str:
    place = ("vị trí đã chia sẻ" if draft.get("lat") is not None else f"địa chỉ \"{draft.get('address')}\"")
    lines = ["Vui lòng kiểm tra lại phản ánh:",
             f"• Loại: {category.name_vi if category else '—'}",
             f"• Vị trí: {place}",
             f"• Số ảnh: {len(draft.get('photo_ids') or [])}",
             f"• Mô tả: {draft.get('description') or '(không có)'}",
             ASK_CONFIRM]
    return "\n".join(lines)


def created(report: Report) -> str:
    due = fmt_dt(report.resolve_due_at)
    text = f"Cảm ơn bạn! Phản ánh đã được tiếp nhận với mã {report.code}."
    if due:
        text += f"\nThời hạn xử lý dự kiến: {due}."
    else:
        text += "\nThời hạn xử lý sẽ được thông báo khi phản ánh được chuyển đến đơn vị xử lý."
    return text + f"\nNhắn \"tra cứu {report.code}\" để theo dõi tình trạng."


def emergency(hotline: str | None, hotlines: dict[str, str]) -> str:
    if hotline:
        numbers = hotline
    else:
        numbers = ", ".join(f"{num} ({_HOTLINE_NAMES.get(key, key)})" for key, num in hotlines.items()
                            if key in _HOTLINE_NAMES) or "113, 114, 115"
    return ("Đây là tình huống khẩn cấp, vui lòng gọi ngay đường dây nóng: " + numbers +
            ". Kênh này không tiếp nhận tin báo khẩn cấp.")


_HOTLINE_NAMES = {"police": "Công an", "fire": "Cứu hỏa", "ambulance": "Cấp cứu"}


def status(report: Report, unit_name: str | None) -> str:
    lines = [f"Phản ánh {report.code}: {state_label(report.status)}."]
    if unit_name:
        lines.append(f"Đơn vị xử lý: {unit_name}.")
    due = fmt_dt(report.resolve_due_at)
    if due and report.is_open:
        lines.append(f"Hạn xử lý: {due}.")
    if report.public_reply and report.status in (State.RESOLVED, State.CLOSED):
        lines.append(f"Phản hồi: {report.public_reply}")
    return "\n".join(lines)


def not_found(code: str) -> str:
    return f"Không tìm thấy phản ánh có mã {code}. Vui lòng kiểm tra lại mã."


def my_reports(rows: list[Report]) -> str:
    if not rows:
        return NONE_OPEN
    lines = ["Các phản ánh đang xử lý của bạn:"]
    for r in rows:
        due = fmt_dt(r.resolve_due_at)
        lines.append(f"• {r.code}: {state_label(r.status)}" + (f" (hạn {due})" if due else ""))
    return "\n".join(lines)


def commented(code: str) -> str:
    return f"Đã ghi nhận ý kiến bổ sung của bạn cho phản ánh {code} và chuyển đến đơn vị xử lý."


def comment_refused(code: str, reason: str) -> str:
    return f"Chưa thể ghi nhận ý kiến cho phản ánh {code}: {reason}"


def refused(message: str) -> str:
    return f"Chưa thể gửi phản ánh: {message} Bạn có thể sửa thông tin hoặc nhắn \"hủy\"."


def phone_saved(masked: str) -> str:
    return (f"Cảm ơn bạn! Đã lưu số điện thoại {masked}. Khi đã quá 7 ngày kể từ lần cuối bạn nhắn cho chúng tôi, "
            "kết quả xử lý phản ánh sẽ được gửi tới số này qua tin nhắn thông báo ZNS của Zalo. "
            "Nhắn \"xóa số điện thoại\" nếu bạn muốn thôi nhận.")
