"""The real PyPI clients ``georeport`` and ``three`` against a live server on 127.0.0.1.

``three`` 0.8.0 is Python 2 code: the conftest applies the documented one-line shim
(``itertools.ifilter = filter``) before it is imported; it is used in JSON mode.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
import requests
from georeport import GeoReport
from o311_support import INSIDE, REQUESTS_SCHEMA, SERVICES_SCHEMA, jpeg_bytes, parse_xml, validate
from sqlmodel import select

from backend.models import Photo, Report

JURISDICTION = "soctrang.demo.phananh.vn"


@pytest.fixture
def three_client(live_open311):
    from three import Three

    return Three(live_open311.endpoint, jurisdiction=JURISDICTION, api_key=live_open311.api_key)


def test_georeport_json_services_definition_and_requests(live_open311, three_client):
    geo = GeoReport(live_open311.endpoint, jurisdiction=JURISDICTION, output_format="json")
    services = geo.get_service_list()
    validate(services, SERVICES_SCHEMA)
    assert "duong-hu-hong" in {s["service_code"] for s in services}
    definition = geo.get_service_definition("cay-xanh")
    assert definition["attributes"][0]["code"] == "tinh-trang"
    code = three_client.post("rac-thai", description="Rác tồn đọng", **INSIDE)[0]["service_request_id"]
    one = geo.get_service_request(code)
    assert one["service_request_id"] == code and one["status"] == "open"
    since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    listed = geo.get_service_requests(service_code="rac-thai,dien", status="open", start_date=since)
    validate(listed, REQUESTS_SCHEMA)
    assert [r["service_request_id"] for r in listed] == [code]
    assert [r["service_request_id"] for r in geo.get_service_requests(service_request_id=code)] == [code]
    assert geo.get_service_requests(status="closed") == []
    with pytest.raises(requests.HTTPError):
        geo.get_service_definition("khong-co")


def test_georeport_xml_mode(live_open311, three_client):
    geo = GeoReport(live_open311.endpoint, jurisdiction=JURISDICTION, output_format="xml")
    services = geo.get_service_list()
    assert any(s["service_code"] == "rac-thai" and s["metadata"] == "false" for s in services)
    definition = geo.get_service_definition("duong-hu-hong")
    assert [a["code"] for a in definition["attributes"]["attribute"]] == ["kich-thuoc", "do-sau"]
    code = three_client.post("rac-thai", description="XML", **INSIDE)[0]["service_request_id"]
    assert geo.get_service_request(code)["service_request_id"] == code


def test_three_discovery_services_post_with_photo_and_read_back(live_open311, three_client, run_jobs):
    discovery = three_client.discovery()
    assert discovery["endpoints"][0]["url"] == live_open311.endpoint
    services = three_client.services()
    assert {"rac-thai", "cay-xanh"} <= {s["service_code"] for s in services}
    assert three_client.services("cay-xanh")["service_code"] == "cay-xanh"

    photo = io.BytesIO(jpeg_bytes((320, 240)))
    photo.name = "o-ga.jpg"
    posted = three_client.post("cay-xanh", description="Cây đổ chắn đường", name="Trần Bình",
                               email="binh@example.vn", media=photo, address="Đường Lê Lợi",
                               **INSIDE, **{"attribute[tinh-trang][]": ["chan-duong", "gay-canh"]})
    assert three_client.post_response.status_code == 200, posted
    code = posted[0]["service_request_id"]
    with live_open311.db.session() as s:
        report = s.exec(select(Report).where(Report.code == code)).one()
        assert report.attributes == {"tinh-trang": ["chan-duong", "gay-canh"]}
        assert report.channel == "open311"
        assert len(s.exec(select(Photo).where(Photo.report_id == report.id)).all()) == 1
    run_jobs()
    (record,) = three_client.request(code)
    assert record["service_name"] and record["address"] == "Đường Lê Lợi"
    assert record["media_url"].startswith(live_open311.url + "/media/")
    image = requests.get(record["media_url"], timeout=5)
    assert image.status_code == 200 and image.headers["Content-Type"].startswith("image/")
    listed = three_client.requests("cay-xanh", status="open", count=10)
    assert [r["service_request_id"] for r in listed] == [code]
    assert "binh@example.vn" not in requests.get(live_open311.endpoint + "/requests.json", timeout=5).text
    errors = three_client.token("khong-co")
    assert errors[0]["code"] == 404


def test_three_post_errors_are_parsed_json(live_open311):
    from three import Three

    anonymous = Three(live_open311.endpoint, jurisdiction=JURISDICTION, api_key="pa_wrong")
    body = anonymous.post("rac-thai", description="x", **INSIDE)
    assert anonymous.post_response.status_code == 403 and body[0]["code"] == 403
    keyed = Three(live_open311.endpoint, api_key=live_open311.api_key)
    body = keyed.post("cay-xanh", description="x", **INSIDE)
    assert keyed.post_response.status_code == 400
    assert body[0]["description"].startswith("tinh-trang required")


def test_fixmystreet_style_xml_round_trip(live_open311):
    """FixMyStreet's calls: XML only, trailing-slash endpoint, ``photo1``, then servicerequestupdates."""
    base = live_open311.endpoint + "/"
    services = parse_xml(requests.get(base + "services.xml", params={"jurisdiction_id": JURISDICTION},
                                      timeout=5).content)
    assert services.findall("service")
    files = {"photo1": ("p.jpg", jpeg_bytes(), "image/jpeg")}
    data = {"api_key": live_open311.api_key, "jurisdiction_id": JURISDICTION, "service_code": "rac-thai",
            "description": "Rác | http://fms.example/report/1", "first_name": "A", "last_name": "-",
            "email": "a@example.org", "deviceid": "x", **INSIDE, "attribute[uprn]": "123"}
    root = parse_xml(requests.post(base + "requests.xml", data=data, files=files, timeout=5).content)
    code = root.findtext("request/service_request_id")
    assert code.startswith("PA-")
    update = {"api_key": live_open311.unit_key, "service_request_id": code, "update_id": "fms-1",
              "status": "FIXED", "description": "Đã dọn", "updated_datetime": "2026-11-21T10:00:00+07:00",
              "first_name": "Cán bộ", "last_name": "-"}
    answer = parse_xml(requests.post(base + "servicerequestupdates.xml", data=update, timeout=5).content)
    assert answer.findtext("request_update/update_id")
    now = datetime.now(UTC)
    feed = parse_xml(requests.get(base + "servicerequestupdates.xml", timeout=5, params={
        "start_date": (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_date": (now + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "api_key": live_open311.api_key}).content)
    statuses = [(u.findtext("service_request_id"), u.findtext("status")) for u in feed.findall("request_update")]
    assert (code, "fixed") in statuses
    closed = parse_xml(requests.get(base + f"requests/{code}.xml", timeout=5).content)
    assert closed.findtext("request/status") == "closed"
    assert closed.findtext("request/status_notes") == "Đã dọn"
