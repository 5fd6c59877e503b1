"""Photo upload and the category list."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func
from sqlmodel import select
from v1_helpers import jpeg_bytes

from backend.models import Photo

M = "/api/v1/media"


def photos(session) -> int:
    return session.exec(select(func.count()).select_from(Photo)).one()


def test_upload_stores_original_privately(client, session, settings, upload):
    r = upload()
    assert r.status_code == 201
    assert set(r.json) == {"id", "mime", "size_bytes", "state", "created_at"}
    photo = session.get(Photo, r.json["id"])
    assert photo.original_key and photo.mime == "image/jpeg"
    assert not (settings.media_dir / "public").exists() or not any((settings.media_dir / "public").rglob("*"))


@pytest.mark.parametrize("data,filename,status", [
    (b"%PDF-1.4 not an image", "x.pdf", 415),
    (b"GIF89a" + b"\0" * 100, "x.gif", 415),
    (b"", "empty.jpg", 422),
    (jpeg_bytes()[:200], "truncated.jpg", 422),
])
def test_upload_bad_files_are_refused(client, session, upload, data, filename, status):
    r = upload(data=data, filename=filename)
    assert r.status_code == status, r.json
    assert r.mimetype == "application/problem+json"
    assert photos(session) == 0


def test_upload_size_limit_before_reading(client, session, settings, auth):
    settings.max_upload_bytes = 1000
    r = client.post(M, data={"file": (io.BytesIO(b"\xff\xd8" + b"0" * 5000), "big.jpg")}, headers=auth(),
                    content_type="multipart/form-data")
    assert r.status_code == 413 and r.mimetype == "application/problem+json"
    assert photos(session) == 0


def test_upload_needs_token_multipart_and_file(client, session, auth):
    assert client.post(M, data={"file": (io.BytesIO(jpeg_bytes()), "a.jpg")},
                       content_type="multipart/form-data").status_code == 401
    assert client.post(M, json={"file": "x"}, headers=auth()).status_code == 415
    assert client.post(M, data={"other": "x"}, headers=auth(), content_type="multipart/form-data").status_code == 400
    assert photos(session) == 0


def test_categories_localized_with_attributes_and_hotlines(client, demo_city):
    vi = client.get("/api/v1/categories")
    assert vi.status_code == 200
    road = next(c for c in vi.json["items"] if c["code"] == "duong-hu-hong")
    assert road["name"] == "Hư hỏng mặt đường, ổ gà"
    assert road["attributes"][0]["code"] == "kich-thuoc" and road["attributes"][0]["values"][0]["key"] == "nho"
    emergencies = [c for c in vi.json["items"] if c["is_emergency"]]
    assert emergencies and all(c["hotline"] for c in emergencies)
    assert vi.json["hotlines"]["police"] == "113"
    en = client.get("/api/v1/categories", headers={"Accept-Language": "en"}).json
    road_en = next(c for c in en["items"] if c["code"] == "duong-hu-hong")
    assert road_en["name"].startswith("Damaged road") and road_en["group"]["name"] == "Road infrastructure"
    assert road_en["attributes"][0]["description"] == "Estimated size of the damage"


def test_categories_empty_city(client):
    r = client.get("/api/v1/categories")
    assert r.status_code == 200 and r.json["items"] == []
