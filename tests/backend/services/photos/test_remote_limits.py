"""Outbound fetch limits enforced while reading (issue 21, finding 4), and the public-address check
seeing through IPv6 wrappers of IPv4 (finding 9).

Finding 4: a local server that trickles its
body (1 byte/s, or a little faster for longer than allowed, or headers then silence) is cut off on time and
the photo is rejected for good (``media-too-slow``), so a retry cannot hold a media worker again."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from backend.services.photos import remote as fetch
from backend.services.photos.remote import FetchPolicy, FetchRejected

from fixtures import images as corpus


class Trickle:
    """A loopback HTTP server sending a JPEG's headers at once, then ``step`` bytes every ``every``
    seconds (``step=0``: nothing more), giving up after ``for_s`` seconds."""

    def __init__(self, *, step: int, every: float, for_s: float = 30.0) -> None:
        self.step, self.every, self.for_s = step, every, for_s
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slow.jpg"

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:  # closed
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        body = corpus.jpeg() * 40
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n"
                         + f"Content-Length: {len(body)}\r\n\r\n".encode())
            started, sent = time.monotonic(), 0
            while not self.stop.is_set() and time.monotonic() - started < self.for_s and sent < len(body):
                if self.step:
                    try:
                        conn.sendall(body[sent:sent + self.step])
                    except OSError:
                        return
                    sent += self.step
                self.stop.wait(self.every)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def trickle() -> Iterator[type[Trickle]]:
    servers: list[Trickle] = []

    def make(**kw: float) -> Trickle:
        servers.append(Trickle(**kw))
        return servers[-1]

    yield make  # type: ignore[misc]
    for server in servers:
        server.close()


def _policy(**kw: float) -> FetchPolicy:
    return FetchPolicy(allowed_hosts=None, trusted_addresses=frozenset({"127.0.0.1"}), **kw)


def _timed_rejection(url: str, policy: FetchPolicy) -> float:
    started = time.monotonic()
    with pytest.raises(FetchRejected) as err:
        fetch.fetch(url, policy=policy)
    assert err.value.code == "media-too-slow"
    return time.monotonic() - started


def test_one_byte_per_second_is_cut_off_by_the_minimum_rate(trickle):
    server = trickle(step=1, every=1.0)
    took = _timed_rejection(server.url, _policy())  # the defaults: 15 s in all, 8 KiB/s after 3 s
    assert took < 5.0, f"held for {took:.1f} s"


def test_fast_enough_but_too_long_is_cut_off_at_the_total_time(trickle):
    server = trickle(step=2048, every=0.05)  # ~40 KB/s: above the minimum rate, but endless
    took = _timed_rejection(server.url, _policy(timeout_s=2.0))
    assert 1.5 < took < 3.0


def test_headers_then_silence_is_cut_off_at_the_total_time(trickle):
    server = trickle(step=0, every=0.1)
    took = _timed_rejection(server.url, _policy(timeout_s=2.0, rate_grace_s=10.0))
    assert took < 3.0


def test_a_normal_download_still_works(trickle):
    server = trickle(step=1 << 20, every=0.01)
    got = fetch.fetch(server.url, policy=_policy())
    assert got.data == corpus.jpeg() * 40


# --------------------------------------------------------------------------- address checks (finding 9)


@pytest.mark.parametrize("address", [
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a00:1::",  # 6to4 of 10.0.0.1
    "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254 (cloud metadata)
    "2001:0:4136:e378:8000:ffff:80ff:fffe",  # Teredo, client 127.0.0.1
    "2001:0:808:404:8000:ffff:f5fe:fdfc",  # Teredo, client 10.1.2.3
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::808:808",  # NAT64 local-use prefix
    "fec0::1", "fec0:1::5", "feff::1",  # old site-local
    "::ffff:10.0.0.1", "::1", "fd00::1", "fe80::1",
])
def test_wrapped_or_site_local_private_addresses_are_refused(address):
    assert not fetch.is_public_address(ipaddress.ip_address(address))
    with pytest.raises(FetchRejected) as err:
        fetch.fetch(f"http://[{address}]/a.jpg", policy=FetchPolicy())
    assert err.value.code == "media-private-address"


@pytest.mark.parametrize("address", ["2002:808:808::1", "64:ff9b::808:808", "2606:4700:4700::1111", "8.8.8.8"])
def test_public_addresses_and_wrappers_of_public_ones_pass(address):
    assert fetch.is_public_address(ipaddress.ip_address(address))
