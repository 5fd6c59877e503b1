"""Report on behalf (``/inbox/new``): staff enter a caller's report through the same intake as every channel
(channel ``hotline`` / ``counter``); the caller's name and phone stay private; the page after the submit
gives the code, the deadline, the reporter's link, the SMS text and "Gửi qua Zalo" when the number belongs
to a Zalo follower; bad input gets a Vietnamese message and changes nothing; a double submit makes one report."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from sqlmodel import func, select
from web_seed import SOC_TRANG, token

from backend.models import Delivery
from backend.models.base import utcnow
from backend.models.photos import Photo
from backend.models.reports import Report, ReportEvent
from backend.models.residents import Identity, Resident
from backend.services.city import routing

from fixtures.images import jpeg

PHONE = "0912 345 678"


def _form(client: Any) -> dict[str, str]:
    html = client.get("/inbox/new").get_data(as_text=True)
    fields = {name: re.search(rf'name="{name}" value="([^"]*)"', html).group(1)  # type: ignore[union-attr]
              for name in ("csrf_token", "submission")}
    return fields


def _fields(client: Any, **change: Any) -> dict[str, Any]:
    data: dict[str, Any] = {**_form(client), "channel": "hotline", "caller_name": "Nguyễn Thị Hoa",
                            "caller_phone": PHONE, "category": "trat-tu-do-thi",
                            "description": "Quán nước lấn chiếm vỉa hè trước số 45 Hùng Vương",
                            "lat": str(SOC_TRANG[0]), "lon": str(SOC_TRANG[1]), "address": "45 Hùng Vương"}
    for key, value in change.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def _post(client: Any, data: dict[str, Any]) -> Any:
    return client.post("/inbox/new", data=data, content_type="multipart/form-data")


def _counts(session: Any) -> tuple[int, ...]:
    session.expire_all()
    return tuple(session.exec(select(func.count()).select_from(model)).one()
                 for model in (Report, Photo, ReportEvent, Resident, Identity, Delivery))


def _code(resp: Any) -> str:
    assert resp.status_code == 303, resp.get_data(as_text=True)[:1500]
    return resp.headers["Location"].rsplit("/", 1)[-1]


def test_a_hotline_operator_enters_a_callers_report(login_as: Any, city: Any, session: Any) -> None:
    ioc = login_as("ioc")
    code = _code(_post(ioc, _fields(ioc)))
    report = session.exec(select(Report).where(Report.code == code)).one()
    assert report.channel == "hotline" and report.status == "assigned"
    assert report.unit_id == city.units["ubnd-soc-trang"]  # urban order in Sóc Trăng ward → its People's Committee
    assert report.resolve_due_at is not None and report.address == "45 Hùng Vương"
    identity = session.exec(select(Identity).where(Identity.resident_id == report.resident_id)).one()
    assert (identity.provider, identity.subject) == ("phone", "84912345678")
    resident = session.get(Resident, report.resident_id)
    assert (resident.display_name, resident.phone) == ("Nguyễn Thị Hoa", "0912345678")
    created = session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id,
                                                     ReportEvent.kind == "created")).one()
    assert (created.actor_kind, created.actor_id) == ("staff", str(city.staff["ioc"]))

    done = ioc.get(f"/inbox/new/{code}").get_data(as_text=True)
    assert f'id="report-code">{code}<' in done and "UBND phường Sóc Trăng" in done
    assert re.search(r'id="report-deadline">\d\d/\d\d/\d{4} \d\d:\d\d<', done)
    link = re.search(r'id="reporter-link" href="([^"]+)"', done).group(1)  # type: ignore[union-attr]
    assert f"/r/{code}?t=" in link
    sms = re.search(r'<textarea id="sms-text"[^>]*>([^<]+)<', done).group(1)  # type: ignore[union-attr]
    assert code in sms and link.replace("&", "&amp;") in sms and "Thời hạn xử lý dự kiến" in sms
    assert "0912 *** 678" in done and "chưa liên kết với Zalo" in done

    page = ioc.get(f"/inbox/r/{code}").get_data(as_text=True)
    assert "Cán bộ nhập phản ánh thay người dân (qua đường dây nóng)" in page and "Điều phối viên IOC" in page
    public = ioc.get(link.removeprefix("http://localhost")).get_data(as_text=True)
    assert code in public and "0912" not in public and "Nguyễn Thị Hoa" not in public


def test_an_officer_at_the_counter_adds_a_photo(login_as: Any, city: Any, session: Any) -> None:
    officer = login_as("other")  # an officer of another unit (ctdt) staffs the counter today
    resp = _post(officer, _fields(officer, channel="counter", caller_phone="+84 98 765 4321",
                                  photo=(io.BytesIO(jpeg(640, 480)), "via-he.jpg")))
    report = session.exec(select(Report).where(Report.code == _code(resp))).one()
    assert report.channel == "counter" and report.unit_id == city.units["ubnd-soc-trang"]
    photo = session.exec(select(Photo).where(Photo.report_id == report.id)).one()
    assert photo.staff_id == city.staff["other"] and photo.resident_id == report.resident_id
    # the page after the submit is the creator's even when the report went to another unit
    assert officer.get(f"/inbox/new/{report.code}").status_code == 200
    assert officer.get(f"/inbox/r/{report.code}").status_code == 403


@pytest.mark.parametrize(("change", "message"), [
    ({"description": "   "}, "Vui lòng ghi nội dung phản ánh"),
    ({"category": ""}, "Vui lòng chọn lĩnh vực"),
    ({"category": "khong-co"}, "Lĩnh vực không hợp lệ"),
    ({"category": "khan-cap-chay-no"}, "114"),
    ({"lat": "21.0285", "lon": "105.8542"}, "nằm ngoài địa bàn"),
    ({"lat": "abc"}, "Vị trí không hợp lệ"),
    ({"lat": "NaN"}, "Vị trí không hợp lệ"),
    ({"lon": "-inf"}, "Vị trí không hợp lệ"),
    ({"lat": None, "lon": None, "address": ""}, "Vui lòng chọn vị trí"),
    ({"caller_phone": ""}, "Vui lòng nhập số điện thoại"),
    ({"caller_phone": "12345"}, "Số điện thoại không hợp lệ"),
    ({"caller_phone": "0112 345 6789"}, "Số điện thoại không hợp lệ"),
    ({"channel": "app"}, "đường dây nóng hoặc tại quầy"),
    ({"photo": (io.BytesIO(b"%PDF-1.4 not an image"), "don.pdf")}, "ảnh"),
    ({"description": "x" * 4001}, "quá dài"),
    ({"submission": "forged"}, "Biểu mẫu đã hết hạn"),
])
def test_bad_input_is_refused_in_vietnamese_and_changes_nothing(login_as: Any, city: Any, session: Any,
                                                                change: dict[str, Any], message: str) -> None:
    ioc = login_as("ioc")
    data = _fields(ioc, **change)
    before = _counts(session)
    resp = _post(ioc, data)
    html = resp.get_data(as_text=True)
    assert 400 <= resp.status_code < 500, (change, resp.status_code, html[:800])
    assert message.lower() in html.lower(), (change, html[:2000])
    assert 'id="form-error"' in html  # the form again, with what was typed
    assert "description" in change or "Quán nước lấn chiếm" in html
    assert _counts(session) == before


def test_double_submit_makes_exactly_one_report(login_as: Any, city: Any, session: Any) -> None:
    ioc = login_as("ioc")
    data = _fields(ioc)
    first, second = _code(_post(ioc, dict(data))), _code(_post(ioc, dict(data)))
    assert first == second
    assert session.exec(select(func.count()).select_from(Report).where(Report.channel == "hotline")).one() == 1
    assert "đã được gửi trước đó" in ioc.get(f"/inbox/new/{first}").get_data(as_text=True)


def test_another_staff_members_form_is_refused(login_as: Any, city: Any, session: Any) -> None:
    data = _fields(login_as("ioc"))
    officer = login_as("officer")
    before = _counts(session)
    resp = _post(officer, {**data, "csrf_token": _form(officer)["csrf_token"]})
    assert resp.status_code == 422 and "Biểu mẫu đã hết hạn" in resp.get_data(as_text=True)
    assert _counts(session) == before


def test_a_viewer_may_not_enter_reports_and_others_do_not_see_the_creators_page(login_as: Any, city: Any,
                                                                               session: Any) -> None:
    ioc = login_as("ioc")
    code = _code(_post(ioc, _fields(ioc)))
    viewer = login_as("viewer")
    assert viewer.get("/inbox/new").status_code == 403
    assert "Nhập phản ánh" not in viewer.get("/inbox/city").get_data(as_text=True)
    before = _counts(session)
    assert _post(viewer, {**_fields(ioc), "csrf_token": token(viewer, "/inbox/city")}).status_code == 403
    assert _counts(session) == before
    admin = login_as("admin")
    assert admin.get(f"/inbox/new/{code}").status_code == 404  # the link is the creator's to hand over
    assert "Nhập phản ánh" in admin.get("/inbox").get_data(as_text=True)


def test_send_by_zalo_when_the_number_belongs_to_a_follower(login_as: Any, city: Any, session: Any) -> None:
    follower = Resident(display_name="Hoa (Zalo)")
    session.add(follower)
    session.flush()
    session.add(Identity(resident_id=follower.id, provider="zalo", subject="zalo-user-hoa", data={},
                         phone="84912345678", phone_consented_at=utcnow()))
    session.flush()
    ioc = login_as("ioc")
    code = _code(_post(ioc, _fields(ioc)))
    done = ioc.get(f"/inbox/new/{code}").get_data(as_text=True)
    assert 'id="send-zalo"' in done
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', done).group(1)  # type: ignore[union-attr]
    assert ioc.post(f"/inbox/new/{code}/zalo", data={"csrf_token": csrf}).status_code == 303
    again = ioc.post(f"/inbox/new/{code}/zalo", data={"csrf_token": csrf})
    assert again.status_code == 303
    session.expire_all()
    report = session.exec(select(Report).where(Report.code == code)).one()
    sent = session.exec(select(Delivery).where(Delivery.report_id == report.id, Delivery.channel == "zalo")).all()
    assert len(sent) == 1 and sent[0].target == "zalo-user-hoa" and f"/r/{code}?t=" in sent[0].body
    notified = session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id,
                                                      ReportEvent.kind == "notified")).one()
    assert not notified.is_public and notified.actor_id == str(city.staff["ioc"])
    assert "trước đó; không gửi lại" in ioc.get(f"/inbox/new/{code}").get_data(as_text=True)
    assert "Gửi đường dẫn theo dõi cho người phản ánh qua Zalo" in ioc.get(f"/inbox/r/{code}").get_data(as_text=True)


def test_address_search_finds_a_ward_by_its_name_without_accents(login_as: Any, city: Any, session: Any) -> None:
    found = login_as("officer").get("/inbox/new/places", query_string={"q": "soc trang"}).get_json()
    assert found and found[0]["name"].startswith("Phường Sóc Trăng")
    area = routing.locate(session, found[0]["lat"], found[0]["lon"])
    assert area is not None and area.code == found[0]["code"] == "soc-trang"  # the pin goes inside the ward
    assert login_as("officer").get("/inbox/new/places", query_string={"q": "zzzz"}).get_json() == []


def test_the_inbox_filters_by_the_new_channels(login_as: Any, city: Any) -> None:
    html = login_as("ioc").get("/inbox").get_data(as_text=True)
    assert '<option value="hotline"' in html and "Đường dây nóng" in html and "Tại quầy tiếp dân" in html
