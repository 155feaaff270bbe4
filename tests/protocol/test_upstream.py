"""The upstream leg: ``UpstreamConnection`` fed response bytes by hand, and ``build_request_head`` (Go ReverseProxy)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from edge_wire import MockSource, MockTransport, async_test

from hanzo_edge.http.body import BodyError, StreamBody
from hanzo_edge.http.errors import UpstreamProtocolError, UpstreamTimeout
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.http.pool import ConnectionPool, PoolRegistry, TransportOptions
from hanzo_edge.http.proxy import ServerTarget, build_request_head
from hanzo_edge.http.upstream import UpstreamConnection

HEAD = b"GET / HTTP/1.1\r\nHost: backend\r\n\r\n"


class FakePool:
    """Records what the connection hands back (a real pool would keep or forget it)."""

    def __init__(self) -> None:
        self.released: list[UpstreamConnection] = []
        self.discarded: list[UpstreamConnection] = []

    def on_release(self, conn: UpstreamConnection, reusable: bool) -> None:
        """The callback a pool hands its connections: what the connection reported, kept or forgotten."""
        (self.released if reusable else self.discarded).append(conn)


def connect(pool: FakePool | None = None) -> tuple[UpstreamConnection, MockTransport]:
    conn = UpstreamConnection(None if pool is None else pool.on_release)
    transport = MockTransport(asyncio.get_running_loop(), ("10.0.0.1", 80))
    transport.protocol = conn
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, transport


async def exchange(
    response_bytes: bytes | list[bytes], *, head_request: bool = False, pool: FakePool | None = None
) -> tuple[Response, UpstreamConnection, MockTransport]:
    conn, transport = connect(pool)
    future = conn.send(HEAD, b"", chunked=False, head_request=head_request)
    for piece in [response_bytes] if isinstance(response_bytes, bytes) else response_bytes:
        conn.data_received(piece)
    response = await asyncio.wait_for(future, 1)
    return response, conn, transport


async def body_of(response: Response) -> bytes:
    body = response.body
    return body if isinstance(body, bytes) else await asyncio.wait_for(body.read(), 1)


# -- writing the request -----------------------------------------------------------------------------------------------


@async_test
async def test_request_head_and_bytes_body_go_out_in_one_write() -> None:
    conn, transport = connect()
    conn.send(HEAD, b"abc", chunked=False, head_request=False)
    assert transport.writes == [HEAD + b"abc"]
    conn.close()


@pytest.mark.parametrize(
    ("body", "framed"), [(b"abc", b"3\r\nabc\r\n0\r\n\r\n"), (b"", b"0\r\n\r\n")], ids=["abc", "empty"]
)
@async_test
async def test_chunked_bytes_body_is_framed(body: bytes, framed: bytes) -> None:
    conn, transport = connect()
    conn.send(HEAD, body, chunked=True, head_request=False)
    assert transport.writes == [HEAD + framed]
    conn.close()


@pytest.mark.parametrize(
    ("chunked", "expected"),
    [(True, [HEAD, b"3\r\nabc\r\n", b"2\r\nde\r\n", b"0\r\n\r\n"]), (False, [HEAD, b"abc", b"de"])],
    ids=["chunked", "content-length"],
)
@async_test
async def test_streamed_request_body_is_relayed_as_it_arrives(chunked: bool, expected: list[bytes]) -> None:
    conn, transport = connect()
    body = StreamBody(MockSource(), None if chunked else 5)
    conn.send(HEAD, body, chunked=chunked, head_request=False)
    body.feed(b"abc")
    body.feed(b"de")
    body.feed_eof()
    assert transport.writes == expected
    conn.close()


@async_test
async def test_full_upstream_socket_pauses_the_request_body_source() -> None:
    conn, _ = connect()
    source = MockSource()
    body = StreamBody(source, 10)
    conn.send(HEAD, body, chunked=False, head_request=False)
    conn.pause_writing()
    conn.resume_writing()
    assert source.calls == ["pause", "resume"]
    conn.close()


# -- reading the response ----------------------------------------------------------------------------------------------


@async_test
async def test_content_length_response() -> None:
    pool = FakePool()
    response, conn, transport = await exchange(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello", pool=pool
    )
    assert response.status == 200
    assert response.headers.raw == [(b"Content-Length", b"5"), (b"X-A", b"1")]
    assert isinstance(response.body, StreamBody)
    assert response.body.length == 5
    assert await body_of(response) == b"hello"
    assert pool.released == [conn]
    assert not transport.closed


@async_test
async def test_response_head_resolves_before_the_body_arrives() -> None:
    conn, _ = connect(FakePool())
    future = conn.send(HEAD, b"", chunked=False, head_request=False)
    conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhel")
    response = await asyncio.wait_for(future, 1)
    assert isinstance(response.body, StreamBody)
    assert not response.body.at_eof
    conn.data_received(b"lo wo")
    conn.data_received(b"rld")
    assert await body_of(response) == b"hello world"


@async_test
async def test_chunked_response_is_reassembled_without_framing() -> None:
    pool = FakePool()
    response, conn, _ = await exchange(
        [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", b"lo\r\n6\r\n world\r\n0\r\n\r\n"], pool=pool
    )
    assert response.headers.raw == []
    assert response.body.length is None  # type: ignore[union-attr]
    assert await body_of(response) == b"hello world"
    assert pool.released == [conn]


@async_test
async def test_close_delimited_response_ends_at_eof() -> None:
    pool = FakePool()
    response, conn, transport = await exchange(b"HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nabc", pool=pool)
    conn.data_received(b"def")
    assert conn.eof_received() is None  # let the transport close
    assert await body_of(response) == b"abcdef"
    assert pool.released == []
    assert transport.closed


@async_test
async def test_chunked_response_truncated_by_eof_is_an_error() -> None:
    # Go's ReverseProxy sees "unexpected EOF" and aborts: the client must never get a clean end of body.
    response, conn, transport = await exchange(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    conn.eof_received()
    transport.close()
    await asyncio.sleep(0)
    with pytest.raises(BodyError):
        await body_of(response)


@async_test
async def test_content_length_response_truncated_by_close_is_an_error() -> None:
    response, conn, transport = await exchange(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
    conn.eof_received()
    transport.close()
    await asyncio.sleep(0)
    with pytest.raises(BodyError):
        await body_of(response)


@async_test
async def test_head_response_with_content_length_completes_without_body() -> None:
    pool = FakePool()
    response, conn, transport = await exchange(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", head_request=True, pool=pool
    )
    assert response.headers.raw == [(b"Content-Length", b"5")]
    assert response.body.length == 5  # type: ignore[union-attr]
    assert response.body.at_eof  # type: ignore[union-attr]
    assert await body_of(response) == b""
    assert pool.released == [conn]
    # the next exchange on the same connection parses normally
    future = conn.send(HEAD, b"", chunked=False, head_request=False)
    conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert await body_of(await asyncio.wait_for(future, 1)) == b"ok"
    assert pool.released == [conn, conn]
    assert not transport.closed


@pytest.mark.parametrize(
    "head",
    [b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\nX-A: 1\r\n\r\n"],
    ids=["204", "304-with-content-length"],
)
@async_test
async def test_bodiless_status_completes_and_the_connection_is_reused(head: bytes) -> None:
    pool = FakePool()
    response, conn, _ = await exchange(head, pool=pool)
    assert response.body.at_eof  # type: ignore[union-attr]
    assert await body_of(response) == b""
    assert pool.released == [conn]
    future = conn.send(HEAD, b"", chunked=False, head_request=False)
    conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert await body_of(await asyncio.wait_for(future, 1)) == b"ok"


@pytest.mark.parametrize(
    "pieces",
    [
        [b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"],
        [b"HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"],
    ],
    ids=["one-read", "two-reads"],
)
@async_test
async def test_interim_100_continue_is_skipped(pieces: list[bytes]) -> None:
    response, _, _ = await exchange(pieces)
    assert response.status == 200
    assert response.headers.raw == [(b"Content-Length", b"2")]
    assert await body_of(response) == b"ok"


@async_test
async def test_hop_by_hop_and_connection_listed_headers_are_removed() -> None:
    pool = FakePool()
    response, _, transport = await exchange(
        b"HTTP/1.1 200 OK\r\n"
        b"Connection: X-Foo, close\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n"
        b"Proxy-Authenticate: Basic\r\nTrailer: X-T\r\nUpgrade: h2c\r\nTe: trailers\r\n"
        b"X-Foo: 1\r\nX-Bar: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        pool=pool,
    )
    assert response.headers.raw == [(b"X-Bar", b"2")]
    assert await body_of(response) == b"ok"
    assert pool.released == []  # Connection: close
    assert transport.closed


@async_test
async def test_trailers_are_dropped() -> None:
    response, _, _ = await exchange(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n2\r\nok\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    assert await body_of(response) == b"ok"
    assert response.headers.raw == [(b"X-A", b"1")]


@async_test
async def test_http10_response_is_not_reused() -> None:
    pool = FakePool()
    response, _, transport = await exchange(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", pool=pool)
    assert await body_of(response) == b"ok"
    assert pool.released == []
    assert transport.closed


MALFORMED_RESPONSES = {
    "bad-status-code": b"HTTP/1.1 abc OK\r\n\r\n",
    "not-http": b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    "space-before-colon": b"HTTP/1.1 200 OK\r\nX-A : 1\r\nContent-Length: 0\r\n\r\n",
    "content-length-and-chunked": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
}


@pytest.mark.parametrize("data", list(MALFORMED_RESPONSES.values()), ids=list(MALFORMED_RESPONSES))
@async_test
async def test_malformed_response_fails_with_protocol_error(data: bytes) -> None:
    conn, transport = connect(FakePool())
    future = conn.send(HEAD, b"", chunked=False, head_request=False)
    conn.data_received(data)
    with pytest.raises(UpstreamProtocolError):
        await asyncio.wait_for(future, 1)
    assert transport.closed


@async_test
async def test_bad_chunk_in_response_body_fails_the_body() -> None:
    response, _, transport = await exchange(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\nzz\r\n")
    with pytest.raises(BodyError):
        await body_of(response)
    assert transport.closed


@async_test
async def test_backend_closing_before_the_head_is_a_protocol_error() -> None:
    conn, transport = connect(FakePool())
    future = conn.send(HEAD, b"", chunked=False, head_request=False)
    conn.data_received(b"HTTP/1.1 200 OK\r\nContent-")
    conn.eof_received()
    transport.close()
    with pytest.raises(UpstreamProtocolError):
        await asyncio.wait_for(future, 1)


@async_test
async def test_send_on_a_closed_connection_fails_at_once() -> None:
    conn, _ = connect()
    conn.close()
    future = conn.send(HEAD, b"", chunked=False, head_request=False)
    with pytest.raises(UpstreamProtocolError):
        future.result()


@async_test
async def test_response_header_timeout() -> None:
    conn, transport = connect(FakePool())
    future = conn.send(HEAD, b"", chunked=False, head_request=False, response_header_timeout=0.01)
    with pytest.raises(UpstreamTimeout):
        await asyncio.wait_for(future, 2)
    assert transport.closed


@async_test
async def test_response_header_timeout_keeps_running_through_100_continue() -> None:
    # Go's ResponseHeaderTimeout waits for the final head; 1xx interim responses do not stop it.
    conn, _ = connect(FakePool())
    future = conn.send(HEAD, b"", chunked=False, head_request=False, response_header_timeout=0.02)
    conn.data_received(b"HTTP/1.1 100 Continue\r\n\r\n")
    with pytest.raises(UpstreamTimeout):
        await asyncio.wait_for(future, 0.2)


@async_test
async def test_response_before_the_request_body_ends_retires_the_connection() -> None:
    pool = FakePool()
    conn, transport = connect(pool)
    body = StreamBody(MockSource(), 10)
    future = conn.send(HEAD, body, chunked=False, head_request=False)
    body.feed(b"abc")
    conn.data_received(b"HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 0\r\n\r\n")
    response = await asyncio.wait_for(future, 1)
    assert response.status == 413
    assert pool.released == []
    assert transport.closed


@async_test
async def test_switching_protocols_sets_a_tunnel() -> None:
    pool = FakePool()
    response, conn, _ = await exchange(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-A: 1\r\n\r\nearly",
        pool=pool,
    )
    assert response.status == 101
    assert response.headers.raw == [(b"Upgrade", b"websocket"), (b"X-A", b"1")]
    assert response.tunnel is not None
    assert pool.discarded == [conn]  # an upgraded connection never goes back to the pool
    conn.data_received(b"more")
    client = MockTransport()
    response.tunnel.attach(client)
    assert client.writes == [b"early", b"more"]
    conn.data_received(b"live")
    assert client.writes[-1] == b"live"


# -- the pool and the release callback it hands its connections -------------------------------------------------------

OK_5 = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


async def _settle(rounds: int = 5) -> None:
    """Let ``call_soon`` callbacks (MockTransport's ``connection_lost``) run."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class _MockDialPool(ConnectionPool):
    """A real pool whose dials make connections on mock transports (its own callback wired as ``_dial`` does).

    A subclass, not a monkeypatched ``ConnectionPool._dial``: the compiled build's class can't be patched."""

    def __init__(self, transports: list[MockTransport], options: TransportOptions) -> None:
        super().__init__("http", "backend", 80, options)
        self.transports = transports

    async def _dial(self) -> UpstreamConnection:
        conn = UpstreamConnection(self.on_release)
        transport = MockTransport(asyncio.get_running_loop(), ("10.0.0.1", 80))
        transport.protocol = conn
        conn.connection_made(transport)  # type: ignore[arg-type]
        self.transports.append(transport)
        return conn


def mock_pool(**options: Any) -> tuple[ConnectionPool, list[MockTransport]]:
    """A :class:`_MockDialPool` with ``options`` and the list its mock transports go to."""
    transports: list[MockTransport] = []
    return _MockDialPool(transports, TransportOptions(**options)), transports


async def serve(conn: UpstreamConnection, response_bytes: bytes | None = OK_5) -> Response:
    """One exchange on ``conn``, fed ``response_bytes`` (None: a real backend answers), its body read to the end."""
    future = conn.send(HEAD, b"", chunked=False, head_request=False)
    if response_bytes is not None:
        conn.data_received(response_bytes)
    response = await asyncio.wait_for(future, 1)
    await body_of(response)
    return response


@async_test
async def test_a_dialled_connection_reports_to_its_pool_and_is_reused() -> None:
    # A real socket: ConnectionPool._dial hands the connection the pool's own callback.
    requests = 0
    handlers: list[asyncio.Task[None]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                requests += 1
                writer.write(OK_5)
        except asyncio.IncompleteReadError:
            pass  # the pool closed the connection
        finally:
            writer.close()

    def backend(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.ensure_future(handle(reader, writer)))

    server = await asyncio.start_server(backend, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = ConnectionPool("http", "127.0.0.1", port, TransportOptions())
    try:
        first = await pool.acquire()
        assert (pool.active, pool.idle) == (1, 0)
        await serve(first, None)
        assert (pool.active, pool.idle) == (0, 1)
        again = await pool.acquire()
        assert again is first
        await serve(again, None)
        assert (pool.active, pool.idle, requests) == (0, 1, 2)
    finally:
        pool.close()
        server.close()
        await asyncio.wait_for(asyncio.gather(*handlers), 5)
        await server.wait_closed()
    assert first.closed


@async_test
async def test_max_idle_conns_per_host_closes_the_extra_connection_and_counts_it_once() -> None:
    pool, transports = mock_pool(max_idle_conns_per_host=1)
    one, two = await pool.acquire(), await pool.acquire()
    assert pool.active == 2
    await serve(one)
    await serve(two)
    assert (pool.active, pool.idle) == (0, 1)
    assert [t.closed for t in transports] == [False, True]
    await _settle()  # the closed socket's connection_lost must not count it a second time
    assert (pool.active, pool.idle) == (0, 1)
    assert pool.acquire_idle() is one


@async_test
async def test_an_idle_connection_the_backend_closes_leaves_the_pool() -> None:
    pool, transports = mock_pool()
    conn = await pool.acquire()
    await serve(conn)
    assert pool.idle == 1
    transports[0].close()  # the backend went away while the connection was idle
    await _settle()
    assert (pool.active, pool.idle) == (0, 0)
    assert pool.acquire_idle() is None


@async_test
async def test_a_failed_exchange_is_forgotten_once() -> None:
    pool, transports = mock_pool()
    conn = await pool.acquire()
    future = conn.send(HEAD, b"", chunked=False, head_request=False)
    conn.data_received(b"NOT HTTP\r\n\r\n")
    with pytest.raises(UpstreamProtocolError):
        await asyncio.wait_for(future, 1)
    assert (pool.active, pool.idle) == (0, 0)
    await _settle()
    conn.close()  # closing again reports nothing more
    assert (pool.active, pool.idle) == (0, 0)
    assert transports[0].closed


@async_test
async def test_connection_close_and_upgrade_leave_the_pool() -> None:
    pool, _ = mock_pool()
    closing = await pool.acquire()
    await serve(closing, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
    upgraded = await pool.acquire()
    assert upgraded is not closing
    future = upgraded.send(HEAD, b"", chunked=False, head_request=False)
    upgraded.data_received(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    response = await asyncio.wait_for(future, 1)
    assert response.tunnel is not None
    assert not upgraded.closed  # the socket now belongs to the tunnel
    await _settle()
    assert (pool.active, pool.idle) == (0, 0)
    upgraded.close()  # the tunnel ends: the pool is not told twice
    await _settle()
    assert (pool.active, pool.idle) == (0, 0)


@async_test
async def test_sweep_closes_connections_idle_past_the_timeout() -> None:
    pool, transports = mock_pool(idle_conn_timeout=90.0)
    old, fresh = await pool.acquire(), await pool.acquire()
    await serve(old)
    await serve(fresh)
    old.idle_since, fresh.idle_since = 0.0, 100.0
    pool.sweep(now=120.0)
    assert [t.closed for t in transports] == [True, False]
    await _settle()
    assert (pool.active, pool.idle) == (0, 1)
    pool.close()
    assert transports[1].closed
    await _settle()
    assert (pool.active, pool.idle) == (0, 0)


# -- build_request_head ------------------------------------------------------------------------------------------------


def make_request(
    headers: list[tuple[bytes, bytes]],
    *,
    method: str = "GET",
    path: str = "/p",
    query: str = "",
    body: bytes | StreamBody = b"",
    upgrade: bool = False,
) -> Request:
    return Request(
        method,
        path,
        Headers(list(headers)),
        path=path,
        query=query,
        client_ip="10.0.0.9",
        body=body,
        upgrade=upgrade,
    )


def test_request_head_keeps_end_to_end_headers_and_appends_x_forwarded_for() -> None:
    req = make_request([(b"Host", b"example.com"), (b"Accept", b"*/*")], query="q=1")
    head, chunked = build_request_head(req, b"10.0.0.1:8080", True, "")
    assert head == b"GET /p?q=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nX-Forwarded-For: 10.0.0.9\r\n\r\n"
    assert chunked is False


def test_request_head_drops_hop_by_hop_headers() -> None:
    req = make_request(
        [
            (b"Host", b"example.com"),
            (b"Connection", b"keep-alive"),
            (b"Keep-Alive", b"timeout=5"),
            (b"Proxy-Connection", b"keep-alive"),
            (b"Proxy-Authorization", b"Basic eA=="),
            (b"Te", b"gzip"),
            (b"Trailer", b"X-T"),
            (b"Upgrade", b"h2c"),
            (b"X-End", b"1"),
        ]
    )
    head, _ = build_request_head(req, b"backend", True, "")
    assert head == b"GET /p HTTP/1.1\r\nHost: example.com\r\nX-End: 1\r\nX-Forwarded-For: 10.0.0.9\r\n\r\n"


def test_request_head_keeps_te_trailers() -> None:
    # Go's ReverseProxy keeps "Te: trailers" (gRPC needs it) while dropping other Te values.
    req = make_request([(b"Host", b"example.com"), (b"Te", b"trailers")])
    head, _ = build_request_head(req, b"backend", True, "")
    assert b"\r\nte: trailers\r\n" in head.lower()


def test_request_head_drops_connection_listed_headers_but_not_managed_ones() -> None:
    req = make_request(
        [
            (b"Host", b"example.com"),
            (b"Connection", b"X-Foo, X-Forwarded-Proto, X-Real-Ip"),
            (b"X-Foo", b"1"),
            (b"X-Forwarded-Proto", b"http"),
            (b"X-Real-Ip", b"10.0.0.9"),
            (b"X-Keep", b"2"),
        ]
    )
    head, _ = build_request_head(req, b"backend", True, "")
    assert head == (
        b"GET /p HTTP/1.1\r\nHost: example.com\r\nX-Forwarded-Proto: http\r\nX-Real-Ip: 10.0.0.9\r\nX-Keep: 2\r\n"
        b"X-Forwarded-For: 10.0.0.9\r\n\r\n"
    )


def test_request_head_honours_every_connection_header() -> None:
    req = make_request(
        [
            (b"Host", b"example.com"),
            (b"Connection", b"X-A"),
            (b"Connection", b"X-B"),
            (b"X-A", b"1"),
            (b"X-B", b"2"),
            (b"X-C", b"3"),
        ]
    )
    head, _ = build_request_head(req, b"backend", True, "")
    assert head == b"GET /p HTTP/1.1\r\nHost: example.com\r\nX-C: 3\r\nX-Forwarded-For: 10.0.0.9\r\n\r\n"


@pytest.mark.parametrize(
    ("pass_host", "host"), [(True, b"example.com"), (False, b"10.0.0.1:8080")], ids=["pass-host", "server-host"]
)
def test_request_head_host(pass_host: bool, host: bytes) -> None:
    req = make_request([(b"Host", b"example.com")])
    head, _ = build_request_head(req, b"10.0.0.1:8080", pass_host, "")
    assert head.split(b"\r\n")[1] == b"Host: " + host


def test_request_head_without_client_host_uses_the_server_host() -> None:
    req = make_request([])
    head, _ = build_request_head(req, b"10.0.0.1:8080", True, "")
    assert head.split(b"\r\n")[1] == b"Host: 10.0.0.1:8080"


def test_request_head_appends_client_ip_to_prior_x_forwarded_for() -> None:
    req = make_request([(b"Host", b"h"), (b"X-Forwarded-For", b"1.1.1.1"), (b"X-Forwarded-For", b"2.2.2.2, 3.3.3.3")])
    head, _ = build_request_head(req, b"backend", True, "")
    lines = head.split(b"\r\n")
    assert [line for line in lines if line.lower().startswith(b"x-forwarded-for")] == [
        b"X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.9"
    ]


@pytest.mark.parametrize(
    ("method", "body", "framing", "chunked"),
    [
        ("GET", b"", None, False),
        ("POST", b"", b"Content-Length: 0", False),
        ("POST", b"abc", b"Content-Length: 3", False),
        ("POST", StreamBody(None, 7), b"Content-Length: 7", False),
        ("POST", StreamBody(None, None), b"Transfer-Encoding: chunked", True),
    ],
    ids=["get-no-body", "post-empty", "post-bytes", "stream-with-length", "stream-unknown-length"],
)
def test_request_head_body_framing(method: str, body: bytes | StreamBody, framing: bytes | None, chunked: bool) -> None:
    # the client's own framing headers never pass through: the proxy re-frames the body
    req = make_request(
        [(b"Host", b"h"), (b"Content-Length", b"99"), (b"Transfer-Encoding", b"chunked")], method=method, body=body
    )
    head, is_chunked = build_request_head(req, b"backend", True, "")
    lines = head.split(b"\r\n")
    framing_lines = [ln for ln in lines if ln.lower().startswith((b"content-length:", b"transfer-encoding:"))]
    assert framing_lines == ([] if framing is None else [framing])
    assert is_chunked is chunked


def test_request_head_for_a_websocket_upgrade_keeps_upgrade() -> None:
    req = make_request(
        [(b"Host", b"h"), (b"Connection", b"Upgrade"), (b"Upgrade", b"websocket"), (b"Sec-WebSocket-Key", b"k")],
        upgrade=True,
    )
    head, _ = build_request_head(req, b"backend", True, "")
    assert head == (
        b"GET /p HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Key: k\r\nX-Forwarded-For: 10.0.0.9\r\n"
        b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("url", "preserve", "path", "query", "target"),
    [
        ("http://10.0.0.1:8080/api/", True, "/users", "x=1", b"/api/users?x=1"),
        ("http://10.0.0.1:8080/api", True, "/users", "", b"/api/users"),
        ("http://10.0.0.1:8080/api/", True, "/", "", b"/api/"),
        ("http://10.0.0.1:8080/api/", False, "/users", "", b"/users"),
        ("http://10.0.0.1:8080", True, "/users", "", b"/users"),
    ],
    ids=["preserve-trailing-slash", "preserve-no-slash", "preserve-root", "path-ignored", "no-server-path"],
)
def test_server_url_path_is_joined_only_with_preserve_path(
    url: str, preserve: bool, path: str, query: str, target: bytes
) -> None:
    server = ServerTarget(url, PoolRegistry(), TransportOptions(), preserve_path=preserve)
    assert server.host_header == b"10.0.0.1:8080"
    req = make_request([(b"Host", b"h")], path=path, query=query)
    head, _ = build_request_head(req, server.host_header, server.pass_host_header, server.path_prefix)
    assert head.startswith(b"GET " + target + b" HTTP/1.1\r\n")


def test_request_head_with_a_tracing_traceparent_replaces_the_clients() -> None:
    incoming = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    ours = b"00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01"
    req = make_request([(b"Host", b"a"), (b"traceparent", incoming), (b"tracestate", b"k=v")])
    head, _ = build_request_head(req, b"b", True, "", ours)
    assert head.count(b"traceparent") == 1
    assert b"traceparent: " + ours + b"\r\n" in head
    assert b"tracestate: k=v\r\n" in head
    head, _ = build_request_head(make_request([(b"Host", b"a")]), b"b", True, "", ours)
    assert b"traceparent: " + ours + b"\r\n" in head, "tracing starts a trace when the client sent none"
