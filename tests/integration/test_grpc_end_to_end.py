"""gRPC through the real CLI, end to end: ``grpcio`` clients → ingress (h2c prior knowledge) → ``grpc.aio`` backend.

Unary and streaming calls in both directions with their trailers (status, message, trailing metadata); a streamed
message reaches the other side before the call ends (a bidi call that only sends its next message once the answer to
the previous one arrived would deadlock on any buffering); a backend failure is what gRPC clients expect
(``UNAVAILABLE``, never a hang); and gRPC-Web over plain HTTP/1.1 through the ``grpcWeb`` middleware.
"""

from __future__ import annotations

import base64
import queue
import socket
import threading
from collections.abc import Iterator

import grpc
import pytest
from edge_harness import catch_all, http_request

from conftest import IngressFactory
from grpc_backends import SERVICE, GrpcBackend, grpc_frame, grpc_messages

pytestmark = pytest.mark.integration


def _identity(value: bytes) -> bytes:
    return value


@pytest.fixture
def grpc_backend() -> Iterator[GrpcBackend]:
    backend = GrpcBackend().start()
    yield backend
    backend.stop()


@pytest.fixture
def channel(ingress: IngressFactory, grpc_backend: GrpcBackend) -> Iterator[grpc.Channel]:
    proxy = ingress(catch_all(grpc_backend.url))
    with grpc.insecure_channel(f"127.0.0.1:{proxy.port}") as chan:
        yield chan


def method(chan: grpc.Channel, kind: str, name: str) -> grpc.UnaryUnaryMultiCallable:
    factory = getattr(chan, kind)
    return factory(f"/{SERVICE}/{name}", request_serializer=_identity, response_deserializer=_identity)  # type: ignore[no-any-return]


def test_unary_with_metadata_and_trailers(channel: grpc.Channel, grpc_backend: GrpcBackend) -> None:
    unary = method(channel, "unary_unary", "Unary")
    answer, call = unary.with_call(b"hello", metadata=(("x-client", "c1"),), timeout=10)
    assert answer == b"echo:hello"
    assert call.code() == grpc.StatusCode.OK
    assert ("x-echo-trailer", "done") in call.trailing_metadata()
    assert grpc_backend.metadata[-1]["x-client"] == "c1"
    assert grpc_backend.metadata[-1]["x-forwarded-for"] == "127.0.0.1"


def test_an_error_status_and_message_come_back_as_trailers(channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as info:
        method(channel, "unary_unary", "Unary")(b"fail", timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == "bad request: fail"


def test_server_streaming_messages_arrive_before_the_call_ends(channel: grpc.Channel) -> None:
    stream = method(channel, "unary_stream", "ServerStream")(b"5", timeout=10)
    first = next(stream)
    assert first == b"item-0"
    assert [first, *stream] == [b"item-%d" % i for i in range(5)]
    assert stream.code() == grpc.StatusCode.OK


def test_client_streaming(channel: grpc.Channel) -> None:
    answer = method(channel, "stream_unary", "ClientStream")(iter([b"a", b"b", b"c"]), timeout=10)
    assert answer == b"a+b+c"


def test_bidi_each_message_is_forwarded_as_it_arrives(channel: grpc.Channel) -> None:
    answers: queue.Queue[bytes] = queue.Queue()
    done = threading.Event()

    def requests() -> Iterator[bytes]:
        for i in range(5):
            yield b"m%d" % i
            # The next message goes only once the answer to this one came back through the proxy: any buffering
            # on either leg would stall the call here.
            assert answers.get(timeout=10) == b"re:m%d" % i
        done.wait(10)  # keep the request side open: the answers above came while the call was in progress

    call = method(channel, "stream_stream", "Bidi")(requests(), timeout=20)
    got = []
    for answer in call:
        answers.put(answer)
        got.append(answer)
        if len(got) == 5:
            break
    call.cancel()
    done.set()
    assert got == [b"re:m%d" % i for i in range(5)]


def test_bidi_ends_with_its_status_after_the_client_half_closes(channel: grpc.Channel) -> None:
    answers: queue.Queue[bytes] = queue.Queue()

    def requests() -> Iterator[bytes]:
        yield b"a"
        answers.get(timeout=3)  # half-close only once the response is streaming

    call = method(channel, "stream_stream", "Bidi")(requests(), timeout=3)
    got = []
    for answer in call:
        answers.put(answer)
        got.append(answer)
    assert got == [b"re:a"]
    assert call.code() == grpc.StatusCode.OK


def test_a_dead_backend_is_unavailable_to_grpc_clients_at_once(ingress: IngressFactory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    proxy = ingress(catch_all(f"h2c://127.0.0.1:{dead}"))
    with grpc.insecure_channel(f"127.0.0.1:{proxy.port}") as chan, pytest.raises(grpc.RpcError) as info:
        method(chan, "unary_unary", "Unary")(b"x", timeout=10)
    # The proxy answers 502 Bad Gateway; gRPC maps HTTP 502 to UNAVAILABLE.
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "502" in (info.value.details() or "")


def test_a_silent_backend_is_unavailable_after_the_response_header_timeout(ingress: IngressFactory) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel accepts; nothing ever answers
    try:
        config = catch_all(f"h2c://127.0.0.1:{silent.getsockname()[1]}", serversTransport="slow")
        config["http"]["serversTransports"] = {"slow": {"forwardingTimeouts": {"responseHeaderTimeout": "300ms"}}}
        proxy = ingress(config)
        with grpc.insecure_channel(f"127.0.0.1:{proxy.port}") as chan, pytest.raises(grpc.RpcError) as info:
            method(chan, "unary_unary", "Unary")(b"x", timeout=10)
        # 504 Gateway Timeout, which gRPC maps to UNAVAILABLE: well before the client's own deadline.
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "504" in (info.value.details() or "")
    finally:
        silent.close()


def test_grpc_web_over_http11_reaches_the_grpc_backend(ingress: IngressFactory, grpc_backend: GrpcBackend) -> None:
    config = catch_all(grpc_backend.url)
    config["http"]["routers"]["all"]["middlewares"] = ["gw"]
    config["http"]["middlewares"] = {"gw": {"grpcWeb": {"allowOrigins": ["https://app.example"]}}}
    proxy = ingress(config)
    headers = {"Host": "app.test", "Origin": "https://app.example", "X-Grpc-Web": "1"}
    resp = http_request(
        proxy.port,
        "POST",
        f"/{SERVICE}/Unary",
        headers={**headers, "Content-Type": "application/grpc-web+proto"},
        body=grpc_frame(b"web"),
    )
    assert resp.status == 200
    assert resp.header("content-type") == "application/grpc-web"  # the backend answered application/grpc
    assert resp.header("access-control-allow-origin") == "https://app.example"
    frames = grpc_messages(resp.body)
    assert frames[0] == (0, b"echo:web")
    flag, trailer = frames[-1]
    assert flag == 0x80
    assert b"grpc-status: 0\r\n" in trailer
    assert b"x-echo-trailer: done\r\n" in trailer

    text = http_request(
        proxy.port,
        "POST",
        f"/{SERVICE}/Unary",
        headers={**headers, "Content-Type": "application/grpc-web-text"},
        body=base64.b64encode(grpc_frame(b"txt")),
    )
    assert text.header("content-type") == "application/grpc-web-text"
    decoded = b"".join(base64.b64decode(part + b"=" * (-len(part) % 4)) for part in _segments(text.body))
    assert grpc_messages(decoded)[0] == (0, b"echo:txt")

    preflight = http_request(
        proxy.port,
        "OPTIONS",
        f"/{SERVICE}/Unary",
        headers={
            **headers,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-grpc-web",
        },
    )
    assert preflight.status == 204
    assert preflight.header("access-control-allow-origin") == "https://app.example"
    assert grpc_backend.calls == ["Unary", "Unary"]  # the preflight never reached the backend


def _segments(data: bytes) -> list[bytes]:
    """Split concatenated padded base64 segments (each flushed chunk is padded on its own)."""
    out: list[bytes] = []
    start = 0
    for i in range(0, len(data), 4):
        if data[i : i + 4].endswith(b"="):
            out.append(data[start : i + 4])
            start = i + 4
    if start < len(data):
        out.append(data[start:])
    return out
