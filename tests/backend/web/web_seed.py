"""A demo city with staff of every role and a few reports, for the web tests (client and browser)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from backend.models.reports import Report
from backend.models.residents import Resident
from backend.models.staff import Staff
from backend.models.units import Unit
from backend.services.city import loading as cities
from backend.services.city import routing
from backend.services.city import staff as staff_service
from backend.services.events import Actor
from backend.services.reports import intake

PASSWORD = "mat-khau-thu-nghiem-1"
SOC_TRANG = (9.6306, 105.98235)  # centre of the "soc-trang" ward
AN_HIEP = (9.63135, 105.9334)

STAFF = (
    ("admin@demo.vn", "admin", None, "Quản trị viên"),
    ("ioc@demo.vn", "dispatcher", "ioc", "Điều phối viên IOC"),
    ("head@demo.vn", "head", "so-xd", "Trưởng phòng Sở Xây dựng"),
    ("officer@demo.vn", "officer", "so-xd", "Cán bộ Nguyễn Văn An"),
    ("officer2@demo.vn", "officer", "so-xd", "Cán bộ Trần Thị Bình"),
    ("other@demo.vn", "officer", "ctdt", "Cán bộ Công trình đô thị"),
    ("viewer@demo.vn", "viewer", None, "Lãnh đạo (chỉ xem)"),
)


@dataclass
class Seed:
    staff: dict[str, int] = field(default_factory=dict)
    units: dict[str, int] = field(default_factory=dict)
    reports: dict[str, str] = field(default_factory=dict)  # name -> code
    resident_id: int | None = None


def seed(session: Session, *, at: datetime | None = None) -> Seed:
    routing.clear_cache()
    cities.load_demo(session=session)
    out = Seed()
    for email, role, unit, name in STAFF:
        s = staff_service.create_staff(session, email=email, password=PASSWORD, role=role, unit_code=unit, name=name)
        out.staff[email.split("@")[0]] = s.id  # type: ignore[assignment]
    for unit in session.exec(select(Unit)):
        out.units[unit.code] = unit.id  # type: ignore[assignment]
    resident = Resident(display_name="Lê Thị Cúc", phone="+84901234567", email="cuc@example.vn")
    session.add(resident)
    session.flush()
    out.resident_id = resident.id
    add = lambda name, **kw: out.reports.__setitem__(name, report(session, resident_id=resident.id, at=at, **kw).code)  # noqa: E731
    add("road", category="duong-hu-hong", description="Ổ gà lớn giữa đường Trần Hưng Đạo, xe máy dễ ngã",
        point=SOC_TRANG, address="Số 12 đường Trần Hưng Đạo")
    add("road2", category="duong-hu-hong", description="Mặt đường sụt lún gần ngã tư",
        point=(SOC_TRANG[0] + 0.0008, SOC_TRANG[1]))
    add("triage", category=None, description="Có vấn đề ở khu chợ, nhờ kiểm tra", point=AN_HIEP)
    add("rubbish", category="rac-thai", description="Rác thải đổ trộm bên lề đường", point=AN_HIEP)
    session.flush()
    return out


def report(session: Session, *, resident_id: int | None, category: str | None, description: str,
           point: tuple[float, float], address: str | None = None, at: datetime | None = None) -> Report:
    return intake.create_report(session, channel="app", actor=Actor.resident(resident_id), category_code=category,
                                description=description, lat=point[0], lon=point[1], address=address,
                                resident_id=resident_id, at=at)


def by_code(session: Session, code: str) -> Report:
    session.expire_all()
    found = session.exec(select(Report).where(Report.code == code)).one()
    return found


def staff_by_email(session: Session, email: str) -> Staff:
    return session.exec(select(Staff).where(Staff.email == email)).one()


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in page"
    return match.group(1)


def login(client: Any, who: str, password: str = PASSWORD) -> Any:
    page = client.get("/auth/login")
    token = csrf_from(page.get_data(as_text=True))
    return client.post("/auth/login", data={"email": f"{who}@demo.vn", "password": password, "csrf_token": token})


def token(client: Any, path: str = "/inbox") -> str:
    return csrf_from(client.get(path).get_data(as_text=True))
