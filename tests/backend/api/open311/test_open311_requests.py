"""Conformance: POST requests (keys, locations, attributes, reporter data, photos), reads and filters."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from o311_support import (
    INSIDE,
    POST_SCHEMA,
    REQUESTS_SCHEMA,
    W3C_Z,
    assert_json_errors,
    jpeg_bytes,
    parse_xml,
    validate,
    xml_errors,
)
from sqlalchemy import func
from sqlmodel import select

from backend.models import ActorKind, Identity, Photo, Report, ReportEvent, Resident
from backend.services.city import settings as city_settings
from backend.services.events import Actor
from backend.services.reports import workflow

DISPATCHER = Actor(ActorKind.STAFF, "0", role="dispatcher", name="Điều phối viên")


def _count(session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def _report(session, code: str) -> Report:
    return session.exec(select(Report).where(Report.code == code)).one()


# --------------------------------------------------------------------------- POST


def test_post_json_creates_an_open311_report(client, session, post_report):
    r = post_report(description="Rác đổ trộm bên đường", **{"address_string": "12 Trần Hưng Đạo"})
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    validate(body, POST_SCHEMA)
    report = _report(session, body[0]["service_request_id"])
    assert report.channel == "open311"
    assert report.description == "Rác đổ trộm bên đường"
    assert report.address == "12 Trần Hưng Đạo"
    assert abs(report.lat - 9.6031) < 1e-9
    created = session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id,
                                                     ReportEvent.kind == "created")).one()
    assert created.actor_kind == "api_client"


def test_post_xml_response(client, session, post_report):
    r = post_report("xml")
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/xml; charset=utf-8"
    root = parse_xml(r.data)
    assert root.tag == "service_requests"
    (req,) = root.findall("request")
    assert req.findtext("service_request_id").startswith("PA-")
    assert req.find("service_notice") is not None and req.find("account_id") is not None


def test_api_key_from_query_string_and_bearer(client, city, api_key):
    data = {"service_code": "rac-thai", "description": "x", **INSIDE}
    r = client.post(f"/open311/v2/requests.json?api_key={api_key}&jurisdiction_id=", data=data)
    assert r.status_code == 200, r.get_data(as_text=True)
    r = client.post("/open311/v2/requests.json", data=data, headers={"Authorization": f"Bearer {api_key}"})
    assert r.status_code == 200


def test_missing_or_wrong_key_is_403_and_stores_nothing(client, session, city):
    before = _count(session, Report)
    data = {"service_code": "rac-thai", "description": "x", **INSIDE}
    assert_json_errors(client.post("/open311/v2/requests.json", data=data), 403)
    r = client.post("/open311/v2/requests.xml", data={**data, "api_key": "pa_not-a-key"})
    assert r.status_code == 403 and xml_errors(r.data)[0][0] == "403"
    assert_json_errors(client.post("/open311/v2/requests.json", data={**data, "api_key": ""}), 403)
    assert _count(session, Report) == before


def test_bad_input_is_400_or_404_and_stores_nothing(client, session, post_report):
    before = (_count(session, Report), _count(session, Resident), _count(session, Photo))
    cases = [
        ({"service_code": None}, 400),
        ({"service_code": ""}, 400),
        ({"service_code": "khong-co"}, 404),
        ({"lat": None, "long": None}, 400),
        ({"long": None}, 400),
        ({"lat": "abc"}, 400),
        ({"lat": "95", "long": "105"}, 400),
        ({"lat": "nan"}, 400),
        ({"lat": "10.9", "long": "106.7"}, 400),  # outside the city
        ({"description": "x" * 4001}, 400),
        ({"service_code": "khan-cap-chay-no"}, 400),  # emergencies: call the hotline
        ({"jurisdiction_id": "example.org"}, 404),
        ({"service_code": "duong-hu-hong", "attribute[kich-thuoc]": "khong-co"}, 400),
        ({"service_code": "duong-hu-hong", "attribute[do-sau]": "sâu"}, 400),
        ({"service_code": "cap-nuoc", "attribute[bat-dau-luc]": "hôm qua"}, 400),
        ({"service_code": "cay-xanh", "email": "a@b.vn"}, 400),  # required multivaluelist missing
        ({"media_url": "ftp://example.org/x.jpg"}, 400),
        ({"media_url": "not a url"}, 400),
    ]
    for fields, status in cases:
        r = post_report(**fields)
        assert r.status_code == status, (fields, r.get_data(as_text=True))
        assert_json_errors(r, status)
    assert (_count(session, Report), _count(session, Resident), _count(session, Photo)) == before


def test_required_attribute_error_names_the_code(client, post_report):
    body = assert_json_errors(post_report(service_code="cay-xanh"), 400)
    assert any(e["description"].startswith("tinh-trang required") for e in body)


def test_attributes_single_list_number_datetime(client, session, post_report):
    r = post_report(service_code="cay-xanh", **{"attribute[tinh-trang][]": ["nghieng-do", "gay-canh"]})
    assert r.status_code == 200, r.get_data(as_text=True)
    report = _report(session, r.get_json()[0]["service_request_id"])
    assert report.attributes == {"tinh-trang": ["nghieng-do", "gay-canh"]}
    r = post_report(service_code="cay-xanh", **{"attribute[tinh-trang]": ["nghieng-do", "gay-canh"]})
    assert _report(session, r.get_json()[0]["service_request_id"]).attributes["tinh-trang"] == ["nghieng-do",
                                                                                                   "gay-canh"]
    r = post_report(service_code="duong-hu-hong",
                    **{"attribute[kich-thuoc]": "lon", "attribute[do-sau]": "12,5", "attribute[la]": "x"})
    assert _report(session, r.get_json()[0]["service_request_id"]).attributes == {"kich-thuoc": "lon",
                                                                                  "do-sau": 12.5}
    r = post_report(service_code="cap-nuoc", **{"attribute[bat-dau-luc]": "2026-11-20T08:00:00+07:00"})
    assert _report(session, r.get_json()[0]["service_request_id"]).attributes == {
        "bat-dau-luc": "2026-11-20T01:00:00Z"}


def test_reporter_data_is_private(client, session, post_report):
    r = post_report(email="Nguyen.An@example.vn", first_name="Nguyễn", last_name="An", phone="0912345678",
                    device_id="dev-1", account_id="acc-9")
    code = r.get_json()[0]["service_request_id"]
    report = _report(session, code)
    resident = session.get(Resident, report.resident_id)
    assert resident.email == "Nguyen.An@example.vn" and resident.phone == "0912345678"
    assert resident.display_name == "Nguyễn An"
    identity = session.exec(select(Identity).where(Identity.resident_id == resident.id)).one()
    assert identity.provider == "open311" and identity.data["device_id"] == "dev-1"
    for url in (f"/open311/v2/requests/{code}.json", f"/open311/v2/requests/{code}.xml",
                "/open311/v2/requests.json", "/open311/v2/requests.xml",
                "/open311/v2/servicerequestupdates.json?start_date=2000-01-01T00:00:00Z"):
        text = client.get(url).get_data(as_text=True)
        for secret in ("Nguyen.An", "0912345678", "Nguyễn An", "dev-1", "acc-9"):
            assert secret not in text, (url, secret)
    # the same reporter posting again is the same resident
    r = post_report(email="nguyen.an@example.vn", account_id="acc-9")
    assert _report(session, r.get_json()[0]["service_request_id"]).resident_id == resident.id


def test_multipart_upload_media_is_attached_and_published(client, session, api_key, city, run_jobs):
    data = {"api_key": api_key, "service_code": "rac-thai", "description": "Có ảnh", **INSIDE,
            "media": (io.BytesIO(jpeg_bytes()), "anh.jpg", "image/jpeg")}
    r = client.post("/open311/v2/requests.json", data=data, content_type="multipart/form-data")
    assert r.status_code == 200, r.get_data(as_text=True)
    code = r.get_json()[0]["service_request_id"]
    report = _report(session, code)
    (photo,) = session.exec(select(Photo).where(Photo.report_id == report.id)).all()
    assert photo.role == "report"
    assert client.get(f"/open311/v2/requests/{code}.json").get_json()[0]["media_url"] is None
    run_jobs()
    record = client.get(f"/open311/v2/requests/{code}.json").get_json()[0]
    assert record["media_url"].startswith("http://localhost/media/")
    assert "orig" not in record["media_url"]
    assert "extended_attributes" not in record
    extended = client.get(f"/open311/v2/requests/{code}.json?extensions=true&locale=en").get_json()[0]
    assert extended["extended_attributes"] == {
        "detailed_status": "ASSIGNED", "status_label": "Sent to the responsible unit", "channel": "open311",
        "media_urls": [record["media_url"]]}
    root = parse_xml(client.get(f"/open311/v2/requests.xml?extensions=true&service_request_id={code}").data)
    assert root.findtext("request/extended_attributes/media_urls/media_url") == record["media_url"]


def test_multipart_media_brackets_and_bad_file(client, session, api_key, city):
    data = {"api_key": api_key, "service_code": "rac-thai", **INSIDE,
            "media[]": [(io.BytesIO(jpeg_bytes()), "a.jpg"), (io.BytesIO(jpeg_bytes(color="blue")), "b.jpg")]}
    r = client.post("/open311/v2/requests.json", data=data, content_type="multipart/form-data")
    assert r.status_code == 200, r.get_data(as_text=True)
    report = _report(session, r.get_json()[0]["service_request_id"])
    assert len(session.exec(select(Photo).where(Photo.report_id == report.id)).all()) == 2
    before = _count(session, Report)
    bad = {"api_key": api_key, "service_code": "rac-thai", **INSIDE,
           "media": (io.BytesIO(b"<html>not an image</html>"), "x.jpg")}
    r = client.post("/open311/v2/requests.xml", data=bad, content_type="multipart/form-data")
    assert r.status_code == 400 and xml_errors(r.data)  # issue 19 #6: never 415
    assert _count(session, Report) == before


def test_media_url_to_a_private_address_is_never_fetched(client, session, post_report, run_jobs):
    r = post_report(media_url="http://127.0.0.1:9/secret.jpg")
    assert r.status_code == 200, r.get_data(as_text=True)
    report = _report(session, r.get_json()[0]["service_request_id"])
    (photo,) = session.exec(select(Photo).where(Photo.report_id == report.id)).all()
    assert photo.source_url == "http://127.0.0.1:9/secret.jpg"
    run_jobs()
    session.refresh(photo)
    assert photo.state == "rejected" and not photo.original_key


def test_identical_posts_without_a_sign_are_two_requests(client, session, city, api_key):
    """Issue 19 #6: two neighbours may report the same thing in the same words."""
    data = {"api_key": api_key, "service_code": "rac-thai", "description": "Rác", **INSIDE, "email": "a@b.vn"}
    first = client.post("/open311/v2/requests.json", data=data).get_json()
    again = client.post("/open311/v2/requests.json", data=data).get_json()
    assert first[0]["service_request_id"] != again[0]["service_request_id"]
    upload = {**data, "media": (io.BytesIO(jpeg_bytes()), "a.jpg")}
    one = client.post("/open311/v2/requests.json", data=upload, content_type="multipart/form-data").get_json()
    upload = {**data, "media": (io.BytesIO(jpeg_bytes()), "a.jpg")}
    two = client.post("/open311/v2/requests.json", data=upload, content_type="multipart/form-data").get_json()
    assert one[0]["service_request_id"] != two[0]["service_request_id"]
    assert _count(session, Report) == 4


def test_a_repeat_with_an_explicit_sign_is_one_request(client, session, city, api_key):
    data = {"api_key": api_key, "service_code": "rac-thai", "description": "Rác", **INSIDE, "email": "a@b.vn"}
    signs = [({"Idempotency-Key": "lan-gui-1"}, {}), ({}, {"idempotency_key": "lan-gui-2"}),
             ({}, {"external_id": "fms-101"}), ({}, {"attribute[fixmystreet_id]": "102"})]
    for headers, fields in signs:
        before = _count(session, Report)
        first = client.post("/open311/v2/requests.json", data={**data, **fields}, headers=headers)
        assert first.status_code == 200, first.get_data(as_text=True)
        again = client.post("/open311/v2/requests.json", data={**data, **fields, "jurisdiction_id": ""},
                            headers=headers)
        assert again.get_json() == first.get_json(), (headers, fields)
        assert _count(session, Report) == before + 1
    xml = client.post("/open311/v2/requests.xml", data={**data, "external_id": "fms-101"})
    assert parse_xml(xml.data).findtext("request/service_request_id") == \
        client.post("/open311/v2/requests.json", data={**data, "external_id": "fms-101"}).get_json()[0][
            "service_request_id"]
    # the sign is the sender's: another client with the same id is another request
    from backend.services.city import clients

    _, other = clients.create_client(session, name="Ứng dụng khác")
    session.flush()
    before = _count(session, Report)
    assert client.post("/open311/v2/requests.json", data={**data, "api_key": other, "external_id": "fms-101"}
                       ).status_code == 200
    assert _count(session, Report) == before + 1
    report = _report(session, client.post("/open311/v2/requests.json", data={**data, "external_id": "fms-101"}
                                          ).get_json()[0]["service_request_id"])
    assert report.api_client_id is not None and report.sender_ref == "fms-101"
    assert_json_errors(client.post("/open311/v2/requests.json", data={**data, "external_id": "x" * 200}), 400)


def test_moderation_returns_a_token(client, session, city, post_report):
    city_settings.put(session, "moderation_required", True)
    services = client.get("/open311/v2/services.json").get_json()
    assert {s["type"] for s in services} == {"batch"}
    r = post_report()
    body = r.get_json()
    validate(body, POST_SCHEMA)
    token = body[0]["token"]
    assert "service_request_id" not in body[0]
    t = client.get(f"/open311/v2/tokens/{token}.json").get_json()
    assert t[0]["token"] == token and t[0]["service_request_id"].startswith("PA-")
    root = parse_xml(client.get(f"/open311/v2/tokens/{token}.xml").data)
    assert root.findtext("request/token") == token
    assert_json_errors(client.get("/open311/v2/tokens/khong-co.json"), 404)


# --------------------------------------------------------------------------- reads


def _post_codes(post_report, n: int, **fields) -> list[str]:
    return [post_report(**fields).get_json()[0]["service_request_id"] for _ in range(n)]


def test_get_request_by_id_both_formats(client, session, post_report):
    code = post_report(**{"address_string": "Chợ Sóc Trăng"}).get_json()[0]["service_request_id"]
    body = client.get(f"/open311/v2/requests/{code}.json").get_json()
    validate(body, REQUESTS_SCHEMA)
    (rec,) = body
    report = _report(session, code)
    assert rec["service_request_id"] == code and rec["status"] == "open"
    assert rec["service_code"] == "rac-thai" and rec["service_name"] == "Rác thải, vệ sinh môi trường"
    assert rec["agency_responsible"]
    assert rec["address"] == "Chợ Sóc Trăng"
    assert rec["lat"] == report.lat and rec["long"] == report.lon
    assert W3C_Z.match(rec["requested_datetime"]) and W3C_Z.match(rec["expected_datetime"])
    due = report.resolve_due_at.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))  # the promise, in city time
    assert rec["service_notice"] == (f"{rec['agency_responsible']} dự kiến xử lý xong trước "
                                     f"{due:%H:%M} ngày {due:%d/%m/%Y}.")
    english = client.get(f"/open311/v2/requests/{code}.json?locale=en").get_json()[0]
    assert english["service_notice"].startswith("Expected to be resolved by ")
    root = parse_xml(client.get(f"/open311/v2/requests/{code.lower()}.xml").data)
    (req,) = root.findall("request")
    assert [c.tag for c in req] == list(rec)
    assert req.findtext("service_request_id") == code
    assert req.find("zipcode").text is None  # empty element
    assert req.findtext("lat") == repr(report.lat)
    assert_json_errors(client.get("/open311/v2/requests/PA-ZZZZZZ.json"), 404)
    assert xml_errors(client.get("/open311/v2/requests/nope.xml").data)[0][0] == "404"


def test_list_filters(client, session, post_report):
    litter = _post_codes(post_report, 2)
    lamps = _post_codes(post_report, 1, service_code="dien")
    report = _report(session, litter[0])
    workflow.apply(session, report, "reject", actor=DISPATCHER, expected_version=report.version,
                   reason="Không đúng sự thật")
    session.flush()

    def codes(query: str) -> list[str]:
        r = client.get("/open311/v2/requests.json?" + query)
        assert r.status_code == 200, r.get_data(as_text=True)
        validate(r.get_json(), REQUESTS_SCHEMA)
        return [x["service_request_id"] for x in r.get_json()]

    assert codes("") == [*lamps[::-1], *litter[::-1]]  # newest first
    assert codes("service_code=dien") == lamps
    assert set(codes("service_code=dien,rac-thai")) == set(litter + lamps)
    assert codes("status=closed") == [litter[0]]
    assert set(codes("status=open")) == {litter[1], *lamps}
    assert set(codes("status=open,closed")) == set(litter + lamps)
    # service_request_id overrides every other filter
    assert set(codes(f"service_request_id={litter[0]},{lamps[0]}&status=open&service_code=khong-co")) == {
        litter[0], lamps[0]}
    # empty parameters are absent
    assert codes("service_code=&status=&start_date=&end_date=&service_request_id=&jurisdiction_id=") == \
        codes("")
    assert codes("page_size=1") == [lamps[0]] and codes("page_size=1&page=2") == [litter[1]]
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert codes(f"start_date={future}") == []
    assert len(codes("start_date=2020-01-01T00:00:00.123%2B07:00&end_date=" + future)) == 3
    assert codes("end_date=2020-01-01") == []
    assert len(codes("start_date=2020-01-01T00:00:00+07:00&end_date=" + future)) == 3  # "+" decoded as space


def test_default_window_is_90_days(client, session, post_report):
    old, new = _post_codes(post_report, 2)
    report = _report(session, old)
    report.created_at = datetime.now(UTC) - timedelta(days=91)
    session.add(report)
    session.flush()
    listed = [x["service_request_id"] for x in client.get("/open311/v2/requests.json").get_json()]
    assert listed == [new]
    since = (datetime.now(UTC) - timedelta(days=100)).strftime("%Y-%m-%dT%H:%M:%SZ")
    listed = [x["service_request_id"] for x in client.get(f"/open311/v2/requests.json?start_date={since}").get_json()]
    assert listed == [new, old]


def test_list_xml_and_empty_list(client, city, post_report):
    root = parse_xml(client.get("/open311/v2/requests.xml").data)
    assert root.tag == "service_requests" and len(root) == 0
    assert client.get("/open311/v2/requests.json").get_json() == []
    _post_codes(post_report, 2)
    root = parse_xml(client.get("/open311/v2/requests.xml?status=open").data)
    assert len(root.findall("request")) == 2


def test_bad_filters_are_400_arrays(client, city):
    for query in ("start_date=yesterday", "status=fixed", "page_size=0", "page_size=abc", "page=-1",
                  "start_date=2025-02-01T00:00:00Z&end_date=2025-01-01T00:00:00Z", "end_date=99999-01-01"):
        assert_json_errors(client.get("/open311/v2/requests.json?" + query), 400)
        assert xml_errors(client.get("/open311/v2/requests.xml?" + query).data)[0][0] == "400"


def test_hostile_text_stays_well_formed(client, session, post_report):
    nasty = 'Rác <script>alert("x")</script> & ]]> \x07\x1b chuông \ufffe'
    r = post_report(description=nasty, address_string="Hẻm 5 <b>&amp;</b>")
    assert r.status_code == 200, r.get_data(as_text=True)
    code = r.get_json()[0]["service_request_id"]
    root = parse_xml(client.get(f"/open311/v2/requests/{code}.xml").data)
    text = root.findtext("request/description")
    assert '<script>alert("x")</script> & ]]>' in text and "\x07" not in text
    assert root.findtext("request/address") == "Hẻm 5 <b>&amp;</b>"
    assert client.get(f"/open311/v2/requests/{code}.json").get_json()[0]["description"].startswith("Rác <script>")


def test_address_only_goes_to_triage(client, session, post_report):
    r = post_report(lat=None, long=None, address_id="#NOTPINPOINTED#", address_string="Chợ Mới")
    assert r.status_code == 200, r.get_data(as_text=True)
    rec = client.get(f"/open311/v2/requests/{r.get_json()[0]['service_request_id']}.json").get_json()[0]
    assert rec["address"] == "Chợ Mới" and rec["lat"] is None and rec["long"] is None
    assert rec["address_id"] is None
    assert rec["status"] == "open"
    assert rec["service_notice"] == "Đang chờ Trung tâm điều hành phân loại và chuyển đơn vị xử lý."


def test_address_id_is_not_an_address(client, session, post_report):
    """Issue 19 #6: an address_id is an id in the sender's registry, never stored as the address."""
    before = _count(session, Report)
    for fmt in ("json", "xml"):
        r = post_report(fmt, lat=None, long=None, address_id="12345")
        assert r.status_code == 400
        if fmt == "json":
            assert "address_string" in assert_json_errors(r, 400)[0]["description"]
        else:
            assert xml_errors(r.data)[0][0] == "400"
    assert _count(session, Report) == before
    r = post_report(address_id="12345")  # with a point: the point locates it, the id is not an address
    assert r.status_code == 200
    report = _report(session, r.get_json()[0]["service_request_id"])
    assert report.address is None and report.lat is not None


def test_a_closed_requests_time_and_notes_stay_at_its_closing(client, session, post_report):
    """Issue 19 #6: later replies (and the automatic closing) do not move a closed request."""
    base = datetime.now(UTC).replace(microsecond=0)
    code = post_report().get_json()[0]["service_request_id"]
    report = _report(session, code)
    workflow.apply(session, report, "start", actor=DISPATCHER, expected_version=report.version)
    workflow.apply(session, report, "resolve", actor=DISPATCHER, expected_version=report.version,
                   reply="Đã thu gom sạch.", at=base + timedelta(hours=1))
    workflow.apply(session, report, "reply", actor=DISPATCHER, expected_version=report.version,
                   text="Cảm ơn anh/chị đã phản ánh.", at=base + timedelta(hours=2))
    workflow.apply(session, report, "close", actor=DISPATCHER, expected_version=report.version,
                   at=base + timedelta(hours=3))
    session.flush()
    closing = (base + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for rec in (client.get(f"/open311/v2/requests/{code}.json").get_json()[0],
                client.get(f"/open311/v2/requests.json?service_request_id={code}").get_json()[0]):
        assert (rec["status"], rec["status_notes"], rec["updated_datetime"]) == ("closed", "Đã thu gom sạch.", closing)
    other = _report(session, post_report().get_json()[0]["service_request_id"])
    workflow.apply(session, other, "not_competent", actor=DISPATCHER, expected_version=other.version,
                   reason="Ngoài địa bàn", guidance="Vui lòng liên hệ UBND xã bên cạnh.", at=base + timedelta(hours=1))
    workflow.apply(session, other, "reply", actor=DISPATCHER, expected_version=other.version,
                   text="Đã chuyển thông tin.", at=base + timedelta(hours=2))
    session.flush()
    root = parse_xml(client.get(f"/open311/v2/requests/{other.code}.xml").data)
    assert (root.findtext("request/status_notes"), root.findtext("request/updated_datetime")) == (
        "Vui lòng liên hệ UBND xã bên cạnh.", closing)
