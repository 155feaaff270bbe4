"""``retry``: network-error retries (Traefik 3.6), v3.7 status retries with body replay, backoff, config errors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fakes import FakeClock
from hanzo_edge.config.middlewares import Retry as RetryConfig
from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.errors import (
    ClientClosed,
    ConnectError,
    DialTimeout,
    NoAvailableServer,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares.base import BuildContext
from hanzo_edge.middlewares.retry import Retry, parse_status_ranges

REFUSED = ConnectError("dial tcp 127.0.0.1:1: connection refused")
DIAL_TIMEOUT = DialTimeout("dial tcp 10.0.0.1:80: i/o timeout")
HEADER_TIMEOUT = UpstreamTimeout("timeout awaiting response headers")
RESET = UpstreamProtocolError("backend closed the connection")


class Backend:
    """Answers with the scripted outcomes in turn (the last one repeats) and records the bodies it received."""

    def __init__(self, *outcomes: Response | Exception | int) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0
        self.bodies: list[bytes] = []

    async def __call__(self, req: Request) -> Response:
        self.calls += 1
        outcome = self.outcomes[min(self.calls, len(self.outcomes)) - 1]
        if isinstance(outcome, Exception):
            raise outcome  # before reading the body, as a failed dial does
        body = req.body
        self.bodies.append(body if isinstance(body, bytes) else await body.read())
        if isinstance(outcome, int):
            return Response(outcome, Headers(), b"status %d" % outcome)
        return outcome


def _build(next: Any, clock: FakeClock | None = None, **options: Any) -> tuple[Retry, list[float]]:
    middleware = Retry(next, RetryConfig(**options), name="r@file", ctx=BuildContext(clock=clock or FakeClock(100.0)))
    sleeps: list[float] = []

    async def sleep(delay: float) -> None:
        sleeps.append(delay)

    middleware.sleep = sleep
    middleware.random = lambda: 0.5
    return middleware, sleeps


def _stream(data: bytes, length: int | None = None) -> StreamBody:
    body = StreamBody(None, length)
    body.feed(data)
    body.feed_eof()
    return body


def _request(method: str = "GET", body: bytes | StreamBody = b"") -> Request:
    return Request(method, "/", Headers([(b"Host", b"app.test")]), host="app.test", body=body)


def _outcome(middleware: Retry, req: Request) -> int | str:
    async def go() -> int | str:
        try:
            response = await middleware(req)
        except (UpstreamError, NoAvailableServer) as exc:
            return type(exc).__name__
        return response.status

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("options", "method", "outcomes", "result", "calls"),
    [
        pytest.param({"attempts": 3}, "GET", [REFUSED, 200], 200, 2, id="refused-then-ok"),
        pytest.param({"attempts": 3}, "POST", [REFUSED, 200], 200, 2, id="network-retry-any-method"),
        pytest.param({"attempts": 3}, "GET", [REFUSED], "ConnectError", 3, id="all-refused"),
        pytest.param({"attempts": 3}, "GET", [DIAL_TIMEOUT, 200], 200, 2, id="dial-timeout"),
        pytest.param({"attempts": 3}, "GET", [HEADER_TIMEOUT, 200], "UpstreamTimeout", 1, id="header-timeout-final"),
        pytest.param({"attempts": 3}, "GET", [RESET, 200], "UpstreamProtocolError", 1, id="sent-then-reset-final"),
        pytest.param({"attempts": 3}, "GET", [500, 200], 500, 1, id="any-response-final"),
        pytest.param({"attempts": 3}, "GET", [NoAvailableServer("s"), 200], "NoAvailableServer", 1, id="lb-503"),
        pytest.param({"attempts": 1}, "GET", [REFUSED, 200], "ConnectError", 1, id="one-attempt"),
        pytest.param({"attempts": 3, "status": ["500-599"]}, "GET", [500, 503, 200], 200, 3, id="status-range"),
        pytest.param({"attempts": 2, "status": ["500-599"]}, "GET", [500, 503], 503, 2, id="last-served-as-is"),
        pytest.param({"attempts": 3, "status": ["500-599"]}, "POST", [500, 200], 500, 1, id="post-not-idempotent"),
        pytest.param({"attempts": 3, "status": ["500"]}, "PATCH", [500, 200], 500, 1, id="patch-not-idempotent"),
        pytest.param(
            {"attempts": 3, "status": ["500"], "retry_non_idempotent_method": True},
            "POST",
            [500, 200],
            200,
            2,
            id="post-allowed",
        ),
        pytest.param({"attempts": 3, "status": ["429", "503"]}, "GET", [429, 200], 200, 2, id="status-list"),
        pytest.param(
            {"attempts": 3, "status": ["503"]}, "GET", [NoAvailableServer("s"), 200], 200, 2, id="lb-503-by-status"
        ),
        pytest.param({"attempts": 3, "status": ["502"]}, "GET", [RESET, 200], 200, 2, id="proxy-502-by-status"),
        pytest.param(
            {"attempts": 3, "status": ["502"], "disable_retry_on_network_error": True},
            "GET",
            [REFUSED, 200],
            200,
            2,
            id="network-disabled-status-502",
        ),
        pytest.param(
            {"attempts": 3, "status": ["500"], "disable_retry_on_network_error": True},
            "GET",
            [REFUSED, 200],
            "ConnectError",
            1,
            id="network-disabled",
        ),
    ],
)
def test_retry_decisions(
    options: dict[str, Any], method: str, outcomes: list[Any], result: int | str, calls: int
) -> None:
    backend = Backend(*outcomes)
    middleware, _ = _build(backend, **options)
    req = _request(method)
    assert _outcome(middleware, req) == result
    assert backend.calls == calls
    if options["attempts"] > 1:
        assert req.retry_attempts == calls - 1
    else:
        assert req.retry_attempts is None  # the middleware did not run as a retry


def test_backoff_grows_to_twice_the_initial_interval_with_jitter() -> None:
    backend = Backend(REFUSED)
    middleware, sleeps = _build(backend, attempts=4, initial_interval=0.1)
    assert _outcome(middleware, _request()) == "ConnectError"
    assert sleeps == pytest.approx([0.1, 0.1 * 2 ** (1 / 3), 0.1 * 2 ** (2 / 3)])
    middleware.random = lambda: 0.0
    sleeps.clear()
    _outcome(middleware, _request())
    assert sleeps == pytest.approx([0.05, 0.05 * 2 ** (1 / 3), 0.05 * 2 ** (2 / 3)])


def test_no_backoff_without_initial_interval() -> None:
    middleware, sleeps = _build(Backend(REFUSED), attempts=3)
    _outcome(middleware, _request())
    assert sleeps == []


def test_timeout_stops_retrying() -> None:
    clock = FakeClock(100.0)

    class Slow(Backend):
        async def __call__(self, req: Request) -> Response:
            clock.now += 0.6
            return await super().__call__(req)

    backend = Slow(503)
    middleware, _ = _build(backend, clock, attempts=5, status=["503"], timeout=1.0)
    assert _outcome(middleware, _request()) == 503
    assert backend.calls == 2


@pytest.mark.parametrize(
    ("max_body", "body", "calls", "bodies"),
    [
        pytest.param(10, lambda: _stream(b"0123456789"), 2, [b"0123456789"] * 2, id="buffered-and-replayed"),
        pytest.param(4, lambda: _stream(b"0123456789"), 1, [b"0123456789"], id="too-large-rejoined"),
        pytest.param(4, lambda: _stream(b"0123456789", 10), 1, [b"0123456789"], id="declared-too-large-untouched"),
        pytest.param(-1, lambda: _stream(b"x" * 5000), 2, [b"x" * 5000] * 2, id="unlimited"),
    ],
)
def test_status_retry_replays_a_buffered_body(max_body: int, body: Any, calls: int, bodies: list[bytes]) -> None:
    backend = Backend(503, 200)
    middleware, _ = _build(backend, attempts=3, status=["503"], max_request_body_bytes=max_body)
    req = _request("PUT", body())
    assert _outcome(middleware, req) == (200 if calls == 2 else 503)
    assert backend.bodies == bodies


def test_network_retry_does_not_touch_the_stream() -> None:
    backend = Backend(REFUSED, 200)
    middleware, _ = _build(backend, attempts=2)
    body = _stream(b"payload")
    req = _request("POST", body)
    assert _outcome(middleware, req) == 200
    assert req.body is body
    assert backend.bodies == [b"payload"]


def test_a_consumed_body_is_not_retried() -> None:
    class Consuming(Backend):
        async def __call__(self, req: Request) -> Response:
            self.calls += 1
            assert isinstance(req.body, StreamBody)
            await req.body.read()
            raise REFUSED

    backend = Consuming()
    middleware, _ = _build(backend, attempts=3)
    assert _outcome(middleware, _request("POST", _stream(b"abc"))) == "ConnectError"
    assert backend.calls == 1


def test_retried_responses_are_drained() -> None:
    first = StreamBody(None, 5)
    first.feed(b"abcde")
    first.feed_eof()
    backend = Backend(Response(503, Headers(), first), 200)
    middleware, _ = _build(backend, attempts=2, status=["503"])
    assert _outcome(middleware, _request()) == 200
    assert first.consumed


def test_client_closed_is_never_retried() -> None:
    backend = Backend(ClientClosed("gone"), 200)
    middleware, _ = _build(backend, attempts=3, status=["499"])
    assert _outcome(middleware, _request()) == "ClientClosed"
    assert backend.calls == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"attempts": 0}, r"incorrect \(or empty\) value for attempt \(0\)", id="zero"),
        pytest.param({"attempts": -2}, r"value for attempt \(-2\)", id="negative"),
        pytest.param(
            {"attempts": 2, "disable_retry_on_network_error": True},
            "requires at least HTTP status codes or retry on TCP",
            id="nothing-to-retry",
        ),
        pytest.param({"attempts": 2, "status": ["5xx"]}, "creating HTTP code ranges", id="bad-range"),
    ],
)
def test_config_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _build(Backend(), **options)


@pytest.mark.parametrize(
    ("blocks", "ranges"),
    [
        pytest.param(["500"], ((500, 500),), id="single"),
        pytest.param(["500-599"], ((500, 599),), id="range"),
        pytest.param(["500,502-504"], ((500, 500), (502, 504)), id="comma"),
    ],
)
def test_parse_status_ranges(blocks: list[str], ranges: tuple[tuple[int, int], ...]) -> None:
    assert parse_status_ranges(blocks) == ranges
