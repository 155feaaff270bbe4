"""The raw-frame response path (``http/h2/fast_frames.py``) against ``h2``'s own send path, and on a live connection.

* Differential: on two identical server connections, ``send_whole_response`` writes the same bytes and leaves the
  same state (stream state, ``headers_sent``, how it closed, both outbound windows) as ``send_headers`` +
  ``send_data``; when it declines (a window or the frame size too small, final headers already sent) it changes
  nothing.
* Interleaving: random responses (some fit the windows, some do not), client resets, ordinary and maximal
  WINDOW_UPDATEs and new streams on one ``H2Protocol``: an ``h2`` client accepts every frame, every response it
  did not reset arrives whole, and the server's connection window equals the client's view of it (a window we
  forgot to decrement would overflow h2's 2^31-1 check on the client's maximal WINDOW_UPDATE).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import h2.stream
from h2_wire import H2Wire
from hyperframe.frame import RstStreamFrame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.h2.fast_frames import send_whole_response
from hanzo_edge.http.h2.server import _config, _ServerConnection, refuse_idle_reset
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response

MAX_WINDOW = 2**31 - 1
_INITIAL_WINDOW = h2.settings.SettingCodes.INITIAL_WINDOW_SIZE


def _client() -> h2.connection.H2Connection:
    return h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None, validate_inbound_headers=False)
    )


def _server_with_request(window: int, request_ended: bool, informational: bool) -> _ServerConnection:
    """A server connection that received one request on stream 1 from a client advertising ``window``."""
    server = _ServerConnection(_config())
    server.initiate_connection()
    client = _client()
    client.initiate_connection()
    client.update_settings({_INITIAL_WINDOW: window})
    block = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"a.test"), (b":path", b"/")]
    client.send_headers(1, block, end_stream=request_ended)
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    server.receive_data(client.data_to_send())  # the client's SETTINGS ACK
    if informational:
        server.send_headers(1, [(b":status", b"100")])
    server.data_to_send()
    return server


def _state(server: _ServerConnection) -> tuple[Any, ...]:
    stream = server.streams[1]
    machine = stream.state_machine
    return (
        machine.state,
        machine.headers_sent,
        machine.trailers_sent,
        machine.stream_closed_by,
        stream.request_method,
        stream.outbound_flow_control_window,
        server.outbound_flow_control_window,
        server.state_machine.state,
    )


BLOCKS = st.lists(
    st.tuples(st.sampled_from([b"x-a", b"server", b"content-type", b"x-long"]), st.binary(max_size=40)),
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(
    window=st.sampled_from([0, 1, 99, 100, 65535, 2**20]),
    body_size=st.sampled_from([0, 1, 100, 16384, 16385, 70000]),
    huge_header=st.booleans(),
    request_ended=st.booleans(),
    informational=st.booleans(),
    fields=BLOCKS,
)
def test_raw_frames_equal_h2s_own_send_path(
    window: int,
    body_size: int,
    huge_header: bool,
    request_ended: bool,
    informational: bool,
    fields: list[tuple[bytes, bytes]],
) -> None:
    block = [(b":status", b"200"), *fields]
    if huge_header:
        block.append((b"x-huge", b"h" * 40000))  # over one frame: HEADERS + CONTINUATION frames
    body = b"b" * body_size
    fast = _server_with_request(window, request_ended, informational)
    slow = _server_with_request(window, request_ended, informational)
    before = _state(fast)
    if not send_whole_response(fast, 1, block, body):
        assert body_size > min(window, 16384)  # it declines only what h2 could not send in one frame either
        assert _state(fast) == before
        assert fast.data_to_send() == b""
        return
    slow.send_headers(1, block, end_stream=not body)
    if body:
        slow.send_data(1, body, end_stream=True)
    assert fast.data_to_send() == slow.data_to_send()
    assert _state(fast) == _state(slow)


def test_final_headers_already_sent_are_left_to_h2() -> None:
    server = _server_with_request(65535, True, False)
    server.send_headers(1, [(b":status", b"200")])
    server.data_to_send()
    before = _state(server)
    assert not send_whole_response(server, 1, [(b":status", b"200")], b"again")
    assert _state(server) == before


# -- a live connection ---------------------------------------------------------------------------------------------
SIZES = st.sampled_from([0, 1, 100, 5000, 16384, 20000, 70000])
OPS = st.one_of(
    st.tuples(st.just("get"), SIZES, st.booleans(), st.booleans()),  # size, streamed body, request body left open
    st.tuples(st.just("reset"), st.integers(0, 20)),
    st.tuples(st.just("max_window"), st.booleans()),  # the connection's window or the newest stream's
    st.tuples(st.just("window"), st.integers(1, 70000)),
    st.tuples(st.just("settle"), st.integers(1, 4)),
)


async def _answer(req: Request) -> Response:
    size_text, kind = req.path.strip("/").split("-")
    payload = b"p" * int(size_text)
    if kind == "streamed":
        body = StreamBody(None)
        if payload:
            body.feed(payload)
        body.feed_eof()
        return Response(200, Headers([(b"content-type", b"application/octet-stream")]), body)
    return Response(200, Headers([(b"content-type", b"application/octet-stream")]), payload)


async def _interleave(window: int, ops: list[tuple[Any, ...]]) -> None:
    wire = H2Wire(_answer, client_settings={_INITIAL_WINDOW: window})
    await wire.settle(3)
    peer = wire.peer
    expected: dict[int, int] = {}
    reset: set[int] = set()
    for op in ops:
        kind = op[0]
        if kind == "get":
            _, size, streamed, open_body = op
            path = f"/{size}-{'streamed' if streamed else 'bytes'}"
            sid = peer.request(path, end=not open_body)
            expected[sid] = size
        elif kind == "reset" and expected:
            sids = sorted(expected)
            sid = sids[op[1] % len(sids)]
            client_stream = peer.conn.streams.get(sid)
            if not peer.streams[sid].done and client_stream is not None and not client_stream.closed:
                peer.reset(sid)
                reset.add(sid)
        elif kind == "max_window":
            # As much as the client may grant by its own count: the server's count must be the same to accept it.
            if op[1] and expected:
                sid = max(expected)
                client_stream = peer.conn.streams.get(sid)
                if client_stream is not None and not client_stream.closed:
                    grant = MAX_WINDOW - client_stream._inbound_window_manager.current_window_size
                    if grant > 0:
                        peer.conn.increment_flow_control_window(grant, sid)
            else:
                grant = MAX_WINDOW - peer.conn._inbound_flow_control_window_manager.current_window_size
                if grant > 0:
                    peer.conn.increment_flow_control_window(grant)
        elif kind == "window":
            view = peer.conn._inbound_flow_control_window_manager.current_window_size
            if view < MAX_WINDOW:
                peer.conn.increment_flow_control_window(min(op[1], MAX_WINDOW - view))
        else:
            await wire.settle(op[1])
        assert peer.goaway is None
    open_streams = [sid for sid in expected if sid not in reset]
    for sid in open_streams:
        # Streams still waiting for window: open it wide so everything owed can arrive.
        client_stream = peer.conn.streams.get(sid)
        if client_stream is not None and not client_stream.closed:
            grant = MAX_WINDOW - client_stream._inbound_window_manager.current_window_size
            if grant > 0:
                peer.conn.increment_flow_control_window(grant, sid)
    grant = MAX_WINDOW - peer.conn._inbound_flow_control_window_manager.current_window_size
    if grant > 0:
        peer.conn.increment_flow_control_window(grant)
    await wire.pump(lambda: all(peer.streams[sid].done for sid in open_streams))
    await wire.settle(5)
    assert peer.goaway is None
    for sid in open_streams:
        result = peer.streams[sid]
        assert (result.status, len(result.body), result.ended) == (200, expected[sid], True)
    # Every DATA byte the server wrote reached the client and every grant the client sent reached the server.
    assert wire.proto.conn.outbound_flow_control_window == (
        peer.conn._inbound_flow_control_window_manager.current_window_size
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(window=st.sampled_from([1, 100, 5000, 65535, 2**20]), ops=st.lists(OPS, min_size=1, max_size=14))
def test_interleaved_responses_resets_and_window_updates_stay_valid(window: int, ops: list[tuple[Any, ...]]) -> None:
    asyncio.run(_interleave(window, ops))


def test_h2s_stream_table_stays_bounded_when_closed_streams_are_swept_lazily() -> None:
    async def scenario() -> None:
        wire = H2Wire(_answer)
        await wire.settle(3)
        sizes: list[int] = []
        for _ in range(20):
            sids = [wire.peer.request("/100-bytes") for _ in range(10)]
            await wire.pump(lambda sids=sids: all(wire.peer.streams[sid].done for sid in sids))
            sizes.append(len(wire.proto.conn.streams))
            assert all(wire.peer.streams[sid].body == b"p" * 100 for sid in sids)
        # 200 streams served; h2's table is swept once it holds 32, so it never holds them all.
        assert max(sizes) <= 32 + 10
        assert wire.peer.goaway is None

    asyncio.run(scenario())


def test_a_body_buffered_in_several_chunks_is_one_data_frame_with_end_stream() -> None:
    async def chunked(req: Request) -> Response:
        body = StreamBody(None)
        for part in (b"one ", b"two ", b"three"):
            body.feed(part)
        body.feed_eof()
        return Response(200, Headers(), body)

    async def scenario() -> None:
        wire = H2Wire(chunked)
        result = await wire.get("/")
        assert (result.status, result.body, result.ended) == (200, b"one two three", True)
        frames = [e for e in wire.peer.events if isinstance(e, h2.events.DataReceived)]
        assert len(frames) == 1
        assert frames[0].stream_ended is not None

    asyncio.run(scenario())


# -- _ServerConnection._receive_frame (h2's, without the per-frame repr) ------------------------------------------
def _raw(kind: int, flags: int, sid: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + sid.to_bytes(4, "big") + payload


_REQUEST = _client()
_REQUEST.initiate_connection()
_REQUEST_BLOCK = _REQUEST.encoder.encode(
    [(b":method", b"POST"), (b":scheme", b"http"), (b":authority", b"a.test"), (b":path", b"/")]
)
FRAMES = st.sampled_from(
    [
        ("headers", 1),
        ("headers", 3),
        ("data", 1),
        ("data", 3),
        ("data_end", 1),
        ("data_end", 3),
        ("reset", 1),
        ("reset", 3),
        ("window", 1),
        ("window", 0),
        ("server_reset", 1),
        ("server_reset", 3),
    ]
)


def _frame_bytes(kind: str, sid: int) -> bytes:
    if kind == "headers":
        return _raw(0x1, 0x4, sid, _REQUEST_BLOCK)
    if kind == "data":
        return _raw(0x0, 0x0, sid, b"d" * 10)
    if kind == "data_end":
        return _raw(0x0, 0x1, sid, b"d" * 10)
    if kind == "reset":
        return _raw(0x3, 0x0, sid, (8).to_bytes(4, "big"))
    return _raw(0x8, 0x0, sid, (100).to_bytes(4, "big"))


def _drive(conn: h2.connection.H2Connection, ops: list[tuple[str, int]]) -> list[Any]:
    """What ``conn`` does with ``ops``: events (by type and stream), bytes written, the error that ended it."""
    trace: list[Any] = []
    client = _client()
    client.initiate_connection()
    conn.initiate_connection()
    conn.receive_data(client.data_to_send())
    trace.append(conn.data_to_send())
    for kind, sid in ops:
        try:
            if kind == "server_reset":
                conn.reset_stream(sid)
                trace.append(("reset", sid))
            else:
                events = conn.receive_data(_frame_bytes(kind, sid))
                trace.append([(type(e).__name__, getattr(e, "stream_id", None)) for e in events])
        except h2.exceptions.ProtocolError as exc:
            trace.append((type(exc).__name__, getattr(exc, "error_code", None)))
            trace.append(conn.data_to_send())
            return trace
        trace.append(conn.data_to_send())
    return trace


class _H2WithOurPolicy(h2.connection.H2Connection):
    """Plain h2 plus the intended differences (RFC 9113), stated independently of how ours implements them:
    RST_STREAM on an idle stream is a connection error (§6.4), and a frame on a stream the server reset is ignored,
    never answered with RST_STREAM STREAM_CLOSED (§5.1)."""

    def _receive_rst_stream_frame(self, frame: Any) -> Any:
        refuse_idle_reset(self, frame.stream_id)
        return super()._receive_rst_stream_frame(frame)

    def _prepare_for_sending(self, frames: list[Any]) -> None:
        super()._prepare_for_sending(
            [
                f
                for f in frames
                if not (
                    isinstance(f, RstStreamFrame)
                    and f.error_code == h2.errors.ErrorCodes.STREAM_CLOSED
                    and self._stream_closed_by(f.stream_id) is h2.stream.StreamClosedBy.SEND_RST_STREAM
                )
            ]
        )


@settings(max_examples=200, deadline=None)
@given(st.lists(FRAMES, min_size=1, max_size=10))
def test_receive_frame_without_repr_handles_stream_errors_as_h2_does(ops: list[tuple[str, int]]) -> None:
    ours = _ServerConnection(_config())
    h2s = _H2WithOurPolicy(_config())
    assert _drive(ours, ops) == _drive(h2s, ops)


def test_a_frame_on_a_swept_stream_is_judged_as_h2_judges_it() -> None:
    # 40 streams opened and closed (reset by the client, or ended both ways) push the first ones out of the table
    # (swept): a frame on them is then a stream error (closed by reset) or a connection error (closed by end).
    for closing in ("reset", "data_end"):
        ops: list[tuple[str, int]] = []
        for sid in range(1, 81, 2):
            ops += [("headers", sid), (closing, sid)]
            if closing == "data_end":
                ops.append(("server_reset", sid))
        ops += [("data", 1), ("window", 1), ("headers", 1), ("headers", 101)]
        ours = _drive(_ServerConnection(_config()), ops)
        assert ours == _drive(_H2WithOurPolicy(_config()), ops)
        if closing == "reset":  # the client reset it: its frames after that are answered RST_STREAM STREAM_CLOSED
            assert ours[-7].startswith(b"\x00\x00\x04\x03\x00\x00\x00\x00\x01")  # DATA on 1
            assert ours[-3].startswith(b"\x00\x00\x04\x03\x00\x00\x00\x00\x01")  # HEADERS on 1
        else:  # we reset it: what the client still sends on it is ignored (RFC 9113 §5.1)
            assert b"\x00\x00\x04\x03\x00\x00\x00\x00\x01" not in ours[-7]
            assert b"\x00\x00\x04\x03\x00\x00\x00\x00\x01" not in ours[-3]


def test_the_access_log_counts_the_body_bytes_of_a_raw_frame_response() -> None:
    async def scenario() -> None:
        wire = H2Wire(_answer)
        for path, size in (("/100-bytes", 100), ("/100-streamed", 100), ("/0-bytes", 0)):
            result = await wire.get(path)
            assert (result.status, len(result.body)) == (200, size)
        await wire.settle(3)
        assert [(status, sent, aborted) for _, status, sent, aborted in wire.observed] == [
            (200, 100, False),
            (200, 100, False),
            (200, 0, False),
        ]

    asyncio.run(scenario())
