"""The downstream HTTP/2 protocol (``http/h2/server.py``), frames in → frames out, with no sockets.

An ``h2`` client (``tests/h2_client.py``) is wired to ``H2Protocol`` through a recording transport
(``h2_wire.py``). These tests cover translation to the shared pipeline's request, responses and trailers,
multiplexing and flow control, refusal over ``maxConcurrentStreams``, RST_STREAM and GOAWAY draining, and the h2c
prior-knowledge hand-over from ``HttpProtocol``.
"""

from __future__ import annotations

import asyncio

import pytest
from edge_wire import Client, MockSource, async_test
from h2_wire import H2Wire, ok, settings_with

from h2_client import ErrorCodes, H2Peer
from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.h2.limits import H2Limits
from hanzo_edge.http.h2.server import H2Protocol
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response

SETTINGS = __import__("h2.settings", fromlist=["SettingCodes"]).SettingCodes


# -- translation ---------------------------------------------------------------------------------------------------


@async_test
async def test_get_is_served_through_the_shared_pipeline() -> None:
    wire = H2Wire()
    result = await wire.get(
        "/a/../b?x=1;y=2",
        authority="App.Example.com:8443",
        headers=[("user-agent", "t"), ("cookie", "a=1"), ("cookie", "b=2"), ("x-forwarded-for", "6.6.6.6")],
    )
    assert result.status == 200
    assert result.body == b"ok"
    assert result.header("content-length") == "2"
    assert result.header("content-type") == "text/plain"  # names lower-cased on the way out
    assert result.header("date")
    (req,) = wire.seen
    assert req.version == "2.0"  # the access log's RequestProtocol is HTTP/2.0
    assert req.method == "GET"
    assert req.host == "app.example.com"  # :authority is the host
    assert req.path == "/b"  # sanitizePath, as over HTTP/1.1
    assert req.query == "x=1&y=2"
    raw = req.headers.raw
    assert raw[0] == (b"Host", b"App.Example.com:8443")  # synthesised for an HTTP/1.1 backend
    assert (b"User-Agent", b"t") in raw  # Go's canonical names
    assert (b"Cookie", b"a=1; b=2") in raw  # RFC 9113 §8.2.3
    assert req.headers.get("x-forwarded-for") is None  # the untrusted client's X-Forwarded-For is dropped
    assert wire.observed[0][1:] == (200, 2, False)


@async_test
async def test_settings_advertise_the_limits() -> None:
    limits = H2Limits(max_concurrent_streams=7, max_header_list_size=9000, initial_window_size=70000)
    wire = H2Wire(settings=settings_with(limits))
    await wire.pump(lambda: wire.peer.server_settings)
    advertised = wire.peer.server_settings
    assert advertised[SETTINGS.MAX_CONCURRENT_STREAMS] == 7
    assert advertised[SETTINGS.MAX_HEADER_LIST_SIZE] == 9000
    assert advertised[SETTINGS.INITIAL_WINDOW_SIZE] == 70000


@async_test
async def test_request_body_and_streamed_response_with_trailers() -> None:
    async def echo_with_trailers(req: Request) -> Response:
        assert isinstance(req.body, StreamBody)
        data = await req.body.read()
        out = StreamBody(None)
        out.feed(data.upper())
        out.trailers = [(b"grpc-status", b"0"), (b"Grpc-Message", b"fine")]
        out.feed_eof()
        return Response(200, Headers([(b"Content-Type", b"application/grpc")]), out)

    wire = H2Wire(echo_with_trailers)
    sid = wire.peer.request("/svc", method="POST", body=b"hello", headers=[("content-length", "5")])
    await wire.pump(lambda: wire.peer.streams[sid].done)
    result = wire.peer.streams[sid]
    assert result.status == 200
    assert result.body == b"HELLO"
    assert result.trailers == [("grpc-status", "0"), ("grpc-message", "fine")]
    assert wire.seen[0].body.length == 5  # type: ignore[union-attr]


@async_test
async def test_connect_is_refused_on_its_stream_only() -> None:
    wire = H2Wire()
    sid = wire.peer.send_headers_raw(1, [(b":method", b"CONNECT"), (b":authority", b"example.com:443")])
    await wire.pump(lambda: wire.peer.streams[sid].done)
    assert wire.peer.streams[sid].status == 400
    assert wire.seen == []
    assert (await wire.get("/")).status == 200  # the connection goes on


@async_test
async def test_body_limit_answers_413_on_the_stream() -> None:
    wire = H2Wire(settings=settings_with(max_request_body_bytes=4))
    sid = wire.peer.request("/", method="POST", body=b"0123456789", headers=[("content-length", "10")])
    await wire.pump(lambda: wire.peer.streams[sid].done)
    assert wire.peer.streams[sid].status == 413
    assert (await wire.get("/")).status == 200


@async_test
async def test_head_response_keeps_its_length_and_sends_no_body() -> None:
    async def sized(req: Request) -> Response:
        return Response(200, Headers(), b"12345")

    wire = H2Wire(sized)
    result = await wire.get("/", method="HEAD")
    assert result.status == 200
    assert result.header("content-length") == "5"
    assert result.body == b""


@async_test
async def test_connection_specific_response_headers_are_removed() -> None:
    async def hop(req: Request) -> Response:
        headers = Headers(
            [(b"Connection", b"close, X-Hop"), (b"X-Hop", b"1"), (b"Keep-Alive", b"t=5"), (b"X-Kept", b"2")]
        )
        return Response(200, headers, b"")

    result = await H2Wire(hop).get("/")
    names = [n for n, _ in result.headers]
    assert "connection" not in names
    assert "keep-alive" not in names
    assert "x-hop" not in names
    assert result.header("x-kept") == "2"


# -- multiplexing and flow control ---------------------------------------------------------------------------------


@async_test
async def test_a_stream_with_a_shut_window_does_not_stall_the_others() -> None:
    big = b"x" * 1000

    async def sized(req: Request) -> Response:
        return Response(200, Headers(), big if req.path == "/big" else b"small")

    # The client grants 100 bytes per stream and gives nothing back on its own.
    wire = H2Wire(sized, client_settings={SETTINGS.INITIAL_WINDOW_SIZE: 100}, auto_window=False)
    await wire.settle()
    slow = wire.peer.request("/big")
    fast = wire.peer.request("/small")
    await wire.pump(lambda: wire.peer.streams[fast].done)
    assert wire.peer.streams[fast].body == b"small"
    assert wire.peer.streams[slow].body == b"x" * 100
    assert not wire.peer.streams[slow].done
    wire.peer.conn.increment_flow_control_window(2000, stream_id=slow)
    wire.peer.conn.increment_flow_control_window(2000)
    await wire.pump(lambda: wire.peer.streams[slow].done)
    assert wire.peer.streams[slow].body == big


@async_test
async def test_streamed_response_pauses_its_upstream_while_the_window_is_shut() -> None:
    source = MockSource()
    upstream = StreamBody(source)

    async def streamed(req: Request) -> Response:
        return Response(200, Headers(), upstream)

    limits = H2Limits(stream_send_buffer=1000)
    wire = H2Wire(streamed, settings=settings_with(limits), client_settings={SETTINGS.INITIAL_WINDOW_SIZE: 10})
    await wire.settle()
    sid = wire.peer.request("/")
    await wire.pump(lambda: wire.peer.streams[sid].status == 200)
    upstream.feed(b"a" * 600)
    assert not source.paused  # under the per-stream bound
    upstream.feed(b"b" * 600)
    assert source.paused  # 1190 bytes wait on a 10-byte window: the upstream is paused, not buffered without end
    wire.peer.conn.increment_flow_control_window(5000, stream_id=sid)
    await wire.settle()
    assert not source.paused
    upstream.feed_eof()
    await wire.pump(lambda: wire.peer.streams[sid].done)
    assert len(wire.peer.streams[sid].body) == 1200


@async_test
async def test_request_body_window_is_granted_as_the_consumer_drains() -> None:
    release = asyncio.Event()
    got: list[bytes] = []

    async def slow_reader(req: Request) -> Response:
        assert isinstance(req.body, StreamBody)
        await release.wait()
        got.append(await req.body.read())
        return Response(200, Headers(), b"done")

    limits = H2Limits(initial_window_size=65535)
    wire = H2Wire(slow_reader, settings=settings_with(limits))
    await wire.settle()
    sid = wire.peer.request("/", method="POST", end=False)
    wire.seen.clear()
    # Send as long as the window allows, without the handler reading.
    for _ in range(40):
        window = wire.peer.conn.local_flow_control_window(sid)
        if window:
            wire.peer.data(sid, b"z" * min(window, 16384))
        await wire.settle(5)
    sent_before = wire.proto.streams[sid].body.received  # type: ignore[union-attr]
    assert sent_before <= 65535  # one window: nothing is granted until the consumer reads
    assert wire.proto.streams[sid].unacked > 0
    release.set()
    await wire.settle(10)
    window = wire.peer.conn.local_flow_control_window(sid)
    assert window > 0  # granted once read
    wire.peer.data(sid, b"", end=True)
    await wire.pump(lambda: wire.peer.streams[sid].done)
    assert len(got[0]) == sent_before


@async_test
async def test_streams_over_max_concurrent_streams_are_refused() -> None:
    gate = asyncio.Event()

    async def held(req: Request) -> Response:
        await gate.wait()
        return Response(200, Headers(), b"ok")

    wire = H2Wire(held, settings=settings_with(H2Limits(max_concurrent_streams=2)))
    sids = [wire.peer.request(f"/{i}") for i in range(3)]
    await wire.pump(lambda: wire.peer.streams[sids[2]].done)
    assert wire.peer.streams[sids[2]].reset == ErrorCodes.REFUSED_STREAM
    gate.set()
    await wire.pump(lambda: wire.peer.streams[sids[0]].done and wire.peer.streams[sids[1]].done)
    assert [wire.peer.streams[s].status for s in sids[:2]] == [200, 200]
    assert wire.peer.goaway is None


@async_test
async def test_rst_stream_cancels_only_that_stream() -> None:
    cancelled: list[str] = []
    gate = asyncio.Event()

    async def held(req: Request) -> Response:
        try:
            await gate.wait()
        except asyncio.CancelledError:
            cancelled.append(req.path)
            raise
        return Response(200, Headers(), req.path.encode())

    wire = H2Wire(held)
    first = wire.peer.request("/one")
    second = wire.peer.request("/two")
    await wire.pump(lambda: len(wire.seen) == 2)
    wire.peer.reset(first)
    await wire.settle()
    assert cancelled == ["/one"]
    gate.set()
    await wire.pump(lambda: wire.peer.streams[second].done)
    assert wire.peer.streams[second].body == b"/two"
    assert any(obs[0].path == "/one" and obs[3] for obs in wire.observed)  # reported aborted


# -- graceful ends ---------------------------------------------------------------------------------------------------


@async_test
async def test_keep_alive_max_requests_sends_goaway_and_drains() -> None:
    gate = asyncio.Event()

    async def held(req: Request) -> Response:
        await gate.wait()
        return Response(200, Headers(), b"ok")

    wire = H2Wire(held, settings=settings_with(keep_alive_max_requests=2))
    first = wire.peer.request("/1")
    second = wire.peer.request("/2")
    await wire.pump(lambda: wire.peer.goaway is not None)
    assert wire.peer.goaway_code == ErrorCodes.NO_ERROR
    assert wire.peer.goaway.last_stream_id == second  # type: ignore[union-attr]
    assert not wire.transport.closed  # in-flight streams are still served
    gate.set()
    await wire.pump(lambda: wire.peer.streams[first].done and wire.peer.streams[second].done)
    assert wire.peer.streams[second].status == 200
    await wire.pump(lambda: wire.transport.closed)


@async_test
async def test_drain_sends_goaway_then_closes_when_streams_finish() -> None:
    gate = asyncio.Event()

    async def held(req: Request) -> Response:
        await gate.wait()
        return Response(200, Headers(), b"ok")

    wire = H2Wire(held)
    sid = wire.peer.request("/")
    await wire.pump(lambda: wire.seen)
    wire.ctx.draining = True
    assert wire.ctx.close_idle() == 1  # busy: GOAWAY sent, not closed
    await wire.pump(lambda: wire.peer.goaway is not None)
    assert wire.peer.goaway_code == ErrorCodes.NO_ERROR
    late = wire.peer.request("/late")
    await wire.pump(lambda: wire.peer.streams[late].done)
    assert wire.peer.streams[late].reset == ErrorCodes.REFUSED_STREAM  # above GOAWAY's last stream
    gate.set()
    await wire.pump(lambda: wire.peer.streams[sid].done)
    assert wire.peer.streams[sid].status == 200
    await wire.pump(lambda: wire.transport.closed)


@async_test
async def test_idle_connection_gets_goaway_after_idle_timeout() -> None:
    now = [1000.0]
    wire = H2Wire(ok, settings=settings_with(idle_timeout=5.0), clock=lambda: now[0])
    assert (await wire.get("/")).status == 200
    now[0] += 4.0
    wire.proto.check_deadlines(now[0])
    assert not wire.transport.closed
    now[0] += 2.0
    wire.proto.check_deadlines(now[0])
    await wire.pump(lambda: wire.transport.closed)
    assert wire.peer.goaway_code == ErrorCodes.NO_ERROR


# -- h2c by prior knowledge --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cut", [0, 3, 17, 18, 23, 24])
@async_test
async def test_prior_knowledge_preface_hands_the_connection_to_http2(cut: int) -> None:
    client = Client(ok)
    transport = client.transport
    transport.set_protocol = lambda protocol: setattr(transport, "protocol", protocol)  # type: ignore[attr-defined]
    peer = H2Peer()
    sid = peer.request("/x", authority="h.example")
    data = peer.outbox()  # the preface, SETTINGS, then the request
    if cut:
        client.send(data[:cut])
    transport.protocol.data_received(data[cut:])  # type: ignore[union-attr]  # whoever owns the socket now
    assert isinstance(client.transport.protocol, H2Protocol)
    await client.until(lambda: bool(client.transport.writes) and client.seen != [])
    for _ in range(50):
        peer.feed(b"".join(client.transport.writes))
        client.transport.writes.clear()
        if peer.streams[sid].done:
            break
        await asyncio.sleep(0)
    assert peer.streams[sid].status == 200
    assert client.seen[0].version == "2.0"


@async_test
async def test_upgrade_h2c_is_not_honoured() -> None:
    client = Client(ok)
    client.send(
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
        b"HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n"
    )
    await client.until(lambda: b"200 OK" in client.output)
    assert client.output.startswith(b"HTTP/1.1 200 OK")  # served over HTTP/1.1, no 101
    assert not isinstance(client.transport.protocol, H2Protocol)


@async_test
async def test_expect_100_continue_is_answered_when_the_body_is_read() -> None:
    async def reader(req: Request) -> Response:
        assert isinstance(req.body, StreamBody)
        return Response(200, Headers(), await req.body.read())

    wire = H2Wire(reader)
    sid = wire.peer.request("/", method="POST", end=False, headers=[("expect", "100-continue")])
    await wire.pump(lambda: any(type(e).__name__ == "InformationalResponseReceived" for e in wire.peer.events))
    wire.peer.data(sid, b"late body", end=True)
    await wire.pump(lambda: wire.peer.streams[sid].done)
    assert wire.peer.streams[sid].body == b"late body"


@async_test
async def test_expect_100_continue_refused_by_the_body_limit_gets_no_100() -> None:
    wire = H2Wire(settings=settings_with(max_request_body_bytes=4))
    sid = wire.peer.request(
        "/", method="POST", end=False, headers=[("expect", "100-continue"), ("content-length", "100")]
    )
    await wire.pump(lambda: wire.peer.streams[sid].done)
    assert wire.peer.streams[sid].status == 413
    assert not any(type(e).__name__ == "InformationalResponseReceived" for e in wire.peer.events)


@pytest.mark.parametrize("path", ["http://evil.test/x", "x", "*"])
@async_test
async def test_a_path_that_is_not_origin_form_is_400(path: str) -> None:
    wire = H2Wire()
    result = await wire.get(path)
    assert result.status == 400
    assert wire.seen == []


@async_test
async def test_response_keeps_streaming_after_the_request_body_ends() -> None:
    """Bidirectional streaming (gRPC): the response started before the client half-closed goes on to its end."""
    upstream = StreamBody(None)

    async def bidi(req: Request) -> Response:
        return Response(200, Headers([(b"Content-Type", b"application/grpc")]), upstream)

    wire = H2Wire(bidi)
    sid = wire.peer.request("/svc/Chat", method="POST", end=False)
    wire.peer.data(sid, b"m1")
    await wire.pump(lambda: wire.peer.streams[sid].status == 200)
    upstream.feed(b"r1")
    await wire.pump(lambda: wire.peer.streams[sid].body == b"r1")
    wire.peer.data(sid, b"", end=True)  # the client half-closes while the response streams
    await wire.settle()
    upstream.feed(b"r2")
    upstream.trailers = [(b"grpc-status", b"0")]
    upstream.feed_eof()
    await wire.pump(lambda: wire.peer.streams[sid].done)
    result = wire.peer.streams[sid]
    assert result.body == b"r1r2"
    assert result.trailers == [("grpc-status", "0")]
    assert result.reset is None


@async_test
async def test_keep_alive_max_time_sends_goaway() -> None:
    now = [1000.0]
    wire = H2Wire(ok, settings=settings_with(keep_alive_max_time=10.0), clock=lambda: now[0])
    assert (await wire.get("/")).status == 200
    now[0] += 11.0
    wire.proto.check_deadlines(now[0])
    await wire.pump(lambda: wire.peer.goaway is not None)
    assert wire.peer.goaway_code == ErrorCodes.NO_ERROR
    await wire.pump(lambda: wire.transport.closed)  # nothing in flight: closed at once
