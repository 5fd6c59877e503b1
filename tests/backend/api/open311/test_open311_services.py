"""Conformance: discovery, service list, service definitions, errors, CORS, empty parameters."""

from __future__ import annotations

import pytest
from o311_support import (
    DEFINITION_SCHEMA,
    DISCOVERY_SCHEMA,
    SERVICES_SCHEMA,
    assert_json_errors,
    parse_xml,
    validate,
    xml_errors,
)
from sqlmodel import select

from backend.services.city import settings as city_settings


@pytest.mark.parametrize("path", ["/open311/discovery", "/open311/v2/discovery"])
def test_discovery_in_both_formats(client, city, path):
    r = client.get(path + ".json")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    body = r.get_json()
    validate(body, DISCOVERY_SCHEMA)
    assert body["endpoints"][0]["url"].endswith("/open311/v2")
    assert body["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"

    x = client.get(path + ".xml")
    assert x.status_code == 200 and x.headers["Content-Type"] == "text/xml; charset=utf-8"
    root = parse_xml(x.data)
    assert root.tag == "discovery"
    endpoints = root.findall("endpoints/endpoint")
    assert len(endpoints) == 1
    assert [f.text for f in endpoints[0].findall("formats/format")] == ["text/xml", "application/json"]
    assert root.findtext("changeset") == body["changeset"]
    assert r.headers["Access-Control-Allow-Origin"] == "*"


def test_discovery_is_utf8_with_a_vietnamese_contact(client, city):
    """Issue 19 #6: a non-ASCII body declares its charset."""
    for fmt, mime in (("json", "application/json"), ("xml", "text/xml")):
        r = client.get(f"/open311/discovery.{fmt}")
        assert r.headers["Content-Type"] == f"{mime}; charset=utf-8"
        assert "Sóc Trăng" in r.data.decode("utf-8")


def test_discovery_lists_only_real_endpoints(client, city, session):
    """Issue 19 #5: no "test" endpoint pointing at production; one only when the city has a test server."""
    body = client.get("/open311/discovery.json").get_json()
    assert [e["type"] for e in body["endpoints"]] == ["production"]
    city_settings.put(session, "open311_test_endpoint", "https://thu-nghiem.soctrang.example.vn/open311/v2")
    body = client.get("/open311/discovery.json").get_json()
    assert [(e["type"], e["url"]) for e in body["endpoints"]] == [
        ("production", "http://localhost/open311/v2"),
        ("test", "https://thu-nghiem.soctrang.example.vn/open311/v2")]
    root = parse_xml(client.get("/open311/discovery.xml").data)
    assert [e.findtext("type") for e in root.findall("endpoints/endpoint")] == ["production", "test"]
    for bad in ("http://localhost/open311/v2", "javascript:alert(1)", 42):
        city_settings.put(session, "open311_test_endpoint", bad)
        body = client.get("/open311/discovery.json").get_json()
        assert [e["type"] for e in body["endpoints"]] == ["production"], bad


def test_discovery_changeset_follows_service_changes(client, city, session, post_report):
    """Issue 19 #5: ``changeset`` is the time services or their definitions last changed."""
    from datetime import UTC, datetime

    from backend.models import Category, CitySetting
    from backend.services.city import admin, staff

    stamp = session.get(CitySetting, "catalog_version")
    assert stamp is not None, "loading the city pack stamps the services"
    stamp.updated_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)  # as if the pack was loaded then
    session.add(stamp)
    session.flush()
    first = client.get("/open311/discovery.json").get_json()
    assert first["changeset"] == first["endpoints"][0]["changeset"] == "2026-01-02T03:04:05Z"
    post_report()  # a new report is not a change of services
    assert client.get("/open311/discovery.json").get_json()["changeset"] == "2026-01-02T03:04:05Z"
    pothole = session.exec(select(Category).where(Category.code == "duong-hu-hong")).one()
    boss = staff.create_staff(session, email="quantri.o311@example.vn", password="mat-khau-dai-12345",
                              role="admin", name="Quản trị")
    admin.update_category(session, actor=boss, category_id=pothole.id, active=True, requires_after_photo=False,
                          priority_default="urgent", default_unit_id=pothole.default_unit_id)
    session.flush()
    after = client.get("/open311/discovery.json").get_json()["changeset"]
    assert after > "2026-01-02T03:04:05Z" and after <= datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    stamp.updated_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    session.add(stamp)
    session.flush()
    pothole.attributes = [*pothole.attributes, {"code": "ghi-chu", "variable": False, "datatype": "string",
                                                "description_vi": "Ổ gà sâu hơn 10 cm xin gọi 1022."}]
    session.add(pothole)
    session.flush()
    assert client.get("/open311/discovery.json").get_json()["changeset"] > "2026-01-02T03:04:05Z"


def test_informational_attributes_need_the_definition(client, city, session):
    """Issue 19 #6: a service whose only attributes are ``variable=false`` says ``metadata=true``."""
    from backend.models import Category

    litter = session.exec(select(Category).where(Category.code == "rac-thai")).one()
    litter.attributes = [{"code": "luu-y", "variable": False, "datatype": "string", "order": 1,
                          "description_vi": "Rác y tế xin gọi đường dây nóng 1022."}]
    session.add(litter)
    session.flush()
    services = {s["service_code"]: s for s in client.get("/open311/v2/services.json").get_json()}
    assert services["rac-thai"]["metadata"] is True
    definition = client.get("/open311/v2/services/rac-thai.json").get_json()
    assert [(a["code"], a["variable"]) for a in definition["attributes"]] == [("luu-y", False)]
    assert services["dien"]["metadata"] is False


def test_service_list_json(client, city):
    r = client.get("/open311/v2/services.json")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    services = r.get_json()
    validate(services, SERVICES_SCHEMA)
    by_code = {s["service_code"]: s for s in services}
    assert by_code["duong-hu-hong"]["service_name"] == "Hư hỏng mặt đường, ổ gà"
    assert by_code["duong-hu-hong"]["metadata"] is True
    assert by_code["duong-hu-hong"]["group"] == "Hạ tầng giao thông"
    assert by_code["rac-thai"]["metadata"] is False
    assert by_code["rac-thai"]["type"] == "realtime"
    assert not any(code.startswith("khan-cap") for code in by_code), "emergencies go to the hotlines"


def test_service_list_xml_and_english(client, city):
    r = client.get("/open311/v2/services.xml?locale=en")
    assert r.headers["Content-Type"] == "text/xml; charset=utf-8"
    root = parse_xml(r.data)
    assert root.tag == "services"
    services = {s.findtext("service_code"): s for s in root.findall("service")}
    pothole = services["duong-hu-hong"]
    assert pothole.findtext("service_name") == "Damaged road surface, potholes"
    assert pothole.findtext("metadata") == "true"
    assert services["rac-thai"].findtext("metadata") == "false"
    assert [c.tag for c in pothole] == ["service_code", "service_name", "description", "metadata", "type",
                                        "keywords", "group"]
    en = client.get("/open311/v2/services.json", headers={"Accept-Language": "en-US,en;q=0.9"}).get_json()
    assert {s["service_code"]: s["service_name"] for s in en}["duong-hu-hong"] == "Damaged road surface, potholes"


def test_service_definition_json_all_list_types(client, city):
    r = client.get("/open311/v2/services/cay-xanh.json")
    assert r.status_code == 200
    body = r.get_json()
    validate(body, DEFINITION_SCHEMA)
    assert body["service_code"] == "cay-xanh"
    attr = body["attributes"][0]
    assert attr["datatype"] == "multivaluelist" and attr["required"] is True and attr["variable"] is True
    assert attr["values"] and all(v["key"] and v["name"] for v in attr["values"])
    pothole = client.get("/open311/v2/services/duong-hu-hong.json").get_json()
    assert [a["code"] for a in pothole["attributes"]] == ["kich-thuoc", "do-sau"]
    assert [a["order"] for a in pothole["attributes"]] == [1, 2]
    assert pothole["attributes"][0]["datatype"] == "singlevaluelist"
    assert [v["key"] for v in pothole["attributes"][0]["values"]] == ["nho", "vua", "lon"]
    assert pothole["attributes"][1]["datatype"] == "number" and pothole["attributes"][1]["values"] == []
    water = client.get("/open311/v2/services/cap-nuoc.json").get_json()
    assert water["attributes"][0]["datatype"] == "datetime"
    text = client.get("/open311/v2/services/trat-tu-xay-dung.json").get_json()
    assert text["attributes"][0]["datatype"] == "text"


def test_service_definition_xml_and_singular_alias(client, city):
    for path in ("/open311/v2/services/duong-hu-hong.xml", "/open311/v2/service/duong-hu-hong.xml"):
        r = client.get(path + "?locale=en")
        assert r.status_code == 200
        root = parse_xml(r.data)
        assert root.tag == "service_definition"
        assert root.findtext("service_code") == "duong-hu-hong"
        attrs = root.findall("attributes/attribute")
        assert [a.findtext("code") for a in attrs] == ["kich-thuoc", "do-sau"]
        assert attrs[0].findtext("required") == "false" and attrs[0].findtext("order") == "1"
        assert attrs[0].findtext("description") == "Estimated size of the damage"
        values = attrs[0].findall("values/value")
        assert (values[0].findtext("key"), values[0].findtext("name")) == ("nho", "Small (under 30 cm)")
        assert attrs[1].find("values") is not None and len(attrs[1].find("values")) == 0


def test_unknown_service_is_404_in_both_formats(client, city):
    body = assert_json_errors(client.get("/open311/v2/services/khong-co.json"), 404)
    assert body[0]["code"] == 404 and "khong-co" in body[0]["description"]
    r = client.get("/open311/v2/services/khong-co.xml")
    assert r.status_code == 404 and r.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert xml_errors(r.data)[0][0] == "404"


def test_unknown_paths_formats_and_methods_get_the_error_array(client, city):
    r = client.get("/open311/v2/services.html")
    assert r.status_code == 404 and xml_errors(r.data)
    r = client.get("/open311/v2/nothing.json")
    assert_json_errors(r, 404)
    r = client.get("/open311/v2/services/rac-thai")  # no suffix: XML error
    assert r.status_code == 404 and xml_errors(r.data)
    r = client.delete("/open311/v2/services.json")
    body = assert_json_errors(r, 400)  # issue 19 #6: the spec's "400 for everything else"
    assert body[0]["code"] == 405 and "GET" in r.headers["Allow"]
    r = client.post("/open311/v2/services.xml")
    assert r.status_code == 400 and xml_errors(r.data)[0][0] == "405"


def test_jurisdiction_empty_is_absent_right_one_ok_wrong_one_404(client, city):
    assert client.get("/open311/v2/services.json?jurisdiction_id=").status_code == 200
    assert client.get("/open311/v2/services.json?jurisdiction_id=soctrang.demo.phananh.vn").status_code == 200
    body = assert_json_errors(client.get("/open311/v2/services.json?jurisdiction_id=example.org"), 404)
    assert "example.org" in body[0]["description"]
    assert client.get("/open311/v2/services/rac-thai.json?jurisdiction_id=&locale=").status_code == 200


def test_service_codes_with_dots_use_the_last_dot(client, city):
    r = client.get("/open311/v2/services/rac.thai.json")
    body = assert_json_errors(r, 404)
    assert "rac.thai" in body[0]["description"]


def test_cors_preflight(client, city):
    r = client.options("/open311/v2/services.json", headers={"Origin": "https://example.org",
                                                             "Access-Control-Request-Method": "GET"})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "*"


def test_double_slash_from_a_trailing_slash_endpoint_is_served(client, city, api_key):
    """``open311`` 1.1 concatenates ``endpoint + '/requests.xml'``; urllib2 does not follow a POST redirect."""
    assert parse_xml(client.get("/open311/v2//services.xml?jurisdiction_id=").data).tag == "services"
    r = client.post(f"/open311/v2//requests.xml?jurisdiction_id=&api_key={api_key}",
                    data={"service_code": "rac-thai", "description": "Qua open311 1.1", "lat": "9.6031",
                          "long": "105.9739"})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert parse_xml(r.data).findtext("request/service_request_id").startswith("PA-")
    assert client.get("/open311/v2//nothing.json").status_code == 404
