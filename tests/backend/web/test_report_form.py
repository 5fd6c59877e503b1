"""The web report form ``/report``: a resident reports from a phone browser through the same intake as
the app (channel ``web``), gets the code, the deadline and the reporter's link; bad input gets a clear
Vietnamese message and changes nothing; a double submit makes exactly one report."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from sqlmodel import func, select
from web_seed import SOC_TRANG

from backend.models.photos import Photo
from backend.models.reports import Report, ReportEvent
from backend.models.residents import Identity, Resident
from backend.services.city import settings as city_settings

from fakes.google import FakeGoogle, signed_id_token
from fixtures.images import jpeg

PROJECT = "demo-phananh-web"  # conftest.FIREBASE_PROJECT, the fake Google signs for it


def _form(client: Any) -> str:
    page = client.get("/report")
    assert page.status_code == 200
    found = re.search(r'name="submission" value="([^"]+)"', page.get_data(as_text=True))
    assert found
    return found.group(1)


def _fields(submission: str, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"submission": submission, "lat": str(SOC_TRANG[0]), "lon": str(SOC_TRANG[1]),
                            "category": "duong-hu-hong", "description": "Ổ gà lớn trước nhà số 12",
                            "photo": (io.BytesIO(jpeg(640, 480)), "o-ga.jpg")}
    data.update(extra)
    return {k: v for k, v in data.items() if v is not None}


def _post(client: Any, data: dict[str, Any]) -> Any:
    return client.post("/report", data=data, content_type="multipart/form-data")


def _counts(session: Any) -> tuple[int, int, int]:
    session.expire_all()
    return (session.exec(select(func.count()).select_from(Report)).one(),
            session.exec(select(func.count()).select_from(Photo)).one(),
            session.exec(select(func.count()).select_from(ReportEvent)).one())


def _set(session: Any, key: str, value: Any) -> None:
    city_settings.put(session, key, value)
    session.flush()


def test_form_is_mobile_ready_with_camera_location_and_hotlines(client: Any, city: Any) -> None:
    resp = client.get("/report")
    html = resp.get_data(as_text=True)
    assert 'accept="image/*" capture="environment" multiple' in html
    assert 'data-map="picker"' in html and "Dùng vị trí của tôi" in html
    assert "Nghị định 13/2023/NĐ-CP" in html
    assert 'href="tel:114"' in html  # an emergency category shows its hotline instead of the form
    assert "geolocation=(self)" in resp.headers["Permissions-Policy"]
    assert resp.headers["Cache-Control"] == "no-store"
    assert "pa_device=" in resp.headers["Set-Cookie"] and "HttpOnly" in resp.headers["Set-Cookie"]


def test_a_resident_reports_from_the_web(client: Any, city: Any, session: Any) -> None:
    before = _counts(session)
    resp = _post(client, _fields(_form(client), name="Trần Văn Dũng", phone="0912345678", consent="yes"))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 201, html[:2000]
    code = re.search(r'id="report-code">(PA-[A-Z0-9]+)<', html).group(1)  # type: ignore[union-attr]
    assert f"/r/{code}?t=" in html and 'id="report-deadline"' in html
    report = session.exec(select(Report).where(Report.code == code)).one()
    assert report.channel == "web" and report.status == "assigned" and report.unit_id == city.units["so-xd"]
    assert report.resolve_due_at is not None
    assert (report.flags or {}).get("unverified") is True
    assert _counts(session)[0:2] == (before[0] + 1, before[1] + 1)
    identity = session.exec(select(Identity).where(Identity.resident_id == report.resident_id)).one()
    assert identity.provider == "web"
    resident = session.get(Resident, report.resident_id)
    assert (resident.display_name, resident.phone) == ("Trần Văn Dũng", "0912345678")


def test_unverified_reports_are_flagged_in_the_inbox(client: Any, login_as: Any, city: Any) -> None:
    _post(client, _fields(_form(client)))
    html = login_as("officer").get("/inbox").get_data(as_text=True)
    assert "Chưa xác minh" in html


def test_double_submit_makes_exactly_one_report(client: Any, city: Any, session: Any) -> None:
    submission = _form(client)
    first = _post(client, _fields(submission))
    second = _post(client, _fields(submission))
    code = re.search(r'id="report-code">(PA-[A-Z0-9]+)<', first.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    assert f'id="report-code">{code}<' in second.get_data(as_text=True)
    assert session.exec(select(func.count()).select_from(Report).where(Report.channel == "web")).one() == 1


@pytest.mark.parametrize(("change", "message"), [
    ({"photo": None}, "ít nhất một ảnh"),
    ({"lat": "21.0285", "lon": "105.8542"}, "ngoài địa bàn"),
    ({"lat": None, "lon": None}, "Vui lòng chọn vị trí"),
    ({"lat": "abc"}, "Vị trí không hợp lệ"),
    ({"lat": "nan"}, "Vị trí không hợp lệ"),
    ({"lon": "inf"}, "Vị trí không hợp lệ"),
    ({"photo": (io.BytesIO(b"%PDF-1.4 not an image"), "a.pdf")}, "ảnh"),
    ({"description": "x" * 4001}, "Mô tả quá dài"),
    ({"category": "khong-co"}, "Lĩnh vực không hợp lệ"),
    ({"category": "khan-cap-chay-no"}, "114"),
    ({"submission": "forged"}, "Biểu mẫu đã hết hạn"),
    ({"name": "Dũng"}, "đồng ý"),
    ({"email": "khong-phai-email", "consent": "yes"}, "e-mail không hợp lệ"),
])
def test_bad_input_is_refused_in_vietnamese_and_changes_nothing(client: Any, city: Any, session: Any,
                                                                change: dict[str, Any], message: str) -> None:
    before = _counts(session)
    data = _fields(_form(client))
    for key, value in change.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    resp = _post(client, data)
    html = resp.get_data(as_text=True)
    assert 400 <= resp.status_code < 500, (change, resp.status_code)
    assert message.lower() in html.lower(), (change, html[:1500])
    assert _counts(session) == before


def test_another_devices_form_is_refused(app: Any, client: Any, city: Any, session: Any) -> None:
    submission = _form(client)
    stranger = app.test_client()
    before = _counts(session)
    resp = _post(stranger, _fields(submission))
    assert resp.status_code == 422 and "Biểu mẫu đã hết hạn" in resp.get_data(as_text=True)
    assert _counts(session) == before


def test_city_may_refuse_unverified_web_reporters(client: Any, city: Any, session: Any) -> None:
    _set(session, "web_unverified_allowed", False)
    before = _counts(session)
    resp = _post(client, _fields(_form(client)))
    assert resp.status_code == 401 and "đã đăng nhập" in resp.get_data(as_text=True)
    assert _counts(session) == before


def test_city_may_accept_reports_without_photo(client: Any, city: Any, session: Any) -> None:
    _set(session, "web_photo_required", False)
    resp = _post(client, _fields(_form(client), photo=None))
    assert resp.status_code == 201


def test_a_firebase_signed_in_resident_is_verified(google: FakeGoogle, client: Any, city: Any, session: Any) -> None:
    _set(session, "web_unverified_allowed", False)
    resp = _post(client, _fields(_form(client), id_token=signed_id_token(PROJECT, "web-user-1")))
    assert resp.status_code == 201, resp.get_data(as_text=True)[:1500]
    report = session.exec(select(Report).where(Report.channel == "web")).one()
    assert not (report.flags or {}).get("unverified")
    identity = session.exec(select(Identity).where(Identity.resident_id == report.resident_id)).one()
    assert (identity.provider, identity.subject) == ("firebase", "web-user-1")
    before = _counts(session)
    forged = _post(client, _fields(_form(client), id_token=signed_id_token("other-project", "web-user-1")))
    assert forged.status_code == 401 and _counts(session) == before
