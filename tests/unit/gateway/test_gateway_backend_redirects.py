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


class _Echo(BaseHTTPRequestHandler):
    """Redirects ``/away?to=URL`` there and ``/here`` to ``/seen``; ``/seen`` answers the headers it got."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path in ("/away", "/here"):
            self.send_response(302)
            self.send_header("Location", query.partition("=")[2] if path == "/away" else "/seen")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = "\n".join(f"{k.lower()}: {v}" for k, v in self.headers.items()).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echoes() -> Iterator[tuple[str, str]]:
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Echo) for _ in range(2)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    yield (f"http://127.0.0.1:{servers[0].server_address[1]}", f"http://127.0.0.1:{servers[1].server_address[1]}")
    for server, thread in zip(servers, threads, strict=True):
        server.shutdown()
        server.server_close()
        thread.join(5)


def _seen(origin: str, pattern: str) -> str:
    async def call() -> str:
        pools = PoolRegistry()
        headers = HeaderPolicy(("Authorization", "Cookie", "X-Other"))
        backend = BackendCall(pattern, [origin], "GET", headers, QueryPolicy(()), pools, TransportOptions())
        raw = [(b"Host", b"gw.test"), (b"Authorization", b"Bearer secret"), (b"Cookie", b"s=1"), (b"X-Other", b"o")]
        outgoing, _ = backend.request_for(Request("GET", "/x", Headers(raw)), {}, b"")
        try:
            response = await backend.send(outgoing)
            body = response.body if isinstance(response.body, bytes) else await response.body.read()
            return body.decode()
        finally:
            pools.close()

    return asyncio.run(call())


def test_credentials_do_not_follow_a_redirect_to_another_host(echoes: tuple[str, str]) -> None:
    # Before the fix the client's Authorization and Cookie went wherever a backend redirected, as no Go client does.
    first, second = echoes
    elsewhere = _seen(first, f"/away?to={second}/seen")
    assert "authorization" not in elsewhere
    assert "cookie" not in elsewhere
    assert "x-other: o" in elsewhere
    same = _seen(first, "/here")
    assert "authorization: Bearer secret" in same
    assert "cookie: s=1" in same


class _Temporary(BaseHTTPRequestHandler):
    """``POST /first`` reads its body and answers 307 to ``/second``, which echoes what it got."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/first":
            self.send_response(307)
            self.send_header("Location", "/second")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def test_a_307_of_a_streamed_body_is_the_answer() -> None:
    # Before the fix the consumed stream was "resent": the backend waited for a body that never came, and the no-op
    # endpoint answered 500 after its whole timeout. Go's client returns the 307 when it cannot replay the body.
    from hanzo_edge.http.body import StreamBody

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Temporary)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"

    async def call() -> int:
        pools = PoolRegistry()
        policy = HeaderPolicy(("Content-Type", "Content-Length"))
        backend = BackendCall("/first", [origin], "POST", policy, QueryPolicy(()), pools, TransportOptions())
        body = StreamBody(None, 7)
        body.feed(b"hello=1")
        body.feed_eof()
        raw = [(b"Host", b"gw.test"), (b"Content-Length", b"7")]
        outgoing, _ = backend.request_for(Request("POST", "/x", Headers(raw), body=body), {}, body)
        try:
            async with asyncio.timeout(3):
                return (await backend.send(outgoing)).status
        finally:
            pools.close()

    try:
        assert asyncio.run(call()) == 307
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
