"""Photo jobs end to end: outbox -> RQ (fakeredis or real Redis) -> handler -> rows and files."""

from __future__ import annotations

import pytest
from sqlmodel import select

from backend import queue
from backend.models import Outbox
from backend.models.photos import Photo
from backend.services import photos
from backend.services.photos.storage import get_storage
from handlers.photos import fetch_photo, process_photo

from fixtures import images as corpus
from fixtures.images import FakeMedia


@pytest.fixture
def media_server():
    server = FakeMedia()
    yield server
    server.close()


@pytest.fixture
def settings(settings, media_server):
    """The Zalo allow-list names the fake media host (an IP-literal entry is explicitly trusted)."""
    return settings.model_copy(update={"zalo_media_hosts": f"zdn.vn,127.0.0.1:{media_server.port}"})


def load(db, photo_id):
    with db.session() as s:
        return s.get(Photo, photo_id)


def test_upload_processed_by_worker(app, db, settings, run_jobs):
    store = get_storage(settings)
    with db.session_scope() as s:
        pid = photos.accept_upload(s, data=corpus.photo_with_everything(), storage=store).id
    assert load(db, pid).state == "pending"
    run_jobs()
    photo = load(db, pid)
    assert photo.state == "ready" and photo.exif_lat is not None
    assert (settings.media_dir / "public" / photo.public_key).is_file()
    assert (settings.media_dir / "private" / photo.original_key).is_file()
    assert not (settings.media_dir / "public" / photo.original_key).exists()
    with db.session() as s:
        job = s.exec(select(Outbox).where(Outbox.job_name == "handlers.photos.process_photo")).one()
        assert job.done_at is not None
        assert queue.execute(job.id) == "already-done"


def test_file_broken_inside_is_rejected_by_worker_not_retried(app, db, settings, run_jobs):
    store = get_storage(settings)
    with db.session_scope() as s:
        pid = photos.accept_upload(s, data=corpus.png_bad_deflate(), storage=store).id
    run_jobs()
    photo = load(db, pid)
    assert photo.state == "rejected" and photo.error.startswith("corrupt-image")
    assert photo.public_key is None


def test_zalo_attachment_fetched_and_processed(app, db, media_server, run_jobs):
    url = media_server.add("/zalo/photo.jpg", corpus.jpeg())
    with db.session_scope() as s:
        pid = photos.accept_remote(s, url=url, source="zalo").id
    run_jobs()
    photo = load(db, pid)
    assert photo.state == "ready", photo.error
    assert photo.source_url == url and photo.original_key.startswith("orig/") and photo.mime == "image/jpeg"


@pytest.mark.parametrize(("body", "code"), [(b"<svg><script>alert(1)</script></svg>", "unsupported-image-type"),
                                            (None, "corrupt-image")])
def test_fetched_hostile_file_rejected(app, db, media_server, run_jobs, body, code):
    url = media_server.add("/bad.jpg", body if body is not None else corpus.truncated_jpeg())
    with db.session_scope() as s:
        pid = photos.accept_remote(s, url=url, source="zalo").id
    run_jobs()
    photo = load(db, pid)
    assert photo.state == "rejected" and photo.error.startswith(code) and not photo.original_key


def test_open311_media_on_a_private_address_is_refused(app, db, media_server, run_jobs):
    url = media_server.add("/o.jpg", corpus.jpeg())
    with db.session_scope() as s:
        pid = photos.accept_remote(s, url=url, source="open311").id
    run_jobs()
    photo = load(db, pid)
    assert photo.state == "rejected" and photo.error.startswith("media-private-address")
    assert media_server.requests == []


def test_accept_remote_validates_url_and_source(session):
    from backend.errors import InvalidInput

    for url, source in (("file:///etc/passwd", "open311"), ("http://x.vn/a.jpg", "email")):
        with pytest.raises(InvalidInput):
            photos.accept_remote(session, url=url, source=source)


def test_transient_failure_retried_then_failed(app, db, media_server, run_jobs):
    url = media_server.add("/down.jpg", status=503)
    with db.session_scope() as s:
        pid = photos.accept_remote(s, url=url, source="zalo").id
    run_jobs()
    assert load(db, pid).state == "pending"  # first attempt raised: RQ will retry later
    with db.session() as s:
        job = s.exec(select(Outbox).where(Outbox.job_name == "handlers.photos.fetch_photo")).one()
        assert job.done_at is None and "503" in job.last_error
    with db.session_scope() as s:  # the last attempt (outside a retried job) gives up cleanly
        fetch_photo(s, photo_id=pid, source="zalo")
    photo = load(db, pid)
    assert photo.state == "failed" and "503" in photo.error


def test_handlers_ignore_missing_or_finished_photos(app, db):
    with db.session_scope() as s:
        process_photo(s, photo_id=987654)
        fetch_photo(s, photo_id=987654)
