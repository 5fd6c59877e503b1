"""Open311 GeoReport v2 routes: parse → authorise → one service call → render (JSON or XML)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Response, request
from werkzeug.exceptions import NotFound as HTTPNotFound

from backend.api.open311 import params, records, render
from backend.api.open311.blueprint import bp
from backend.db import request_session
from backend.errors import InvalidInput, NotFound
from backend.http import settings
from backend.models.reports import State
from backend.models.units import Unit
from backend.services import city, open311, photos, reports
from backend.services.city import load_calendar
from backend.services.events import Actor
from backend.services.photos import get_storage

FMT = "<any(json,xml):fmt>"
SPEC_URL = "http://wiki.open311.org/GeoReport_v2"
REPORTER_FIELDS = ("email", "first_name", "last_name", "phone", "device_id", "account_id")
#: who wrote a posted update (the sender's resident)
AUTHOR_FIELDS = ("email", "first_name", "last_name", "phone", "account_id")
#: ``address_id`` names an address in the sender's registry, which we do not have: it locates nothing
_LOCATION_REQUIRED = ("Cần lat và long, hoặc address_string; address_id không xác định được vị trí "
                      "(lat/long or address_string required: address_id is not an address we know).")
UPLOAD_FIELDS = ("media", "media[]")
MAX_UPLOADS = 5


def _split(rest: str) -> tuple[str, str]:
    """``"PA-7K3M9Q.json"`` → (``"PA-7K3M9Q"``, ``"json"``); the format is after the last dot."""
    name, dot, fmt = rest.rpartition(".")
    if not dot or not name or fmt not in render.FORMATS:
        raise HTTPNotFound()
    return name, fmt


def _check_jurisdiction() -> None:
    wanted = params.get("jurisdiction_id")
    if wanted is not None and wanted != city.jurisdiction_id(request_session()):
        raise NotFound(f"Không phục vụ jurisdiction_id {wanted[:100]}.", code="unknown-jurisdiction")


def _base_url() -> str:
    return str(settings().base_url).rstrip("/")


# --------------------------------------------------------------------------- discovery & services


@bp.get(f"/discovery.{FMT}")
@bp.get(f"/v2/discovery.{FMT}")
def discovery(fmt: str) -> Response:
    """Service discovery: this server as the ``production`` endpoint, and the city's separate test
    server (setting ``open311_test_endpoint``) as ``test`` when it has one — never production twice."""
    session = request_session()
    hotline = city.hotlines(session).get("city", "")
    changeset = open311.services_changed_at(session)
    production = _base_url() + "/open311/v2"
    endpoints = [{"specification": SPEC_URL, "url": production, "changeset": changeset, "type": "production",
                  "formats": ["text/xml", "application/json"]}]
    test_url = _test_endpoint(session, production)
    if test_url:
        endpoints.append({**endpoints[0], "url": test_url, "type": "test"})
    data = {
        "changeset": changeset,
        "contact": f"{city.city_name(session)} — đường dây nóng {hotline}".strip(),
        "key_service": "Liên hệ quản trị hệ thống của thành phố để được cấp api_key "
                       "(Contact the city's administrators for an api_key).",
        "endpoints": endpoints,
    }
    return render.respond(data, fmt, root="discovery")


def _test_endpoint(session: Any, production: str) -> str | None:
    """The city's test server (an http(s) URL other than this one), or None."""
    value = city.setting(session, "open311_test_endpoint")
    if not isinstance(value, str) or len(value) > 500:
        return None
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or url == production:
        return None
    return url


@bp.get(f"/v2/services.{FMT}")
def services(fmt: str) -> Response:
    _check_jurisdiction()
    session = request_session()
    batch = city.moderation_required(session)
    loc = params.locale()
    data = [records.service(c, locale=loc, batch=batch) for c in open311.list_services(session)]
    return render.respond(data, fmt, root="services")


@bp.get("/v2/services/<path:rest>")
@bp.get("/v2/service/<path:rest>")
def service_definition(rest: str) -> Response:
    code, fmt = _split(rest)
    _check_jurisdiction()
    category = open311.get_service(request_session(), code)
    return render.respond(records.definition(category, locale=params.locale()), fmt, root="service_definition")


# --------------------------------------------------------------------------- reading requests


def _records(reports: list[Any]) -> list[dict[str, Any]]:
    extensions = (params.get("extensions") or "").lower()
    builder = records.RequestRecords(request_session(), reports, locale=params.locale(), base_url=_base_url(),
                                     storage=get_storage(settings()),
                                     extended=extensions in ("true", "1") or "media" in extensions)
    return [builder.record(r) for r in reports]


@bp.get(f"/v2/requests.{FMT}")
def list_requests(fmt: str) -> Response:
    _check_jurisdiction()
    query = open311.RequestQuery(ids=params.get_list("service_request_id"))
    if not query.ids:
        query.service_codes = params.get_list("service_code")
        query.statuses = params.get_list("status")
        query.start = params.get_datetime("start_date")
        query.end = params.get_datetime("end_date")
        query.updated_after = params.get_datetime("updated_after")
        query.updated_before = params.get_datetime("updated_before")
        query.page = params.get_int("page", default=1, minimum=1, maximum=100_000) or 1
        query.page_size = params.get_int("page_size", minimum=1, maximum=open311.MAX_PAGE_SIZE)
    reports = open311.find_requests(request_session(), query)
    return render.respond(_records(reports), fmt, root="service_requests")


@bp.get("/v2/requests/<path:rest>")
def get_request(rest: str) -> Response:
    code, fmt = _split(rest)
    _check_jurisdiction()
    report = open311.public_request(request_session(), code)
    return render.respond(_records([report]), fmt, root="service_requests")


@bp.get("/v2/tokens/<path:rest>")
def get_token(rest: str) -> Response:
    token, fmt = _split(rest)
    _check_jurisdiction()
    report = open311.find_by_token(request_session(), token)
    accepted = report.status not in (State.RECEIVED, State.TRIAGE)
    data = [{"service_request_id": report.code if accepted else None, "token": token}]
    return render.respond(data, fmt, root="service_requests")


# --------------------------------------------------------------------------- posting requests


@bp.post(f"/v2/requests.{FMT}")
def post_request(fmt: str) -> Response:
    session = request_session()
    client = city.authenticate_client(session, params.api_key())
    _check_jurisdiction()
    code = params.get("service_code")
    if code is None:
        raise InvalidInput("Thiếu service_code.", code="service-code-required")
    category = open311.get_service(session, code)
    lat, lon = params.get_float("lat"), params.get_float("long")
    address = params.get("address_string")
    if (lat is None) != (lon is None) or (lat is None and address is None):
        raise InvalidInput(_LOCATION_REQUIRED, code="location-required")
    if lat is not None and lon is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidInput("lat/long nằm ngoài phạm vi hợp lệ.", code="invalid-location")
    attributes = params.validate_attributes(category, params.attributes())
    description = params.get("description") or ""
    if len(description) > settings().max_description_chars:
        raise InvalidInput("description dài quá 4000 ký tự.", code="description-too-long")
    reporter = {f: params.get(f) for f in REPORTER_FIELDS}
    uploads, urls = _uploads(), params.get_all("media_url")

    def create() -> Any:
        resident_id = open311.reporter_resident(session, client=client, fields=reporter)
        return reports.create_report(
            session, channel="open311", actor=Actor.api_client(client), category_code=category.code,
            description=description, lat=lat, lon=lon, address=address,
            photo_ids=_photos(session, uploads, urls, resident_id), resident_id=resident_id,
            attributes=attributes, external_ref=open311.token_ref(open311.new_token()))

    report = reports.once_per_sender(session, api_client_id=client.id, sender_ref=params.sender_ref(),
                                     create=create)
    moderated = city.moderation_required(session)
    item: dict[str, Any] = {"token": open311.token_of(report)} if moderated else {"service_request_id": report.code}
    item["service_notice"] = records.service_notice(report, session.get(Unit, report.unit_id) if report.unit_id
                                                     else None, load_calendar(session), params.locale())
    item["account_id"] = reporter["account_id"]
    return render.respond([item], fmt, root="service_requests")


def _uploads() -> list[bytes]:
    """Uploaded files (``media``, ``media[]``, ``photoN``, ``file_*``), read within the size limit."""
    files = [f for name in request.files for f in request.files.getlist(name)
             if name in UPLOAD_FIELDS or name.startswith(("photo", "file_"))]
    if len(files) > MAX_UPLOADS:
        raise InvalidInput(f"Tối đa {MAX_UPLOADS} ảnh cho một phản ánh.", code="too-many-photos")
    limit = settings().max_upload_bytes
    return [f.read(limit + 1) for f in files]


def _photos(session: Any, uploads: list[bytes], urls: list[str], resident_id: int | None) -> list[int]:
    """Accept uploads (validated now) and ``media_url`` links (fetched by a worker, SSRF-safe)."""
    if len(uploads) + len(urls) > MAX_UPLOADS:
        raise InvalidInput(f"Tối đa {MAX_UPLOADS} ảnh cho một phản ánh.", code="too-many-photos")
    storage, limit = get_storage(settings()), settings().max_upload_bytes
    ids = [photos.accept_upload(session, data=data, storage=storage, resident_id=resident_id, role="report",
                                max_bytes=limit).id for data in uploads]
    for url in urls:
        ids.append(photos.accept_remote(session, url=url, resident_id=resident_id, role="report",
                                        source="open311").id)
    return ids


# --------------------------------------------------------------------------- mySociety updates


@bp.get(f"/v2/servicerequestupdates.{FMT}")
def list_updates(fmt: str) -> Response:
    _check_jurisdiction()
    session = request_session()
    feed = open311.updates_feed(session, start=params.get_datetime("start_date"), end=params.get_datetime("end_date"))
    loc, storage, base = params.locale(), get_storage(settings()), _base_url()
    after = open311.after_photos(session, [item.event for item in feed])
    data = [records.update(item, locale=loc, media_url=records.public_url(after.get(item.event.id), storage, base))
            for item in feed]
    return render.respond(data, fmt, root="service_request_updates")


@bp.post(f"/v2/servicerequestupdates.{FMT}")
def post_update(fmt: str) -> Response:
    """mySociety's POST: the update's ``update_id`` in the answer is the id the feed uses (its event's)."""
    session = request_session()
    client = city.authenticate_client(session, params.api_key())
    _check_jurisdiction()
    missing = [f for f in ("service_request_id", "update_id", "status", "updated_datetime")
               if params.get(f) is None]
    if missing:
        raise InvalidInput("Thiếu tham số: " + ", ".join(missing) + ".", code="missing-parameter",
                           details=[f"{name} required: thiếu tham số {name}." for name in missing])
    update = open311.PostedUpdate(
        update_id=params.get("update_id") or "", service_request_id=params.get("service_request_id") or "",
        status=params.get("status") or "", description=params.get("description") or "",
        updated_at=params.get_datetime("updated_datetime"), media_urls=tuple(params.get_all("media_url")),
        duplicate_of=params.get("duplicate_of"), author={f: params.get(f) for f in AUTHOR_FIELDS})
    event = open311.post_update(session, client=client, update=update)
    return render.respond([{"update_id": str(event.id)}], fmt, root="service_request_updates")
