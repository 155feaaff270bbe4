"""``h2``'s receive path with a fast lane for the frames of a simple request, bit for bit the same outcome.

``H2Connection.receive_data`` costs ~13 us a request in Python: a ``Frame`` object per frame (its ``Flags`` set,
``parse_body``), the frame buffer's header-block bookkeeping, two state machines stepping through ``process_input``
(an ``isinstance`` check and a table lookup each) and the header pipeline's generators. For the frames a plain
request and its connection are made of, :func:`receive_data` reads the 9-byte frame header itself and makes
exactly the changes ``h2`` would make, with ``h2``'s own objects:

* HEADERS with END_HEADERS (no PADDED, no PRIORITY) opening a new client stream: decoded by the connection's
  decoder through ``h2``'s ``_decode_headers`` (the same errors), an ``H2Stream`` built as ``_begin_new_stream``
  builds it, moved IDLE → OPEN (→ HALF_CLOSED_REMOTE on END_STREAM) as ``request_received`` /
  ``stream_half_closed`` do, its content-length read by ``h2``'s ``_initialize_content_length``;
* DATA (no PADDED) on an OPEN or HALF_CLOSED_LOCAL stream that fits both inbound windows and its content-length:
  both windows consumed, the length tracked, END_STREAM stepped as ``h2`` steps it;
* WINDOW_UPDATE of 4 bytes on the connection or a known stream, when the window cannot overflow;
* RST_STREAM of 4 bytes on a stream ``h2`` still holds (an open one is closed as ``stream_reset`` closes it);
* PING (its ACK queued as ``h2`` serializes it) and PING ACK; SETTINGS ACK (``h2``'s ``_local_settings_acked``).

Everything else (the preface's SETTINGS, priority, padding, CONTINUATION and any frame while a header block is
open, RST_STREAM on a stream ``h2`` no longer holds, GOAWAY, unknown types, a frame over the size limit, a
connection not in SERVER_OPEN, a stream in any other state, a frame ``h2`` would refuse or answer with an error) is
left to ``h2``'s own frame buffer and ``_receive_frame``, one frame at a time, in order. A fast frame is only
taken when nothing about it can fail except header decoding, which fails inside ``h2``'s own function at the same
point ``h2`` would call it; frames are consumed from the buffer before they are handled, as ``h2``'s buffer does,
so an error leaves the same state.

The state transitions it makes by hand are checked against ``h2``'s transition table when this module loads; if an
``h2`` release changed any of them, :data:`FAST_PATH` is False and every frame takes ``h2``'s path.
``tests/protocol/test_h2rx_differential.py`` feeds the same bytes (valid and hostile) to this and to ``h2``.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from h2.connection import ConnectionState, _decode_headers
from h2.errors import ErrorCodes, _error_code_from_int
from h2.events import (
    DataReceived,
    Event,
    PingAckReceived,
    PingReceived,
    RequestReceived,
    SettingsAcknowledged,
    StreamEnded,
    StreamReset,
    WindowUpdated,
)
from h2.exceptions import ProtocolError
from h2.settings import SettingCodes
from h2.stream import H2Stream, H2StreamStateMachine, StreamClosedBy, StreamInputs, StreamState, _transitions
from hyperframe.exceptions import InvalidPaddingError

if TYPE_CHECKING:
    import h2.connection

__all__ = ["FAST_PATH", "receive_data"]

_HEAD = struct.Struct(">IBI")  # (24-bit length << 8 | type), flags, stream id with its reserved bit
_WINDOW = struct.Struct(">I")
_DATA, _HEADERS, _RST_STREAM, _SETTINGS, _PING, _WINDOW_UPDATE = 0x0, 0x1, 0x3, 0x4, 0x6, 0x8
_END_STREAM = 0x1  # also SETTINGS' and PING's ACK
_END_HEADERS = 0x4
_PADDED = 0x8
_PRIORITY = 0x20
_MAX_WINDOW = 2**31 - 1
_MAX_STREAMS = SettingCodes.MAX_CONCURRENT_STREAMS
_INITIAL_WINDOW = SettingCodes.INITIAL_WINDOW_SIZE
_PING_ACK_HEAD = b"\x00\x00\x08\x06\x01\x00\x00\x00\x00"  # h2's PingFrame(0) with ACK, as serialize() writes it
_SERVER_OPEN = ConnectionState.SERVER_OPEN
_OPEN = StreamState.OPEN
_HALF_CLOSED_LOCAL = StreamState.HALF_CLOSED_LOCAL
_HALF_CLOSED_REMOTE = StreamState.HALF_CLOSED_REMOTE
_CLOSED = StreamState.CLOSED
_M = H2StreamStateMachine

# The transitions made by hand below, as h2's table must have them: (state, input) -> (its function, next state).
_EXPECTED = {
    (StreamState.IDLE, StreamInputs.RECV_HEADERS): (_M.request_received, _OPEN),
    (_OPEN, StreamInputs.RECV_END_STREAM): (_M.stream_half_closed, _HALF_CLOSED_REMOTE),
    (_OPEN, StreamInputs.RECV_DATA): (_M.data_received, _OPEN),
    (_HALF_CLOSED_LOCAL, StreamInputs.RECV_DATA): (_M.data_received, _HALF_CLOSED_LOCAL),
    (_HALF_CLOSED_LOCAL, StreamInputs.RECV_END_STREAM): (_M.stream_ended, _CLOSED),
    (_OPEN, StreamInputs.RECV_WINDOW_UPDATE): (_M.window_updated, _OPEN),
    (_HALF_CLOSED_LOCAL, StreamInputs.RECV_WINDOW_UPDATE): (_M.window_updated, _HALF_CLOSED_LOCAL),
    (_HALF_CLOSED_REMOTE, StreamInputs.RECV_WINDOW_UPDATE): (_M.window_updated, _HALF_CLOSED_REMOTE),
    (_CLOSED, StreamInputs.RECV_WINDOW_UPDATE): (None, _CLOSED),
    (_OPEN, StreamInputs.RECV_RST_STREAM): (_M.stream_reset, _CLOSED),
    (_HALF_CLOSED_LOCAL, StreamInputs.RECV_RST_STREAM): (_M.stream_reset, _CLOSED),
    (_HALF_CLOSED_REMOTE, StreamInputs.RECV_RST_STREAM): (_M.stream_reset, _CLOSED),
    (_CLOSED, StreamInputs.RECV_RST_STREAM): (None, _CLOSED),
}
FAST_PATH = all(_transitions.get(key) == value for key, value in _EXPECTED.items())
"""False when the installed ``h2`` moves its stream states differently from what this module replays."""

# DATA by stream state: the state after the frame, after END_STREAM, and how END_STREAM records the close.
_DATA_STEPS: dict[StreamState, tuple[StreamState, StreamState, StreamClosedBy | None]] = {
    _OPEN: (_OPEN, _HALF_CLOSED_REMOTE, None),
    _HALF_CLOSED_LOCAL: (_HALF_CLOSED_LOCAL, _CLOSED, StreamClosedBy.RECV_END_STREAM),
}
_WINDOW_STATES = frozenset({_OPEN, _HALF_CLOSED_LOCAL, _HALF_CLOSED_REMOTE})  # the open states, also for RST_STREAM


def receive_data(conn: h2.connection.H2Connection, data: bytes) -> list[Event]:
    """What ``conn.receive_data(data)`` returns, raises and changes, for a server connection (see the docstring)."""
    buffer = conn.incoming_buffer
    simple = (
        FAST_PATH
        and not conn.config.client_side
        and not conn.config.header_encoding
        and not conn.config.normalize_inbound_headers
        and not conn.config.validate_inbound_headers
    )
    if simple and type(data) is bytes and not buffer._data and not buffer._preamble_len:
        src: bytes | bytearray = data  # nothing buffered: read the frames in place, keep only a partial one
    else:
        buffer.add_data(data)  # h2's preface check, outside the error handling below as in h2
        src = buffer._data
    buffer.max_frame_size = max_frame = conn.max_inbound_frame_size
    events: list[Event] = []
    pos = 0
    try:
        try:
            size = len(src)
            while size - pos >= 9:
                head, flags, sid = _HEAD.unpack_from(src, pos)
                end = pos + 9 + (head >> 8)
                kind = head & 0xFF
                sid &= 0x7FFFFFFF
                start = pos
                pos = end  # consumed before it is handled, as h2's buffer deletes a frame before yielding it
                # A partial frame goes to h2's buffer, which judges its header now and its length once it is whole.
                if (
                    end <= size
                    and simple
                    and end - start - 9 <= max_frame
                    and not buffer._headers_buffer
                    and conn.state_machine.state is _SERVER_OPEN
                    and _fast_frame(conn, kind, flags, sid, src, start + 9, end, events)
                ):
                    continue
                # h2's own path for this frame (and the CONTINUATION frames of its header block).
                pos = start
                if src is buffer._data:
                    del src[:pos]
                else:
                    buffer._data += memoryview(src)[pos:]
                    src = buffer._data
                pos = 0
                frame = next(buffer, None)
                if frame is None:
                    break
                events.extend(conn._receive_frame(frame))
                size = len(src)
        finally:
            if src is buffer._data:
                del src[:pos]
            elif pos < len(src):
                buffer._data += memoryview(src)[pos:]
    except InvalidPaddingError as exc:
        conn._terminate_connection(ErrorCodes.PROTOCOL_ERROR)
        msg = "Received frame with invalid padding."
        raise ProtocolError(msg) from exc
    except ProtocolError as exc:
        conn._terminate_connection(exc.error_code)
        raise
    return events


def _fast_frame(
    conn: h2.connection.H2Connection,
    kind: int,
    flags: int,
    sid: int,
    src: bytes | bytearray,
    start: int,
    end: int,
    events: list[Event],
) -> bool:
    """Handle one complete frame as ``h2`` would and return True, or return False having changed nothing."""
    if kind == _HEADERS:
        return _headers(conn, flags, sid, src, start, end, events)
    if kind == _DATA:
        return _data(conn, flags, sid, src, start, end, events)
    if kind == _WINDOW_UPDATE:
        return _window_update(conn, sid, src, start, end, events)
    if kind == _RST_STREAM:
        return _rst_stream(conn, sid, src, start, end, events)
    if kind == _PING:
        if sid or end - start != 8:
            return False
        payload = bytes(src[start:end])
        if flags & _END_STREAM:
            events.append(PingAckReceived(ping_data=payload))
        else:
            events.append(PingReceived(ping_data=payload))
            conn._data_to_send += _PING_ACK_HEAD + payload
        return True
    if kind == _SETTINGS and flags & _END_STREAM and not sid and end == start:
        ack = SettingsAcknowledged()
        ack.changed_settings = conn._local_settings_acked()
        events.append(ack)
        return True
    return False


def _headers(
    conn: h2.connection.H2Connection,
    flags: int,
    sid: int,
    src: bytes | bytearray,
    start: int,
    end: int,
    events: list[Event],
) -> bool:
    """A request's header block opening stream ``sid`` (``_receive_headers_frame`` + ``_begin_new_stream``)."""
    if flags & (_PADDED | _PRIORITY) or not flags & _END_HEADERS:
        return False
    if not sid & 1 or sid <= conn.highest_inbound_stream_id:
        return False  # a server's or a reused id: h2 judges it (after decoding the block, which changes state)
    # h2 counts open streams first (sweeping closed ones as it counts) and refuses one over the limit.
    # The settings in force, read as Settings.__getitem__ reads them (the first of each code's values) without its
    # two Python calls per read; a code with no value in force falls back to the properties.
    local = conn.local_settings._settings
    streams_now = local.get(_MAX_STREAMS)
    max_streams = streams_now[0] if streams_now else None
    if max_streams is None:
        max_streams = conn.local_settings.max_concurrent_streams
    if conn.open_inbound_streams + 1 > max_streams:
        return False
    headers: list[tuple[bytes, bytes]] = _decode_headers(conn.decoder, bytes(src[start:end]))  # type: ignore[assignment]
    stream = H2Stream(
        sid,
        config=conn.config,
        inbound_window_size=local[_INITIAL_WINDOW][0] or conn.local_settings.initial_window_size,
        outbound_window_size=conn.remote_settings._settings[_INITIAL_WINDOW][0]
        or conn.remote_settings.initial_window_size,
    )
    stream.max_outbound_frame_size = conn.max_outbound_frame_size
    conn.streams[sid] = stream
    conn.highest_inbound_stream_id = sid
    end_stream = bool(flags & _END_STREAM)
    # One pass for what h2 asks of the fields: is_informational_response (the first :status among the leading
    # pseudo-headers) and whether _initialize_content_length has a content-length to read.
    informational: bool | None = None
    content_length = False
    for name, value in headers:
        if informational is None:
            if not name.startswith(b":"):
                informational = False
            elif name == b":status":
                informational = value.startswith(b"1")
        if name == b"content-length":
            content_length = True
    if informational:
        # A request carrying :status 1xx: h2's own stream code raises the error it raises.
        _, stream_events = stream.receive_headers(headers, end_stream, conn.config.header_encoding)
        events.extend(stream_events)
        return True
    machine = stream.state_machine
    machine.client = False  # request_received
    machine.headers_received = True
    request = RequestReceived(stream_id=sid)
    events.append(request)
    if end_stream:
        machine.state = _HALF_CLOSED_REMOTE  # stream_half_closed
        ended = StreamEnded(stream_id=sid)
        request.stream_ended = ended
        events.append(ended)
    else:
        machine.state = _OPEN
    if content_length:
        stream._initialize_content_length(headers)  # h2's own reading and errors (without one it stays None)
    request.headers = headers
    return True


def _data(
    conn: h2.connection.H2Connection,
    flags: int,
    sid: int,
    src: bytes | bytearray,
    start: int,
    end: int,
    events: list[Event],
) -> bool:
    """A request body chunk (``_receive_data_frame`` + ``H2Stream.receive_data``) that no check refuses."""
    if flags & _PADDED or not sid:
        return False
    stream = conn.streams.get(sid)
    if stream is None:
        return False
    machine = stream.state_machine
    steps = _DATA_STEPS.get(machine.state)
    if steps is None or not machine.headers_received:
        return False
    length = end - start
    conn_window = conn._inbound_flow_control_window_manager
    stream_window = stream._inbound_window_manager
    if length > conn_window.current_window_size or length > stream_window.current_window_size:
        return False  # h2's FLOW_CONTROL_ERROR
    end_stream = flags & _END_STREAM
    received = stream._actual_content_length + length
    expected = stream._expected_content_length
    if expected is not None and (received > expected or (end_stream and received != expected)):
        return False  # h2's InvalidBodyLengthError
    conn_window.current_window_size -= length
    stream_window.current_window_size -= length
    stream._actual_content_length = received
    event = DataReceived(stream_id=sid)
    events.append(event)
    if end_stream:
        machine.state = steps[1]
        if steps[2] is not None:
            machine.stream_closed_by = steps[2]
        ended = StreamEnded(stream_id=sid)
        event.stream_ended = ended
        events.append(ended)
    else:
        machine.state = steps[0]
    event.data = bytes(src[start:end])
    event.flow_controlled_length = length
    return True


def _window_update(
    conn: h2.connection.H2Connection,
    sid: int,
    src: bytes | bytearray,
    start: int,
    end: int,
    events: list[Event],
) -> bool:
    """A WINDOW_UPDATE that cannot overflow its window (``_receive_window_update_frame``)."""
    if end - start != 4:
        return False
    increment = _WINDOW.unpack_from(src, start)[0]
    if not 1 <= increment <= _MAX_WINDOW:
        return False  # hyperframe refuses it (its reserved bit set, or 0)
    if not sid:
        window = conn.outbound_flow_control_window + increment
        if window > _MAX_WINDOW:
            return False
        conn.outbound_flow_control_window = window
        events.append(WindowUpdated(stream_id=0, delta=increment))
        return True
    stream = conn.streams.get(sid)
    if stream is None:
        return False
    state = stream.state_machine.state
    if state is _CLOSED:
        return True  # h2 accepts it on a closed stream it still holds, and does nothing
    if state not in _WINDOW_STATES:
        return False
    window = stream.outbound_flow_control_window + increment
    if window > _MAX_WINDOW:
        return False  # h2 resets the stream (FLOW_CONTROL_ERROR)
    stream.outbound_flow_control_window = window
    events.append(WindowUpdated(stream_id=sid, delta=increment))
    return True


def _rst_stream(
    conn: h2.connection.H2Connection,
    sid: int,
    src: bytes | bytearray,
    start: int,
    end: int,
    events: list[Event],
) -> bool:
    """The client resets a stream ``h2`` still holds (``_receive_rst_stream_frame`` + ``H2Stream.stream_reset``)."""
    if end - start != 4 or not sid:
        return False
    stream = conn.streams.get(sid)
    if stream is None:
        return False  # never opened, or swept: h2 tells which (nothing, or a stream error)
    machine = stream.state_machine
    state = machine.state
    if state is _CLOSED:
        return True  # h2 accepts it on a closed stream it still holds, and does nothing
    if state not in _WINDOW_STATES:
        return False
    machine.state = _CLOSED  # stream_reset
    machine.stream_closed_by = StreamClosedBy.RECV_RST_STREAM
    code = _WINDOW.unpack_from(src, start)[0]
    events.append(StreamReset(stream_id=sid, error_code=_error_code_from_int(code)))
    return True
