"""Safe download of remote media against a local fake HTTP server (never the internet)."""

from __future__ import annotations

import time

import pytest

from backend.config import Settings
from backend.services.photos import remote as fetch
from backend.services.photos.remote import FetchPolicy, FetchRejected, FetchUnavailable

from fixtures import images as corpus
from fixtures.images import FakeMedia

LOCAL = frozenset({"127.0.0.1"})


@pytest.fixture
def media_server():
    server = FakeMedia()
    yield server
    server.close()


@pytest.fixture
def second_server():
    server = FakeMedia()
    yield server
    server.close()


def open311(**kw):
    return FetchPolicy(allowed_hosts=None, trusted_addresses=LOCAL, **kw)


def test_downloads_an_image(media_server):
    data = corpus.jpeg()
    url = media_server.add("/a.jpg?x=1", data)
    got = fetch.fetch(url, policy=open311())
    assert got.data == data and got.content_type == "image/jpeg"
    assert media_server.requests == [("/a.jpg?x=1", f"127.0.0.1:{media_server.port}")]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/a.jpg",  # loopback without an explicit trust
    "http://localhost:{port}/a.jpg",
    "http://10.0.0.1/a.jpg", "http://192.168.1.1/a.jpg", "http://172.16.0.5/a.jpg",
    "http://169.254.169.254/latest/meta-data/", "http://[::1]/a.jpg", "http://0.0.0.0/a.jpg",
    "http://224.0.0.1/a.jpg", "http://[::ffff:127.0.0.1]/a.jpg", "http://[fe80::1]/a.jpg",
    "http://100.64.0.1/a.jpg", "http://240.0.0.1/a.jpg",
])
def test_private_and_special_addresses_refused(media_server, url):
    media_server.add("/a.jpg", corpus.jpeg())
    with pytest.raises(FetchRejected) as err:
        fetch.fetch(url.format(port=media_server.port), policy=FetchPolicy())
    assert err.value.code == "media-private-address"
    assert media_server.requests == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.vn/a.jpg", "javascript:alert(1)",
                                 "http://user:pw@example.vn/a.jpg", "http:///a.jpg", "//example.vn/a.jpg",
                                 "http://example.vn:99999/a.jpg", "http://exa mple.vn/a.jpg", "x" * 3000])
def test_malformed_urls_refused(url):
    with pytest.raises(FetchRejected) as err:
        fetch.fetch(url, policy=FetchPolicy())
    assert err.value.code == "invalid-media-url"


def test_unresolvable_host_refused():
    with pytest.raises(FetchRejected) as err:
        fetch.fetch("http://no-such-host.invalid/a.jpg", policy=FetchPolicy())
    assert err.value.code == "media-host-unresolvable"


def test_redirects_are_rechecked(media_server):
    data = corpus.jpeg()
    media_server.add("/final.jpg", data)
    ok = media_server.add("/hop", status=302, headers={"Location": "/final.jpg"})
    assert fetch.fetch(ok, policy=open311()).data == data
    evil = media_server.add("/evil", status=301, headers={"Location": "http://169.254.169.254/latest/"})
    with pytest.raises(FetchRejected) as err:
        fetch.fetch(evil, policy=open311())
    assert err.value.code == "media-private-address"
    loop = media_server.add("/loop", status=302, headers={"Location": "/loop"})
    with pytest.raises(FetchRejected) as err:
        fetch.fetch(loop, policy=open311())
    assert err.value.code == "media-too-many-redirects"


def test_zalo_allow_list(media_server, second_server):
    data = corpus.jpeg()
    url = media_server.add("/z.jpg", data)
    settings = Settings(zalo_media_hosts=f"zdn.vn,127.0.0.1:{media_server.port}")
    policy = fetch.policy_for("zalo", settings)
    assert fetch.fetch(url, policy=policy).data == data
    other = second_server.add("/z.jpg", data)
    with pytest.raises(FetchRejected) as err:
        fetch.fetch(other, policy=policy)  # same address, another port: not on the list
    assert err.value.code == "media-host-not-allowed"
    hop = media_server.add("/hop", status=302, headers={"Location": other})
    with pytest.raises(FetchRejected):
        fetch.fetch(hop, policy=policy)
    assert second_server.requests == []
    with pytest.raises(FetchRejected) as err:
        fetch.fetch("https://evil.example/z.jpg", policy=policy)
    assert err.value.code == "media-host-not-allowed"


@pytest.mark.parametrize(("host", "port", "ok"), [
    ("zdn.vn", 443, True), ("photo-stal-1.zdn.vn", 443, True), ("s1.zadn.vn", 80, True),
    ("evilzdn.vn", 443, False), ("zdn.vn.evil.com", 443, False), ("zdn.vn", 8443, False),
])
def test_zalo_host_matching(host, port, ok):
    policy = fetch.policy_for("zalo", Settings())
    if ok:
        fetch._check_host(host, port, policy)
    else:
        with pytest.raises(FetchRejected):
            fetch._check_host(host, port, policy)


def test_open311_policy_any_public_host():
    policy = fetch.policy_for("open311", Settings(max_upload_bytes=1234))
    assert policy.allowed_hosts is None and policy.max_bytes == 1234 and not policy.trusted_addresses
    with pytest.raises(FetchRejected):
        fetch.policy_for("email", Settings())


def test_size_type_and_status_limits(media_server):
    big = b"\xff\xd8\xff" + b"0" * 200_000
    declared = media_server.add("/big.jpg", big)
    chunked = media_server.add("/chunked.jpg", big, headers={"Content-Type": "image/jpeg",
                                                              "Transfer-Encoding": "chunked"})
    for url in (declared, chunked):
        with pytest.raises(FetchRejected) as err:
            fetch.fetch(url, policy=open311(max_bytes=100_000))
        assert err.value.code == "media-too-large"
    html = media_server.add("/page", b"<html></html>", headers={"Content-Type": "text/html"})
    with pytest.raises(FetchRejected) as err:
        fetch.fetch(html, policy=open311())
    assert err.value.code == "media-not-image"
    with pytest.raises(FetchRejected):
        fetch.fetch(media_server.base + "/missing.jpg", policy=open311())
    down = media_server.add("/down.jpg", status=503)
    with pytest.raises(FetchUnavailable):
        fetch.fetch(down, policy=open311())


def test_slow_server_times_out(media_server):
    slow = media_server.add("/slow.jpg", corpus.jpeg(), delay=2.0)
    started = time.monotonic()
    with pytest.raises(FetchUnavailable):
        fetch.fetch(slow, policy=open311(timeout_s=0.5, connect_timeout_s=0.5))
    assert time.monotonic() - started < 2.0


def test_nothing_listening_is_transient():
    with pytest.raises(FetchUnavailable):
        fetch.fetch("http://127.0.0.1:9/a.jpg", policy=open311(timeout_s=1))
