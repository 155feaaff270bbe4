"""The entrypoint's X-Forwarded-* trust boundary (``ForwardedHeaders``)."""

from __future__ import annotations

import pytest

from hanzo_edge.http.forwarded import MANAGED_HEADERS, ForwardedHeaders
from hanzo_edge.http.headers import Headers


@pytest.mark.parametrize(
    ("trusted", "ip", "expected"),
    [
        (("127.0.0.1/32",), "127.0.0.1", True),
        (("127.0.0.1/32",), "127.0.0.2", False),
        (("10.0.0.0/8", "192.168.1.7"), "192.168.1.7", True),
        (("10.0.0.0/8",), "10.20.30.40", True),
        (("::1/128",), "::1", True),
        (("fe80::/10",), "fe80::1%eth0", True),
        (("10.0.0.0/8",), "not-an-ip", False),
        ((), "127.0.0.1", False),
    ],
    ids=["exact", "outside", "bare-ip", "cidr", "ipv6", "ipv6-zone", "garbage", "none"],
)
def test_is_trusted(trusted: tuple[str, ...], ip: str, expected: bool) -> None:
    assert ForwardedHeaders(trusted_ips=trusted, server="s").is_trusted(ip) is expected


def test_insecure_trusts_everyone() -> None:
    assert ForwardedHeaders(insecure=True, server="s").is_trusted("203.0.113.9")


def test_invalid_trusted_ip_is_rejected() -> None:
    with pytest.raises(ValueError, match="invalid trusted IP"):
        ForwardedHeaders(trusted_ips=("10.0.0.0/33",), server="s")


def test_managed_headers_include_underscore_spellings() -> None:
    for name in (b"x-forwarded-for", b"x_forwarded_for", b"x-real-ip", b"x_real_ip", b"x-forwarded-prefix"):
        assert name in MANAGED_HEADERS


def apply(fh: ForwardedHeaders, raw: list[tuple[bytes, bytes]], host: bytes, *, tls: bool = False) -> Headers:
    headers = Headers(list(raw))
    present = any(n.lower() in MANAGED_HEADERS for n, _ in raw)
    fh.apply(headers, present, b"192.0.2.1", host, tls, False)
    return headers


def test_untrusted_managed_headers_are_dropped_then_set() -> None:
    h = apply(
        ForwardedHeaders(server="edge"),
        [(b"Host", b"h:81"), (b"X-Forwarded-Port", b"1"), (b"X-Forwarded-Uri", b"/x"), (b"X_Real_Ip", b"1.1.1.1")],
        b"h:81",
    )
    assert h.raw == [
        (b"Host", b"h:81"),
        (b"X-Forwarded-Proto", b"http"),
        (b"X-Forwarded-Host", b"h:81"),
        (b"X-Forwarded-Port", b"81"),
        (b"X-Forwarded-Server", b"edge"),
        (b"X-Real-Ip", b"192.0.2.1"),
    ]


@pytest.mark.parametrize(
    ("host", "tls", "port"),
    [(b"h", False, b"80"), (b"h", True, b"443"), (b"h:8443", True, b"8443"), (b"[::1]", False, b"80")],
    ids=["http", "https", "explicit", "ipv6-no-port"],
)
def test_forwarded_port(host: bytes, tls: bool, port: bytes) -> None:
    h = apply(ForwardedHeaders(server="edge"), [], host, tls=tls)
    assert h.get_raw(b"x-forwarded-port") == port
