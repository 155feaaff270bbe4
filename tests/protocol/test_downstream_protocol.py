"""The downstream HTTP/1.1 protocol (``HttpProtocol``), bytes in → bytes out, with a mock transport and no sockets.

Expected bytes are Traefik v3.6's (Go ``net/http`` server + Traefik's entrypoint pipeline), see
``/work/shared/reference/traefik.md`` §1.2, §2.2 and §10. Every response carries :data:`FIXED_DATE`.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from edge_wire import FIXED_DATE, SERVER_NAME, Client, MockSource, async_test, make_settings, use_fixed_date

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.errors import ConnectError, NoAvailableServer, UpstreamTimeout
from hanzo_edge.http.forwarded import ForwardedHeaders
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.routing.build import not_found

D = FIXED_DATE


@pytest.fixture(autouse=True)
def _fixed_date(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fixed_date(monkeypatch)


# -- handlers ----------------------------------------------------------------------------------------------------------


async def hello(req: Request) -> Response:
    return Response(200, Headers([(b"Content-Type", b"text/plain")]), b"hello")


async def echo(req: Request) -> Response:
    """Answer the request body (read in full) with the request path in ``X-Path``."""
    body = await req.body.read() if isinstance(req.body, StreamBody) else req.body
    return Response(200, Headers([(b"X-Path", req.url_path.encode())]), body)


def status_handler(status: int, body: bytes = b""):
    async def handler(req: Request) -> Response:
        return Response(status, Headers(), body)

    return handler


def raising(exc: BaseException):
    async def handler(req: Request) -> Response:
        raise exc

    return handler


HELLO = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + D + b"Content-Length: 5\r\n\r\nhello"


def error_bytes(status_line: bytes, text: bytes) -> bytes:
    """What the protocol writes for a request it cannot parse (Go's ``HTTP/1.1 400 Bad Request`` + close)."""
    return (
        b"HTTP/1.1 "
        + status_line
        + b"\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(text)
        + text
    )


BAD_REQUEST = error_bytes(b"400 Bad Request", b"400 Bad Request")


def head_of(output: bytes) -> tuple[bytes, list[bytes]]:
    """Split the first response's head into its status line and header lines."""
    head, _, _ = output.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    return lines[0], lines[1:]


# -- basic exchanges ---------------------------------------------------------------------------------------------------


@async_test
async def test_simple_get_gets_content_length_and_date() -> None:
    c = Client(hello)
    c.send(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
    await c.until(lambda: c.output.endswith(b"hello"))
    assert c.output == HELLO
    assert not c.closed
    await c.aclose()


def test_date_header_is_an_imf_fixdate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the real clock-driven Date header

    async def scenario() -> None:
        c = Client(hello)
        c.send(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
        await c.until(lambda: c.output.endswith(b"hello"))
        assert re.search(rb"\r\nDate: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n", c.output)
        await c.aclose()

    asyncio.run(scenario())


@async_test
async def test_keep_alive_serves_a_second_request_on_the_same_connection() -> None:
    c = Client(hello)
    c.send(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
    await c.until(lambda: c.output == HELLO)
    c.send(b"GET /again HTTP/1.1\r\nHost: example.com\r\n\r\n")
    await c.until(lambda: c.output == HELLO * 2)
    assert [r.path for r in c.seen] == ["/", "/again"]
    assert not c.closed
    await c.aclose()


@async_test
async def test_http10_request_without_keep_alive_gets_connection_close() -> None:
    c = Client(hello)
    c.send(b"GET / HTTP/1.0\r\n\r\n")
    await c.until(lambda: c.closed)
    _, headers = head_of(c.output)
    assert headers == [b"Content-Type: text/plain", D.rstrip(), b"Content-Length: 5", b"Connection: close"]
    assert c.output.endswith(b"\r\n\r\nhello")
    await c.aclose()


@async_test
async def test_http10_request_with_keep_alive_is_kept_open() -> None:
    c = Client(hello)
    c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    await c.until(lambda: c.output.endswith(b"hello"))
    _, headers = head_of(c.output)
    assert headers == [b"Content-Type: text/plain", D.rstrip(), b"Content-Length: 5", b"Connection: keep-alive"]
    assert not c.closed
    await c.aclose()


@async_test
async def test_http10_request_gets_an_http10_status_line() -> None:
    # Go's writeStatusLine answers "HTTP/1.0 ..." to an HTTP/1.0 request (only its parse errors are hard-coded 1.1).
    c = Client(hello)
    c.send(b"GET / HTTP/1.0\r\n\r\n")
    await c.until(lambda: c.closed)
    assert c.output.startswith(b"HTTP/1.0 200 OK\r\n")
    await c.aclose()


@async_test
async def test_connection_close_request_closes_after_the_response() -> None:
    c = Client(hello)
    c.send(b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
    await c.until(lambda: c.closed)
    assert c.output == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + D + b"Content-Length: 5\r\nConnection: close\r\n\r\nhello"
    )
    await c.aclose()


@async_test
async def test_pipelined_requests_are_answered_in_order_when_the_first_is_slow() -> None:
    release = asyncio.Event()

    async def handler(req: Request) -> Response:
        if req.path == "/1":
            await release.wait()
        return Response(200, Headers(), req.path.encode())

    c = Client(handler)
    c.send(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.settle()
    assert c.output == b""
    assert c.transport.paused  # requests are waiting: stop reading more
    release.set()
    await c.until(lambda: c.output.endswith(b"/3"))

    def ok(body: bytes) -> bytes:
        return b"HTTP/1.1 200 OK\r\n" + D + b"Content-Length: 2\r\n\r\n" + body

    assert c.output == ok(b"/1") + ok(b"/2") + ok(b"/3")
    assert [r.path for r in c.seen] == ["/1", "/2", "/3"]
    assert not c.transport.paused
    assert not c.closed
    await c.aclose()


@async_test
async def test_head_response_has_headers_but_no_body() -> None:
    c = Client(hello)
    c.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: c.output.endswith(b"hello"))
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + D + b"Content-Length: 5\r\n\r\n"
    assert c.output == head + HELLO  # the GET's response starts right after the HEAD's head
    await c.aclose()


@pytest.mark.parametrize(
    ("status", "line"),
    [(204, b"HTTP/1.1 204 No Content\r\n"), (304, b"HTTP/1.1 304 Not Modified\r\n")],
    ids=["204", "304"],
)
@pytest.mark.parametrize("body", [b"", b"ignored"], ids=["empty", "handler-wrote-body"])
@async_test
async def test_bodiless_status_has_no_content_length_and_no_body(status: int, line: bytes, body: bytes) -> None:
    c = Client(status_handler(status, body))
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: bool(c.output))
    assert c.output == line + D + b"\r\n"
    assert not c.closed
    await c.aclose()


@async_test
async def test_unmatched_request_gets_go_not_found_page() -> None:
    c = Client(lookup=lambda req: not_found)
    c.send(b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: c.output.endswith(b"\n"))
    assert c.output == (
        b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n"
        + D
        + b"Content-Length: 19\r\n\r\n404 page not found\n"
    )
    assert not c.closed
    await c.aclose()


@async_test
async def test_response_with_handler_content_length_has_exactly_one() -> None:
    # A middleware that buffered an upstream body keeps its Content-Length header; it must not be written twice
    # (llhttp and Go clients reject a duplicate Content-Length).
    async def handler(req: Request) -> Response:
        return Response(200, Headers([(b"Content-Length", b"5")]), b"hello")

    c = Client(handler)
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: c.output.endswith(b"hello"))
    _, headers = head_of(c.output)
    assert [h for h in headers if h.lower().startswith(b"content-length:")] == [b"Content-Length: 5"]
    await c.aclose()


# -- malformed requests ------------------------------------------------------------------------------------------------

MALFORMED = {
    "garbage-request-line": b"GARBAGE\r\n\r\n",
    "content-length-and-chunked": (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
    "duplicate-content-length": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "non-numeric-content-length": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5x\r\n\r\nhello",
    "space-before-colon": b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
    "obs-fold": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "bare-lf": b"GET / HTTP/1.1\nHost: x\n\n",
    "missing-host-http11": b"GET / HTTP/1.1\r\n\r\n",
    "two-host-headers": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "malformed-percent-escape": b"GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n",
    "truncated-percent-escape": b"GET /a%4 HTTP/1.1\r\nHost: x\r\n\r\n",
    "trailing-percent": b"GET /a% HTTP/1.1\r\nHost: x\r\n\r\n",
}


@pytest.mark.parametrize("data", list(MALFORMED.values()), ids=list(MALFORMED))
@async_test
async def test_malformed_request_gets_400_and_close(data: bytes) -> None:
    c = Client(echo)
    c.send(data)
    await c.settle()
    assert c.output == BAD_REQUEST
    assert c.closed
    assert c.seen == []
    await c.aclose()


@async_test
async def test_malformed_request_split_byte_by_byte_gets_400_and_close() -> None:
    c = Client(echo)
    for byte in MALFORMED["obs-fold"]:
        if c.closed:
            break  # a closed transport delivers nothing more
        c.send(bytes([byte]))
    await c.settle()
    assert c.output == BAD_REQUEST
    assert c.closed
    await c.aclose()


@async_test
async def test_bad_chunk_size_gets_400_and_close() -> None:
    c = Client(echo)
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
    await c.settle()
    assert c.output == BAD_REQUEST
    assert c.closed
    await c.aclose()


@async_test
async def test_bytes_after_a_parse_error_are_not_answered() -> None:
    c = Client(echo)
    c.send(b"GARBAGE\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.settle()
    assert c.output == BAD_REQUEST
    assert c.seen == []
    assert c.transport.late_writes == []
    await c.aclose()


@async_test
async def test_malformed_request_after_a_valid_pipelined_one_is_answered_in_order() -> None:
    # Go reads one request at a time: the valid one is answered, then the garbage gets its 400 and the close.
    c = Client(hello)
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n")
    await c.until(lambda: c.closed)
    await c.settle()
    assert c.output == HELLO + BAD_REQUEST
    await c.aclose()


@async_test
async def test_nothing_is_written_after_a_parse_error_closed_the_connection() -> None:
    # Found by the downstream fuzz: the handler reading an Expect: 100-continue body after the close still wrote
    # "100 Continue" to the closed transport.
    c = Client(echo)
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhelloGARBAGE\r\n\r\n")
    await c.settle()
    assert c.closed
    assert c.transport.late_writes == []
    await c.aclose()


UNSUPPORTED_TE = {
    "te-gzip-chunked": b"Transfer-Encoding: gzip, chunked\r\n",
    "te-identity": b"Transfer-Encoding: identity\r\n",
    # Go: any Transfer-Encoding other than exactly one "chunked" is 501 (transfer.go: parseTransferEncoding)
    "te-chunked-gzip": b"Transfer-Encoding: chunked, gzip\r\n",
    "te-repeated": b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
}


@pytest.mark.parametrize("header", list(UNSUPPORTED_TE.values()), ids=list(UNSUPPORTED_TE))
@async_test
async def test_unsupported_transfer_encoding_gets_501_and_close(header: bytes) -> None:
    c = Client(echo)
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n0\r\n\r\n")
    await c.settle()
    assert c.output == error_bytes(b"501 Not Implemented", b"501 Not Implemented")
    assert c.closed
    assert c.seen == []
    await c.aclose()


@async_test
async def test_header_block_over_max_header_bytes_gets_431() -> None:
    c = Client(echo, settings=make_settings(max_header_bytes=256))
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 300 + b"\r\n\r\n")
    await c.settle()
    text = b"431 Request Header Fields Too Large"
    assert c.output == error_bytes(text, text)
    assert c.closed
    assert c.seen == []
    await c.aclose()


@async_test
async def test_many_small_headers_over_max_header_bytes_get_431() -> None:
    c = Client(echo, settings=make_settings(max_header_bytes=256))
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(40)) + b"\r\n")
    await c.settle()
    assert c.output.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert c.closed
    await c.aclose()


@async_test
async def test_header_block_just_under_max_header_bytes_is_served() -> None:
    c = Client(echo, settings=make_settings(max_header_bytes=256))
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 150 + b"\r\n\r\n")
    await c.until(lambda: bool(c.output))
    assert c.output.startswith(b"HTTP/1.1 200 OK\r\n")
    await c.aclose()


@async_test
async def test_request_target_over_max_header_bytes_gets_414() -> None:
    c = Client(echo, settings=make_settings(max_header_bytes=256))
    c.send(b"GET /" + b"a" * 300 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.settle()
    # Go's StatusText(414) is "Request URI Too Long"
    assert c.output == error_bytes(b"414 Request URI Too Long", b"414 Request URI Too Long")
    assert c.closed
    await c.aclose()


@async_test
async def test_request_target_over_max_header_bytes_in_pieces_gets_414() -> None:
    c = Client(echo, settings=make_settings(max_header_bytes=256))
    c.send(b"GET /" + b"a" * 200)
    c.send(b"b" * 200)
    await c.settle()
    assert c.output.startswith(b"HTTP/1.1 414 ")
    assert c.closed
    await c.aclose()


# -- the entrypoint path pipeline --------------------------------------------------------------------------------------


@async_test
async def test_fragment_in_path_gets_traefik_400() -> None:
    # Traefik's denyFragment is a handler: rw.WriteHeader(400), empty body, the connection stays usable.
    c = Client(echo)
    c.send(b"GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.settle()
    assert c.output == b"HTTP/1.1 400 Bad Request\r\n" + D + b"Content-Length: 0\r\n\r\n"
    assert c.seen == []
    assert not c.closed
    await c.aclose()


@async_test
async def test_fragment_in_path_is_rejected() -> None:
    c = Client(echo)
    c.send(b"GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.settle()
    assert c.output.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert c.seen == []
    await c.aclose()


PATHS = {
    "dot-dot": (b"/a/../b", "/b", "/b"),
    "dot": (b"/a/./b", "/a/b", "/a/b"),
    "double-slash-keeps-trailing": (b"/foo/bar//", "/foo/bar/", "/foo/bar/"),
    "dot-dot-above-root": (b"/../../etc", "/etc", "/etc"),
    "unreserved-escape-decoded": (b"/%41%7e", "/A~", "/A~"),
    "reserved-escape-upper-cased": (b"/a%2fb", "/a%2Fb", "/a%2Fb"),
    "other-escape-kept-for-upstream": (b"/a%20b", "/a%20b", "/a b"),
    "encoded-dot-segment-resolved": (b"/a/%2E%2E/b", "/b", "/b"),
}


@pytest.mark.parametrize(("raw", "path", "routing"), list(PATHS.values()), ids=list(PATHS))
@async_test
async def test_request_path_is_normalized_and_sanitized(raw: bytes, path: str, routing: str) -> None:
    c = Client(echo)
    c.send(b"GET " + raw + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: bool(c.output))
    req = c.seen[0]
    assert (req.path, req.routing_path) == (path, routing)
    assert req.target == raw.decode()
    await c.aclose()


@async_test
async def test_sanitize_path_off_keeps_dot_segments() -> None:
    c = Client(echo, settings=make_settings(sanitize_path=False))
    c.send(b"GET /a/../b HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: bool(c.output))
    assert c.seen[0].path == "/a/../b"
    await c.aclose()


@pytest.mark.parametrize("raw", [b"/a%2Fb", b"/a%2fb"], ids=["upper", "lower"])
@async_test
async def test_denied_encoded_character_gets_400(raw: bytes) -> None:
    c = Client(echo, settings=make_settings(denied_escapes=("%2F",)))
    c.send(b"GET " + raw + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.settle()
    assert c.output.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert c.seen == []
    await c.aclose()


@async_test
async def test_allowed_encoded_character_passes_when_another_is_denied() -> None:
    c = Client(echo, settings=make_settings(denied_escapes=("%2F",)))
    c.send(b"GET /a%3Bb HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: bool(c.output))
    assert c.seen[0].path == "/a%3Bb"
    await c.aclose()


@pytest.mark.parametrize(
    ("encode", "query"), [(False, "a=1&b=2"), (True, "a=1%3Bb=2")], ids=["semicolon-to-ampersand", "encoded"]
)
@async_test
async def test_query_semicolons(encode: bool, query: str) -> None:
    c = Client(echo, settings=make_settings(encode_query_semicolons=encode))
    c.send(b"GET /p?a=1;b=2 HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: bool(c.output))
    assert c.seen[0].query == query
    assert b"\r\nX-Path: /p?" + query.encode() + b"\r\n" in c.output
    await c.aclose()


@async_test
async def test_absolute_form_target_takes_host_from_the_url() -> None:
    c = Client(echo)
    c.send(b"GET http://Example.COM:8080/p?q=1 HTTP/1.1\r\nHost: other\r\n\r\n")
    await c.until(lambda: bool(c.output))
    req = c.seen[0]
    assert (req.host, req.path, req.query) == ("example.com", "/p", "q=1")
    await c.aclose()


@pytest.mark.parametrize(
    ("host", "canonical"),
    [(b"Example.COM", "example.com"), (b"example.com:8080", "example.com"), (b"[::1]:8080", "::1"), (b"a.b.", "a.b")],
    ids=["case", "port", "ipv6", "trailing-dot"],
)
@async_test
async def test_request_host_is_canonical(host: bytes, canonical: str) -> None:
    c = Client(echo)
    c.send(b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    await c.until(lambda: bool(c.output))
    assert c.seen[0].host == canonical
    await c.aclose()


# -- forwarded headers -------------------------------------------------------------------------------------------------

FORGED = (
    b"GET / HTTP/1.1\r\nHost: example.com\r\n"
    b"X-Forwarded-For: 6.6.6.6\r\nX-Real-Ip: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX_Forwarded_Host: evil\r\n"
    b"X-Other: kept\r\n\r\n"
)


@async_test
async def test_untrusted_client_forwarded_headers_are_replaced() -> None:
    c = Client(echo)
    c.send(FORGED)
    await c.until(lambda: bool(c.output))
    assert c.seen[0].headers.raw == [
        (b"Host", b"example.com"),
        (b"X-Other", b"kept"),
        (b"X-Forwarded-Proto", b"http"),
        (b"X-Forwarded-Host", b"example.com"),
        (b"X-Forwarded-Port", b"80"),
        (b"X-Forwarded-Server", SERVER_NAME.encode()),
        (b"X-Real-Ip", b"127.0.0.1"),
    ]
    await c.aclose()


@pytest.mark.parametrize(
    "forwarded",
    [ForwardedHeaders(trusted_ips=("127.0.0.1/32",), server=SERVER_NAME), ForwardedHeaders(True, server=SERVER_NAME)],
    ids=["trusted-ip", "insecure"],
)
@async_test
async def test_trusted_client_forwarded_headers_are_kept(forwarded: ForwardedHeaders) -> None:
    c = Client(echo, settings=make_settings(forwarded=forwarded))
    c.send(FORGED)
    await c.until(lambda: bool(c.output))
    assert c.seen[0].headers.raw == [
        (b"Host", b"example.com"),
        (b"X-Forwarded-For", b"6.6.6.6"),
        (b"X-Real-Ip", b"6.6.6.6"),
        (b"X-Forwarded-Proto", b"https"),
        (b"X_Forwarded_Host", b"evil"),
        (b"X-Other", b"kept"),
        (b"X-Forwarded-Host", b"example.com"),
        (b"X-Forwarded-Port", b"443"),  # from the kept X-Forwarded-Proto: https
        (b"X-Forwarded-Server", SERVER_NAME.encode()),
    ]
    await c.aclose()


@async_test
async def test_client_outside_trusted_ips_is_untrusted() -> None:
    settings = make_settings(forwarded=ForwardedHeaders(trusted_ips=("10.0.0.0/8",), server=SERVER_NAME))
    c = Client(echo, settings=settings)
    c.send(FORGED)
    await c.until(lambda: bool(c.output))
    headers = c.seen[0].headers
    assert headers.get_all("X-Forwarded-For") == []
    assert headers.get_all("X-Real-Ip") == ["127.0.0.1"]
    assert headers.get_all("X-Forwarded-Proto") == ["http"]
    await c.aclose()


@pytest.mark.parametrize(
    ("request_bytes", "expected"),
    [
        (b"GET / HTTP/1.1\r\nHost: example.com:8443\r\n\r\n", [b"http", b"example.com:8443", b"8443"]),
        (b"GET / HTTP/1.0\r\n\r\n", [b"http", None, b"80"]),
        (
            b"GET /ws HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            [b"ws", b"example.com", b"80"],
        ),
    ],
    ids=["host-port", "no-host", "websocket"],
)
@async_test
async def test_forwarded_headers_are_set_when_absent(request_bytes: bytes, expected: list[bytes | None]) -> None:
    c = Client(echo)
    c.send(request_bytes)
    await c.until(lambda: bool(c.output))
    headers = c.seen[0].headers
    got = [headers.get_raw(n) for n in (b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-port")]
    assert got == expected
    assert headers.get_raw(b"x-forwarded-server") == SERVER_NAME.encode()
    assert headers.get_raw(b"x-real-ip") == b"127.0.0.1"
    await c.aclose()


@async_test
async def test_connection_listed_headers_are_removed_before_routing() -> None:
    # Traefik's forwardedheaders middleware (entrypoint, before the router) deletes every header named in any
    # Connection header except the managed X- ones, then deletes Connection itself: rules never see them.
    c = Client(echo)
    c.send(
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Foo\r\nConnection: X-Baz\r\n"
        b"X-Foo: 1\r\nX-Bar: 2\r\nX-Baz: 3\r\n\r\n"
    )
    await c.until(lambda: bool(c.output))
    assert c.seen[0].headers.raw == [
        (b"Host", b"x"),
        (b"X-Bar", b"2"),
        (b"X-Forwarded-Proto", b"http"),
        (b"X-Forwarded-Host", b"x"),
        (b"X-Forwarded-Port", b"80"),
        (b"X-Forwarded-Server", SERVER_NAME.encode()),
        (b"X-Real-Ip", b"127.0.0.1"),
    ]
    assert not c.closed
    await c.aclose()


@async_test
async def test_tls_entrypoint_sets_https_forwarded_proto_and_443() -> None:
    c = Client(echo, settings=make_settings(tls=True))
    c.send(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
    await c.until(lambda: bool(c.output))
    req = c.seen[0]
    assert (req.scheme, req.headers.get("X-Forwarded-Proto"), req.headers.get("X-Forwarded-Port")) == (
        "https",
        "https",
        "443",
    )
    await c.aclose()


# -- request bodies ----------------------------------------------------------------------------------------------------


@async_test
async def test_content_length_body_reaches_the_handler() -> None:
    c = Client(echo)
    c.send(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world")
    await c.until(lambda: c.output.endswith(b"hello world"))
    assert c.output == b"HTTP/1.1 200 OK\r\nX-Path: /up\r\n" + D + b"Content-Length: 11\r\n\r\nhello world"
    assert not c.closed
    await c.aclose()


@async_test
async def test_content_length_body_arriving_later_in_pieces_reaches_the_handler() -> None:
    c = Client(echo)
    c.send(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n")
    await c.settle()
    assert isinstance(c.seen[0].body, StreamBody)
    assert c.seen[0].body.length == 11
    for piece in (b"hel", b"lo w", b"orld"):
        assert c.output == b""
        c.send(piece)
        await c.settle(3)
    await c.until(lambda: c.output.endswith(b"hello world"))
    assert not c.closed
    await c.aclose()


@async_test
async def test_chunked_body_reaches_the_handler_without_framing() -> None:
    c = Client(echo)
    c.send(b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    await c.until(lambda: c.output.endswith(b"hello world"))
    assert c.output == b"HTTP/1.1 200 OK\r\nX-Path: /up\r\n" + D + b"Content-Length: 11\r\n\r\nhello world"
    assert c.seen[0].body.length is None  # type: ignore[union-attr]
    assert not c.closed
    await c.aclose()


@async_test
async def test_empty_content_length_body_is_bytes() -> None:
    c = Client(echo)
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    await c.until(lambda: bool(c.output))
    assert c.seen[0].body == b""
    await c.aclose()


@async_test
async def test_handler_answering_without_reading_an_unfinished_body_closes_the_connection() -> None:
    c = Client(hello)
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhel")
    await c.until(lambda: c.closed)
    assert c.output == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + D + b"Content-Length: 5\r\nConnection: close\r\n\r\nhello"
    )
    await c.aclose()


@async_test
async def test_handler_answering_without_reading_a_received_body_keeps_alive() -> None:
    # Like Go, which discards a small unread body after the handler and keeps the connection.
    c = Client(hello)
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: c.output == HELLO * 2)
    assert not c.closed
    await c.aclose()


@async_test
async def test_request_body_over_high_water_pauses_the_client_until_read() -> None:
    started = asyncio.Event()
    go = asyncio.Event()

    async def slow_reader(req: Request) -> Response:
        started.set()
        await go.wait()
        assert isinstance(req.body, StreamBody)
        data = await req.body.read()
        return Response(200, Headers(), str(len(data)).encode())

    c = Client(slow_reader)
    size = 300 * 1024
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
    c.send(b"a" * (size // 2))
    c.send(b"a" * (size - size // 2))
    await c.settle()
    assert started.is_set()
    assert c.transport.paused  # more than 256 KiB buffered and unread
    go.set()
    await c.until(lambda: c.output.endswith(b"307200"))
    assert not c.transport.paused
    await c.aclose()


# -- Expect: 100-continue ----------------------------------------------------------------------------------------------


@async_test
async def test_expect_continue_sends_100_only_when_the_handler_reads() -> None:
    go = asyncio.Event()

    async def handler(req: Request) -> Response:
        await go.wait()
        return await echo(req)

    c = Client(handler)
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    await c.settle()
    assert c.output == b""
    go.set()
    await c.until(lambda: bool(c.output))
    assert c.output == b"HTTP/1.1 100 Continue\r\n\r\n"
    c.send(b"hello")
    await c.until(lambda: c.output.endswith(b"hello"))
    assert c.output == (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-Path: /\r\n" + D + b"Content-Length: 5\r\n\r\nhello"
    )
    assert not c.closed
    await c.aclose()


@async_test
async def test_expect_continue_rejected_without_reading_sends_no_100_and_closes() -> None:
    c = Client(status_handler(401, b"no"))
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    await c.until(lambda: c.closed)
    assert c.output == b"HTTP/1.1 401 Unauthorized\r\n" + D + b"Content-Length: 2\r\nConnection: close\r\n\r\nno"
    await c.aclose()


# -- streamed responses ------------------------------------------------------------------------------------------------


class Streamer:
    """A handler answering with a streamed body that the test feeds afterwards."""

    def __init__(self, length: int | None = None, headers: Headers | None = None) -> None:
        self.source = MockSource()
        self.body = StreamBody(self.source, length=length)
        self.headers = headers or Headers()

    async def __call__(self, req: Request) -> Response:
        return Response(200, self.headers, self.body)


@async_test
async def test_streamed_response_of_unknown_length_is_chunked_for_http11() -> None:
    s = Streamer()
    c = Client(s)
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: bool(c.output))
    assert c.output == b"HTTP/1.1 200 OK\r\n" + D + b"Transfer-Encoding: chunked\r\n\r\n"
    s.body.feed(b"hello")
    s.body.feed(b" world")
    s.body.feed_eof()
    assert c.output.endswith(b"\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    assert not c.closed
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # the connection serves the next request
    await c.until(lambda: len(c.seen) == 2)
    await c.aclose()


@async_test
async def test_streamed_response_of_unknown_length_is_close_delimited_for_http10() -> None:
    s = Streamer()
    c = Client(s)
    c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    await c.until(lambda: bool(c.output))
    _, headers = head_of(c.output)
    assert headers == [D.rstrip(), b"Connection: close"]
    s.body.feed(b"hello")
    s.body.feed_eof()
    assert c.output.endswith(b"\r\n\r\nhello")
    assert c.closed
    await c.aclose()


@async_test
async def test_streamed_response_with_content_length_is_relayed_raw() -> None:
    s = Streamer(length=11, headers=Headers([(b"Content-Length", b"11")]))
    c = Client(s)
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: bool(c.output))
    s.body.feed(b"hello")
    s.body.feed(b" world")
    s.body.feed_eof()
    # Header order carries no meaning (Go sorts them); the set of lines and the body must be exact.
    assert same_message(c.output, b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n" + D + b"\r\nhello world")
    assert not c.closed
    await c.aclose()


@async_test
async def test_streamed_response_with_length_but_no_header_is_framed() -> None:
    # A StreamBody's length is its declared Content-Length: a keep-alive response needs it on the wire.
    s = Streamer(length=11)
    c = Client(s)
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: bool(c.output))
    s.body.feed(b"hello world")
    s.body.feed_eof()
    assert c.output == b"HTTP/1.1 200 OK\r\n" + D + b"Content-Length: 11\r\n\r\nhello world"
    await c.aclose()


@async_test
async def test_streamed_response_to_head_request_writes_no_body() -> None:
    s = Streamer(length=11, headers=Headers([(b"Content-Length", b"11")]))
    s.body.feed_eof()  # an upstream HEAD response: declared length, no bytes
    c = Client(s)
    c.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: bool(c.output))
    assert same_message(c.output, b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n" + D + b"\r\n")
    assert c.idle()
    await c.aclose()


@async_test
async def test_streamed_response_failing_midway_closes_the_connection() -> None:
    s = Streamer()
    c = Client(s)
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: bool(c.output))
    s.body.feed(b"hello")
    s.body.feed_error(ConnectionResetError("backend reset"))
    assert c.closed
    assert not c.output.endswith(b"0\r\n\r\n")  # never a clean end for a truncated body
    await c.aclose()


@async_test
async def test_write_backpressure_pauses_and_resumes_the_response_source() -> None:
    s = Streamer()
    c = Client(s)
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: bool(c.output))
    s.body.feed(b"hello")
    c.proto.pause_writing()
    assert s.source.calls == ["pause"]
    c.proto.resume_writing()
    assert s.source.calls == ["pause", "resume"]
    s.body.feed_eof()
    await c.aclose()


@async_test
async def test_client_disconnect_mid_response_closes_the_source() -> None:
    s = Streamer()
    c = Client(s)
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: bool(c.output))
    c.transport.close()
    await c.settle(3)
    assert s.source.closed
    await c.aclose()


# -- upgrades ----------------------------------------------------------------------------------------------------------


class FakeTunnel:
    def __init__(self) -> None:
        self.peer = None
        self.to_upstream_data: list[bytes] = []
        self.conn = MockSource()
        self.downstream_closed_called = False

    def attach(self, downstream) -> None:  # type: ignore[no-untyped-def]
        self.peer = downstream

    def to_upstream(self, data: bytes) -> None:
        self.to_upstream_data.append(data)

    def downstream_closed(self) -> None:
        self.downstream_closed_called = True


@async_test
async def test_websocket_upgrade_opens_a_tunnel() -> None:
    tunnel = FakeTunnel()

    async def handler(req: Request) -> Response:
        assert req.upgrade
        resp = Response(101, Headers([(b"Upgrade", b"websocket")]))
        resp.tunnel = tunnel
        return resp

    c = Client(handler)
    c.send(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nearly")
    await c.until(lambda: bool(c.output))
    assert c.output == b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    assert tunnel.peer is c.transport
    assert tunnel.to_upstream_data == [b"early"]
    assert not c.transport.paused
    c.send(b"frame")
    assert tunnel.to_upstream_data == [b"early", b"frame"]
    await c.aclose()
    assert tunnel.downstream_closed_called


@async_test
async def test_upgrade_request_answered_without_101_closes() -> None:
    c = Client(hello)
    c.send(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
    await c.until(lambda: c.closed)
    assert c.output.endswith(b"Connection: close\r\n\r\nhello")
    await c.aclose()


# -- deadlines ---------------------------------------------------------------------------------------------------------


@async_test
async def test_idle_keep_alive_connection_closes_after_idle_timeout() -> None:
    c = Client(hello, settings=make_settings(idle_timeout=180.0, read_timeout=60.0))
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    before = c.loop.time()
    await c.until(lambda: c.output == HELLO)
    after = c.loop.time()
    c.proto.check_deadlines(before + 179.0)
    assert not c.closed
    c.proto.check_deadlines(after + 180.0)
    assert c.closed
    await c.aclose()


@async_test
async def test_connection_stuck_mid_headers_closes_after_read_timeout() -> None:
    before = asyncio.get_running_loop().time()
    c = Client(hello, settings=make_settings(idle_timeout=180.0, read_timeout=60.0))
    after = c.loop.time()
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
    await c.settle()
    c.proto.check_deadlines(before + 59.0)
    assert not c.closed
    c.proto.check_deadlines(after + 60.0)
    assert c.closed
    assert c.output == b""
    await c.aclose()


@async_test
async def test_second_request_stuck_mid_headers_closes_after_read_timeout() -> None:
    c = Client(hello, settings=make_settings(idle_timeout=180.0, read_timeout=60.0))
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: c.output == HELLO)
    before = c.loop.time()
    c.send(b"GET / HTTP/1.1\r\n")
    after = c.loop.time()
    c.proto.check_deadlines(before + 59.0)
    assert not c.closed
    c.proto.check_deadlines(after + 60.0)
    assert c.closed
    await c.aclose()


@async_test
async def test_slow_handler_is_not_cut_by_read_or_idle_deadlines() -> None:
    never = asyncio.Event()

    async def handler(req: Request) -> Response:
        await never.wait()
        return Response(200)

    c = Client(handler, settings=make_settings(idle_timeout=180.0, read_timeout=60.0, write_timeout=0.0))
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.settle()
    c.proto.check_deadlines(c.loop.time() + 10_000.0)
    assert not c.closed
    await c.aclose()


@async_test
async def test_body_stuck_mid_way_closes_after_read_timeout() -> None:
    c = Client(echo, settings=make_settings(read_timeout=60.0))
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
    await c.settle()
    c.proto.check_deadlines(c.loop.time() + 61.0)
    assert c.closed
    await c.aclose()


@async_test
async def test_keep_alive_max_requests_closes_after_the_last_one() -> None:
    c = Client(hello, settings=make_settings(keep_alive_max_requests=2))
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: c.output == HELLO)
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: c.closed)
    assert c.output.endswith(b"Connection: close\r\n\r\nhello")
    await c.aclose()


# -- handler errors (Traefik's proxy ErrorHandler and the load balancer) -----------------------------------------------


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            UpstreamTimeout("timeout"),
            b"HTTP/1.1 504 Gateway Timeout\r\n" + D + b"Content-Length: 15\r\n\r\nGateway Timeout",
        ),
        (ConnectError("refused"), b"HTTP/1.1 502 Bad Gateway\r\n" + D + b"Content-Length: 11\r\n\r\nBad Gateway"),
    ],
    ids=["upstream-timeout-504", "connect-error-502"],
)
@async_test
async def test_proxy_error_is_the_bare_status_text(exc: Exception, expected: bytes) -> None:
    # Traefik's ErrorHandler writes only the status text, and the entrypoint's DisableAutoDetection keeps Go from
    # sniffing a Content-Type: no Content-Type header.
    c = Client(raising(exc))
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: bool(c.output))
    assert c.output == expected
    assert not c.closed
    await c.aclose()


@pytest.mark.parametrize(
    ("exc", "status", "text"),
    [(UpstreamTimeout("t"), b"504", b"Gateway Timeout"), (ConnectError("r"), b"502", b"Bad Gateway")],
    ids=["upstream-timeout-504", "connect-error-502"],
)
@async_test
async def test_proxy_error_status_and_body(exc: Exception, status: bytes, text: bytes) -> None:
    c = Client(raising(exc))
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: bool(c.output))
    assert c.output.startswith(b"HTTP/1.1 " + status + b" " + text + b"\r\n")
    assert c.output.endswith(b"\r\nContent-Length: %d\r\n\r\n" % len(text) + text)
    await c.aclose()


@async_test
async def test_no_available_server_is_503() -> None:
    c = Client(raising(NoAvailableServer()))
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: bool(c.output))
    assert c.output == (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"X-Content-Type-Options: nosniff\r\n" + D + b"Content-Length: 20\r\n\r\nno available server\n"
    )
    assert not c.closed
    await c.aclose()


@async_test
async def test_handler_error_while_a_pipelined_request_waits_keeps_order() -> None:
    async def handler(req: Request) -> Response:
        if req.path == "/boom":
            raise ConnectError("refused")
        return Response(200, Headers(), b"ok")

    c = Client(handler)
    c.send(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: c.output.endswith(b"ok"))
    assert c.output.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert c.output.count(b"HTTP/1.1 ") == 2
    await c.aclose()


def same_message(got: bytes, want: bytes) -> bool:
    """True when both messages have the same status line, the same header lines in any order, and the same body."""
    got_head, _, got_body = got.partition(b"\r\n\r\n")
    want_head, _, want_body = want.partition(b"\r\n\r\n")
    got_lines, want_lines = got_head.split(b"\r\n"), want_head.split(b"\r\n")
    return got_lines[0] == want_lines[0] and sorted(got_lines[1:]) == sorted(want_lines[1:]) and got_body == want_body
