"""Photo storage: public vs private keys, hostile keys, atomic writes."""

from __future__ import annotations

import pytest

from backend.config import Settings
from backend.errors import NotFound
from backend.services.photos.storage import LocalStorage, MemoryStorage, Storage, get_storage


@pytest.fixture(params=["local", "memory"])
def store(request, tmp_path):
    return LocalStorage(tmp_path / "m") if request.param == "local" else MemoryStorage()


def test_public_and_private_keys(store):
    assert isinstance(store, Storage)
    store.put("p/abc.jpg", b"public", content_type="image/jpeg", public=True)
    store.put("orig/2026/11/secret.jpg", b"original", content_type="image/jpeg", public=False)
    assert store.get("p/abc.jpg") == b"public" and store.open("p/abc.jpg").read() == b"public"
    assert store.url("p/abc.jpg") == "/media/p/abc.jpg"
    assert store.url("orig/2026/11/secret.jpg") is None  # never a URL for a private key
    assert store.is_public("p/abc.jpg") and not store.is_public("orig/2026/11/secret.jpg")
    assert store.exists("orig/2026/11/secret.jpg")
    store.delete("p/abc.jpg")
    assert not store.exists("p/abc.jpg") and store.url("p/abc.jpg") is None
    with pytest.raises(NotFound):
        store.get("p/abc.jpg")


def test_local_layout_keeps_private_outside_public_dir(tmp_path):
    store = LocalStorage(tmp_path / "m")
    store.put("orig/x.jpg", b"o", content_type="image/jpeg", public=False)
    store.put("p/y.jpg", b"p", content_type="image/jpeg", public=True)
    assert (tmp_path / "m/private/orig/x.jpg").read_bytes() == b"o"
    assert (tmp_path / "m/public/p/y.jpg").read_bytes() == b"p"
    assert not list((tmp_path / "m").rglob(".tmp-*"))
    store.put("p/y.jpg", b"p2", content_type="image/jpeg", public=False)  # a key lives in one place only
    assert not store.is_public("p/y.jpg") and store.get("p/y.jpg") == b"p2"


@pytest.mark.parametrize("key", ["../etc/passwd", "/etc/passwd", "p/../../x", "p\\x", "", ".hidden",
                                 "p//x", "p/x\x00.jpg", "a" * 300])
def test_hostile_keys_refused(tmp_path, key):
    store = LocalStorage(tmp_path / "m")
    with pytest.raises(NotFound):
        store.put(key, b"x", content_type="image/jpeg", public=True)
    assert store.url(key) is None if key else True
    assert not store.is_public(key)


def test_get_storage_uses_media_dir(tmp_path):
    store = get_storage(Settings(media_dir=tmp_path / "media"))
    store.put("p/a.jpg", b"x", content_type="image/jpeg", public=True)
    assert (tmp_path / "media/public/p/a.jpg").exists()


def test_unwritable_media_store_is_a_clear_503_and_leaves_nothing(tmp_path):
    import pytest

    from backend.errors import Unavailable
    from backend.services.photos.storage import LocalStorage

    blocker = tmp_path / "media"
    blocker.write_text("not a directory")  # even root cannot create directories under a file
    store = LocalStorage(blocker)
    with pytest.raises(Unavailable) as err:
        store.put("abc/photo.jpg", b"bytes", content_type="image/jpeg", public=False)
    assert err.value.status == 503 and "thử lại" in err.value.message
    assert blocker.read_text() == "not a directory"
