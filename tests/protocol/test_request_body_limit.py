"""The request-body limit on the wire (issue 9, HIP-68): ``entryPoints.<name>.http.maxRequestBodyBytes`` and a
router's ``buffering`` override, bytes in → bytes out through ``HttpProtocol`` with a mock transport.

A declared ``Content-Length`` over the effective limit is answered ``413`` before any handler runs (and without
``100 Continue``); a chunked body is counted as it flows and the exchange becomes a ``413`` once it passes the limit.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from edge_wire import FIXED_DATE, Client, async_test, make_settings, use_fixed_date

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.errors import UpstreamProtocolError
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response

TOO_LARGE = (
    b"HTTP/1.1 413 Request Entity Too Large\r\n" + FIXED_DATE + b"Content-Length: 24\r\nConnection: close\r\n\r\n"
    b"Request Entity Too Large"
)


@pytest.fixture(autouse=True)
def _fixed_date(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fixed_date(monkeypatch)


@dataclass(frozen=True)
class FakeRoute:
    """What the protocol reads of a routing table's ``Route``: the router's own limit (None: the entrypoint's)."""

    body_limit: int | None


class Backend:
    """Stands in for a proxied backend: pumps the request body as the upstream connection does.

    A failed body fails the exchange as a closed upstream socket does (``UpstreamProtocolError``). With
    ``answer_when`` it answers once that event is set, whatever became of the body, like a backend that replies
    before reading the whole body.
    """

    def __init__(self, *, answer_when: asyncio.Event | None = None) -> None:
        self.calls = 0
        self.received = bytearray()
        self.answer_when = answer_when

    async def __call__(self, req: Request) -> Response:
        self.calls += 1
        body = req.body
        if isinstance(body, bytes):
            self.received += body
            return Response(200, Headers(), b"got %d" % len(body))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        received = self.received

        class Sink:
            def write(self, chunk: bytes) -> None:
                received.extend(chunk)

            def write_eof(self) -> None:
                done.set_result(None)

            def abort(self, exc: BaseException) -> None:
                done.set_exception(UpstreamProtocolError("backend connection closed"))

        body.pump(Sink())
        if self.answer_when is not None:
            done.add_done_callback(lambda f: f.exception())  # the exchange's outcome is not awaited
            await self.answer_when.wait()
            return Response(200, Headers(), b"early")
        await done
        return Response(200, Headers(), b"got %d" % len(received))


def routed(handler: Handler, body_limit: int | None):
    """A lookup that routes every request to ``handler`` on a router with ``body_limit``."""
    route = FakeRoute(body_limit)

    def lookup(req: Request) -> Handler:
        req.route = route
        return handler

    return lookup


def post(length: int, extra: bytes = b"") -> bytes:
    return b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%b\r\n" % (length, extra)


def chunked_post() -> bytes:
    return b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


# -- declared lengths --------------------------------------------------------------------------------------------------


@async_test
async def test_content_length_over_the_entrypoint_default_is_refused_before_any_handler() -> None:
    backend = Backend()
    c = Client(backend)  # the settings' default: 10 MiB
    c.send(post(10 * 1024 * 1024 + 1))
    await c.until(lambda: c.closed)
    assert c.output == TOO_LARGE
    assert backend.calls == 0
    assert c.seen[0].body.received == 0  # type: ignore[union-attr]


@async_test
async def test_content_length_at_the_limit_is_forwarded() -> None:
    backend = Backend()
    c = Client(backend, settings=make_settings(max_request_body_bytes=10))
    c.send(post(10) + b"0123456789")
    await c.until(lambda: bool(c.output))
    assert c.output.endswith(b"\r\n\r\ngot 10")
    assert not c.closed, "a body within the limit keeps the connection"
    await c.aclose()


@async_test
async def test_expect_100_continue_over_the_limit_gets_413_and_no_100_continue() -> None:
    backend = Backend()
    c = Client(backend, settings=make_settings(max_request_body_bytes=1000))
    c.send(post(1001, b"Expect: 100-continue\r\n"))
    await c.until(lambda: c.closed)
    assert c.output == TOO_LARGE
    assert b"100 Continue" not in c.output
    assert backend.calls == 0


@async_test
async def test_a_router_override_raises_the_limit_for_its_requests_only() -> None:
    backend = Backend()
    raised = routed(backend, 2000)

    def lookup(req: Request) -> Handler:
        return raised(req) if req.path == "/up" else backend

    c = Client(lookup=lookup, settings=make_settings(max_request_body_bytes=1000))
    c.send(post(1500) + b"u" * 1500)
    await c.until(lambda: bool(c.output))
    assert c.output.endswith(b"got 1500")
    c.transport.clear()
    c.send(b"POST /other HTTP/1.1\r\nHost: x\r\nContent-Length: 1500\r\n\r\n")
    await c.until(lambda: c.closed)
    assert c.output == TOO_LARGE, "a router without buffering keeps the entrypoint's limit"


@async_test
async def test_a_router_override_lowers_the_limit() -> None:
    backend = Backend()
    c = Client(lookup=routed(backend, 10), settings=make_settings(max_request_body_bytes=1000))
    c.send(post(11))
    await c.until(lambda: c.closed)
    assert c.output == TOO_LARGE
    assert backend.calls == 0


@pytest.mark.parametrize(
    ("entrypoint", "router"),
    [pytest.param(0, None, id="entrypoint-0"), pytest.param(1000, 0, id="router-0")],
)
@async_test
async def test_zero_means_no_limit(entrypoint: int, router: int | None) -> None:
    backend = Backend()
    c = Client(lookup=routed(backend, router), settings=make_settings(max_request_body_bytes=entrypoint))
    data = b"z" * 5000
    c.send(post(len(data)) + data)
    await c.until(lambda: bool(c.output))
    assert c.output.endswith(b"got 5000")
    await c.aclose()


@async_test
async def test_a_request_without_a_body_is_unaffected_by_a_tiny_limit() -> None:
    c = Client(Backend(), settings=make_settings(max_request_body_bytes=1))
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: bool(c.output))
    assert c.output.endswith(b"got 0")
    assert c.seen[0].body == b""
    await c.aclose()


# -- streamed (chunked) bodies ---------------------------------------------------------------------------------------


@async_test
async def test_chunked_body_passing_the_limit_gets_413_and_the_backend_gets_no_more_than_the_limit() -> None:
    backend = Backend()
    c = Client(backend, settings=make_settings(max_request_body_bytes=1000))
    c.send(chunked_post() + chunk(b"a" * 600))
    await c.until(lambda: len(backend.received) == 600)
    c.send(chunk(b"b" * 600))
    await c.until(lambda: c.closed)
    assert c.output == TOO_LARGE
    assert bytes(backend.received) == b"a" * 600, "the chunk that passes the limit is never delivered"
    assert c.transport.paused, "reading the client stops once the body passed the limit"


@async_test
async def test_chunked_body_ending_at_the_limit_is_forwarded_whole() -> None:
    backend = Backend()
    c = Client(backend, settings=make_settings(max_request_body_bytes=1000))
    c.send(chunked_post() + chunk(b"a" * 600) + chunk(b"b" * 400) + b"0\r\n\r\n")
    await c.until(lambda: bool(c.output))
    assert c.output.endswith(b"got 1000")
    assert not c.closed
    await c.aclose()


@async_test
async def test_a_whole_chunked_request_in_one_packet_is_judged_against_the_routers_limit() -> None:
    # The body arrives before the request is routed; the entrypoint's 1000 must not fail it when the router allows
    # 5000, and the router's limit must still apply to what already arrived.
    data = b"c" * 3000
    wire = chunked_post() + chunk(data) + b"0\r\n\r\n"
    raised = Backend()
    c = Client(lookup=routed(raised, 5000), settings=make_settings(max_request_body_bytes=1000))
    c.send(wire)
    await c.until(lambda: bool(c.output))
    assert c.output.endswith(b"got 3000")
    await c.aclose()

    lowered = Backend()
    c = Client(lookup=routed(lowered, 2000), settings=make_settings(max_request_body_bytes=1000))
    c.send(wire)
    await c.until(lambda: bool(c.output))
    await c.until(lambda: c.closed)
    assert c.output == TOO_LARGE, "over the limit the connection closes, even with the whole body read (as Go)"
    assert lowered.calls == 0


@async_test
async def test_a_response_that_raced_the_overflow_is_replaced_by_413() -> None:
    answer = asyncio.Event()
    backend = Backend(answer_when=answer)
    c = Client(backend, settings=make_settings(max_request_body_bytes=100))
    c.send(chunked_post() + chunk(b"a" * 60))
    await c.until(lambda: len(backend.received) == 60)
    c.send(chunk(b"b" * 60))
    answer.set()  # the backend answers after the body passed the limit, before its answer is written
    await c.until(lambda: c.closed)
    assert c.output == TOO_LARGE
    assert bytes(backend.received) == b"a" * 60


@async_test
async def test_overflow_after_the_response_started_stops_reading_and_closes_after_the_response() -> None:
    out = StreamBody(None)

    async def streaming(req: Request) -> Response:
        # Answers at once with a streamed response and never reads the request body.
        out.feed(b"partial")
        return Response(200, Headers(), out)

    c = Client(streaming, settings=make_settings(max_request_body_bytes=100))
    c.send(chunked_post() + chunk(b"a" * 50))
    await c.until(lambda: b"partial" in c.output)
    c.send(chunk(b"b" * 60))
    assert c.transport.paused, "the body passed its limit: the client is no longer read"
    out.feed(b" rest")
    out.feed_eof()
    await c.until(lambda: c.closed)
    assert c.output.startswith(b"HTTP/1.1 200 OK\r\n"), "the response had started: it is not replaced"
    assert b"Connection: close\r\n" in c.output
    assert c.output.endswith(b"0\r\n\r\n")
