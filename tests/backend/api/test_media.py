"""``/media/<key>``: public copies and thumbnails long-cached; originals and unknown keys are 404."""

from __future__ import annotations

import pytest

from backend.services import photos
from backend.services.photos.storage import get_storage

from fixtures import images as corpus


@pytest.fixture
def ready_photo(session, settings):
    store = get_storage(settings)
    photo = photos.accept_upload(session, data=corpus.photo_with_everything(), storage=store)
    return photos.process(session, photo=photo, storage=store)


def test_public_copy_and_thumbnails_served_immutable(client, settings, ready_photo):
    view = photos.public_view(ready_photo, get_storage(settings))
    for url, mime in [(view["url"], "image/jpeg"), *((u, "image/webp") for u in view["thumbnails"].values())]:
        r = client.get(url)
        assert r.status_code == 200, url
        assert r.mimetype == mime
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        etag = r.headers["ETag"]
        assert etag and url.rsplit("/", 1)[1].split(".")[0].split("-")[0] in etag
        assert corpus.metadata_segments(r.data) == []
        again = client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.data == b""
        assert client.head(url).status_code == 200


def _assert_404(r):
    assert r.status_code == 404
    assert r.mimetype == "application/problem+json"
    assert r.json["type"].endswith("/not-found")


def test_original_never_served(client, settings, ready_photo):
    key = ready_photo.original_key
    assert (settings.media_dir / "private" / key).is_file()
    for path in (f"/media/{key}", f"/media/../private/{key}", f"/media/%2e%2e/private/{key}",
                 f"/media/private/{key}", f"/media/..%2fprivate%2f{key}"):
        r = client.get(path)
        assert r.status_code == 404, path
        if r.mimetype == "application/problem+json":
            assert ready_photo.original_key not in r.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/media/p/nothing.jpg", "/media/p/..", "/media/.env", "/media/p/%00.jpg",
                                  "/media/" + "a" * 400])
def test_unknown_or_malformed_keys_are_404_problem(client, path):
    _assert_404(client.get(path))
