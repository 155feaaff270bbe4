"""``grpcWeb`` without sockets: request and response translation, trailers frame, text mode, CORS preflight."""

from __future__ import annotations

import asyncio
import base64
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares.grpc_web import GrpcWeb, trailer_frame


def frame(message: bytes, flag: int = 0) -> bytes:
    return struct.pack(">BI", flag, len(message)) + message


class Backend:
    """A gRPC backend stand-in: records the translated request, answers a streamed body with trailers."""

    def __init__(self, trailers: list[tuple[bytes, bytes]] | None = None, headers_only: bool = False) -> None:
        self.seen: Request | None = None
        self.body = b""
        self.trailers = trailers if trailers is not None else [(b"grpc-status", b"0"), (b"grpc-message", b"")]
        self.headers_only = headers_only

    async def __call__(self, req: Request) -> Response:
        self.seen = req
        body = req.body
        self.body = body if isinstance(body, bytes) else await body.read()
        if self.headers_only:  # a trailers-only answer: grpc-status in the headers, no body
            return Response(200, Headers([(b"content-type", b"application/grpc"), (b"grpc-status", b"5")]), b"")
        out = StreamBody(None)
        out.feed(frame(b"answer"))
        out.trailers = self.trailers
        out.feed_eof()
        return Response(200, Headers([(b"content-type", b"application/grpc+proto"), (b"content-length", b"9")]), out)


def web_request(body: bytes | StreamBody, content_type: str = "application/grpc-web+proto", **headers: str) -> Request:
    raw = [(b"Content-Type", content_type.encode()), (b"Content-Length", b"11")]
    raw += [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return Request("POST", "/pkg.Svc/Call", Headers(raw), body=body)


async def read(response: Response) -> bytes:
    body = response.body
    return body if isinstance(body, bytes) else await body.read()


def test_a_grpc_web_call_becomes_grpc_and_its_trailers_the_last_frame() -> None:
    async def run() -> None:
        backend = Backend([(b"grpc-status", b"0"), (b"grpc-message", b"fine"), (b"X-Custom", b"v")])
        middleware = GrpcWeb(backend, ("https://app.example",), "gw")
        response = await middleware(web_request(frame(b"question"), Origin="https://app.example"))
        seen = backend.seen
        assert seen is not None
        assert seen.headers.get("content-type") == "application/grpc+proto"
        assert seen.headers.get("content-length") is None
        assert seen.headers.get("te") == "trailers"
        assert backend.body == frame(b"question")
        assert response.headers.get("content-type") == "application/grpc-web+proto"
        assert response.headers.get("content-length") is None
        assert response.headers.get("access-control-allow-origin") == "https://app.example"
        assert response.headers.get("access-control-allow-credentials") == "true"
        expose = response.headers.get("access-control-expose-headers") or ""
        assert expose.endswith("grpc-status, grpc-message")
        assert "Content-Type" in expose
        data = await read(response)
        trailer = b"grpc-message: fine\r\ngrpc-status: 0\r\nx-custom: v\r\n"
        assert data == frame(b"answer") + frame(trailer, 0x80)

    asyncio.run(run())


def test_grpc_web_text_is_base64_both_ways_and_streams_in_pieces() -> None:
    async def run() -> None:
        backend = Backend()
        encoded = base64.b64encode(frame(b"question-of-some-length"))
        body = StreamBody(None)
        for i in range(0, len(encoded), 5):  # pieces that split base64 quanta
            body.feed(encoded[i : i + 5])
        body.feed_eof()
        response = await GrpcWeb(backend, ("*",), "gw")(web_request(body, "application/grpc-web-text"))
        assert backend.body == frame(b"question-of-some-length")
        assert backend.seen is not None
        assert backend.seen.headers.get("content-type") == "application/grpc"
        assert response.headers.get("content-type") == "application/grpc-web-text+proto"
        data = await read(response)
        # Each chunk is its own padded base64 segment, as Go's writer flushes them.
        first = base64.b64encode(frame(b"answer"))
        assert data.startswith(first)
        assert base64.b64decode(data[len(first) :]) == frame(b"grpc-message: \r\ngrpc-status: 0\r\n", 0x80)

    asyncio.run(run())


def test_a_trailers_only_answer_keeps_grpc_status_in_the_headers_and_an_empty_trailer_frame() -> None:
    async def run() -> None:
        response = await GrpcWeb(Backend(headers_only=True), ("*",), "gw")(web_request(frame(b"q")))
        assert response.headers.get("grpc-status") == "5"
        assert await read(response) == frame(b"", 0x80)

    asyncio.run(run())


def test_an_origin_not_allowed_is_still_proxied_without_cors_headers() -> None:
    async def run() -> None:
        backend = Backend()
        response = await GrpcWeb(backend, ("https://good.example",), "gw")(
            web_request(frame(b"q"), Origin="https://evil.example")
        )
        assert backend.seen is not None
        assert response.headers.get("access-control-allow-origin") is None
        assert response.headers.get("vary") == "Origin"

    asyncio.run(run())


@pytest.mark.parametrize(
    ("origin", "method", "allowed"),
    [
        ("https://app.example", "POST", True),
        ("https://other.example", "POST", False),
        ("https://app.example", "DELETE", False),
        ("", "POST", False),
    ],
)
def test_preflights_for_grpc_web_are_answered_as_rs_cors_does(origin: str, method: str, allowed: bool) -> None:
    async def run() -> None:
        backend = Backend()
        raw = [
            (b"Access-Control-Request-Method", method.encode()),
            (b"Access-Control-Request-Headers", b"content-type,x-grpc-web,x-user-agent"),
        ]
        if origin:
            raw.append((b"Origin", origin.encode()))
        req = Request("OPTIONS", "/pkg.Svc/Call", Headers(raw))
        response = await GrpcWeb(backend, ("https://app.example",), "gw")(req)
        assert backend.seen is None  # a preflight never reaches the backend
        assert response.status == 204
        assert response.headers.get("vary") == "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
        if allowed:
            assert response.headers.get("access-control-allow-origin") == origin
            assert response.headers.get("access-control-allow-methods") == method
            assert response.headers.get("access-control-allow-headers") == "content-type,x-grpc-web,x-user-agent"
            assert response.headers.get("access-control-allow-credentials") == "true"
            assert response.headers.get("access-control-max-age") == "600"
        else:
            assert response.headers.get("access-control-allow-origin") is None

    asyncio.run(run())


def test_other_requests_pass_through_untouched() -> None:
    async def run() -> None:
        backend = Backend()
        req = Request("POST", "/x", Headers([(b"Content-Type", b"application/grpc")]), body=frame(b"q"))
        response = await GrpcWeb(backend, ("*",), "gw")(req)
        assert backend.seen is req
        assert response.headers.get("content-type") == "application/grpc+proto"

    asyncio.run(run())


@given(
    st.lists(st.tuples(st.sampled_from([b"grpc-status", b"Grpc-Message", b"x-a", b"trailer"]), st.binary(max_size=8)))
)
def test_the_trailer_frame_is_length_prefixed_lower_case_and_sorted(trailers: list[tuple[bytes, bytes]]) -> None:
    out = trailer_frame(trailers, frozenset({b"x-a"}))
    assert out[0] == 0x80
    block = out[5:]
    assert int.from_bytes(out[1:5], "big") == len(block)
    expected = sorted((n.lower(), v) for n, v in trailers if n.lower() not in (b"x-a", b"trailer"))
    assert block == b"".join(b"%s: %s\r\n" % pair for pair in expected)


@given(st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=5), st.data())
def test_grpc_web_text_decoding_survives_any_split_and_flushed_segments(
    messages: list[bytes], data: st.DataObject
) -> None:
    # A client that flushes after each message sends one padded base64 segment per message.
    encoded = b"".join(base64.b64encode(frame(m)) for m in messages)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(encoded) - 1)), max_size=6)))

    async def run() -> bytes:
        backend = Backend()
        body = StreamBody(None)
        start = 0
        for cut in [*cuts, len(encoded)]:
            if cut > start:
                body.feed(encoded[start:cut])
                start = cut
        body.feed_eof()
        await GrpcWeb(backend, ("*",), "gw")(web_request(body, "application/grpc-web-text"))
        return backend.body

    assert asyncio.run(run()) == b"".join(frame(m) for m in messages)
