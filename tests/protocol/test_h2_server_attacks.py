"""Hostile HTTP/2 input against ``H2Protocol``, frames in → frames out, with no sockets.

Each test sends what an attacker sends (through an ``h2`` client that validates nothing, or hand-made frames) and
asserts that the limit that contains it fires with the right code: GOAWAY PROTOCOL_ERROR for malformed input,
GOAWAY ENHANCE_YOUR_CALM for floods, RST_STREAM for per-stream limits, and that nothing reached the handler (so
nothing could reach an HTTP/1.1 backend) and no queue grew past its bound.
"""

from __future__ import annotations

import asyncio

import pytest
from edge_wire import MockSource, async_test
from h2_wire import H2Wire, settings_with
from hpack import Encoder
from hyperframe.frame import WindowUpdateFrame

from fakes import FakeClock
from h2_client import ErrorCodes, continuation_flood, ping_frames, raw_frame, rst_frame, settings_frames
from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.h2 import PREFACE
from hanzo_edge.http.h2.limits import EventBudget, H2Limits
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response

BASE = [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b":authority", b"example.com")]


async def connection_error(wire: H2Wire) -> int:
    await wire.pump(lambda: wire.transport.closed)
    wire.receive()
    code = wire.peer.goaway_code
    assert code is not None, "no GOAWAY before the close"
    return code


# -- connection errors -----------------------------------------------------------------------------------------------


@async_test
async def test_bad_preface_is_a_protocol_error() -> None:
    wire = H2Wire(send_preface=False)
    wire.send(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + b"\x00" * 16)
    assert wire.transport.closed
    assert b"\x00\x00\x08\x07" in wire.transport.output  # a GOAWAY frame (8 bytes, type 7) before the close


@pytest.mark.parametrize(
    "block",
    [
        [*BASE, (b"X-Upper", b"1")],  # upper-case name
        [*BASE, (b":foo", b"1")],  # unknown pseudo-header
        [(b":method", b"GET"), (b":path", b"/"), (b":authority", b"a")],  # no :scheme
        [*BASE, (b":path", b"/again")],  # repeated pseudo-header
        [(b"x-a", b"1"), *BASE],  # pseudo-header after a regular field
        [*BASE, (b"connection", b"keep-alive")],  # connection-specific
        [*BASE, (b"transfer-encoding", b"chunked")],  # h2 → h1 smuggling
        [*BASE, (b"upgrade", b"websocket")],
        [*BASE, (b"te", b"gzip")],  # only "trailers"
        [*BASE, (b"x-a", b"1\r\nX-Injected: 1")],  # CR/LF in a value
        [*BASE, (b"x-a:b", b"1")],  # colon in a name
        [*BASE, (b"x-a", b"\x00")],  # NUL in a value
    ],
    ids=[
        "uppercase",
        "unknown-pseudo",
        "no-scheme",
        "repeated-pseudo",
        "pseudo-after-regular",
        "connection",
        "transfer-encoding",
        "upgrade",
        "te-gzip",
        "crlf-value",
        "colon-name",
        "nul-value",
    ],
)
@async_test
async def test_malformed_header_blocks_end_the_connection_before_any_routing(block: list[tuple[bytes, bytes]]) -> None:
    wire = H2Wire()
    wire.peer.send_headers_raw(1, block)
    assert await connection_error(wire) == ErrorCodes.PROTOCOL_ERROR
    assert wire.seen == []  # nothing was routed, so nothing reached a backend


@async_test
async def test_te_trailers_is_allowed() -> None:
    wire = H2Wire()
    wire.peer.send_headers_raw(1, [*BASE, (b"te", b"trailers")])
    await wire.pump(lambda: wire.peer.streams[1].done)
    assert wire.peer.streams[1].status == 200


@pytest.mark.parametrize("order", [(5, 3), (3, 3)], ids=["decreasing", "reused"])
@async_test
async def test_stream_ids_reused_or_decreasing_are_a_protocol_error(order: tuple[int, int]) -> None:
    wire = H2Wire()
    first, second = order
    wire.peer.send_headers_raw(first, BASE)
    await wire.pump(lambda: wire.peer.streams[first].done)
    wire.send(_raw_headers(second, BASE))
    code = await connection_error(wire)
    assert code in (ErrorCodes.PROTOCOL_ERROR, ErrorCodes.STREAM_CLOSED)


@async_test
async def test_content_length_that_disagrees_with_data_fails_the_body_and_the_connection() -> None:
    bodies: list[BaseException | bytes] = []

    async def reader(req: Request) -> Response:
        assert isinstance(req.body, StreamBody)
        try:
            bodies.append(await req.body.read())
        except Exception as exc:
            bodies.append(exc)
        return Response(200, Headers(), b"")

    wire = H2Wire(reader)
    wire.peer.send_headers_raw(1, [*BASE[:0], (b":method", b"POST"), *BASE[1:], (b"content-length", b"3")], end=False)
    wire.peer.data(1, b"abcdef", end=True)
    assert await connection_error(wire) == ErrorCodes.PROTOCOL_ERROR
    await wire.settle()
    assert not any(isinstance(b, bytes) for b in bodies)  # no consumer ever got a complete (smuggled) body


# -- denial of service -----------------------------------------------------------------------------------------------


@async_test
async def test_settings_flood_gets_goaway_enhance_your_calm() -> None:
    wire = H2Wire(settings=settings_with(H2Limits(settings_per_interval=20)))
    wire.send(settings_frames(30))
    assert await connection_error(wire) == ErrorCodes.ENHANCE_YOUR_CALM
    assert wire.proto.calmed == "SETTINGS flood"


@async_test
async def test_ping_flood_gets_goaway_enhance_your_calm() -> None:
    wire = H2Wire(settings=settings_with(H2Limits(pings_per_interval=50)))
    wire.send(ping_frames(60))
    assert await connection_error(wire) == ErrorCodes.ENHANCE_YOUR_CALM
    assert wire.proto.calmed == "PING flood"


@async_test
async def test_control_frames_owed_to_a_client_that_does_not_read_are_bounded() -> None:
    limits = H2Limits(pings_per_interval=1_000_000, max_pending_control_bytes=4096)
    wire = H2Wire(settings=settings_with(limits))
    wire.proto.pause_writing()  # the client stopped reading: its socket buffer is full
    before = wire.output_bytes
    for _ in range(40):
        if wire.transport.closed:
            break
        wire.send(ping_frames(10))
    assert wire.transport.closed
    assert wire.proto.calmed == "pending control frames"
    assert wire.output_bytes - before <= 4096 + 17 * 10  # at most the bound plus one read's answers


@async_test
async def test_rapid_reset_gets_goaway_enhance_your_calm() -> None:
    gate = asyncio.Event()
    started: list[str] = []

    async def held(req: Request) -> Response:
        started.append(req.path)
        await gate.wait()
        return Response(200, Headers(), b"")

    wire = H2Wire(held, settings=settings_with(H2Limits(resets_per_interval=50)))
    for _ in range(60):
        sid = wire.peer.request("/")
        wire.peer.reset(sid)
        wire.flush()
        if wire.transport.closed:
            break
    assert await connection_error(wire) == ErrorCodes.ENHANCE_YOUR_CALM
    assert wire.proto.calmed == "rapid reset"
    await wire.settle()
    assert wire.ctx.in_flight == 0  # every reset stream's handler task is gone


@async_test
async def test_resets_spread_over_time_are_not_an_attack() -> None:
    clock = FakeClock()
    wire = H2Wire(settings=settings_with(H2Limits(resets_per_interval=10, interval=10.0)), clock=clock)
    for _ in range(40):
        sid = wire.peer.request("/")
        wire.peer.reset(sid)
        wire.flush()
        clock.advance(2.0)  # 0.5 resets per second: well under 10 per 10 s
    await wire.settle()
    assert not wire.transport.closed
    assert wire.peer.goaway is None


def test_event_budget_refills_continuously() -> None:
    clock = FakeClock()
    budget = EventBudget(3, 3.0, clock)
    assert [budget.spend() for _ in range(4)] == [True, True, True, False]
    clock.advance(1.0)
    assert budget.spend()
    assert not budget.spend()


@async_test
async def test_hpack_bomb_gets_goaway_enhance_your_calm() -> None:
    wire = H2Wire(settings=settings_with(H2Limits(max_header_list_size=1024)))
    await wire.settle()
    # One 4000-byte value indexed once (its stream is answered 431), then referenced 30 times: ~120 KB decoded
    # from a few dozen bytes of HPACK.
    wire.peer.send_headers_raw(1, [*BASE, (b"x-bomb", b"v" * 4000)])
    wire.flush()
    wire.peer.send_headers_raw(3, [*BASE, *[(b"x-bomb", b"v" * 4000)] * 30])
    bomb = wire.peer.outbox()
    assert len(bomb) < 200
    wire.send(bomb)
    assert await connection_error(wire) == ErrorCodes.ENHANCE_YOUR_CALM
    assert [r.path for r in wire.seen] == []  # the first (oversized but not a bomb) was answered 431, not routed
    assert wire.peer.streams[1].status == 431


@async_test
async def test_a_head_over_max_header_bytes_is_431_on_its_stream_only() -> None:
    wire = H2Wire(settings=settings_with(H2Limits(max_header_list_size=2048)))
    wire.peer.send_headers_raw(1, [*BASE, (b"x-big", b"v" * 3000)])
    await wire.pump(lambda: wire.peer.streams[1].done)
    assert wire.peer.streams[1].status == 431
    assert wire.seen == []
    assert (await wire.get("/")).status == 200


@async_test
async def test_continuation_flood_is_a_protocol_error() -> None:
    wire = H2Wire()
    block = Encoder().encode(BASE)
    wire.send(continuation_flood(1, block, 100))
    assert await connection_error(wire) == ErrorCodes.PROTOCOL_ERROR
    assert wire.seen == []


@async_test
async def test_zero_window_forever_resets_the_stream_and_closes_its_upstream() -> None:
    clock = FakeClock()
    source = MockSource()
    upstream = StreamBody(source)

    async def streamed(req: Request) -> Response:
        return Response(200, Headers(), upstream)

    limits = H2Limits(window_stall_timeout=30.0, stream_send_buffer=100)
    wire = H2Wire(streamed, settings=settings_with(limits), clock=clock, client_settings={4: 0})  # window 0
    await wire.settle()
    sid = wire.peer.request("/")
    await wire.pump(lambda: wire.peer.streams[sid].status == 200)
    upstream.feed(b"x" * 1000)
    stream = wire.proto.streams[sid]
    assert stream.pending_bytes == 1000
    assert source.paused  # the upstream stops: memory stays bounded while the window is shut
    clock.advance(29.0)
    wire.proto.check_deadlines(clock())
    assert sid in wire.proto.streams
    clock.advance(2.0)
    wire.proto.check_deadlines(clock())
    await wire.pump(lambda: wire.peer.streams[sid].done)
    assert wire.peer.streams[sid].reset == ErrorCodes.CANCEL
    assert source.closed  # the upstream connection that cannot finish its message is closed
    assert sid not in wire.proto.streams
    assert wire.observed[-1][3]  # reported as aborted


@async_test
async def test_request_body_never_finished_is_cut_at_read_timeout() -> None:
    clock = FakeClock()

    async def reader(req: Request) -> Response:
        assert isinstance(req.body, StreamBody)
        await req.body.read()
        return Response(200, Headers(), b"")

    wire = H2Wire(reader, settings=settings_with(read_timeout=5.0), clock=clock)
    sid = wire.peer.request("/", method="POST", end=False)
    wire.peer.data(sid, b"partial")
    await wire.settle()
    clock.advance(6.0)
    wire.proto.check_deadlines(clock())
    await wire.pump(lambda: wire.peer.streams[sid].done)
    assert wire.peer.streams[sid].reset == ErrorCodes.CANCEL


@async_test
async def test_a_stream_reset_by_raw_frame_on_an_idle_id_is_a_protocol_error() -> None:
    wire = H2Wire()
    wire.send(rst_frame(99))
    assert await connection_error(wire) == ErrorCodes.PROTOCOL_ERROR


def _raw_headers(sid: int, block: list[tuple[bytes, bytes]] | None, encoded: bytes | None = None) -> bytes:
    from hyperframe.frame import HeadersFrame

    frame = HeadersFrame(sid, encoded if encoded is not None else Encoder().encode(block or []))
    frame.flags.add("END_HEADERS")
    frame.flags.add("END_STREAM")
    return bytes(frame.serialize())


def test_preface_constant_is_rfc_9113s() -> None:
    assert PREFACE == b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


@async_test
async def test_a_stream_reset_in_the_same_read_never_starts_its_handler() -> None:
    wire = H2Wire()
    await wire.settle()
    sid = wire.peer.request("/")
    wire.peer.reset(sid)
    wire.send(wire.peer.outbox())  # HEADERS and RST_STREAM in one read, as rapid reset sends them
    await wire.settle()
    assert wire.seen == []  # no handler task was ever started for it
    assert wire.ctx.in_flight == 0
    assert [(obs[1], obs[3]) for obs in wire.observed] == [(499, True)]  # still logged, as an aborted request


@async_test
async def test_a_client_that_reads_nothing_is_cut_after_the_stall_timeout() -> None:
    clock = FakeClock()
    source = MockSource()
    upstream = StreamBody(source)

    async def streamed(req: Request) -> Response:
        return Response(200, Headers(), upstream)

    wire = H2Wire(streamed, settings=settings_with(H2Limits(window_stall_timeout=30.0)), clock=clock)
    sid = wire.peer.request("/")
    await wire.pump(lambda: wire.peer.streams[sid].status == 200)
    wire.proto.pause_writing()  # the client's socket buffer is full: it reads nothing at all
    upstream.feed(b"x" * 100)
    assert source.paused  # nothing more is taken from the upstream while the socket is full
    clock.advance(29.0)
    wire.proto.check_deadlines(clock())
    assert not wire.transport.closed
    clock.advance(2.0)
    wire.proto.check_deadlines(clock())
    assert wire.transport.closed
    assert wire.proto.calmed == "socket not read for the stall timeout"
    assert source.closed  # its upstream connection is closed too


@async_test
async def test_streams_the_server_must_reset_for_the_client_count_as_resets() -> None:
    # "MadeYouReset" (CVE-2025-8671): the client never sends RST_STREAM but makes the server reset each stream it
    # opened (here a WINDOW_UPDATE that overflows the stream's window), so every handler starts and is cancelled at
    # once. Those resets spend the same budget as the client's own.
    gate = asyncio.Event()

    async def held(req: Request) -> Response:
        await gate.wait()
        return Response(200, Headers(), b"")

    wire = H2Wire(held, settings=settings_with(H2Limits(resets_per_interval=50)))
    for _ in range(60):
        sid = wire.peer.request("/")
        wire.flush()
        await asyncio.sleep(0)  # the handler starts
        wire.send(raw_frame(WindowUpdateFrame(sid, window_increment=0x7FFFFFFF)))  # overflows: FLOW_CONTROL_ERROR
        wire.receive()
        if wire.transport.closed:
            break
    assert await connection_error(wire) == ErrorCodes.ENHANCE_YOUR_CALM
    assert wire.proto.calmed == "rapid reset"
