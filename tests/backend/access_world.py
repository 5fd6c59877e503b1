"""The world the endpoint access matrix runs in: a seeded city, real rows behind every path parameter,
and one real credential of each kind (imported by ``test_endpoint_access.py``).

Credentials are captured once and replayed statelessly: a staff member signs in through
``/auth/login`` and the resulting session cookie (with its CSRF secret) is sent on every request, so a
request that signs out or flashes a message never changes what the next request presents. Residents
carry Firebase Auth emulator ID tokens (unsigned, accepted only while ``FIREBASE_AUTH_EMULATOR_HOST``
is set, as in development); Open311 clients carry ``api_key``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from backend.models import Delivery
from backend.models.calendar import CalendarOverride
from backend.models.categories import Category
from backend.models.photos import Photo
from backend.models.residents import Device, Identity
from backend.models.routing import RoutingRule
from backend.models.staff import SavedView
from backend.models.templates import ReplyTemplate
from backend.services import photos
from backend.services.city import clients
from backend.services.events import Actor
from backend.services.photos import storage
from backend.services.reports import intake, workflow
from backend.services.residents import residents

from fakes.google import emulator_id_token
from fixtures.images import jpeg

sys.path.insert(0, str(Path(__file__).parent / "web"))
from web_seed import SOC_TRANG, by_code, csrf_from, login, report, seed, staff_by_email

PROJECT = "demo-phananh"
TOKEN = "5e1f0c2a9b7d4e3f8a6b1c0d2e4f6a8b"
HOLIDAY = date(2030, 1, 2)
COOKIE = "phananh_session"
STAFF = ("admin", "ioc", "head", "officer", "viewer")
#: every credential the matrix presents, in the order it presents them
CREDENTIALS = ("anonymous", "resident", "resident2", *STAFF, "o311_key", "o311_unit_key", "o311_revoked")


@dataclass(frozen=True)
class Credential:
    """What one caller presents: a session cookie (+ CSRF token), a bearer token, an Open311 key."""

    name: str
    cookie: str = ""
    csrf: str = ""
    bearer: str | None = None
    api_key: str | None = None

    def headers(self) -> dict[str, str]:
        out = {"X-CSRFToken": self.csrf} if self.csrf else {}
        if self.cookie:
            out["Cookie"] = f"{COOKIE}={self.cookie}"
        if self.bearer:
            out["Authorization"] = f"Bearer {self.bearer}"
        return out


@dataclass
class World:
    """Real identifiers for every path parameter, and the credentials."""

    road: str = ""  # report code, unit so-xd (the head's and officer's unit)
    done: str = ""  # report code, unit so-xd, resolved (the reporter may rate or reopen it)
    rubbish: str = ""  # report code, unit ctdt (nobody's unit among the staff credentials), sent by o311_key
    hotline: str = ""  # report code, entered by the officer for a caller (``/inbox/new``)
    units: dict[str, int] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    public_key: str = ""
    credentials: dict[str, Credential] = field(default_factory=dict)


def build(app: Any, session: Session, settings: Any) -> World:
    """Seed the city and every row the matrix points at; sign each credential in once."""
    city = seed(session)
    world = World(road=city.reports["road"], rubbish=city.reports["rubbish"], units=dict(city.units))
    alice = city.resident_id
    assert alice is not None
    session.add(Identity(resident_id=alice, provider="firebase", subject="alice", data={}))
    bob = residents.resident_for_identity(session, provider="firebase", subject="bob")
    device = Device(resident_id=alice, token="fcm-token-of-alice", platform="android")
    session.add(device)
    key_client, key = clients.create_client(session, name="Ứng dụng bên thứ ba")
    unit_client, unit_key = clients.create_client(session, name="Hệ thống Sở Xây dựng", unit_code="so-xd")
    revoked, revoked_key = clients.create_client(session, name="Ứng dụng đã thu hồi")
    clients.revoke(session, client_id=revoked.id)  # type: ignore[arg-type]
    head = staff_by_email(session, "head@demo.vn")
    view = SavedView(staff_id=head.id, name="Quá hạn của tôi", query={"overdue": "1"})  # type: ignore[arg-type]
    session.add(view)
    session.flush()
    world.done = _resolved(session, resident_id=alice)
    world.hotline = _entered(session, resident_id=bob.id)
    world.public_key, photo_id = _photo(session, settings, report_code=world.rubbish, resident_id=alice)
    rubbish = by_code(session, world.rubbish)
    rubbish.external_ref = "o311:" + TOKEN  # as if posted through Open311 (``/v2/tokens/<token>``)
    rubbish.api_client_id = key_client.id  # ... by ``o311_key``, its sender
    session.add(rubbish)
    world.ids = {"device": device.id, "view": view.id, "photo": photo_id, "client": unit_client.id,  # type: ignore[dict-item]
                 "bob": bob.id, "officer2": city.staff["officer2"], **_admin_rows(session),
                 "road_version": by_code(session, world.road).version, "rubbish_version": rubbish.version}
    world.credentials = _credentials(app, key=key, unit_key=unit_key, revoked_key=revoked_key)
    return world


def _resolved(session: Session, *, resident_id: int) -> str:
    """A report of ``resident_id`` resolved by the admin (with the after photo its category needs)."""
    done = report(session, resident_id=resident_id, category="duong-hu-hong", description="Đèn đường hỏng",
                  point=SOC_TRANG)
    admin = staff_by_email(session, "admin@demo.vn")
    after = Photo(staff_id=admin.id, state="ready", mime="image/jpeg", role="after")
    session.add(after)
    session.flush()
    workflow.apply(session, done, "resolve", actor=Actor.staff(admin), expected_version=done.version,
                   reply="Đã thay bóng đèn.", after_photo_ids=[after.id])
    return done.code


def _entered(session: Session, *, resident_id: int | None) -> str:
    """A report the officer entered on a caller's behalf (channel ``hotline``)."""
    officer = staff_by_email(session, "officer@demo.vn")
    return intake.create_report(session, channel="hotline", actor=Actor.staff(officer), category_code="rac-thai",
                                description="Người dân gọi báo rác ùn ứ", lat=SOC_TRANG[0], lon=SOC_TRANG[1],
                                resident_id=resident_id).code


def _photo(session: Session, settings: Any, *, report_code: str, resident_id: int) -> tuple[str, int]:
    """A processed photo of ``report_code``: a public copy and a private original."""
    store = storage.get_storage(settings)
    photo = photos.accept_upload(session, data=jpeg(320, 240), storage=store, resident_id=resident_id)
    photo = photos.process(session, photo=photo, storage=store)
    photo.report_id = by_code(session, report_code).id
    session.add(photo)
    session.flush()
    assert photo.public_key and photo.id is not None
    return photo.public_key, photo.id


def _admin_rows(session: Session) -> dict[str, int]:
    """A category, a routing rule, a reply template and a failed delivery for the admin pages."""
    category = session.exec(select(Category).where(Category.code == "rac-thai")).one()
    rule = session.exec(select(RoutingRule)).first()
    assert rule is not None, "the demo city has routing rules"
    template = ReplyTemplate(category_id=category.id, state="resolved", title="Đã thu gom",
                             body="Rác đã được thu gom. Cảm ơn bạn.")
    delivery = Delivery(dedupe_key="access:dead-phone", recipient_kind="resident", recipient_id=1, channel="fcm",
                        target="token:dead", template="resolved", title="Phản ánh đã được xử lý",
                        send_state="undeliverable", attempts=1, last_error="UnregisteredError: gone", payload={})
    session.add_all([template, delivery, CalendarOverride(day=HOLIDAY, is_working=False, note="Nghỉ bù")])
    session.flush()
    return {"category": category.id, "rule": rule.id, "template": template.id,  # type: ignore[dict-item]
            "delivery": delivery.id}


def _credentials(app: Any, *, key: str, unit_key: str, revoked_key: str) -> dict[str, Credential]:
    out = {"anonymous": _browser(app, "anonymous", None),
           "resident": Credential("resident", bearer=emulator_id_token(PROJECT, "alice")),
           "resident2": Credential("resident2", bearer=emulator_id_token(PROJECT, "bob")),
           "o311_key": Credential("o311_key", api_key=key),
           "o311_unit_key": Credential("o311_unit_key", api_key=unit_key),
           "o311_revoked": Credential("o311_revoked", api_key=revoked_key)}
    for who in STAFF:
        out[who] = _browser(app, who, who)
    # residents and API clients also hold an anonymous browser session: the CSRF check passes and the
    # request reaches the sign-in guard, which is what the matrix checks
    anon = out["anonymous"]
    for name in ("resident", "resident2", "o311_key", "o311_unit_key", "o311_revoked"):
        c = out[name]
        out[name] = Credential(name, cookie=anon.cookie, csrf=anon.csrf, bearer=c.bearer, api_key=c.api_key)
    assert tuple(sorted(out)) == tuple(sorted(CREDENTIALS))
    return out


def _browser(app: Any, name: str, who: str | None) -> Credential:
    """Sign ``who`` in (or stay anonymous) and keep the session cookie and a CSRF token for it."""
    client = app.test_client()
    if who is not None:
        resp = login(client, who)
        assert resp.status_code == 303, resp.get_data(as_text=True)[:300]
        page = client.get("/auth/password")
    else:
        page = client.get("/auth/login")
    token = csrf_from(page.get_data(as_text=True))
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    return Credential(name, cookie=cookie.value, csrf=token)

