"""Request-body flow control of the downstream HTTP/2 protocol over a connection's life, with no sockets.

Two properties the per-stream tests in ``test_h2_server_protocol.py`` do not reach:

* the connection window never leaks: bytes a stream received but had not granted yet (its consumer was behind, or
  waited for ``100-continue``) are given back to the connection when the stream ends in any way (client reset,
  early answer, deadline), so a long-lived connection with many such streams keeps uploading;
* what clients send ahead of the consumers is bounded by the connection window in total, not per stream times
  ``maxConcurrentStreams``.
"""

from __future__ import annotations

import asyncio

from edge_wire import async_test
from h2.connection import ConnectionState
from h2_wire import H2Wire, settings_with

from h2_client import ErrorCodes
from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.h2.limits import H2Limits
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response


async def _send_window(wire: H2Wire, sid: int, rounds: int = 40) -> int:
    """Send DATA on ``sid`` as long as the client's windows allow (bounded); return the bytes sent."""
    sent = 0
    for _ in range(rounds):
        window = wire.peer.conn.local_flow_control_window(sid)
        if window <= 0:
            break
        size = min(window, 16384)
        wire.peer.data(sid, b"z" * size)
        sent += size
        await wire.settle(3)
    return sent


@async_test
async def test_reset_streams_give_their_ungranted_bytes_back_to_the_connection() -> None:
    never = asyncio.Event()

    async def waits_for_100(req: Request) -> Response:
        await never.wait()  # never reads the body: the client's early bytes stay ungranted
        return Response(200, Headers(), b"never")

    async def echo_length(req: Request) -> Response:
        assert isinstance(req.body, StreamBody)
        return Response(200, Headers(), b"%d" % len(await req.body.read()))

    async def route(req: Request) -> Response:
        return await (waits_for_100 if req.path == "/wait" else echo_length)(req)

    limits = H2Limits(initial_window_size=65535, connection_window_size=256 * 1024)
    wire = H2Wire(route, settings=settings_with(limits))
    await wire.settle()
    # Each stream spends a whole stream window the server holds (Expect: 100-continue), then the client resets it:
    # six of them spend more than the connection window.
    for _ in range(6):
        sid = wire.peer.request("/wait", method="POST", end=False, headers=[("expect", "100-continue")])
        await wire.settle(3)
        await _send_window(wire, sid)
        wire.peer.reset(sid, ErrorCodes.CANCEL)
        await wire.settle(3)
    assert wire.peer.conn.outbound_flow_control_window > 0  # the connection window came back
    result = await wire.get("/upload", method="POST", body=b"u" * 70000, headers=[("content-length", "70000")])
    assert result.status == 200
    assert result.body == b"70000"


@async_test
async def test_an_early_answer_gives_the_ungranted_bytes_back_to_the_connection() -> None:
    async def refuses_unread(req: Request) -> Response:
        return Response(403, Headers(), b"no")  # answered without reading the body the client keeps sending

    limits = H2Limits(initial_window_size=65535, connection_window_size=128 * 1024)
    release = asyncio.Event()

    async def slow_then_refuse(req: Request) -> Response:
        await release.wait()
        return await refuses_unread(req)

    wire = H2Wire(slow_then_refuse, settings=settings_with(limits))
    await wire.settle()
    for _ in range(4):
        release.clear()
        sid = wire.peer.request("/", method="POST", end=False, headers=[("expect", "100-continue")])
        await wire.settle(3)
        await _send_window(wire, sid)
        release.set()
        await wire.pump(lambda sid=sid: wire.peer.streams[sid].done)
        assert wire.peer.streams[sid].status == 403
    assert wire.peer.conn.outbound_flow_control_window > 0


@async_test
async def test_bytes_sent_ahead_of_the_consumers_are_bounded_by_the_connection_window() -> None:
    never = asyncio.Event()
    bodies: list[StreamBody] = []

    async def never_reads(req: Request) -> Response:
        assert isinstance(req.body, StreamBody)
        bodies.append(req.body)
        await never.wait()
        return Response(200, Headers(), b"")

    limits = H2Limits(initial_window_size=256 * 1024, connection_window_size=512 * 1024)
    wire = H2Wire(never_reads, settings=settings_with(limits))
    await wire.settle()
    sids = [wire.peer.request("/", method="POST", end=False) for _ in range(8)]
    await wire.settle(3)
    for sid in sids:
        await _send_window(wire, sid, rounds=60)
    held = sum(body.received for body in bodies)
    # Eight streams of 256 KiB windows: without a connection-wide bound they could hold 8 x (256 KiB buffered plus
    # one window) = 4 MiB of a client's bytes in memory.
    assert held <= limits.connection_window_size
    assert len(bodies) == 8


@async_test
async def test_a_client_goaway_lets_the_streams_in_flight_finish() -> None:
    # A client that sends GOAWAY (NO_ERROR) opens nothing more, but still reads the answers to the streams it
    # already opened (RFC 9113 §6.8; Go's server drains them): they are sent, then the connection closes.
    release = asyncio.Event()

    async def slow(req: Request) -> Response:
        assert isinstance(req.body, StreamBody)
        data = await req.body.read()
        await release.wait()
        return Response(200, Headers(), b"late " + data)

    wire = H2Wire(slow)
    await wire.settle()
    sid = wire.peer.request("/", method="POST", end=False)
    wire.peer.data(sid, b"body-before-goaway")
    await wire.settle(3)
    wire.peer.conn.close_connection(last_stream_id=0)  # GOAWAY NO_ERROR from the client
    wire.peer.conn.state_machine.state = ConnectionState.CLIENT_OPEN  # h2's client would send nothing more
    wire.peer.data(sid, b"+rest", end=True)  # the stream it opened goes on
    await wire.settle(3)
    release.set()
    await wire.pump(lambda: wire.peer.streams[sid].done)
    assert wire.peer.streams[sid].reset is None
    assert wire.peer.streams[sid].body == b"late body-before-goaway+rest"
    await wire.pump(lambda: wire.transport.closed)


@async_test
async def test_a_client_goaway_with_an_error_cancels_what_is_in_flight() -> None:
    cancelled = asyncio.Event()

    async def waits(req: Request) -> Response:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Response(200, Headers(), b"")

    wire = H2Wire(waits)
    await wire.settle()
    wire.peer.request("/")
    await wire.settle(3)
    wire.peer.conn.close_connection(error_code=ErrorCodes.PROTOCOL_ERROR)
    await wire.pump(lambda: wire.transport.closed and cancelled.is_set())
    assert wire.proto.streams == {}


@async_test
async def test_request_trailers_end_the_body_and_are_bounded() -> None:
    seen: list[object] = []

    async def reads(req: Request) -> Response:
        assert isinstance(req.body, StreamBody)
        try:
            data = await req.body.read()
        except Exception as exc:
            seen.append(type(exc).__name__)
            return Response(400, Headers(), b"")
        seen.append((data, req.body.trailers))
        return Response(200, Headers(), b"")

    wire = H2Wire(reads, settings=settings_with(H2Limits(max_header_list_size=200)))
    await wire.settle()
    sid = wire.peer.request("/", method="POST", end=False)
    wire.peer.data(sid, b"msg")
    wire.peer.conn.send_headers(sid, [(b"x-checksum", b"abc")], end_stream=True)
    await wire.pump(lambda: wire.peer.streams[sid].done)
    assert seen == [(b"msg", [(b"x-checksum", b"abc")])]  # for an HTTP/2 backend's trailing HEADERS
    big = wire.peer.request("/", method="POST", end=False)
    wire.peer.conn.send_headers(big, [(b"x-big", b"v" * 300)], end_stream=True)
    await wire.pump(lambda: wire.peer.streams[big].done)
    assert seen[1] == "BodyError"


@async_test
async def test_a_connection_that_never_opens_a_stream_is_closed_at_idle_timeout() -> None:
    # Preface and SETTINGS, then nothing: idleTimeout runs from the connection's start (Go's idle timer does), or
    # such connections would be held open for good.
    now = [1000.0]
    wire = H2Wire(settings=settings_with(idle_timeout=5.0, read_timeout=0.0), clock=lambda: now[0])
    await wire.settle()
    now[0] += 6.0
    wire.proto.check_deadlines(now[0])
    await wire.pump(lambda: wire.transport.closed)
    assert wire.peer.goaway_code == ErrorCodes.NO_ERROR
