"""A second HTTP protocol driver, not ``HttpProtocol``, on the shared request pipeline (``hanzo_edge.http.pipeline``).

:class:`LineDriver` takes a request head as text lines and its whole body at once (no httptools, no framing, no
pipelining) and calls the pipeline exactly as ``HttpProtocol`` does: ``scan_headers`` → ``build_request`` →
``handle_request`` → its own ``send_response`` → ``report``. A sample of the protocol tests is replayed through both
drivers; both must write the bytes those tests expect (Traefik's), byte for byte, and hand the router the same
request. What differs between them can then only be framing, which is what a protocol is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import pytest
from edge_wire import FIXED_DATE, SERVER_NAME, Client, async_test, make_settings, use_fixed_date

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.errors import ClientClosed, ConnectError, NoAvailableServer
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.pipeline import (
    RequestRejected,
    build_request,
    discard_response,
    handle_request,
    report,
    scan_headers,
)
from hanzo_edge.http.settings import ConnectionContext, EntrypointSettings
from hanzo_edge.http.status import status_line, status_text
from hanzo_edge.routing.build import not_found

D = FIXED_DATE
PEER = ("127.0.0.1", 5555)


@pytest.fixture(autouse=True)
def _fixed_date(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fixed_date(monkeypatch)


class LineDriver:
    """One request per :meth:`exchange`: head lines in, HTTP/1.1 bytes out, through ``hanzo_edge.http.pipeline``.

    Its writer renders whole (``bytes``) responses only: status line, the handler's headers, ``Date``,
    ``Content-Length`` and ``Connection: close`` when the exchange ends the connection. A rejected head is answered
    as Go's server answers it (plain-text status, close).
    """

    def __init__(self, ctx: ConnectionContext, peer: tuple[str, int] = PEER) -> None:
        self.ctx = ctx
        self.client_ip, self.client_port = peer
        self.output = bytearray()
        self.closed = False
        self.response_bytes = 0

    async def exchange(self, data: bytes) -> bytes:
        head, _, rest = data.partition(b"\r\n\r\n")
        request_line, *lines = head.split(b"\r\n")
        method, target, version = request_line.split(b" ")
        raw = []
        for line in lines:
            name, _, value = line.partition(b":")
            raw.append((name, value.strip()))
        settings = self.ctx.settings
        facts = scan_headers(raw, settings)
        try:
            req = build_request(
                settings,
                method.decode("latin-1"),
                version.removeprefix(b"HTTP/").decode("latin-1"),
                target.decode("latin-1"),
                raw,
                facts.host,
                facts.host_count,
                facts.managed,
                facts.connection,
                facts.upgrade,
                self.client_ip,
                self.client_ip.encode("latin-1"),
                self.client_port,
            )
        except RequestRejected as exc:
            self._reject(exc.status)
            return bytes(self.output)
        length = int(dict((n.lower(), v) for n, v in raw).get(b"content-length", b"0"))
        if length:
            body = StreamBody(self, length)
            req.body = body
            body.feed(rest[:length])
            body.feed_eof()
        req.started = perf_counter()
        await handle_request(self, req)
        return bytes(self.output)

    # -- RequestChannel ------------------------------------------------------------------------------------------------
    def send_response(self, req: Request, response: Response) -> None:
        if self.closed:
            discard_response(response)
            return
        assert isinstance(response.body, bytes), "this driver writes whole bodies only"
        status = response.status
        out = [status_line(status, response.reason, req.version == "1.0")]
        out += [name + b": " + value + b"\r\n" for name, value in response.headers.raw]
        out.append(D)
        if status >= 200 and status not in (204, 304):
            out.append(b"Content-Length: %d\r\n" % len(response.body))
        if not req.keep_alive:
            out.append(b"Connection: close\r\n")
        out.append(b"\r\n")
        if req.method != "HEAD":
            out.append(response.body)
            self.response_bytes = len(response.body)
        self.output += b"".join(out)
        self.closed = not req.keep_alive
        self.observe(req, status, False)

    def observe(self, req: Request, status: int, aborted: bool) -> None:
        observer = self.ctx.observer
        if observer is not None:
            report(observer, req, status, self.response_bytes, aborted)

    # -- BodySource: the body arrives whole, so there is nothing to pause --------------------------------------------
    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def _reject(self, status: int) -> None:
        text = f"{status} {status_text(status)}".encode()
        self.output += (
            b"HTTP/1.1 %d %b\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n%b" % (status, status_text(status).encode(), len(text), text)
        )
        self.closed = True


# -- handlers of the sample --------------------------------------------------------------------------------------------


async def hello(req: Request) -> Response:
    return Response(200, Headers([(b"Content-Type", b"text/plain")]), b"hello")


async def echo(req: Request) -> Response:
    """Answer the request body with the request path in ``X-Path`` (as the protocol tests' ``echo``)."""
    body = await req.body.read() if isinstance(req.body, StreamBody) else req.body
    return Response(200, Headers([(b"X-Path", req.url_path.encode())]), body)


async def request_as_seen(req: Request) -> Response:
    """Answer what the router saw: host, routing path, and every header line after the trust boundary."""
    lines = [f"{req.host} {req.routing_path}".encode()]
    lines += [name + b": " + value for name, value in req.headers.raw]
    return Response(200, Headers(), b"\n".join(lines))


async def host_and_path(req: Request) -> Response:
    return Response(200, Headers(), f"{req.host} {req.path}".encode())


def raising(exc: BaseException) -> Handler:
    async def handler(req: Request) -> Response:
        raise exc

    return handler


@dataclass(frozen=True)
class FakeRoute:
    body_limit: int | None


def routed_with_limit(limit: int) -> Callable[[Request], Handler]:
    route = FakeRoute(limit)

    def lookup(req: Request) -> Handler:
        req.route = route
        return echo

    return lookup


def go_error(status: bytes) -> bytes:
    text = status
    return (
        b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
        b"Content-Length: %d\r\n\r\n" % len(text) + text
    )


@dataclass(frozen=True)
class Sample:
    request: bytes
    expected: bytes
    handler: Handler | None = None
    lookup: Callable[[Request], Handler] | None = None
    settings: dict[str, Any] | None = None


FORGED = (
    b"GET /a/../b%41 HTTP/1.1\r\nHost: Example.com:8080\r\n"
    b"X-Forwarded-For: 6.6.6.6\r\nX-Real-Ip: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX_Forwarded_Host: evil\r\n"
    b"Connection: X-Hop\r\nX-Hop: 1\r\nX-Other: kept\r\n\r\n"
)
SEEN_FORGED = b"\n".join(
    [
        b"example.com /bA",
        b"Host: Example.com:8080",
        b"X-Other: kept",
        b"X-Forwarded-Proto: http",
        b"X-Forwarded-Host: Example.com:8080",
        b"X-Forwarded-Port: 8080",
        b"X-Forwarded-Server: " + SERVER_NAME.encode(),
        b"X-Real-Ip: 127.0.0.1",
    ]
)

SAMPLES = {
    "routed-hello": Sample(
        b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + D + b"Content-Length: 5\r\n\r\nhello",
        hello,
    ),
    "not-found": Sample(
        b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n",
        b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n"
        + D
        + b"Content-Length: 19\r\n\r\n404 page not found\n",
        lookup=lambda req: not_found,
    ),
    "bad-host-400": Sample(b"GET / HTTP/1.1\r\nHost: u@x\r\n\r\n", go_error(b"400 Bad Request"), hello),
    "repeated-host-400": Sample(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", go_error(b"400 Bad Request"), hello),
    "bad-escape-400": Sample(b"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n", go_error(b"400 Bad Request"), hello),
    "fragment-empty-400": Sample(
        b"GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n",
        b"HTTP/1.1 400 Bad Request\r\n" + D + b"Content-Length: 0\r\n\r\n",
        echo,
    ),
    "upstream-502": Sample(
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"HTTP/1.1 502 Bad Gateway\r\n" + D + b"Content-Length: 11\r\n\r\nBad Gateway",
        raising(ConnectError("refused")),
    ),
    "no-server-503": Sample(
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"X-Content-Type-Options: nosniff\r\n" + D + b"Content-Length: 20\r\n\r\nno available server\n",
        raising(NoAvailableServer()),
    ),
    "handler-bug-500": Sample(
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"HTTP/1.1 500 Internal Server Error\r\n" + D + b"Content-Length: 21\r\n\r\nInternal Server Error",
        raising(RuntimeError("bug")),
    ),
    "forwarded-headers-and-path": Sample(
        FORGED,
        b"HTTP/1.1 200 OK\r\n" + D + b"Content-Length: %d\r\n\r\n" % len(SEEN_FORGED) + SEEN_FORGED,
        request_as_seen,
    ),
    "absolute-form-host": Sample(
        b"GET http://Public.TEST:81/p?a=1;b=2 HTTP/1.1\r\nHost: other\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + D + b"Content-Length: %d\r\n\r\n" % len(b"public.test /p") + b"public.test /p",
        host_and_path,
    ),
    "post-body": Sample(
        b"POST /up?x=1;y=2 HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world",
        b"HTTP/1.1 200 OK\r\nX-Path: /up?x=1&y=2\r\n" + D + b"Content-Length: 11\r\n\r\nhello world",
        echo,
    ),
    "body-limit-413": Sample(
        b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world",
        b"HTTP/1.1 413 Request Entity Too Large\r\n" + D + b"Content-Length: 24\r\nConnection: close\r\n\r\n"
        b"Request Entity Too Large",
        lookup=routed_with_limit(10),
    ),
    "entrypoint-body-limit-413": Sample(
        b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world",
        b"HTTP/1.1 413 Request Entity Too Large\r\n" + D + b"Content-Length: 24\r\nConnection: close\r\n\r\n"
        b"Request Entity Too Large",
        echo,
        settings={"max_request_body_bytes": 4},
    ),
}


def _settings(sample: Sample) -> EntrypointSettings:
    return make_settings(**(sample.settings or {}))


async def _through_http_protocol(sample: Sample, seen: list[Request]) -> bytes:
    c = Client(sample.handler, lookup=sample.lookup, settings=_settings(sample))
    c.send(sample.request)
    await c.until(lambda: c.closed or (bool(c.output) and c.idle()))
    seen.extend(c.seen)
    output = c.output
    await c.aclose()
    return output


async def _through_line_driver(sample: Sample, seen: list[Request]) -> bytes:
    handler = sample.handler
    inner = sample.lookup

    def lookup(req: Request) -> Handler:
        seen.append(req)
        if inner is not None:
            return inner(req)
        assert handler is not None
        return handler

    ctx = ConnectionContext(_settings(sample), lookup, asyncio.get_running_loop())
    return await LineDriver(ctx).exchange(sample.request)


def _routed(req: Request) -> tuple[object, ...]:
    return (
        req.method,
        req.target,
        req.version,
        req.host,
        req.path,
        req.query,
        req.routing_path,
        req.headers.raw,
        req.client_ip,
        req.client_port,
        req.scheme,
        req.entry_point,
        req.upgrade,
    )


@pytest.mark.parametrize("sample", list(SAMPLES.values()), ids=list(SAMPLES))
@async_test
async def test_a_second_driver_on_the_pipeline_writes_what_http_protocol_writes(sample: Sample) -> None:
    seen_http1: list[Request] = []
    seen_lines: list[Request] = []

    http1 = await _through_http_protocol(sample, seen_http1)
    lines = await _through_line_driver(sample, seen_lines)

    assert http1 == sample.expected
    assert lines == sample.expected
    assert [_routed(r) for r in seen_lines] == [_routed(r) for r in seen_http1]


@async_test
async def test_a_client_gone_mid_exchange_is_observed_as_499_by_both_drivers() -> None:
    observed: dict[str, list[tuple[int, int, bool]]] = {"http1": [], "lines": []}

    def observer(key: str) -> Callable[[Request, int, int, float, bool], None]:
        def hook(req: Request, status: int, nbytes: int, duration: float, aborted: bool) -> None:
            observed[key].append((status, nbytes, aborted))

        return hook

    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    gone = raising(ClientClosed("client went away"))
    c = Client(gone)
    c.ctx.observer = observer("http1")
    c.send(request)
    await c.until(lambda: bool(observed["http1"]))
    assert c.output == b""
    await c.aclose()

    ctx = ConnectionContext(make_settings(), lambda req: gone, asyncio.get_running_loop())
    ctx.observer = observer("lines")
    assert await LineDriver(ctx).exchange(request) == b""

    assert observed["lines"] == observed["http1"] == [(499, 0, True)]


@async_test
async def test_both_drivers_report_a_finished_exchange_with_its_status_and_bytes() -> None:
    observed: list[tuple[str, int, int, bool]] = []

    def hook(req: Request, status: int, nbytes: int, duration: float, aborted: bool) -> None:
        observed.append((req.host, status, nbytes, aborted))

    request = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
    c = Client(hello)
    c.ctx.observer = hook
    c.send(request)
    await c.until(lambda: bool(observed))
    await c.aclose()
    ctx = ConnectionContext(make_settings(), lambda req: hello, asyncio.get_running_loop())
    ctx.observer = hook
    await LineDriver(ctx).exchange(request)

    assert observed == [("example.com", 200, 5, False)] * 2
