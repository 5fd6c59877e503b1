"""The access decision for every route of the app: ``MATRIX[(method, rule)] = Case(access, request)``.

A new route fails ``test_every_route_has_an_access_decision`` until it gets a line here. Each
``Access`` names who may call the endpoint (``allowed`` credential names, see
``access_world.CREDENTIALS``); everyone else must be refused the channel's way (see ``refusal``).
Requests carry real identifiers (``{road}``, ``{device}``, ... from ``access_world.World``) and a
body that would change stored data if the refusal were missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from access_world import CREDENTIALS, HOLIDAY, STAFF, TOKEN, World
from web_seed import PASSWORD

from fakes import zalo as fz

RESIDENTS = frozenset({"resident", "resident2"})
KEYS = frozenset({"o311_key", "o311_unit_key"})


@dataclass(frozen=True)
class Access:
    """Who may call: ``allowed`` credentials; ``other`` is how a recognised caller outside it is refused
    (``forbidden`` → 403, ``not-found`` → 404 for resources whose existence is not revealed)."""

    label: str
    allowed: frozenset[str]
    other: str = "forbidden"


def staff(label: str, *who: str, other: str = "forbidden") -> Access:
    return Access(f"staff signed in: {label}", frozenset(who), other)


PUBLIC = Access("public", frozenset(CREDENTIALS))
#: a public read that also serves the owner view: a bearer token, if sent, must be a valid one (401)
PUBLIC_READ = Access("public; an invalid bearer token is refused", frozenset(CREDENTIALS) - KEYS - {"o311_revoked"})
RESIDENT = Access("resident with a Firebase ID token", RESIDENTS)
OWNER = Access("resident who sent the report", frozenset({"resident"}))
DEVICE_OWNER = Access("resident who registered the device (others: 404)", frozenset({"resident"}), "not-found")
O311_KEY = Access("Open311 api_key (active)", KEYS)
O311_UNIT = Access("Open311 api_key bound to the report's unit", frozenset({"o311_unit_key"}))
#: mySociety's extension: the key that sent a report may post updates on it (docs/open311.md §2.4)
O311_SENDER = Access("Open311 api_key that sent the report", frozenset({"o311_key"}))
#: the reporter's forms on /r/<code>: only the signed link token (form field ``t``) opens them, whoever calls
REPORTER_TOKEN = Access("the reporter's signed link token (no sign-in; everyone else: 403)", frozenset())
SIGNATURE = Access("Zalo X-ZEvent-Signature (no user credential)", frozenset())
ANY_STAFF = staff("any role", *STAFF)
ADMIN = staff("admin", "admin")
IOC = staff("admin, dispatcher (or head/officer of the report's unit)", "admin", "ioc")
ACTING = staff("roles that act (admin, dispatcher, head, officer)", "admin", "ioc", "head", "officer")
#: data of unit ctdt: city-wide roles (admin, dispatcher, a viewer without a unit) or ctdt's own staff
CTDT_DATA = staff("city-wide roles or the unit's own staff", "admin", "ioc", "viewer")
#: the whole city: admin, dispatcher, a viewer without a unit (leaders)
CITY_WIDE = staff("city-wide roles (admin, dispatcher, a viewer without a unit)", "admin", "ioc", "viewer")
#: the page after a report on behalf carries the reporter's link: its creator's only
ENTERED_BY = staff("the staff member who entered the report (others: 404)", "officer", other="not-found")
VIEW_OWNER = staff("the owner of the saved view (others: 404)", "head", other="not-found")


@dataclass(frozen=True)
class Req:
    """A request template; ``{name}`` in strings is filled from ``params(world)``."""

    path: str
    query: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] | None = None
    json: dict[str, Any] | None = None
    raw: bytes | None = None
    photo: bool = False  # multipart with a fresh JPEG in ``file``
    missing: bool = False  # the route answers 404 to everyone (catch-all): not a wrong parameter
    signs_out: bool = False  # an allowed call ends on the login page


@dataclass(frozen=True)
class Case:
    access: Access
    req: Req


def params(world: World) -> dict[str, Any]:
    return {"road": world.road, "done": world.done, "rubbish": world.rubbish, "hotline": world.hotline,
            "ctdt": world.units["ctdt"], "hcc": world.units["hcc"],
            "token": TOKEN, "public_key": world.public_key,
            "holiday": HOLIDAY.isoformat(), "password": PASSWORD, **world.ids}


CTDT = {"unit_id": "{ctdt}"}
NOTE = {"action": "note", "text": "Đã liên hệ đơn vị thu gom.", "version": "{rubbish_version}"}
O311_POST = {"service_code": "rac-thai", "description": "Rác đổ trộm bên đường", "lat": "9.6031", "long": "105.9739"}
O311_UPDATE = {"service_request_id": "{road}", "update_id": "ext-1", "status": "OPEN",
               "updated_datetime": "2026-01-05T08:00:00+07:00", "description": "Đơn vị đã tiếp nhận."}
#: a resident's comment on a report sent through Open311 by ``o311_key`` (``{rubbish}``, unit ctdt)
O311_COMMENT = {**O311_UPDATE, "service_request_id": "{rubbish}", "update_id": "fms-1",
                "description": "Rác vẫn chưa được dọn.", "email": "dan@example.vn"}
NEW_REPORT = {"category": "duong-hu-hong", "description": "Ổ gà lớn trước nhà số 12",
              "location": {"lat": 9.603, "lon": 105.975, "accuracy_m": 8}}
BEHALF = {"channel": "hotline", "caller_phone": "0912345678", "category": "rac-thai", "description": "Rác ùn ứ",
          "lat": "9.6306", "lon": "105.98235"}
NEW_STAFF = {"email": "moi@demo.vn", "password": "mat-khau-moi-2026-x", "role": "officer", "unit_code": "ctdt",
             "name": "Cán bộ mới"}
NEW_TEMPLATE = {"category_id": "{category}", "state": "resolved", "title": "Đã xử lý xong", "body": "Cảm ơn bạn."}
NEW_PASSWORD = {"current_password": "{password}", "new_password": "mat-khau-moi-2026-y",
                "confirm_password": "mat-khau-moi-2026-y"}
#: a fresh, well-formed user message, unsigned: only the missing signature stands in its way
ZALO_EVENT = fz.dumps(fz.text_event("u-forged", "tra cứu"))
ANY_METHOD = ("GET", "POST", "PUT", "PATCH", "DELETE")

MATRIX: dict[tuple[str, str], Case] = {
    # ---- health, metrics, static files, API documents
    ("GET", "/healthz"): Case(PUBLIC, Req("/healthz")),
    ("GET", "/readyz"): Case(PUBLIC, Req("/readyz")),
    # operational counters only (no personal data); keep it off the public ingress in production
    ("GET", "/metrics"): Case(PUBLIC, Req("/metrics")),
    ("GET", "/static/web/<path:filename>"): Case(PUBLIC, Req("/static/web/app.css")),
    ("GET", "/api/v1/static/<path:filename>"): Case(PUBLIC, Req("/api/v1/static/swagger-ui/init.js")),
    ("GET", "/api/v1/docs"): Case(PUBLIC, Req("/api/v1/docs")),
    ("GET", "/api/v1/openapi.json"): Case(PUBLIC, Req("/api/v1/openapi.json")),
    # ---- mobile API v1
    ("GET", "/api/v1/categories"): Case(PUBLIC, Req("/api/v1/categories")),
    ("GET", "/api/v1/reports"): Case(PUBLIC, Req("/api/v1/reports")),
    ("GET", "/api/v1/reports/nearby"): Case(PUBLIC, Req("/api/v1/reports/nearby",
                                                        query={"lat": "9.6306", "lon": "105.98235"})),
    ("GET", "/api/v1/reports/<code>"): Case(PUBLIC_READ, Req("/api/v1/reports/{road}")),
    ("GET", "/api/v1/stats"): Case(PUBLIC, Req("/api/v1/stats")),
    ("GET", "/api/v1/stats/ranking"): Case(PUBLIC, Req("/api/v1/stats/ranking")),
    ("POST", "/api/v1/reports"): Case(RESIDENT, Req("/api/v1/reports", json=NEW_REPORT)),
    ("POST", "/api/v1/media"): Case(RESIDENT, Req("/api/v1/media", photo=True)),
    ("POST", "/api/v1/devices"): Case(RESIDENT, Req("/api/v1/devices", json={"token": "fcm-token-new-1234"})),
    ("DELETE", "/api/v1/devices/<int:device_id>"): Case(DEVICE_OWNER, Req("/api/v1/devices/{device}")),
    ("GET", "/api/v1/me/reports"): Case(RESIDENT, Req("/api/v1/me/reports")),
    ("GET", "/api/v1/me/notifications"): Case(RESIDENT, Req("/api/v1/me/notifications")),
    ("POST", "/api/v1/reports/<code>/follow"): Case(RESIDENT, Req("/api/v1/reports/{road}/follow")),
    ("DELETE", "/api/v1/reports/<code>/follow"): Case(RESIDENT, Req("/api/v1/reports/{road}/follow")),
    ("POST", "/api/v1/reports/<code>/comments"): Case(OWNER, Req("/api/v1/reports/{road}/comments",
                                                                 json={"text": "Ổ gà rộng thêm."})),
    ("POST", "/api/v1/reports/<code>/rating"): Case(OWNER, Req("/api/v1/reports/{done}/rating",
                                                               json={"rating": 1})),
    ("POST", "/api/v1/reports/<code>/reopen"): Case(OWNER, Req("/api/v1/reports/{done}/reopen",
                                                               json={"reason": "Chưa sửa xong"})),
    ("GET", "/media/<path:key>"): Case(PUBLIC, Req("/media/{public_key}")),
    # ---- resident web: the public report page, its feed, the lookup, the reporter's forms
    ("GET", "/r/"): Case(PUBLIC, Req("/r/", query={"code": "{road}"})),
    ("GET", "/r/<code>"): Case(PUBLIC, Req("/r/{road}")),
    ("GET", "/r/<code>.json"): Case(PUBLIC, Req("/r/{road}.json")),
    ("POST", "/r/<code>/comment"): Case(REPORTER_TOKEN, Req("/r/{road}/comment", form={"text": "Thêm thông tin"})),
    ("POST", "/r/<code>/rate"): Case(REPORTER_TOKEN, Req("/r/{done}/rate", form={"rating": "5"})),
    ("POST", "/r/<code>/reopen"): Case(REPORTER_TOKEN, Req("/r/{done}/reopen", form={"reason": "Chưa sửa xong"})),
    # ---- Open311 GeoReport v2: reads are public, writes need an api_key
    ("GET", "/open311/discovery.<any(json,xml):fmt>"): Case(PUBLIC, Req("/open311/discovery.json")),
    ("GET", "/open311/v2/discovery.<any(json,xml):fmt>"): Case(PUBLIC, Req("/open311/v2/discovery.json")),
    ("GET", "/open311/v2/services.<any(json,xml):fmt>"): Case(PUBLIC, Req("/open311/v2/services.json")),
    ("GET", "/open311/v2/services/<path:rest>"): Case(PUBLIC, Req("/open311/v2/services/rac-thai.json")),
    ("GET", "/open311/v2/service/<path:rest>"): Case(PUBLIC, Req("/open311/v2/service/rac-thai.json")),
    ("GET", "/open311/v2/requests.<any(json,xml):fmt>"): Case(PUBLIC, Req("/open311/v2/requests.json")),
    ("GET", "/open311/v2/requests/<path:rest>"): Case(PUBLIC, Req("/open311/v2/requests/{road}.json")),
    ("GET", "/open311/v2/tokens/<path:rest>"): Case(PUBLIC, Req("/open311/v2/tokens/{token}.json")),
    ("GET", "/open311/v2/servicerequestupdates.<any(json,xml):fmt>"): Case(
        PUBLIC, Req("/open311/v2/servicerequestupdates.json")),
    ("POST", "/open311/v2/requests.<any(json,xml):fmt>"): Case(O311_KEY, Req("/open311/v2/requests.json",
                                                                            form=O311_POST)),
    ("POST", "/open311/v2/servicerequestupdates.<any(json,xml):fmt>"): Case(
        O311_UNIT, Req("/open311/v2/servicerequestupdates.json", form=O311_UPDATE)),
    **{(m, "/open311"): Case(PUBLIC, Req("/open311", missing=True)) for m in ANY_METHOD},
    **{(m, "/open311/<path:_rest>"): Case(PUBLIC, Req("/open311/v2/nothing.json", missing=True))
       for m in ANY_METHOD},
    # ---- Zalo webhook: the signature is the only credential
    ("POST", "/bots/zalo/webhook"): Case(SIGNATURE, Req("/bots/zalo/webhook", raw=ZALO_EVENT)),
    # ---- staff sign-in
    # ---- resident web: the city's public page, its map feed, the web report form
    ("GET", "/"): Case(PUBLIC, Req("/")),
    ("GET", "/map.json"): Case(PUBLIC, Req("/map.json")),
    ("GET", "/report"): Case(PUBLIC, Req("/report")),
    # without the form's signed submission id the post is refused (422) and changes nothing
    ("POST", "/report"): Case(PUBLIC, Req("/report", form={"lat": "9.603", "lon": "105.975",
                                                          "description": "Ổ gà"}, photo=True)),
    ("GET", "/auth/login"): Case(PUBLIC, Req("/auth/login")),
    ("POST", "/auth/login"): Case(PUBLIC, Req("/auth/login", form={"email": "officer2@demo.vn",
                                                                  "password": "{password}"})),
    ("POST", "/auth/logout"): Case(ANY_STAFF, Req("/auth/logout", form={}, signs_out=True)),
    ("GET", "/auth/password"): Case(ANY_STAFF, Req("/auth/password")),
    # second factor: the challenge is public (a half-signed-in browser has no staff session yet)
    ("GET", "/auth/totp"): Case(PUBLIC, Req("/auth/totp", signs_out=True)),
    ("POST", "/auth/totp"): Case(PUBLIC, Req("/auth/totp", form={"code": "123456"}, signs_out=True)),
    ("GET", "/auth/totp/setup"): Case(ANY_STAFF, Req("/auth/totp/setup")),
    ("POST", "/auth/totp/setup"): Case(ANY_STAFF, Req("/auth/totp/setup", form={"code": "123456"})),
    ("POST", "/auth/totp/disable"): Case(ANY_STAFF, Req("/auth/totp/disable", form={"password": "{password}"})),
    ("POST", "/auth/password"): Case(ANY_STAFF, Req("/auth/password", form=NEW_PASSWORD)),
    # ---- triage inbox and report page
    ("GET", "/inbox"): Case(CTDT_DATA, Req("/inbox", query=CTDT)),
    ("GET", "/inbox/"): Case(CTDT_DATA, Req("/inbox/", query=CTDT)),
    ("GET", "/inbox/rows"): Case(CTDT_DATA, Req("/inbox/rows", query=CTDT)),
    ("GET", "/inbox/map"): Case(ANY_STAFF, Req("/inbox/map")),
    ("GET", "/inbox/map.json"): Case(CTDT_DATA, Req("/inbox/map.json", query=CTDT)),
    ("GET", "/inbox/ioc"): Case(IOC, Req("/inbox/ioc")),
    ("GET", "/inbox/city"): Case(CITY_WIDE, Req("/inbox/city")),
    ("POST", "/inbox/views"): Case(ANY_STAFF, Req("/inbox/views", form={"name": "Khẩn", "overdue": "1"})),
    ("POST", "/inbox/views/<int:view_id>/delete"): Case(VIEW_OWNER, Req("/inbox/views/{view}/delete", form={})),
    ("POST", "/inbox/bulk"): Case(ACTING, Req("/inbox/bulk", form={"action": "acknowledge",
                                                                  "report": "{road}:{road_version}"})),
    # ---- report on behalf (hotline, counter): roles that act; the page after it is its creator's
    ("GET", "/inbox/new"): Case(ACTING, Req("/inbox/new")),
    # without the form's signed one-time key the post is refused (422) and changes nothing
    ("POST", "/inbox/new"): Case(ACTING, Req("/inbox/new", form=BEHALF)),
    ("GET", "/inbox/new/places"): Case(ACTING, Req("/inbox/new/places", query={"q": "soc trang"})),
    ("GET", "/inbox/new/<code>"): Case(ENTERED_BY, Req("/inbox/new/{hotline}")),
    ("POST", "/inbox/new/<code>/zalo"): Case(ENTERED_BY, Req("/inbox/new/{hotline}/zalo", form={})),
    ("GET", "/inbox/r/<code>"): Case(CTDT_DATA, Req("/inbox/r/{rubbish}")),
    ("POST", "/inbox/r/<code>/act"): Case(IOC, Req("/inbox/r/{rubbish}/act", form=NOTE)),
    ("POST", "/inbox/r/<code>/contact"): Case(IOC, Req("/inbox/r/{rubbish}/contact", form={})),
    ("POST", "/inbox/r/<code>/photos/<int:photo_id>/blur"): Case(
        IOC, Req("/inbox/r/{rubbish}/photos/{photo}/blur", form={"x": "10", "y": "10", "w": "60", "h": "40",
                                                                  "reason": "Che biển số xe"})),
    ("POST", "/inbox/r/<code>/photos/<int:photo_id>/original"): Case(
        IOC, Req("/inbox/r/{rubbish}/photos/{photo}/original", form={})),
    # ---- dashboard and exports (unit ctdt's figures)
    ("GET", "/dashboard"): Case(CTDT_DATA, Req("/dashboard", query=CTDT)),
    ("GET", "/dashboard/"): Case(CTDT_DATA, Req("/dashboard/", query=CTDT)),
    ("GET", "/dashboard/data.json"): Case(CTDT_DATA, Req("/dashboard/data.json", query=CTDT)),
    ("GET", "/dashboard/heat.json"): Case(CTDT_DATA, Req("/dashboard/heat.json", query=CTDT)),
    ("GET", "/exports/reports.csv"): Case(CTDT_DATA, Req("/exports/reports.csv", query=CTDT)),
    ("GET", "/exports/reports.geojson"): Case(CTDT_DATA, Req("/exports/reports.geojson", query=CTDT)),
    ("GET", "/exports/kpis.csv"): Case(CTDT_DATA, Req("/exports/kpis.csv", query=CTDT)),
    ("GET", "/exports/areas.geojson"): Case(ANY_STAFF, Req("/exports/areas.geojson")),
    # ---- admin pages
    ("GET", "/admin"): Case(ADMIN, Req("/admin")),
    ("GET", "/admin/"): Case(ADMIN, Req("/admin/")),
    ("GET", "/admin/staff"): Case(ADMIN, Req("/admin/staff")),
    ("POST", "/admin/staff"): Case(ADMIN, Req("/admin/staff", form=NEW_STAFF)),
    ("POST", "/admin/staff/<int:staff_id>/active"): Case(ADMIN, Req("/admin/staff/{officer2}/active",
                                                                    form={"active": "0"})),
    ("POST", "/admin/staff/<int:staff_id>/sessions"): Case(ADMIN, Req("/admin/staff/{officer2}/sessions",
                                                                      form={})),
    ("GET", "/admin/staff/<int:staff_id>"): Case(ADMIN, Req("/admin/staff/{officer2}")),
    ("POST", "/admin/staff/<int:staff_id>"): Case(ADMIN, Req("/admin/staff/{officer2}", form={
        "role": "head", "unit_id": "{ctdt}", "active": "1", "name": "Trần Thị Bình"})),
    ("POST", "/admin/staff/<int:staff_id>/password"): Case(ADMIN, Req("/admin/staff/{officer2}/password", form={})),
    ("GET", "/admin/audit"): Case(ADMIN, Req("/admin/audit")),
    ("GET", "/admin/units"): Case(ADMIN, Req("/admin/units")),
    ("POST", "/admin/units"): Case(ADMIN, Req("/admin/units", form={"code": "phong-moi", "name_vi": "Phòng mới",
                                                                    "name_en": "New office", "kind": "department"})),
    ("GET", "/admin/units/<int:unit_id>"): Case(ADMIN, Req("/admin/units/{ctdt}")),
    ("POST", "/admin/units/<int:unit_id>"): Case(ADMIN, Req("/admin/units/{ctdt}", form={
        "name_vi": "Công ty Công trình đô thị", "kind": "utility", "phone": "0299 123 456"})),
    ("POST", "/admin/units/<int:unit_id>/end"): Case(ADMIN, Req("/admin/units/{ctdt}/end", form={
        "on": "01/01/2030", "successor_id": "{hcc}"})),
    ("GET", "/admin/categories"): Case(ADMIN, Req("/admin/categories")),
    ("POST", "/admin/categories/<int:category_id>"): Case(ADMIN, Req("/admin/categories/{category}",
                                                                     form={"priority_default": "urgent"})),
    ("GET", "/admin/rules"): Case(ADMIN, Req("/admin/rules")),
    ("POST", "/admin/rules"): Case(ADMIN, Req("/admin/rules", form={"unit_id": "{ctdt}", "category_id": "{category}",
                                                                    "note": "Thử phân luồng"})),
    ("POST", "/admin/rules/<int:rule_id>/end"): Case(ADMIN, Req("/admin/rules/{rule}/end",
                                                                form={"on": "2030-01-01"})),
    ("GET", "/admin/calendar"): Case(ADMIN, Req("/admin/calendar")),
    ("POST", "/admin/calendar"): Case(ADMIN, Req("/admin/calendar", form={"day": "2030-01-03", "is_working": "0",
                                                                          "note": "Nghỉ bù"})),
    ("POST", "/admin/calendar/remove"): Case(ADMIN, Req("/admin/calendar/remove", form={"day": "{holiday}"})),
    ("GET", "/admin/templates"): Case(ADMIN, Req("/admin/templates")),
    ("POST", "/admin/templates"): Case(ADMIN, Req("/admin/templates", form=NEW_TEMPLATE)),
    ("POST", "/admin/templates/<int:template_id>/delete"): Case(ADMIN, Req("/admin/templates/{template}/delete",
                                                                           form={})),
    ("GET", "/admin/clients"): Case(ADMIN, Req("/admin/clients")),
    ("POST", "/admin/clients"): Case(ADMIN, Req("/admin/clients", form={"name": "Cổng thông tin mới"})),
    ("POST", "/admin/clients/<int:client_id>/revoke"): Case(ADMIN, Req("/admin/clients/{client}/revoke", form={})),
    ("GET", "/admin/deliveries"): Case(ADMIN, Req("/admin/deliveries")),
    ("POST", "/admin/deliveries/<int:delivery_id>/retry"): Case(ADMIN, Req("/admin/deliveries/{delivery}/retry",
                                                                           form={})),
    ("GET", "/admin/zalo"): Case(ADMIN, Req("/admin/zalo", query={"month": "2026-11"})),
}


#: routes with more than one decision (the same route, another report): checked like ``MATRIX``'s
EXTRA: list[tuple[tuple[str, str], Case]] = [
    (("POST", "/open311/v2/servicerequestupdates.<any(json,xml):fmt>"),
     Case(O311_SENDER, Req("/open311/v2/servicerequestupdates.json", form=O311_COMMENT))),
]


def channel(path: str) -> str:
    """Which refusal language a path speaks: ``api`` (problem+json), ``open311``, ``webhook``, ``web``."""
    if path.startswith(("/api/", "/media/", "/healthz", "/readyz", "/metrics")):
        return "api"
    if path.startswith("/open311"):
        return "open311"
    if path.startswith("/bots/"):
        return "webhook"
    if path.startswith("/r/"):
        return "resident"
    return "web"


#: the credentials each channel recognises (the others are anonymous to it)
RECOGNISED = {"api": RESIDENTS, "open311": KEYS, "webhook": frozenset(), "web": frozenset(STAFF),
              "resident": frozenset(CREDENTIALS)}  # the resident web: no sign-in, every caller is refused 403


def refusal(case: Case, credential: str) -> str:
    """``unauthenticated``, ``forbidden`` or ``not-found``: how ``credential`` must be refused."""
    if credential in RECOGNISED[channel(case.req.path)]:
        return case.access.other
    return "unauthenticated"
