"""Review fix: a backend redirect we cannot follow (``ftp:``, ``mailto:``, a broken URL) fails the backend call
(KrakenD: 500 with its headers), instead of a ValueError escaping into the request pipeline as a traceback."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hanzo_edge.gateway.backend import BackendCall, HeaderPolicy, QueryPolicy
from hanzo_edge.http.errors import UpstreamError
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request
from hanzo_edge.http.pool import PoolRegistry, TransportOptions

LOCATIONS = {"/ftp": "ftp://example.com/x", "/mail": "mailto:a@example.com", "/broken": "http://[::1/x"}


class _Redirector(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", LOCATIONS[self.path])
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.mark.parametrize("path", list(LOCATIONS))
def test_an_unfollowable_redirect_is_an_upstream_error(origin: str, path: str) -> None:
    async def call() -> None:
        pools = PoolRegistry()
        backend = BackendCall(path, [origin], "GET", HeaderPolicy(()), QueryPolicy(()), pools, TransportOptions())
        outgoing, _ = backend.request_for(Request("GET", "/x", Headers([(b"Host", b"gw.test")])), {}, b"")
        try:
            await backend.send(outgoing)
        finally:
            pools.close()

    with pytest.raises(UpstreamError, match="redirect to"):
        asyncio.run(call())
