"""Issue 9's wire defects, bytes in → bytes out: trailers, absolute-form targets, Host validation, upgrades without
``Connection: upgrade``, request lines, bounded backend heads and ``forwardedHeaders.connection``.

Each test here failed before its fix. Expected behaviour is Go's ``net/http`` server and transport and Traefik v3.6's
entrypoint (``/work/shared/reference/traefik.md`` §1.2).
"""

from __future__ import annotations

import asyncio
import base64

import pytest
from edge_wire import FIXED_DATE, Client, MockTransport, async_test, make_settings, split_at, use_fixed_date

from hanzo_edge.http.body import BodyError, StreamBody
from hanzo_edge.http.errors import UpstreamProtocolError
from hanzo_edge.http.forwarded import ForwardedHeaders
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.http.proxy import build_request_head
from hanzo_edge.http.settings import EntrypointSettings
from hanzo_edge.http.upstream import UpstreamConnection

D = FIXED_DATE


@pytest.fixture(autouse=True)
def _fixed_date(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fixed_date(monkeypatch)


def error_answer(status_line: bytes) -> bytes:
    """A connection-level error answer (Go's text, then close)."""
    text = status_line
    return (
        b"HTTP/1.1 "
        + status_line
        + b"\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(text)
        + text
    )


BAD_REQUEST = error_answer(b"400 Bad Request")
TOO_LARGE = error_answer(b"431 Request Header Fields Too Large")
NOT_SUPPORTED = error_answer(b"505 HTTP Version Not Supported")
OK = b"HTTP/1.1 200 OK\r\n" + D + b"Content-Length: 2\r\n\r\nok"


class Recorder:
    """A handler that reads the whole request body and records the head before and after reading it."""

    def __init__(self) -> None:
        self.before: list[list[tuple[bytes, bytes]]] = []
        self.after: list[list[tuple[bytes, bytes]]] = []
        self.requests: list[Request] = []
        self.bodies: list[bytes] = []

    async def __call__(self, req: Request) -> Response:
        self.requests.append(req)
        self.before.append(list(req.headers.raw))
        body = await req.body.read() if isinstance(req.body, StreamBody) else req.body
        self.bodies.append(body)
        self.after.append(list(req.headers.raw))
        return Response(200, Headers(), b"ok")


def upstream_head(req: Request) -> bytes:
    """What the proxy would send upstream for ``req`` (passHostHeader true)."""
    return build_request_head(req, b"backend:80", True, "")[0]


def field_lines(head: bytes) -> list[bytes]:
    return head.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]


async def feed(c: Client, chunks: list[bytes]) -> None:
    """Send ``chunks`` one by one, letting the loop run between them, as long as the connection reads."""
    for chunk in chunks:
        if c.closed:
            break
        c.send(chunk)
        await c.settle(3)


# -- 1. trailers never join the request head ---------------------------------------------------------------------------

FORGED_TRAILERS = (
    b"Host: admin.test\r\n"
    b"X-Real-Ip: 6.6.6.6\r\n"
    b"X-Forwarded-For: 6.6.6.6\r\n"
    b"Authorization: Basic " + base64.b64encode(b"test:test") + b"\r\n"
    b"Expect: 100-continue\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
)
TRAILER_REQUEST = (
    b"POST /upload HTTP/1.1\r\nHost: public.test\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3\r\nabc\r\n2\r\nde\r\n0\r\n" + FORGED_TRAILERS + b"\r\n"
)
BODY_END = TRAILER_REQUEST.index(b"0\r\n")


@pytest.mark.parametrize(
    "cuts",
    [
        [],  # the whole request in one packet: the trailers used to join the head before the handler ran
        [TRAILER_REQUEST.index(b"\r\n\r\n") + 4],  # head, then body and trailers
        [BODY_END + 3],  # everything up to the last chunk, then the trailers
        [BODY_END + 3, BODY_END + 20, BODY_END + 50],  # trailers split mid-field
        list(range(1, len(TRAILER_REQUEST))),  # one byte at a time
    ],
    ids=["one-packet", "head-then-rest", "trailers-apart", "trailers-split", "bytewise"],
)
@async_test
async def test_trailers_never_reach_the_head_the_router_or_the_backend(cuts: list[int]) -> None:
    handler = Recorder()
    c = Client(handler)
    await feed(c, split_at(TRAILER_REQUEST, cuts))
    await c.until(lambda: c.output == OK)
    assert not c.closed, "trailers are not an error: the connection stays usable"
    (req,) = handler.requests
    assert c.seen == [req]
    assert req.host == "public.test"
    assert handler.bodies == [b"abcde"]
    expected = [
        (b"Host", b"public.test"),
        (b"Transfer-Encoding", b"chunked"),
        (b"X-Forwarded-Proto", b"http"),
        (b"X-Forwarded-Host", b"public.test"),
        (b"X-Forwarded-Port", b"80"),
        (b"X-Forwarded-Server", b"edge-test"),
        (b"X-Real-Ip", b"127.0.0.1"),
    ]
    assert handler.before == [expected]
    assert handler.after == [expected], "the head must not grow while the body is read"
    assert req.headers.raw == expected
    upstream = upstream_head(req)
    assert b"admin.test" not in upstream
    assert b"6.6.6.6" not in upstream
    assert b"Authorization" not in upstream
    assert field_lines(upstream).count(b"X-Real-Ip: 127.0.0.1") == 1
    assert b"X-Forwarded-For: 127.0.0.1\r\n" in upstream
    await c.aclose()


@async_test
async def test_a_pipelined_request_after_trailers_starts_with_a_clean_head() -> None:
    handler = Recorder()
    c = Client(handler)
    c.send(TRAILER_REQUEST + b"GET /next HTTP/1.1\r\nHost: public.test\r\n\r\n")
    await c.until(lambda: c.output == OK + OK)
    assert [r.path for r in handler.requests] == ["/upload", "/next"]
    assert handler.requests[1].headers.get_all("Host") == ["public.test"]
    assert b"6.6.6.6" not in upstream_head(handler.requests[1])
    await c.aclose()


@async_test
async def test_trailers_count_against_max_header_bytes() -> None:
    handler = Recorder()
    c = Client(handler, settings=make_settings(max_header_bytes=1024))
    trailers = b"".join(b"X-T-%d: %s\r\n" % (i, b"v" * 60) for i in range(40))  # ~2.8 KB of small fields
    c.send(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n" + trailers + b"\r\n")
    await c.until(lambda: c.closed)
    assert c.output == TOO_LARGE
    await c.aclose()


@async_test
async def test_one_endless_trailer_line_is_cut_off_at_the_bound() -> None:
    # httptools buffers a field until its line ends: without a bound on bytes that make no progress, a client could
    # stream an unterminated trailer value into memory until readTimeout.
    handler = Recorder()
    c = Client(handler, settings=make_settings(max_header_bytes=1024))
    c.send(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-Endless: ")
    for _ in range(100):
        if c.closed:
            break
        c.send(b"v" * 512)
        await c.settle(2)
    assert c.closed
    assert c.output == TOO_LARGE
    await c.aclose()


@async_test
async def test_one_endless_header_line_is_cut_off_at_the_bound() -> None:
    c = Client(Recorder(), settings=make_settings(max_header_bytes=1024))
    c.send(b"GET / HTTP/1.1\r\nHost: a\r\nX-Endless: ")
    sent = 0
    for _ in range(100):
        if c.closed:
            break
        c.send(b"v" * 512)
        sent += 512
        await c.settle(2)
    assert c.output == TOO_LARGE
    assert sent <= 1024 + 4096 + 512, "the connection closes within one read of maxHeaderBytes + 4 KiB"
    await c.aclose()


@async_test
async def test_a_head_within_the_bound_may_arrive_in_many_packets() -> None:
    c = Client(Recorder(), settings=make_settings(max_header_bytes=1024))
    request = b"GET / HTTP/1.1\r\nHost: a\r\nX-Fill: " + b"v" * 900 + b"\r\n\r\n"
    await feed(c, split_at(request, list(range(16, len(request), 16))))
    await c.until(lambda: c.output == OK)
    await c.aclose()


# -- 2. absolute-form request targets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "authority"),
    [
        (b"http://public.test/x?q=1", b"public.test"),
        (b"http://public.test:8080/x?q=1", b"public.test:8080"),
        (b"http://user@public.test/x?q=1", b"public.test"),
        (b"http://[::1]:8080/x?q=1", b"[::1]:8080"),
    ],
    ids=["host", "port", "userinfo", "ipv6"],
)
@async_test
async def test_absolute_form_authority_becomes_the_host_everywhere(target: bytes, authority: bytes) -> None:
    handler = Recorder()
    c = Client(handler)
    c.send(b"GET " + target + b" HTTP/1.1\r\nHost: admin.test\r\n\r\n")
    await c.until(lambda: c.output == OK)
    (req,) = handler.requests
    canonical = authority.decode().rsplit(":", 1)[0] if b"]" not in authority else "::1"
    assert req.host == canonical.lower()
    assert req.path == "/x"
    assert req.query == "q=1"
    assert req.headers.get_all("Host") == [authority.decode()]
    assert req.headers.get_all("X-Forwarded-Host") == [authority.decode()]
    upstream = upstream_head(req)
    assert upstream.startswith(b"GET /x?q=1 HTTP/1.1\r\nHost: " + authority + b"\r\n")
    assert b"admin.test" not in upstream
    await c.aclose()


@async_test
async def test_absolute_form_http10_without_host_gets_the_authority_as_host() -> None:
    handler = Recorder()
    c = Client(handler)
    c.send(b"GET http://public.test/x HTTP/1.0\r\n\r\n")
    await c.until(lambda: c.closed)
    (req,) = handler.requests
    assert req.host == "public.test"
    assert upstream_head(req).startswith(b"GET /x HTTP/1.1\r\nHost: public.test\r\n")
    await c.aclose()


@async_test
async def test_absolute_form_still_needs_a_valid_host_header() -> None:
    # Go validates the Host header (present and well-formed for HTTP/1.1) even when the URL's authority wins.
    for head in (
        b"GET http://public.test/x HTTP/1.1\r\n\r\n",
        b"GET http://public.test/x HTTP/1.1\r\nHost: x/evil\r\n\r\n",
    ):
        handler = Recorder()
        c = Client(handler)
        c.send(head)
        await c.until(lambda c=c: c.closed)
        assert c.output == BAD_REQUEST, head
        assert handler.requests == []
        await c.aclose()


# -- 3. Host validation ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [b"x/evil", b"u@x", b"a b", b"a\tb", b'a"b', b"a<b>", b"a\\b", b"caf\xc3\xa9.test", b"a{b}", b"a|b", b"a^b"],
)
@async_test
async def test_a_host_go_rejects_gets_400_and_is_never_routed(host: bytes) -> None:
    handler = Recorder()
    c = Client(handler)
    c.send(b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    await c.until(lambda: c.closed)
    assert c.output == BAD_REQUEST
    assert c.seen == []
    assert handler.requests == []
    await c.aclose()


@pytest.mark.parametrize(
    ("host", "canonical"),
    [
        (b"Example.COM", "example.com"),
        (b"a_b.test:8080", "a_b.test"),
        (b"[::1]:8080", "::1"),
        (b"[fe80::1%25eth0]", "fe80::1%25eth0"),
        (b"x.test.", "x.test"),
        (b"!$&'()*+,;=-._~", "!$&'()*+,;=-._~"),
        (b"", ""),
    ],
)
@async_test
async def test_every_host_byte_go_allows_is_served(host: bytes, canonical: str) -> None:
    handler = Recorder()
    c = Client(handler)
    c.send(b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    await c.until(lambda: c.output == OK)
    assert handler.requests[0].host == canonical
    await c.aclose()


@async_test
async def test_a_bad_host_on_a_pipelined_request_is_answered_after_the_good_one() -> None:
    handler = Recorder()
    c = Client(handler)
    c.send(b"GET /1 HTTP/1.1\r\nHost: ok.test\r\n\r\nGET /2 HTTP/1.1\r\nHost: u@x\r\n\r\n")
    await c.until(lambda: c.closed)
    assert c.output == OK + BAD_REQUEST
    assert [r.path for r in handler.requests] == ["/1"]
    await c.aclose()


# -- 4. Upgrade needs Connection: upgrade ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n",
        b"Connection: keep-alive\r\nUpgrade: websocket\r\n",
        b"Connection: HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n",
    ],
    ids=["no-connection", "connection-without-upgrade", "h2c-without-upgrade-token"],
)
@async_test
async def test_upgrade_without_connection_upgrade_is_an_ordinary_request(fields: bytes) -> None:
    handler = Recorder()
    c = Client(handler)
    c.send(b"GET / HTTP/1.1\r\nHost: a\r\n" + fields + b"\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n")
    await c.until(lambda: c.output == OK + OK)
    assert not c.closed, "an ordinary request keeps the connection"
    req = handler.requests[0]
    assert req.upgrade is False
    assert req.headers.get("Connection") is None
    upstream = upstream_head(req)
    assert b"Upgrade" not in upstream
    assert b"HTTP2-Settings" not in upstream
    assert b"Connection" not in upstream
    assert [r.path for r in handler.requests] == ["/", "/next"]
    await c.aclose()


@async_test
async def test_a_real_upgrade_still_goes_upstream_as_one() -> None:
    handler = Recorder()
    c = Client(handler)
    c.send(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n")
    await c.until(lambda: bool(handler.requests))
    req = handler.requests[0]
    assert req.upgrade is True
    assert req.headers.get("X-Forwarded-Proto") == "ws"
    upstream = upstream_head(req)
    assert upstream.endswith(b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
    await c.aclose()


# -- 5. request lines --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "chunks",
    [
        [b"GET /a\r\n"],
        [b"GET /a\n"],
        [b"GET /a", b"\r\n"],
        [b"GET /a\r", b"\n"],
        [b"G", b"ET /a", b"\r", b"\n"],
        [b"\r\nGET /a\r\n"],
        [b"GET /a\r\n\r\n"],
        [b"GET /a\r\nHost: x\r\n"],
    ],
    ids=["crlf", "lf", "split", "split-crlf", "bytewise", "leading-crlf", "blank-line", "with-header"],
)
@async_test
async def test_a_request_line_without_version_gets_400_at_once(chunks: list[bytes]) -> None:
    handler = Recorder()
    c = Client(handler)
    await feed(c, chunks)
    await c.until(lambda: c.closed, rounds=50)
    assert c.output == BAD_REQUEST
    assert handler.requests == []
    await c.aclose()


@pytest.mark.parametrize("separate", [False, True], ids=["same-packet", "next-packet"])
@async_test
async def test_a_versionless_line_after_a_good_request_gets_400_after_its_answer(separate: bool) -> None:
    handler = Recorder()
    c = Client(handler)
    good = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
    await feed(c, [good, b"GET /a\r\n"] if separate else [good + b"GET /a\r\n"])
    await c.until(lambda: c.closed, rounds=50)
    assert c.output == OK + BAD_REQUEST
    await c.aclose()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /a HTTP/1.1\r\nX: GET /a\r\nHost: a\r\n\r\n",
        b"GET /HTTP/1.1 HTTP/1.1\r\nHost: a\r\n\r\n",
    ],
    ids=["plain", "header-looks-like-a-line", "url-looks-like-a-version"],
)
@async_test
async def test_versioned_heads_split_anywhere_are_never_mistaken_for_http09(request_bytes: bytes) -> None:
    for cut in range(1, len(request_bytes)):
        handler = Recorder()
        c = Client(handler)
        await feed(c, split_at(request_bytes, [cut, cut + 1]))
        await c.until(lambda c=c: c.output == OK)
        assert not c.closed, cut
        await c.aclose()


@async_test
async def test_http2_request_line_gets_505() -> None:
    c = Client(Recorder())
    c.send(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n")
    await c.until(lambda: c.closed)
    assert c.output == NOT_SUPPORTED
    assert c.seen == []
    await c.aclose()


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET http://public.test/ HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    ],
    ids=["origin-form", "absolute-form", "pipelined", "repeated"],
)
@async_test
async def test_http11_without_exactly_one_host_gets_400(data: bytes) -> None:
    handler = Recorder()
    c = Client(handler)
    c.send(data)
    await c.until(lambda: c.closed)
    assert c.output.endswith(BAD_REQUEST)
    assert c.output in (BAD_REQUEST, OK + BAD_REQUEST)
    assert all(r.path == "/" for r in handler.requests)
    await c.aclose()


# -- 7. forwardedHeaders.connection ------------------------------------------------------------------------------------


def kept_settings(*names: str) -> EntrypointSettings:
    return make_settings(forwarded=ForwardedHeaders(server="edge-test", connection=names))


@async_test
async def test_connection_listed_headers_in_forwarded_headers_connection_reach_the_router_not_the_backend() -> None:
    handler = Recorder()
    c = Client(handler, settings=kept_settings("X-Custom"))
    c.send(
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: x-custom, X-Other, X-Real-Ip\r\n"
        b"X-Custom: yes\r\nX-Other: no\r\nX-Kept: 1\r\n\r\n"
    )
    await c.until(lambda: c.output == OK)
    req = handler.requests[0]
    assert req.headers.get("X-Custom") == "yes", "routers and middlewares see it"
    assert req.headers.get("X-Other") is None, "an unlisted Connection option is still removed at the entrypoint"
    assert req.headers.get("Connection") == "x-custom"
    assert req.headers.get("X-Real-Ip") == "127.0.0.1", "Connection cannot remove a managed header"
    upstream = upstream_head(req)
    assert b"X-Custom" not in upstream, "the proxy drops it as hop-by-hop before the backend"
    assert b"Connection" not in upstream
    assert b"X-Kept: 1\r\n" in upstream
    await c.aclose()


@async_test
async def test_without_forwarded_headers_connection_the_listed_header_is_removed_at_once() -> None:
    handler = Recorder()
    c = Client(handler)
    c.send(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Custom\r\nX-Custom: yes\r\n\r\n")
    await c.until(lambda: c.output == OK)
    assert handler.requests[0].headers.get("X-Custom") is None
    await c.aclose()


@async_test
async def test_kept_connection_headers_and_an_upgrade_share_the_rebuilt_connection_header() -> None:
    handler = Recorder()
    c = Client(handler, settings=kept_settings("X-Custom"))
    c.send(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, X-Custom\r\nUpgrade: websocket\r\nX-Custom: 1\r\n\r\n")
    await c.until(lambda: bool(handler.requests))
    req = handler.requests[0]
    assert req.upgrade is True
    assert req.headers.get("Connection") == "X-Custom,Upgrade"  # Traefik's order: kept names, then Upgrade
    assert req.headers.get("X-Custom") == "1"
    upstream = upstream_head(req)
    assert b"X-Custom" not in upstream
    assert upstream.endswith(b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
    await c.aclose()


# -- 6. backend response heads are bounded -----------------------------------------------------------------------------

UPSTREAM_REQUEST = b"GET / HTTP/1.1\r\nHost: backend\r\n\r\n"


class FakePool:
    def __init__(self) -> None:
        self.released: list[UpstreamConnection] = []
        self.discarded: list[UpstreamConnection] = []

    def on_release(self, conn: UpstreamConnection, reusable: bool) -> None:
        """The callback a pool hands its connections: what the connection reported, kept or forgotten."""
        (self.released if reusable else self.discarded).append(conn)


def upstream(
    pool: FakePool | None = None, max_head_bytes: int | None = None
) -> tuple[UpstreamConnection, MockTransport]:
    conn = UpstreamConnection(None if pool is None else pool.on_release)
    if max_head_bytes is not None:
        conn.max_head_bytes = max_head_bytes
    transport = MockTransport(asyncio.get_running_loop(), ("10.0.0.1", 80))
    transport.protocol = conn
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, transport


def deliver(conn: UpstreamConnection, transport: MockTransport, chunks: list[bytes]) -> int:
    """Feed response bytes as a socket would (nothing after close); return how many bytes were delivered."""
    delivered = 0
    for chunk in chunks:
        if transport.closed:
            break
        conn.data_received(chunk)
        delivered += len(chunk)
    return delivered


async def failure_of(future: asyncio.Future[Response]) -> BaseException:
    with pytest.raises(UpstreamProtocolError) as info:
        await asyncio.wait_for(future, 1)
    return info.value


@async_test
async def test_an_unterminated_response_header_line_past_the_bound_fails_the_exchange() -> None:
    pool = FakePool()
    conn, transport = upstream(pool, max_head_bytes=4096)
    future = conn.send(UPSTREAM_REQUEST, b"", chunked=False, head_request=False)
    delivered = deliver(conn, transport, [b"HTTP/1.1 200 OK\r\nX-Huge: "] + [b"h" * 1024] * 1000)
    exc = await failure_of(future)
    assert "exceeded 4096 bytes" in str(exc)
    assert exc.status == 502
    assert transport.closed
    assert delivered <= 4096 + 1024 + 30, "reading stops within one read past the bound"
    assert pool.discarded == [conn]


@async_test
async def test_many_response_header_lines_past_the_bound_fail_the_exchange() -> None:
    conn, transport = upstream(max_head_bytes=4096)
    future = conn.send(UPSTREAM_REQUEST, b"", chunked=False, head_request=False)
    lines = [b"HTTP/1.1 200 OK\r\n"] + [b"X-Pad-%04d: %s\r\n" % (i, b"p" * 100) for i in range(1000)]
    delivered = deliver(conn, transport, lines)
    await failure_of(future)
    assert transport.closed
    assert delivered <= 4096 + 200


@async_test
async def test_a_head_within_the_bound_in_many_pieces_is_fine() -> None:
    conn, transport = upstream(FakePool(), max_head_bytes=4096)
    future = conn.send(UPSTREAM_REQUEST, b"", chunked=False, head_request=False)
    response = b"HTTP/1.1 200 OK\r\nX-Fill: " + b"f" * 3000 + b"\r\nContent-Length: 2\r\n\r\nok"
    deliver(conn, transport, split_at(response, list(range(100, len(response), 100))))
    resp = await asyncio.wait_for(future, 1)
    assert resp.status == 200
    assert isinstance(resp.body, StreamBody)
    assert await asyncio.wait_for(resp.body.read(), 1) == b"ok"
    assert not transport.closed


@async_test
async def test_five_interim_responses_are_allowed_and_a_sixth_fails() -> None:
    interim = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
    final = b"HTTP/1.1 204 No Content\r\n\r\n"
    conn, transport = upstream()
    future = conn.send(UPSTREAM_REQUEST, b"", chunked=False, head_request=False)
    deliver(conn, transport, [interim * 5 + final])
    assert (await asyncio.wait_for(future, 1)).status == 204

    conn, transport = upstream()
    future = conn.send(UPSTREAM_REQUEST, b"", chunked=False, head_request=False)
    deliver(conn, transport, [interim * 6 + final])
    assert "too many 1xx informational responses" in str(await failure_of(future))
    assert transport.closed


@async_test
async def test_ten_thousand_102_processing_lines_are_not_consumed() -> None:
    conn, transport = upstream()
    future = conn.send(UPSTREAM_REQUEST, b"", chunked=False, head_request=False)
    processing = b"HTTP/1.1 102 Processing\r\n\r\n"
    delivered = deliver(conn, transport, [processing * 100] * 100)
    await failure_of(future)
    assert transport.closed
    assert delivered == len(processing) * 100, "the first read already holds the sixth interim response"


@async_test
async def test_interim_heads_count_toward_the_head_bound() -> None:
    conn, transport = upstream(max_head_bytes=4096)
    future = conn.send(UPSTREAM_REQUEST, b"", chunked=False, head_request=False)
    interim = b"HTTP/1.1 103 Early Hints\r\nLink: " + b"l" * 1500 + b"\r\n\r\n"
    deliver(conn, transport, [interim, interim, interim, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"])
    await failure_of(future)
    assert transport.closed


@async_test
async def test_an_endless_backend_trailer_fails_the_body_not_the_head() -> None:
    conn, transport = upstream(max_head_bytes=4096)
    future = conn.send(UPSTREAM_REQUEST, b"", chunked=False, head_request=False)
    deliver(conn, transport, [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: "])
    resp = await asyncio.wait_for(future, 1)
    headers_before = list(resp.headers.raw)
    deliver(conn, transport, [b"t" * 1024] * 100)
    assert transport.closed
    assert isinstance(resp.body, StreamBody)
    with pytest.raises(BodyError):
        await asyncio.wait_for(resp.body.read(), 1)
    assert resp.headers.raw == headers_before


@async_test
async def test_backend_trailers_are_not_added_to_the_response_head() -> None:
    conn, transport = upstream(FakePool())
    future = conn.send(UPSTREAM_REQUEST, b"", chunked=False, head_request=False)
    deliver(conn, transport, [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n2\r\nok\r\n0\r\n"])
    resp = await asyncio.wait_for(future, 1)
    deliver(conn, transport, [b"X-Trailer: forged\r\nSet-Cookie: evil=1\r\n\r\n"])
    assert isinstance(resp.body, StreamBody)
    assert await asyncio.wait_for(resp.body.read(), 1) == b"ok"
    assert resp.headers.raw == [(b"X-A", b"1")]
    assert not transport.closed


@async_test
async def test_an_unsolicited_response_on_an_idle_connection_closes_it() -> None:
    pool = FakePool()
    conn, transport = upstream(pool)
    future = conn.send(UPSTREAM_REQUEST, b"", chunked=False, head_request=False)
    deliver(conn, transport, [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
    resp = await asyncio.wait_for(future, 1)
    assert isinstance(resp.body, StreamBody)
    assert await asyncio.wait_for(resp.body.read(), 1) == b"ok"
    assert pool.released == [conn]
    conn.data_received(b"HTTP/1.1 200 OK\r\nX-Smuggled: 1\r\nContent-Length: 0\r\n\r\n")
    assert transport.closed
    assert pool.discarded == [conn]
