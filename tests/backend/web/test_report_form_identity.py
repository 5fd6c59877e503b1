"""Who reports through ``/report``: a resident signed in to the city app (its WebView opens
``/report#id_token=<Firebase ID token>``; the page's own script puts the token in the form, or the WebView
sends ``Authorization: Bearer``) reports as that resident, verified server-side with firebase-admin against
Google's certificates (a loopback fake here) exactly as the mobile API does; a forged or expired token is
refused in Vietnamese and nothing is stored; without a token the report is an unverified web report."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from sqlmodel import func, select
from web_browser import PageProbe
from web_seed import SOC_TRANG

from backend.models.reports import Report
from backend.models.residents import Identity, Resident

from fakes.google import FakeGoogle, keypair, signed_id_token
from fixtures.images import jpeg

PROJECT = "demo-phananh-web"  # conftest.FIREBASE_PROJECT, the fake Google signs for it


def _form(client: Any, path: str = "/report") -> str:
    page = client.get(path)
    assert page.status_code == 200
    return re.search(r'name="submission" value="([^"]+)"', page.get_data(as_text=True)).group(1)  # type: ignore[union-attr]


def _post(client: Any, headers: dict[str, str] | None = None, **extra: Any) -> Any:
    data: dict[str, Any] = {"submission": _form(client), "lat": str(SOC_TRANG[0]), "lon": str(SOC_TRANG[1]),
                            "category": "duong-hu-hong", "description": "Đèn đường không sáng",
                            "photo": (io.BytesIO(jpeg(640, 480)), "den.jpg")}
    data.update(extra)
    data = {k: v for k, v in data.items() if v is not None}
    return client.post("/report", data=data, content_type="multipart/form-data", headers=headers or {})


def _stored(session: Any) -> tuple[int, int, int]:
    session.expire_all()
    return tuple(session.exec(select(func.count()).select_from(t)).one()  # type: ignore[return-value]
                 for t in (Report, Resident, Identity))


def _web_report(session: Any) -> Report:
    session.expire_all()
    return session.exec(select(Report).where(Report.channel == "web")).one()


def test_the_page_carries_the_token_field_and_our_own_script_only(client: Any, city: Any) -> None:
    html = client.get("/report").get_data(as_text=True)
    assert '<input type="hidden" name="id_token" value="">' in html
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', html)
    assert scripts and all(s.startswith("/static/") for s in scripts)  # no third-party script
    assert "<script>" not in html  # no inline code (CSP)


@pytest.mark.parametrize("how", ["field", "bearer"])
def test_a_verified_token_makes_the_report_that_residents(google: FakeGoogle, client: Any, login_as: Any,
                                                          city: Any, session: Any, how: str) -> None:
    token = signed_id_token(PROJECT, "app-user-7")
    resp = _post(client, id_token=token) if how == "field" else \
        _post(client, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 201, resp.get_data(as_text=True)[:1500]
    report = _web_report(session)
    assert not (report.flags or {}).get("unverified")
    identity = session.exec(select(Identity).where(Identity.resident_id == report.resident_id)).one()
    assert (identity.provider, identity.subject) == ("firebase", "app-user-7")
    assert google.cert_calls >= 1  # the signature was checked against the (fake) Google certificates
    row = login_as("officer").get("/inbox").get_data(as_text=True)
    assert report.code in row and "Chưa xác minh" not in row


def test_the_same_app_user_on_the_web_and_in_the_app_is_one_resident(google: FakeGoogle, client: Any, city: Any,
                                                                    session: Any) -> None:
    _post(client, id_token=signed_id_token(PROJECT, "app-user-8"))
    _post(client, id_token=signed_id_token(PROJECT, "app-user-8"))
    session.expire_all()
    owners = set(session.exec(select(Report.resident_id).where(Report.channel == "web")).all())
    assert len(owners) == 1


@pytest.mark.parametrize(("token", "message"), [
    (lambda: signed_id_token(PROJECT, "app-user-9", exp_in=-120), "hết hạn"),
    (lambda: signed_id_token(PROJECT, "app-user-9", key=keypair("service-account")[0]), "không hợp lệ"),
    (lambda: signed_id_token("another-project", "app-user-9"), "không hợp lệ"),
    (lambda: "not-a-jwt", "không hợp lệ"),
])
def test_a_forged_or_expired_token_is_refused_and_nothing_is_stored(google: FakeGoogle, client: Any, city: Any,
                                                                     session: Any, token: Any, message: str) -> None:
    before = _stored(session)
    resp = _post(client, id_token=token())
    html = resp.get_data(as_text=True)
    assert resp.status_code == 401
    assert message in html and "Phản ánh chưa được gửi" in html and 'role="alert"' in html
    assert '<input type="hidden" name="id_token" value="">' in html  # the refused token is not offered again
    assert "Đèn đường không sáng" in html  # what the resident typed is kept
    assert _stored(session) == before


def test_a_good_token_survives_another_mistake_on_the_form(google: FakeGoogle, client: Any, city: Any,
                                                           session: Any) -> None:
    token = signed_id_token(PROJECT, "app-user-10")
    resp = _post(client, id_token=token, lat=None, lon=None)
    assert resp.status_code == 422 and "Vui lòng chọn vị trí" in resp.get_data(as_text=True)
    assert f'name="id_token" value="{token}"' in resp.get_data(as_text=True)


def test_without_a_token_the_report_is_unverified(client: Any, city: Any, session: Any) -> None:
    assert _post(client).status_code == 201
    assert (_web_report(session).flags or {}).get("unverified") is True


@pytest.mark.browser
def test_the_webview_hand_over_fills_the_form_and_clears_the_address(probe: PageProbe, live_server: Any) -> None:
    page = probe.new_page()
    page.goto(f"{live_server.url}/report#id_token=eyJ.abc.def")
    page.wait_for_selector("#signed-in:not([hidden])")
    assert page.locator("input[name=id_token]").input_value() == "eyJ.abc.def"
    assert "id_token" not in page.url and page.url.endswith("/report")
    assert probe.errors == []
