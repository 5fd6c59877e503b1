"""API keys: shown once, stored hashed, bound to a unit or not, revocable; oversize bodies."""

from __future__ import annotations

import hashlib
import io

import pytest
from o311_support import INSIDE, assert_json_errors, jpeg_bytes, xml_errors
from sqlmodel import select

from backend.errors import Forbidden, InvalidInput, NotFound
from backend.models import ApiClient, Unit
from backend.services.city import clients


def test_key_is_returned_once_and_stored_hashed(session, city):
    client, key = clients.create_client(session, name="  Cổng thông tin thành phố  ", unit_code="ctdt")
    row = session.exec(select(ApiClient).where(ApiClient.id == client.id)).one()
    assert row.name == "Cổng thông tin thành phố"
    assert key.startswith("pa_") and len(key) > 40
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest() and key not in row.key_hash
    assert row.key_prefix == key[:10]
    assert row.unit_id == session.exec(select(Unit.id).where(Unit.code == "ctdt")).one()
    assert clients.authenticate(session, key).id == client.id
    assert row.last_used_at is not None
    other_client, other = clients.create_client(session, name="Khác")
    assert other != key and other_client.unit_id is None


def test_authenticate_refuses_bad_keys(session, city):
    client, key = clients.create_client(session, name="App")
    for bad in (None, "", "   ", key + "x", key[:-1], "pa_" + "x" * 300):
        with pytest.raises(Forbidden):
            clients.authenticate(session, bad)
    clients.revoke(session, client_id=client.id)
    with pytest.raises(Forbidden):
        clients.authenticate(session, key)
    with pytest.raises(NotFound):
        clients.revoke(session, client_id=999_999)


def test_create_client_validates(session, city):
    with pytest.raises(InvalidInput):
        clients.create_client(session, name="  ")
    with pytest.raises(InvalidInput):
        clients.create_client(session, name="x" * 256)
    with pytest.raises(NotFound):
        clients.create_client(session, name="App", unit_code="khong-co")


def test_revoked_key_is_403_over_http(client, session, city):
    api_client, key = clients.create_client(session, name="App")
    clients.revoke(session, client_id=api_client.id)
    session.flush()
    r = client.post("/open311/v2/requests.json", data={"api_key": key, "service_code": "rac-thai", **INSIDE})
    assert_json_errors(r, 403)


def test_oversize_body_is_413_array(app, client, api_key):
    app.config["MAX_CONTENT_LENGTH"] = 2000
    data = {"api_key": api_key, "service_code": "rac-thai", **INSIDE,
            "media": (io.BytesIO(jpeg_bytes((400, 400)) + b"\0" * 5000), "big.jpg")}
    r = client.post("/open311/v2/requests.xml", data=data, content_type="multipart/form-data")
    assert r.status_code == 400 and xml_errors(r.data)[0][0] == "413"  # issue 19 #6: 400 with the error array


def test_head_and_hostile_paths(client, city):
    assert client.head("/open311/v2/services.json").status_code == 200
    for path in ("/open311/v2/requests/%00.json", "/open311/v2/requests/..%2F..%2Fetc.json",
                 "/open311/v2/services/%3Cscript%3E.xml", "/open311/v2/tokens/.json", "/open311/",
                 "/open311/v2/requests/" + "A" * 3000 + ".json"):
        r = client.get(path)
        assert r.status_code in (400, 404), path
        if path.endswith(".json"):
            assert_json_errors(r, r.status_code)
        else:
            assert xml_errors(r.data)


def test_cli_apikey_create_prints_the_key_once(app, session, city):
    if "apikey" not in app.cli.commands:
        pytest.skip("`phananh apikey` is not wired in backend/cli.py yet")
    result = app.test_cli_runner().invoke(args=["apikey", "create", "--name", "Hệ thống CTĐT", "--unit", "ctdt"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    assert clients.authenticate(session, key).name == "Hệ thống CTĐT"
    rows = session.exec(select(ApiClient)).all()
    assert all(key not in (r.key_hash, r.key_prefix, r.name) for r in rows)
    bad = app.test_cli_runner().invoke(args=["apikey", "create", "--name", "X", "--unit", "khong-co"])
    assert bad.exit_code != 0 and "khong-co" in bad.output


def test_database_down_is_a_503_array(settings, runner):
    from backend import queue
    from backend.app import create_app
    from backend.db import Database

    previous = queue._runtime
    app = create_app(settings, database=Database("sqlite:////proc/no-such-dir/phananh.db"), runner=runner)
    try:
        with app.test_client() as c:
            r = c.get("/open311/v2/services.json")
            assert_json_errors(r, 503)
            assert r.headers["Retry-After"] == "5"
            r = c.get("/open311/v2/requests.xml")
            assert r.status_code == 503 and xml_errors(r.data)[0][0] == "503"
    finally:
        if previous is not None:
            queue.install(previous)
