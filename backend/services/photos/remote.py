"""Safe download of remote media (Zalo attachments, Open311 ``media_url``): no SSRF, bounded work.

- Zalo: only hosts on the ``zalo_media_hosts`` allow-list (``host`` matches the host and its
  subdomains on the default ports; ``host:port`` matches exactly; an IP-literal entry is an
  explicit administrator decision and may be a private address).
- Open311: any http/https host whose every DNS address is public: no private, loopback,
  link-local, multicast, reserved or IPv4-mapped private addresses.
- The connection goes to the address that was checked (no DNS rebinding between check and
  connect; TLS still verifies the certificate for the host name), redirects are re-checked hop by
  hop, and size, type and time are limited.

Errors: :class:`FetchRejected` (an InvalidInput: permanent, the photo is rejected) and
:class:`FetchUnavailable` (an Unavailable: transient, the job is retried).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import urllib3

from backend.errors import InvalidInput, Unavailable

log = logging.getLogger(__name__)

SOURCES = ("zalo", "open311")
ACCEPTED_TYPES = frozenset({"image/jpeg", "image/jpg", "image/pjpeg", "image/png", "image/webp", "image/heic",
                            "image/heif", "application/octet-stream", "binary/octet-stream", ""})
DEFAULT_PORTS = {"http": 80, "https": 443}
USER_AGENT = "phananh-media-fetch/1"


class FetchRejected(InvalidInput):
    code = "media-fetch-rejected"


class FetchUnavailable(Unavailable):
    code = "media-fetch-unavailable"


@dataclass(frozen=True)
class FetchPolicy:
    """What may be fetched. ``allowed_hosts=None`` means any public host."""

    allowed_hosts: tuple[str, ...] | None = None
    trusted_addresses: frozenset[str] = field(default_factory=frozenset)
    schemes: tuple[str, ...] = ("http", "https")
    max_bytes: int = 15 * 1024 * 1024
    timeout_s: float = 15.0
    connect_timeout_s: float = 5.0
    max_redirects: int = 3
    min_rate_bps: int = 8 * 1024
    rate_grace_s: float = 3.0


@dataclass(frozen=True)
class Fetched:
    data: bytes
    content_type: str
    url: str


def policy_for(source: str, settings: Any, *, trusted_addresses: frozenset[str] = frozenset()) -> FetchPolicy:
    """The policy of a source ("zalo" | "open311") from Settings."""
    max_bytes = int(getattr(settings, "max_upload_bytes", 15 * 1024 * 1024))
    if source == "zalo":
        hosts = tuple(h.strip().lower() for h in str(settings.zalo_media_hosts or "").split(",") if h.strip())
        literal = {split_entry(h)[0] for h in hosts if _is_ip(split_entry(h)[0])}
        return FetchPolicy(allowed_hosts=hosts, trusted_addresses=frozenset(literal) | trusted_addresses,
                           max_bytes=max_bytes)
    if source == "open311":
        return FetchPolicy(allowed_hosts=None, trusted_addresses=trusted_addresses, max_bytes=max_bytes)
    raise FetchRejected("Nguồn ảnh không hợp lệ.", code="invalid-photo-source")


def check_url_syntax(url: str, schemes: tuple[str, ...] = ("http", "https")) -> Any:
    """Parse ``url``; raises FetchRejected for anything but a plain absolute http(s) URL."""
    if not isinstance(url, str) or len(url) > 2000 or any(c in url for c in "\r\n\t \\"):
        raise FetchRejected("Địa chỉ ảnh không hợp lệ.", code="invalid-media-url")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as exc:
        raise FetchRejected("Địa chỉ ảnh không hợp lệ.", code="invalid-media-url") from exc
    if parts.scheme not in schemes or not parts.hostname or parts.username or parts.password:
        raise FetchRejected("Địa chỉ ảnh phải là http(s) và không chứa thông tin đăng nhập.",
                            code="invalid-media-url")
    if port is not None and not 0 < port < 65536:
        raise FetchRejected("Địa chỉ ảnh không hợp lệ.", code="invalid-media-url")
    return parts


def fetch(url: str, *, policy: FetchPolicy) -> Fetched:
    """Download ``url`` under ``policy``. Raises FetchRejected (permanent) or FetchUnavailable (retry)."""
    deadline = time.monotonic() + policy.timeout_s
    current = url
    for _hop in range(policy.max_redirects + 1):
        parts = check_url_syntax(current, policy.schemes)
        port = parts.port or DEFAULT_PORTS[parts.scheme]
        host = parts.hostname.lower()
        _check_host(host, port, policy)
        address = _resolve(host, port, policy)
        response = _request(parts, host, port, address, policy, deadline)
        try:
            if response.status in (301, 302, 303, 307, 308):
                location = response.headers.get("Location")
                if not location:
                    raise FetchRejected("Máy chủ ảnh chuyển hướng không hợp lệ.", code="media-bad-redirect")
                current = urljoin(current, location)
                continue
            return _read(response, current, policy, deadline)
        finally:
            response.release_conn()
    raise FetchRejected("Quá nhiều lần chuyển hướng khi tải ảnh.", code="media-too-many-redirects")


def _check_host(host: str, port: int, policy: FetchPolicy) -> None:
    if policy.allowed_hosts is None:
        return
    for entry in policy.allowed_hosts:
        name, entry_port = split_entry(entry)
        if entry_port:
            if host == name and str(port) == entry_port:
                return
        elif port in DEFAULT_PORTS.values() and (host == name or host.endswith("." + name)):
            return
    raise FetchRejected("Máy chủ ảnh không nằm trong danh sách cho phép.", code="media-host-not-allowed")


def split_entry(entry: str) -> tuple[str, str]:
    """``host``, ``host:port``, ``[v6]:port`` -> (host, port or "")."""
    entry = entry.strip().lower()
    if entry.startswith("["):
        name, _, rest = entry[1:].partition("]")
        return name, rest.lstrip(":")
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        return name, port
    return entry, ""


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


#: RFC 6052 well-known NAT64 prefix (embedded IPv4 in the last 32 bits) and RFC 8215 local-use prefix
NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses an IPv6 address carries traffic to, if it is a wrapper: IPv4-mapped
    (``::ffff:a.b.c.d``), 6to4 (``2002::/16``), Teredo (``2001::/32``: server and client) or NAT64
    (``64:ff9b::/96``). None for a native IPv6 address."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)
    if ip in NAT64_WELL_KNOWN:
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return None


def is_public_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True only for globally routable unicast addresses. IPv6 wrappers of IPv4 (mapped, 6to4, Teredo,
    NAT64) are judged by every IPv4 address they carry; site-local ``fec0::/10`` and NAT64 local-use
    ``64:ff9b:1::/48`` are refused."""
    if isinstance(ip, ipaddress.IPv6Address):
        wrapped = embedded_ipv4(ip)
        if wrapped is not None:
            return all(is_public_address(v4) for v4 in wrapped)
        if ip.is_site_local or ip in NAT64_LOCAL_USE:
            return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local
                                 or ip.is_private or ip.is_unspecified)


def _resolve(host: str, port: int, policy: FetchPolicy) -> str:
    """Every address of ``host`` must be public (or explicitly trusted); returns the one to connect to."""
    if _is_ip(host):  # an address literal: nothing to resolve
        found = [host]
    else:
        try:
            found = [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
        except (OSError, UnicodeError) as exc:
            raise FetchRejected("Không phân giải được tên máy chủ ảnh.", code="media-host-unresolvable") from exc
    addresses = []
    for text in found:
        ip = ipaddress.ip_address(text.split("%")[0])
        if str(ip) not in policy.trusted_addresses and not is_public_address(ip):
            log.warning("media fetch refused: %s resolves to non-public %s", host, ip)
            raise FetchRejected("Địa chỉ ảnh trỏ tới mạng nội bộ; không được phép.", code="media-private-address")
        addresses.append(str(ip))
    if not addresses:
        raise FetchRejected("Không phân giải được tên máy chủ ảnh.", code="media-host-unresolvable")
    return addresses[0]


def _request(parts: Any, host: str, port: int, address: str, policy: FetchPolicy, deadline: float) -> Any:
    remaining = max(0.5, deadline - time.monotonic())
    timeout = urllib3.Timeout(connect=min(policy.connect_timeout_s, remaining), read=remaining)
    if parts.scheme == "https":
        pool: Any = urllib3.HTTPSConnectionPool(address, port, timeout=timeout, retries=False, maxsize=1,
                                                server_hostname=host, assert_hostname=host,
                                                cert_reqs="CERT_REQUIRED")
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False, maxsize=1)
    host_header = host if port == DEFAULT_PORTS[parts.scheme] else f"{host}:{port}"
    if ":" in host and not host.startswith("["):
        host_header = f"[{host}]" + ("" if port == DEFAULT_PORTS[parts.scheme] else f":{port}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        return pool.urlopen("GET", path, headers={"Host": host_header, "User-Agent": USER_AGENT, "Accept": "image/*"},
                            redirect=False, retries=False, preload_content=False, assert_same_host=False)
    except urllib3.exceptions.HTTPError as exc:
        raise FetchUnavailable(f"Không tải được ảnh: {type(exc).__name__}.", code="media-fetch-unavailable") from exc


def _read(response: Any, url: str, policy: FetchPolicy, deadline: float) -> Fetched:
    if response.status in (408, 425, 429) or response.status >= 500:
        raise FetchUnavailable(f"Máy chủ ảnh trả lời {response.status}.", code="media-fetch-unavailable")
    if response.status != 200:
        raise FetchRejected(f"Máy chủ ảnh trả lời {response.status}.", code="media-fetch-failed")
    ctype = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype not in ACCEPTED_TYPES:
        raise FetchRejected("Tệp tại địa chỉ này không phải là ảnh.", code="media-not-image")
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > policy.max_bytes:
        raise FetchRejected("Ảnh quá lớn.", code="media-too-large")
    chunks: list[bytes] = []
    total, started = 0, time.monotonic()
    try:
        while True:
            _limit_wait(response, deadline)
            chunk = response.read1(64 * 1024)
            if not chunk:
                break
            total += len(chunk)
            if total > policy.max_bytes:
                raise FetchRejected("Ảnh quá lớn.", code="media-too-large")
            _check_pace(total, started, deadline, policy)
            chunks.append(chunk)
    except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
        raise FetchRejected("Máy chủ ảnh gửi quá chậm.", code="media-too-slow") from None
    except urllib3.exceptions.HTTPError as exc:
        raise FetchUnavailable(f"Không tải được ảnh: {type(exc).__name__}.", code="media-fetch-unavailable") from exc
    return Fetched(data=b"".join(chunks), content_type=ctype, url=url)


def _limit_wait(response: Any, deadline: float) -> None:
    """The next read waits at most until ``deadline`` (the socket timeout otherwise restarts per read)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("download deadline passed")
    sock = getattr(getattr(response, "connection", None), "sock", None)
    if sock is not None:
        sock.settimeout(remaining)


def _check_pace(total: int, started: float, deadline: float, policy: FetchPolicy) -> None:
    now = time.monotonic()
    if now > deadline:
        raise TimeoutError("download deadline passed")
    elapsed = now - started
    if elapsed > policy.rate_grace_s and total / elapsed < policy.min_rate_bps:
        log.warning("media fetch cut off: %d bytes in %.1f s", total, elapsed)
        raise TimeoutError("download slower than the minimum rate")
