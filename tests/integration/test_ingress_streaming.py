"""Streaming through the proxy: server-sent events are flushed as they come, and upgraded connections are tunnelled."""

from __future__ import annotations

import pytest
from edge_backend import SSE_FIRST, SSE_SECOND, WS_GREETING, payload
from edge_harness import RawConn, catch_all, eventually, request_bytes

pytestmark = pytest.mark.integration


def test_sse_first_event_reaches_the_client_before_the_backend_sends_the_second(backend, ingress):
    app = backend()
    proxy = ingress(catch_all(app.url))

    with RawConn(proxy.port, timeout=5) as conn:
        conn.send(request_bytes("GET", "/sse", "site.test", [("Accept", "text/event-stream")]))
        status, _, headers = conn.read_head()
        assert status == 200
        assert dict((n.lower(), v) for n, v in headers)["content-type"] == "text/event-stream"

        received = b""
        while SSE_FIRST not in received:
            chunk = conn.read_chunk()  # times out (fails) if the proxy buffers the event
            assert chunk, "the stream ended before the first event"
            received += chunk
        assert not app.sse_gate.is_set(), "the second event must still be held by the backend"
        assert received == SSE_FIRST

        app.release_sse()
        while chunk := conn.read_chunk():
            received += chunk

    assert received == SSE_FIRST + SSE_SECOND


WS_UPGRADE = request_bytes(
    "GET",
    "/ws",
    "site.test",
    [
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ],
)


def test_websocket_upgrade_passes_101_and_tunnels_bytes_both_ways(backend, ingress):
    app = backend()
    proxy = ingress(catch_all(app.url))

    with RawConn(proxy.port, timeout=5) as conn:
        conn.send(WS_UPGRADE)
        status, _, headers = conn.read_head()
        lower = {n.lower(): v for n, v in headers}
        assert status == 101
        assert lower["upgrade"].lower() == "websocket"
        assert "upgrade" in lower["connection"].lower()

        # backend → client without being asked
        assert conn.read_exact(len(WS_GREETING)) == WS_GREETING
        # client → backend → client, small then large
        conn.send(b"ping-123")
        assert conn.read_exact(8) == b"ping-123"
        blob = payload(64 * 1024, seed=3)
        conn.send(blob)
        assert conn.read_exact(len(blob)) == blob

    seen = app.last("/ws")
    assert seen.header("Upgrade") == "websocket"
    assert "upgrade" in (seen.header("Connection") or "").lower()
    assert seen.header("Sec-WebSocket-Key") == "dGhlIHNhbXBsZSBub25jZQ=="
    assert seen.header("X-Forwarded-Proto") == "ws"


def test_client_closing_the_tunnel_closes_the_backend_side(backend, ingress):
    app = backend()
    proxy = ingress(catch_all(app.url))

    with RawConn(proxy.port, timeout=5) as conn:
        conn.send(WS_UPGRADE)
        assert conn.read_head()[0] == 101
        assert conn.read_exact(len(WS_GREETING)) == WS_GREETING
        assert app.open_connections == 1

    # Go's ReverseProxy ends an upgraded exchange when either copy direction ends, and closes both sockets.
    eventually(
        lambda: app.open_connections == 0,
        timeout=5,
        message="the backend side of the tunnel is still open after the client closed",
    )


def test_backend_closing_the_tunnel_closes_the_client_side(backend, ingress):
    app = backend()
    proxy = ingress(catch_all(app.url))

    with RawConn(proxy.port, timeout=5) as conn:
        conn.send(WS_UPGRADE)
        assert conn.read_head()[0] == 101
        assert conn.read_exact(len(WS_GREETING)) == WS_GREETING
        app.stop()
        assert conn.wait_closed(timeout=5) == b""
