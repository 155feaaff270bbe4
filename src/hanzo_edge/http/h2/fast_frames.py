"""A whole small response written as raw frames, with ``h2``'s bookkeeping updated as its own send path does.

``h2``'s ``send_headers`` + ``send_data`` cost ~20 us a response in Python: frame objects, flag sets, header
normalisation generators, two connection and three stream state-machine steps, ``serialize``. For the common
response (status, headers and a body that is already complete, fits one DATA frame and both outbound windows) we
write HEADERS (+ CONTINUATION when the block is larger than a frame) and one DATA frame with END_STREAM ourselves.

``h2`` stays the source of truth for everything else, so every frame after ours (WINDOW_UPDATE, RST_STREAM,
GOAWAY, new streams) is judged as before:

* the stream's state machine ends where ``h2``'s would (SEND_HEADERS: ``headers_sent``; SEND_END_STREAM:
  HALF_CLOSED_LOCAL or CLOSED with ``stream_closed_by``): set directly for a server stream when ``h2``'s transition
  table has these steps as checked at import, else through its own ``process_input``;
* both outbound windows (the stream's and the connection's) are decremented by the DATA length exactly as
  ``send_data`` does, or a client's ordinary WINDOW_UPDATE would later overflow ``h2``'s 2^31-1 check;
* the bytes are appended to ``h2``'s own output buffer, so they keep their order with what ``h2`` queued.

Anything else (connection not open, stream unknown to ``h2``, final headers already sent, a window or the frame
size too small) returns False before touching any state and the caller takes ``h2``'s path. This relies on ``h2``
internals (``streams``, ``state_machine``, ``_data_to_send``, the window attributes): ``pyproject.toml`` pins the
``h2`` range it was checked against, and ``tests/protocol/test_h2_fast_frames.py`` compares it with ``h2``'s path.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from h2.connection import ConnectionState
from h2.stream import H2StreamStateMachine, StreamClosedBy, StreamInputs, StreamState, _transitions

if TYPE_CHECKING:
    from collections.abc import Sequence

    import h2.connection

__all__ = ["send_whole_response"]

_HEAD = struct.Struct(">IBI")  # (24-bit length << 8 | type), flags, stream id (its reserved bit is 0)
_DATA = 0x0
_HEADERS = 0x1
_CONTINUATION = 0x9
_END_STREAM = 0x1
_END_HEADERS = 0x4
_M = H2StreamStateMachine
# A response on a server stream, step by step as h2's table has it: (state, input) -> (its function, next state).
_EXPECTED = {
    (StreamState.OPEN, StreamInputs.SEND_HEADERS): (_M.response_sent, StreamState.OPEN),
    (StreamState.HALF_CLOSED_REMOTE, StreamInputs.SEND_HEADERS): (_M.response_sent, StreamState.HALF_CLOSED_REMOTE),
    (StreamState.OPEN, StreamInputs.SEND_END_STREAM): (None, StreamState.HALF_CLOSED_LOCAL),
    (StreamState.HALF_CLOSED_REMOTE, StreamInputs.SEND_END_STREAM): (_M.send_end_stream, StreamState.CLOSED),
}
# The state after HEADERS + END_STREAM from each state a response can start in, and how the close is recorded;
# empty when the installed h2 moves differently (every response then steps through h2's process_input).
_AFTER_RESPONSE: dict[StreamState, tuple[StreamState, StreamClosedBy | None]] = (
    {
        StreamState.OPEN: (StreamState.HALF_CLOSED_LOCAL, None),
        StreamState.HALF_CLOSED_REMOTE: (StreamState.CLOSED, StreamClosedBy.SEND_END_STREAM),
    }
    if all(_transitions.get(key) == value for key, value in _EXPECTED.items())
    else {}
)
_SENDABLE = (StreamState.OPEN, StreamState.HALF_CLOSED_REMOTE)


def send_whole_response(
    conn: h2.connection.H2Connection, sid: int, block: Sequence[tuple[bytes, bytes]], body: bytes
) -> bool:
    """Queue ``block`` and ``body`` on stream ``sid`` as HEADERS [+ CONTINUATION] + DATA(END_STREAM), or return False
    (nothing changed) when only ``h2``'s own path can send them. An empty body ends the stream on the HEADERS."""
    if conn.state_machine.state is not ConnectionState.SERVER_OPEN:
        return False
    stream = conn.streams.get(sid)
    if stream is None:
        return False
    machine = stream.state_machine
    if machine.state not in _SENDABLE or machine.headers_sent:
        return False
    size = len(body)
    max_frame = conn.max_outbound_frame_size
    if size > max_frame or size > conn.outbound_flow_control_window or size > stream.outbound_flow_control_window:
        return False
    # From here on nothing can fail: encode (the encoder has state: a pending table size update), then move h2.
    encoded = conn.encoder.encode(block)
    after = _AFTER_RESPONSE.get(machine.state) if machine.client is False else None
    if after is not None:
        # response_sent (headers_sent) then END_STREAM, as h2's process_input would step them, without its checks.
        machine.headers_sent = True
        machine.state = after[0]
        if after[1] is not None:
            machine.stream_closed_by = after[1]
    else:
        machine.process_input(StreamInputs.SEND_HEADERS)
        machine.process_input(StreamInputs.SEND_END_STREAM)
    stream.request_method = None  # as h2's send_headers records from a response block (which has no :method)
    out = conn._data_to_send
    pack = _HEAD.pack
    end = 0 if size else _END_STREAM
    length = len(encoded)
    if length <= max_frame:
        out += pack(length << 8 | _HEADERS, _END_HEADERS | end, sid)
        out += encoded
    else:
        out += pack(max_frame << 8 | _HEADERS, end, sid)
        out += encoded[:max_frame]
        for start in range(max_frame, length, max_frame):
            chunk = encoded[start : start + max_frame]
            last = start + max_frame >= length
            out += pack(len(chunk) << 8 | _CONTINUATION, _END_HEADERS if last else 0, sid)
            out += chunk
    if size:
        stream.outbound_flow_control_window -= size
        conn.outbound_flow_control_window -= size
        out += pack(size << 8 | _DATA, _END_STREAM, sid)
        out += body
    return True
