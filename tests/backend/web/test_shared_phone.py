"""A phone a resident shared on Zalo for ZNS is personal data: staff see it only through the logged contact
view; public views and the staff report page never carry it."""

from __future__ import annotations

from typing import Any

from sqlmodel import func, select
from web_seed import by_code, token

from backend.models import Identity, ReportEvent, Resident
from backend.services.residents import phones


def _share(session: Any, city: Any) -> None:
    resident = session.get(Resident, city.resident_id)
    resident.phone = None
    session.add(resident)
    session.add(Identity(resident_id=city.resident_id, provider="zalo", subject="zalo-cuc"))
    session.flush()
    phones.share(session, provider="zalo", subject="zalo-cuc", phone="84912345678")
    session.commit()


def test_staff_see_the_shared_phone_only_in_the_logged_contact_view(login_as: Any, city: Any, session: Any,
                                                                     client: Any) -> None:
    _share(session, city)
    code = city.reports["road"]
    officer = login_as("officer")
    page = officer.get(f"/inbox/r/{code}").get_data(as_text=True)
    assert "912345678" not in page and "912 345 678" not in page
    resp = officer.post(f"/inbox/r/{code}/contact", data={"csrf_token": token(officer, f"/inbox/r/{code}")})
    assert "0912 345 678" in resp.get_data(as_text=True)
    report = by_code(session, code)
    assert session.exec(select(func.count()).select_from(ReportEvent).where(
        ReportEvent.report_id == report.id, ReportEvent.kind == "pii_viewed")).one() == 1
    public = client.get(f"/api/v1/reports/{code}").get_data(as_text=True)
    assert "912345678" not in public and "912 345 678" not in public and "zalo-cuc" not in public
