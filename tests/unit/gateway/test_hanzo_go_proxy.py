"""The host proxies forward what Go's ReverseProxy would: the entrypoint's own forwarded headers are dropped, and
exactly those; whatever the client sent, in any order or case, reaches the backend unchanged."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hanzo_edge.gateway.hanzo.go_proxy import drop_entrypoint_forwarded
from hanzo_edge.http.forwarded import ForwardedHeaders
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request

# Client values never equal to what the entrypoint computes for this request (http, Host h.test:8080, peer 10.0.0.9).
_CLIENT_FIELDS = st.sampled_from(
    [
        (b"Accept", b"*/*"),
        (b"X-Forwarded-Proto", b"https"),
        (b"x-forwarded-proto", b"wss"),
        (b"X-Forwarded-Host", b"fwd.example"),
        (b"X-Forwarded-Port", b"9999"),
        (b"X-Forwarded-Server", b"edge-elsewhere"),
        (b"X-Real-Ip", b"192.0.2.1"),
        (b"x-real-ip", b"192.0.2.2"),
        (b"X-Forwarded-For", b"198.51.100.1"),
        (b"X-End", b"kept"),
    ]
)


def _through_entrypoint(client: list[tuple[bytes, bytes]]) -> Request:
    headers = Headers([(b"Host", b"h.test:8080"), *client])
    managed = any(name.lower().startswith((b"x-forwarded-", b"x-real-ip")) for name, _ in client)
    ForwardedHeaders(insecure=True).apply(headers, managed, b"10.0.0.9", b"h.test:8080", False, False)
    return Request("GET", "/", headers, host="h.test", client_ip="10.0.0.9")


def test_nothing_sent_nothing_added() -> None:
    req = _through_entrypoint([(b"Accept", b"*/*")])
    assert len(req.headers.raw) == 7  # Host, Accept and the five the entrypoint appended
    drop_entrypoint_forwarded(req)
    assert req.headers.raw == [(b"Host", b"h.test:8080"), (b"Accept", b"*/*")]


def test_a_client_value_last_in_the_request_is_kept() -> None:
    # The client's X-Forwarded-Proto is its last field: the entrypoint appends the other four after it.
    req = _through_entrypoint([(b"X-Forwarded-Proto", b"https")])
    drop_entrypoint_forwarded(req)
    assert req.headers.raw == [(b"Host", b"h.test:8080"), (b"X-Forwarded-Proto", b"https")]


@given(st.lists(_CLIENT_FIELDS, max_size=8))
def test_exactly_the_client_fields_remain(client: list[tuple[bytes, bytes]]) -> None:
    req = _through_entrypoint(client)
    drop_entrypoint_forwarded(req)
    assert req.headers.raw == [(b"Host", b"h.test:8080"), *client]
