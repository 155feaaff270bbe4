"""``buffering``: the streaming body limit, full buffering with limits and spooling, and retry expressions."""

from __future__ import annotations

import asyncio
import gc
import re
from collections.abc import Callable
from typing import Any

import pytest

from hanzo_edge.config.middlewares import Buffering as BufferingConfig
from hanzo_edge.http.body import StreamBody, body_bytes
from hanzo_edge.http.errors import ConnectError, NoAvailableServer, UpstreamError, UpstreamProtocolError
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares.base import BuildContext
from hanzo_edge.middlewares.buffering import (
    Buffering,
    StreamingBodyLimit,
    _Attempt,
    parse_retry_expression,
)


def _stream(chunks: list[bytes], length: int | None = None, eof: bool = True) -> StreamBody:
    body = StreamBody(None, length)
    for chunk in chunks:
        body.feed(chunk)
    if eof:
        body.feed_eof()
    return body


def _request(body: bytes | StreamBody = b"", method: str = "POST") -> Request:
    return Request(method, "/upload", Headers([(b"Host", b"app.test")]), host="app.test", body=body)


class Upstream:
    """A fake backend: pumps the request body like an upstream connection and answers with canned responses.

    A body failure while it is being sent fails the exchange with UpstreamProtocolError (as a closed socket does).
    """

    def __init__(self, *answers: Response | Exception) -> None:
        self.answers = list(answers) or [Response(200, Headers(), b"ok")]
        self.bodies: list[bytes] = []
        self.calls = 0

    async def __call__(self, req: Request) -> Response:
        self.calls += 1
        body = req.body
        if isinstance(body, StreamBody):
            done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
            parts: list[bytes] = []

            class Sink:
                def write(self, chunk: bytes) -> None:
                    parts.append(chunk)

                def write_eof(self) -> None:
                    done.set_result(b"".join(parts))

                def abort(self, exc: BaseException) -> None:
                    done.set_exception(UpstreamProtocolError("backend closed the connection"))

            body.pump(Sink())
            self.bodies.append(await done)
        else:
            self.bodies.append(body)
        answer = self.answers[min(self.calls, len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


def _build(next: Any, **options: Any) -> Buffering:
    return Buffering(next, BufferingConfig(**options), name="buf@file", ctx=BuildContext())


def _run(handler: Callable[[Request], Any], req: Request) -> Response:
    async def go() -> Response:
        response: Response = await handler(req)
        response.body = await body_bytes(response.body)
        return response

    return asyncio.run(go())


# --------------------------------------------------------------------------------------------- streaming limit


@pytest.mark.parametrize(
    ("make_body", "status", "upstream_got"),
    [
        pytest.param(lambda: b"x" * 10, 200, b"x" * 10, id="bytes-at-limit"),
        pytest.param(lambda: b"x" * 11, 413, None, id="bytes-over-limit"),
        pytest.param(lambda: _stream([b"x" * 10], 10), 200, b"x" * 10, id="content-length-at-limit"),
        pytest.param(lambda: _stream([], 11, eof=False), 413, None, id="content-length-over-limit-unread"),
        pytest.param(lambda: _stream([b"abc", b"defg", b"hij"]), 200, b"abcdefghij", id="chunked-at-limit"),
        pytest.param(lambda: _stream([b"abcdef", b"ghijkl"]), 413, None, id="chunked-over-limit"),
    ],
)
def test_streaming_limit(make_body: Callable[[], bytes | StreamBody], status: int, upstream_got: bytes | None) -> None:
    upstream = Upstream()
    middleware = _build(upstream, max_request_body_bytes=10)
    assert middleware.limit is not None, "only maxRequestBodyBytes set: the streaming limit is used"
    response = _run(middleware, _request(make_body()))
    assert response.status == status
    if status == 413:
        assert response.body == b"Request Entity Too Large"
        assert response.headers.raw == []
    assert upstream.bodies == ([] if upstream_got is None else [upstream_got])


def test_streaming_limit_refuses_a_declared_length_without_calling_the_backend() -> None:
    upstream = Upstream()
    body = _stream([], 1000, eof=False)
    response = _run(StreamingBodyLimit(upstream, 10), _request(body))
    assert response.status == 413
    assert upstream.calls == 0
    assert body.received == 0
    assert not body.consumed


def test_streaming_limit_relays_lazily_and_keeps_chunked_framing() -> None:
    async def go() -> None:
        inner = _stream([b"abc"], None, eof=False)
        seen: list[StreamBody] = []

        async def next_handler(req: Request) -> Response:
            assert isinstance(req.body, StreamBody)
            seen.append(req.body)
            # Not consumed yet: nothing was taken from the client (100-continue is answered on first read).
            assert inner.consumed is False
            inner.feed(b"de")
            inner.feed_eof()
            data = await req.body.read()
            return Response(200, Headers(), data)

        response = await StreamingBodyLimit(next_handler, 5)(_request(inner))
        assert response.body == b"abcde"
        assert seen[0].length is None

    asyncio.run(go())


def test_streaming_limit_drops_a_response_that_raced_the_overflow() -> None:
    async def go() -> None:
        inner = _stream([b"123456"], None, eof=False)

        async def next_handler(req: Request) -> Response:
            assert isinstance(req.body, StreamBody)
            with pytest.raises(Exception, match="larger than 5"):
                await req.body.read()
            return Response(200, Headers(), b"early")

        response = await StreamingBodyLimit(next_handler, 5)(_request(inner))
        assert response.status == 413

    asyncio.run(go())


def test_streaming_limit_needs_a_positive_limit() -> None:
    with pytest.raises(ValueError, match="positive"):
        StreamingBodyLimit(Upstream(), 0)


# ----------------------------------------------------------------------------------------------- full buffering


@pytest.mark.parametrize(
    ("options", "body", "answer", "status", "sent", "out"),
    [
        pytest.param({}, lambda: _stream([b"ab", b"cd"]), None, 200, b"abcd", b"ok", id="dechunks-request"),
        pytest.param(
            {"max_request_body_bytes": 3, "max_response_body_bytes": 100},
            lambda: _stream([b"ab", b"cd"]),
            None,
            413,
            None,
            b"Request Entity Too Large",
            id="request-over-max-while-reading",
        ),
        pytest.param(
            {"max_request_body_bytes": 3, "retry_expression": "Attempts() < 2"},
            lambda: _stream([], 4, eof=False),
            None,
            413,
            None,
            b"Request Entity Too Large",
            id="declared-length-over-max",
        ),
        pytest.param(
            {"max_response_body_bytes": 4},
            lambda: b"",
            Response(200, Headers(), _stream([b"abc", b"de"])),
            500,
            b"",
            b"Internal Server Error",
            id="response-over-max",
        ),
        pytest.param(
            {"max_response_body_bytes": 5},
            lambda: b"",
            Response(200, Headers(), _stream([b"abc", b"de"])),
            200,
            b"",
            b"abcde",
            id="response-at-max",
        ),
        pytest.param(
            {"max_response_body_bytes": 1},
            lambda: b"",
            Response(204, Headers(), _stream([])),
            204,
            b"",
            b"",
            id="no-body-status-not-checked",
        ),
    ],
)
def test_full_buffering(
    options: dict[str, Any],
    body: Callable[[], bytes | StreamBody],
    answer: Response | None,
    status: int,
    sent: bytes | None,
    out: bytes,
) -> None:
    upstream = Upstream(*([answer] if answer else []))
    middleware = _build(upstream, **options)
    assert middleware.limit is None
    response = _run(middleware, _request(body()))
    assert (response.status, response.body) == (status, out)
    assert upstream.bodies == ([] if sent is None else [sent])


def test_full_buffering_sends_a_content_length_and_returns_bytes() -> None:
    async def go() -> None:
        seen: list[bytes | StreamBody] = []

        async def next_handler(req: Request) -> Response:
            seen.append(req.body)
            return Response(200, Headers(), _stream([b"re", b"sp"]))

        response = await _build(next_handler)(_request(_stream([b"x", b"y"])))
        assert seen == [b"xy"]
        assert response.body == b"resp"

    asyncio.run(go())


def test_large_bodies_spill_to_disk_and_replay_with_their_length() -> None:
    payload = bytes(range(256)) * 2048  # 512 KiB

    async def go() -> None:
        upstream = Upstream(
            Response(502, Headers(), b"bad"),
            Response(200, Headers(), _stream([payload[:100_000], payload[100_000:]])),
        )
        chunks = [payload[i : i + 65536] for i in range(0, len(payload), 65536)]
        middleware = _build(
            upstream,
            mem_request_body_bytes=1000,
            mem_response_body_bytes=1000,
            retry_expression="IsNetworkError() && Attempts() < 2",
        )
        response = await middleware(_request(_stream(chunks)))
        assert isinstance(response.body, StreamBody)
        assert response.body.length == len(payload)
        assert await response.body.read() == payload
        assert upstream.bodies == [payload, payload], "the spooled request is replayed whole on the retry"

    asyncio.run(go())
    gc.collect()  # the spool files are closed by their finalizers (a ResourceWarning would fail the test)


@pytest.mark.parametrize(
    ("expression", "answers", "status", "calls"),
    [
        pytest.param("", [Response(502)], 502, 1, id="no-expression"),
        pytest.param("IsNetworkError() && Attempts() < 2", [Response(502), Response(200)], 200, 2, id="retry-502"),
        pytest.param("IsNetworkError() && Attempts() < 2", [Response(504)] * 3, 504, 2, id="attempts-bound"),
        pytest.param("IsNetworkError() && Attempts() < 2", [Response(500), Response(200)], 500, 1, id="500-final"),
        pytest.param("ResponseCode() == 503", [NoAvailableServer("svc"), Response(200)], 200, 2, id="lb-503"),
        pytest.param("IsNetworkError()", [ConnectError("refused")] * 20, 502, 11, id="oxy-caps-at-10-retries"),
        pytest.param('RequestMethod() == "GET"', [Response(502), Response(200)], 502, 1, id="method-post"),
        pytest.param(
            "(ResponseCode() >= 500 && ResponseCode() != 501) || Attempts() == 0",
            [Response(503), Response(501)],
            501,
            2,
            id="parentheses",
        ),
    ],
)
def test_retry_expression_replays_the_request(
    expression: str, answers: list[Response | Exception], status: int, calls: int
) -> None:
    upstream = Upstream(*answers)
    middleware = _build(upstream, retry_expression=expression)

    async def go() -> int:
        try:
            response = await middleware(_request(_stream([b"data"])))
        except (UpstreamError, NoAvailableServer) as exc:
            return 503 if isinstance(exc, NoAvailableServer) else exc.status
        return response.status

    assert asyncio.run(go()) == status
    assert upstream.calls == calls
    assert upstream.bodies == [b"data"] * calls


@pytest.mark.parametrize(
    ("expression", "attempt", "expected"),
    [
        pytest.param("IsNetworkError()", _Attempt("GET", 1, 502), True, id="network-502"),
        pytest.param("IsNetworkError()", _Attempt("GET", 1, 500), False, id="network-500"),
        pytest.param("Attempts() <= 2", _Attempt("GET", 2, 0), True, id="le"),
        pytest.param("Attempts() > 2 || ResponseCode() == 418", _Attempt("GET", 1, 418), True, id="or"),
        pytest.param('RequestMethod() != "POST"', _Attempt("POST", 1, 0), False, id="method-neq"),
        pytest.param("RequestMethod() == `PUT`", _Attempt("PUT", 1, 0), True, id="backquote"),
    ],
)
def test_retry_expression_evaluation(expression: str, attempt: _Attempt, expected: bool) -> None:
    assert parse_retry_expression(expression)(attempt) is expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        pytest.param("Attempts()", "not a predicate", id="int-alone"),
        pytest.param("Foo()", "unknown function", id="unknown"),
        pytest.param("IsNetworkError() &&", "unexpected end", id="dangling"),
        pytest.param("!IsNetworkError()", "unexpected character", id="not"),
        pytest.param('Attempts() < "x"', "integer", id="int-vs-string"),
        pytest.param('RequestMethod() < "x"', "only == and !=", id="string-order"),
        pytest.param("__import__('os')", "unexpected character", id="no-python"),
        pytest.param("(IsNetworkError() || Attempts() < 2 Attempts()", "expected ')'", id="unbalanced"),
    ],
)
def test_invalid_retry_expressions_are_config_errors(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        _build(Upstream(), retry_expression=expression)


@pytest.mark.parametrize(
    "option",
    ["max_request_body_bytes", "mem_request_body_bytes", "max_response_body_bytes", "mem_response_body_bytes"],
)
def test_negative_sizes_are_config_errors(option: str) -> None:
    with pytest.raises(ValueError, match="should be >= 0"):
        _build(Upstream(), **{option: -1})
