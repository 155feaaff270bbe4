"""Entrypoint responding timeouts: idle keep-alive connections and slow request heads are cut off."""

from __future__ import annotations

import time

import pytest
from edge_harness import RawConn, catch_all, request_bytes

pytestmark = pytest.mark.integration


def test_idle_timeout_closes_an_idle_keep_alive_connection(backend, ingress):
    app = backend()
    proxy = ingress(catch_all(app.url), "--entrypoints.web.transport.respondingTimeouts.idleTimeout=300ms")

    with RawConn(proxy.port) as conn:
        conn.send(request_bytes("GET", "/first", "site.test"))
        resp = conn.read_response()
        assert resp.status == 200
        assert "close" not in (resp.header("Connection") or "").lower()
        idle_since = time.monotonic()
        leftover = conn.wait_closed(timeout=5)
        idle_for = time.monotonic() - idle_since

    assert leftover == b""
    assert idle_for >= 0.25, f"closed after {idle_for:.3f}s, before the 300ms idle timeout"


def test_idle_timeout_does_not_cut_a_connection_that_keeps_working(backend, ingress):
    app = backend()
    proxy = ingress(catch_all(app.url), "--entrypoints.web.transport.respondingTimeouts.idleTimeout=300ms")

    with RawConn(proxy.port) as conn:
        for i in range(3):
            conn.send(request_bytes("GET", f"/slow?ms=200&i={i}", "site.test"))
            assert conn.read_response().status == 200
    assert len(app.requests_to("/slow")) == 3


def test_read_timeout_cuts_off_a_client_that_stalls_mid_header(backend, ingress):
    app = backend()
    proxy = ingress(catch_all(app.url), "--entrypoints.web.transport.respondingTimeouts.readTimeout=300ms")

    with RawConn(proxy.port) as conn:
        conn.send(b"GET /echo HTTP/1.1\r\nHost: site.test\r\nX-Half: ")
        started = time.monotonic()
        leftover = conn.wait_closed(timeout=5)
        waited = time.monotonic() - started

    assert leftover == b"" or leftover.startswith(b"HTTP/1.1 4"), leftover[:200]
    assert waited >= 0.25, f"closed after {waited:.3f}s, before the 300ms read timeout"
    assert app.requests_to("/echo") == []
