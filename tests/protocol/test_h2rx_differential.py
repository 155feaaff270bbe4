"""The receive fast lane (``http/h2/fast_receive.py``) against ``h2``'s own ``receive_data``, byte for byte.

Two server connections set up alike get the same client bytes, cut into the same reads (frames split across reads
included), with the same server actions between reads (responses, resets, window grants). After every read they
must agree on everything: the events (type and every field, nested ``StreamEnded`` included), the error raised
(class, message, code), the bytes queued to send, and the state (connection state machine, stream ids, every
stream's state machine, windows and content-length bookkeeping, swept streams, the frame buffer and an open header
block, the HPACK table, the settings). The frames are valid requests and what the attack suite sends: bad
prefaces, reused and even stream ids, padding, priorities, CONTINUATION floods, HPACK bombs and garbage blocks,
content-length lies, flow-control overflows, zero and reserved-bit window increments, malformed PING / SETTINGS /
WINDOW_UPDATE lengths, frames over the size limit, floods of RST_STREAM, PING and SETTINGS, unknown types.

Pairs compared: plain ``h2`` (the fast lane as a function) and our ``_ServerConnection`` (its own decoder, sweep and
``_receive_frame``; the fast lane is its ``receive_data``, ``h2``'s is called on the twin).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from hpack import Encoder
from hyperframe.frame import Frame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hanzo_edge.http.h2 import PREFACE
from hanzo_edge.http.h2.fast_receive import FAST_PATH, receive_data
from hanzo_edge.http.h2.server import _config, _ServerConnection

_CODES = h2.settings.SettingCodes


def _frame(kind: int, flags: int, sid: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + sid.to_bytes(4, "big") + payload


def _block(fields: list[tuple[bytes, bytes]], indexing: bool = False) -> bytes:
    """``fields`` encoded with incremental indexing (``hpack``'s encoder) or as literals that leave the table alone."""
    if indexing:
        return Encoder().encode(fields)
    return b"".join(_literal(n, v) for n, v in fields)


def _literal(name: bytes, value: bytes) -> bytes:
    """A literal field without indexing, new name (RFC 7541 §6.2.2): leaves the decoder's table alone."""
    return b"\x00" + _length(name) + name + _length(value) + value


def _length(data: bytes) -> bytes:
    size = len(data)
    if size < 127:
        return bytes([size])
    out = bytearray([127])
    size -= 127
    while size >= 128:
        out.append((size & 0x7F) | 0x80)
        size >>= 7
    out.append(size)
    return bytes(out)


_GET = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"a.test"), (b":path", b"/")]
_POST = [(b":method", b"POST"), (b":scheme", b"https"), (b":authority", b"a.test"), (b":path", b"/up")]
BLOCKS = [
    _block(_GET),
    _block(_GET, indexing=True),  # adds to the dynamic table: later blocks' indices depend on it
    _block([*_POST, (b"content-length", b"5")], indexing=True),
    _block([*_POST, (b"content-length", b"5")]),
    _block([*_POST, (b"content-length", b"abc")]),  # not digits: h2's ProtocolError
    _block([*_POST, (b"content-length", b"3"), (b"content-length", b"4")]),  # conflicting
    _block([*_POST, (b"content-length", b"0")]),
    _block([(b":status", b"100"), *_GET]),  # an informational "request"
    _block([(b":status", b"200"), *_GET]),
    _block([*_GET, (b"x-bomb", b"b" * 70000)]),  # over the HPACK hard limit
    b"\xbe",  # indexed field 62: in the dynamic table or not
    b"\xc0\xc1",
    b"\x3f\xe1\x1f",  # a table size update over the limit
    b"\x20" + _block(_GET),  # a size update to 0, then the request
    b"\xff\xff\xff\xff\xff",  # a truncated / overlong integer
    b"",
]


def _headers_frame(sid: int, flags: int, block: bytes) -> bytes:
    payload = block
    if flags & 0x20:
        payload = (sid if flags & 0x40 else 0).to_bytes(4, "big") + b"\x10" + payload  # depends on itself (0x40)
    if flags & 0x08:
        payload = b"\x03" + payload + b"\x00\x00\x00"
    return _frame(0x1, flags & 0x2D, sid, payload)


# Stream ids: "new" is the next odd id above every one used so far, "last" the newest, "older" the one before it.
SIDS = st.sampled_from(["new", "new", "last", "last", "older", 1, 3, 2, 0, 0x80000001])
VALID = st.one_of(
    st.tuples(st.just("headers"), st.just("new"), st.sampled_from([0x5, 0x4]), st.sampled_from([0, 1, 0, 1, 2, 13])),
    st.tuples(
        st.just("data"), st.sampled_from(["last", "older"]), st.sampled_from([0x0, 0x1]), st.sampled_from([1, 5])
    ),
    st.tuples(st.just("window"), st.sampled_from([0, "last", "older"]), st.just(100), st.just(4)),
    st.tuples(st.just("ping"), st.just(0), st.sampled_from([0x0, 0x1]), st.just(8)),
    st.tuples(st.just("settings"), st.just(0), st.just(0x1), st.just("")),
)
HOSTILE = st.one_of(
    st.tuples(
        st.just("headers"),
        SIDS,
        st.sampled_from([0x5, 0x4, 0x1, 0x0, 0x25, 0x65, 0xD, 0x2D, 0x45, 0xF5]),
        st.sampled_from(range(len(BLOCKS))),
    ),
    st.tuples(st.just("continuation"), SIDS, st.sampled_from([0x0, 0x4]), st.sampled_from(range(len(BLOCKS)))),
    st.tuples(
        st.just("data"), SIDS, st.sampled_from([0x0, 0x1, 0x8, 0x9]), st.sampled_from([0, 1, 5, 100, 16384, 70000])
    ),
    st.tuples(
        st.just("window"),
        SIDS,
        st.sampled_from([1, 100, 65535, 2**31 - 1, 2**31, 0]),
        st.sampled_from([4, 4, 4, 3, 5]),
    ),
    st.tuples(st.just("ping"), st.sampled_from([0, 0, 1]), st.sampled_from([0x0, 0x1]), st.sampled_from([8, 8, 7])),
    st.tuples(
        st.just("settings"),
        st.sampled_from([0, 0, 1]),
        st.sampled_from([0x1, 0x1, 0x0]),
        st.sampled_from(["", "", "window", "window-big", "frame", "table", "bad-push", "short"]),
    ),
    st.tuples(st.just("rst"), SIDS, st.sampled_from([0, 8]), st.sampled_from([4, 4, 3])),
    st.tuples(st.just("goaway"), st.sampled_from([0, 1]), st.sampled_from([0, 1]), st.just(0)),
    st.tuples(st.just("priority"), SIDS, st.booleans(), st.just(0)),
    st.tuples(st.just("unknown"), SIDS, st.sampled_from([0x20, 0x5, 0xA]), st.just(0)),
    st.tuples(st.just("oversized"), SIDS, st.sampled_from([0x0, 0x1, 0x6, 0x8]), st.just(0)),
)
FRAMES = st.one_of(VALID, VALID, VALID, VALID, VALID, HOSTILE)
# The first request opens the connection (IDLE -> SERVER_OPEN); without it every frame is h2's.
OPENERS = st.sampled_from(
    [None, ("headers", 1, 0x4, 3), ("headers", 1, 0x4, 3), ("headers", 1, 0x4, 0), ("headers", 1, 0x5, 1)]
)
ACTIONS = st.tuples(
    st.sampled_from(["respond", "respond_end", "reset", "grant", "settings", "none", "none"]),
    st.sampled_from(["last", "older", 1, 3]),
)


def _wire(specs: list[tuple[Any, ...]]) -> list[bytes]:
    """The frames of ``specs`` with their symbolic stream ids resolved."""
    highest = 0
    frames = []
    for kind, sid, a, b in specs:
        if sid == "new":
            highest = max(1, highest + 2 if highest % 2 else highest + 1)
            sid = highest
        elif sid == "last":
            sid = max(1, highest)
        elif sid == "older":
            sid = max(1, highest - 2)
        elif kind == "headers" and sid % 2 and sid < 0x80000000:
            highest = max(highest, sid)
        frames.append(_frame_bytes((kind, sid, a, b)))
    return frames


def _frame_bytes(spec: tuple[Any, ...]) -> bytes:
    kind, sid, a, b = spec
    if kind == "headers":
        return _headers_frame(sid, a, BLOCKS[b])
    if kind == "continuation":
        return _frame(0x9, a, sid, BLOCKS[b])
    if kind == "data":
        payload = b"d" * b
        if a & 0x8:
            payload = b"\x02" + payload + b"\x00\x00"
        return _frame(0x0, a, sid, payload)
    if kind == "window":
        return _frame(0x8, 0, sid, a.to_bytes(8, "big")[-b:] if b <= 8 else b"")
    if kind == "ping":
        return _frame(0x6, a, sid, b"p" * b)
    if kind == "settings":
        payload = {
            "": b"",
            "window": (4).to_bytes(2, "big") + (1000).to_bytes(4, "big"),
            "window-big": (4).to_bytes(2, "big") + (2**31).to_bytes(4, "big"),
            "frame": (5).to_bytes(2, "big") + (32768).to_bytes(4, "big"),
            "table": (1).to_bytes(2, "big") + (0).to_bytes(4, "big"),
            "bad-push": (2).to_bytes(2, "big") + (7).to_bytes(4, "big"),
            "short": b"\x00\x04\x00",
        }[b]
        return _frame(0x4, a, sid, payload)
    if kind == "rst":
        return _frame(0x3, 0, sid, a.to_bytes(4, "big")[:b])
    if kind == "goaway":
        return _frame(0x7, 0, sid, (1).to_bytes(4, "big") + a.to_bytes(4, "big"))
    if kind == "priority":
        return _frame(0x2, 0, sid, (sid if a else 0).to_bytes(4, "big") + b"\x10")
    if kind == "unknown":
        return _frame(a, 0xFF, sid, b"junk")
    return _frame(a, 0, sid, b"o" * 16385)


def _norm(value: Any) -> Any:
    """An event (or a field of one) as comparable plain data."""
    if isinstance(value, h2.events.Event):
        return (type(value).__name__, sorted((k, _norm(v)) for k, v in vars(value).items()))
    if isinstance(value, dict):
        return sorted((repr(k), _norm(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, Frame):
        return (type(value).__name__, repr(value))
    if isinstance(value, h2.settings.ChangedSetting):
        return (value.setting, value.original_value, value.new_value)
    return value


def _stream_state(stream: Any) -> tuple[Any, ...]:
    machine = stream.state_machine
    return (
        sorted(vars(machine).items()),
        stream.outbound_flow_control_window,
        sorted(vars(stream._inbound_window_manager).items()),
        stream._expected_content_length,
        stream._actual_content_length,
        stream.max_outbound_frame_size,
        stream.request_method,
        stream._authority,
    )


def _state(conn: h2.connection.H2Connection) -> tuple[Any, ...]:
    buffer = conn.incoming_buffer
    table = conn.decoder.header_table
    return (
        conn.state_machine.state,
        conn.highest_inbound_stream_id,
        conn.highest_outbound_stream_id,
        conn.outbound_flow_control_window,
        sorted(vars(conn._inbound_flow_control_window_manager).items()),
        conn.max_inbound_frame_size,
        conn.max_outbound_frame_size,
        sorted((k, list(v)) for k, v in conn.local_settings._settings.items()),
        sorted((k, list(v)) for k, v in conn.remote_settings._settings.items()),
        sorted((sid, _stream_state(s)) for sid, s in conn.streams.items()),
        sorted(conn._closed_streams.items()),
        bytes(buffer._data),
        buffer._preamble_len,
        buffer.max_frame_size,
        [(type(f).__name__, f.stream_id, sorted(f.flags), bytes(f.data)) for f in buffer._headers_buffer],
        list(table.dynamic_entries),
        table.maxsize,
        conn.decoder.max_header_list_size,
        conn.decoder.max_allowed_table_size,
        conn.encoder.header_table_size,
    )


def _server(kind: str, local: dict[int, int]) -> h2.connection.H2Connection:
    conn = _ServerConnection(_config()) if kind == "ours" else h2.connection.H2Connection(_config())
    if local:
        conn.local_settings = h2.settings.Settings(client=False, initial_values=local)
    conn.initiate_connection()
    conn.data_to_send()
    return conn


def _act(conn: h2.connection.H2Connection, action: tuple[str, Any]) -> Any:
    kind, sid = action
    if sid == "last":
        sid = max(1, conn.highest_inbound_stream_id)
    elif sid == "older":
        sid = max(1, conn.highest_inbound_stream_id - 2)
    try:
        if kind == "respond":
            conn.send_headers(sid, [(b":status", b"200")])
        elif kind == "respond_end":
            conn.send_headers(sid, [(b":status", b"204")], end_stream=True)
        elif kind == "reset":
            conn.reset_stream(sid, 8)
        elif kind == "grant":
            conn.acknowledge_received_data(40000, sid)
        elif kind == "settings":
            # Pending until the client's ACK (which the fast lane may take): the values in force change then.
            conn.update_settings({_CODES.INITIAL_WINDOW_SIZE: 100 + sid, _CODES.MAX_CONCURRENT_STREAMS: 2 + sid})
    except (h2.exceptions.ProtocolError, KeyError, ValueError) as exc:
        return (type(exc).__name__, str(exc))
    return None


def _run(
    conn: h2.connection.H2Connection,
    receive: Callable[[h2.connection.H2Connection, bytes], list[h2.events.Event]],
    reads: list[bytes],
    actions: list[tuple[str, Any]],
) -> list[Any]:
    trace: list[Any] = []
    for index, data in enumerate(reads):
        try:
            events = receive(conn, data)
        except h2.exceptions.ProtocolError as exc:
            message = re.sub(r"0x[0-9a-f]+", "0x?", str(exc))  # hpack names a memoryview by its address
            trace.append(("error", type(exc).__name__, message, getattr(exc, "error_code", None)))
            trace.append(conn.data_to_send())
            trace.append(_state(conn))
            return trace
        trace.append(_norm(events))
        if index < len(actions):
            trace.append(_act(conn, actions[index]))
        trace.append(conn.data_to_send())
        trace.append(_state(conn))
    return trace


def _reads(frames: list[bytes], cuts: list[int], preface: bytes) -> list[bytes]:
    wire = preface + b"".join(frames)
    points = sorted({c % (len(wire) + 1) for c in cuts} | {len(preface)})
    reads, last = [], 0
    for point in [*points, len(wire)]:
        if point > last:
            reads.append(wire[last:point])
            last = point
    return reads


_CLIENT_SETTINGS = _frame(0x4, 0, 0, (4).to_bytes(2, "big") + (1 << 20).to_bytes(4, "big"))
PREFACES = st.sampled_from(
    [
        PREFACE + _CLIENT_SETTINGS,
        PREFACE + _CLIENT_SETTINGS,
        PREFACE + _frame(0x4, 0, 0, b""),
        b"PRI * HTTP/2.0\r\n\r\nXX",
    ]
)
LOCAL = st.sampled_from(
    [
        {},
        {},
        {},
        {_CODES.MAX_CONCURRENT_STREAMS: 2, _CODES.INITIAL_WINDOW_SIZE: 10},
        {_CODES.MAX_HEADER_LIST_SIZE: 100, _CODES.HEADER_TABLE_SIZE: 0},
        {_CODES.MAX_CONCURRENT_STREAMS: 0},
    ]
)


def _compare(
    kind: str,
    local: dict[int, int],
    preface: bytes,
    frames: list[tuple[Any, ...]],
    cuts: list[int] | None,
    actions: list[tuple[str, Any]],
) -> None:
    """``cuts``: where the bytes are split into reads (None: one read per frame)."""
    wire = _wire(frames)
    reads = [preface, *wire] if cuts is None else _reads(wire, cuts, preface)
    fast = _run(_server(kind, local), receive_data, reads, actions)
    slow = _run(_server(kind, local), h2.connection.H2Connection.receive_data, reads, actions)
    assert fast == slow


_SETTINGS = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_CUTS = st.none() | st.lists(st.integers(0, 1 << 20), max_size=6)
_ANY_FRAMES = st.tuples(OPENERS, st.lists(FRAMES, min_size=3, max_size=24)).map(
    lambda t: ([t[0]] if t[0] else []) + t[1]
)
# Mostly valid traffic on an open connection, with at most one hostile frame somewhere in it.
_VALID_FRAMES = st.tuples(
    OPENERS.filter(bool), st.lists(VALID, min_size=3, max_size=30), st.none() | HOSTILE, st.integers(0, 30)
).map(lambda t: [t[0], *t[1][: t[3]], *([t[2]] if t[2] else []), *t[1][t[3] :]])
_KINDS = st.sampled_from(["h2", "ours"])


@_SETTINGS
@given(
    kind=_KINDS,
    local=LOCAL.filter(lambda v: v.get(_CODES.MAX_CONCURRENT_STREAMS) != 0),
    frames=_VALID_FRAMES,
    cuts=_CUTS,
    actions=st.lists(ACTIONS, max_size=12),
)
def test_the_fast_lane_is_h2s_receive_data_on_valid_traffic(
    kind: str,
    local: dict[int, int],
    frames: list[tuple[Any, ...]],
    cuts: list[int] | None,
    actions: list[tuple[str, Any]],
) -> None:
    _compare(kind, local, PREFACE + _CLIENT_SETTINGS, frames, cuts, actions)


@_SETTINGS
@given(
    kind=_KINDS, local=LOCAL, preface=PREFACES, frames=_ANY_FRAMES, cuts=_CUTS, actions=st.lists(ACTIONS, max_size=10)
)
def test_the_fast_lane_is_h2s_receive_data_on_hostile_traffic(
    kind: str,
    local: dict[int, int],
    preface: bytes,
    frames: list[tuple[Any, ...]],
    cuts: list[int] | None,
    actions: list[tuple[str, Any]],
) -> None:
    _compare(kind, local, preface, frames, cuts, actions)


# -- scripted sequences: what a real client and the attack suite send, frame by frame -----------------------------
def _requests(count: int, first: int = 1, flags: int = 0x5, block: int = 1) -> list[tuple[Any, ...]]:
    return [("headers", sid, flags, block) for sid in range(first, first + 2 * count, 2)]


SCRIPTS = {
    "get-burst": _requests(10) + _requests(10, 21, block=0),
    "post-with-body": [("headers", 1, 0x4, 2), ("data", 1, 0x0, 1), ("data", 1, 0x1, 1)],
    "body-longer-than-content-length": [("headers", 1, 0x4, 3), ("data", 1, 0x1, 100)],
    "body-shorter-than-content-length": [("headers", 1, 0x4, 3), ("data", 1, 0x1, 1)],
    "rapid-reset": [spec for sid in range(1, 60, 2) for spec in (("headers", sid, 0x5, 0), ("rst", sid, 8, 4))],
    "continuation-flood": [("headers", 1, 0x1, 0)] + [("continuation", 1, 0x0, 15)] * 70,
    "hpack-bomb": [("headers", 1, 0x5, 9)],
    "stream-id-reused": [("headers", 3, 0x5, 0), ("headers", 1, 0x5, 0)],
    "even-stream-id": [("headers", 2, 0x5, 0)],
    "ping-flood": [("ping", 0, 0x0, 8)] * 40,
    "settings-flood": [("settings", 0, 0x0, "window")] * 40,
    "window-overflow-made-you-reset": [
        ("headers", 1, 0x4, 0),
        ("window", 1, 2**31 - 1, 4),
        ("window", 0, 2**31 - 1, 4),
    ],
    "data-on-half-closed-remote": [("headers", 1, 0x5, 0), ("data", 1, 0x0, 5)],
    "data-over-the-window": [("headers", 1, 0x4, 3)] + [("data", 1, 0x0, 16384)] * 5,
    "window-on-closed-stream": [("headers", 1, 0x5, 0), ("rst", 1, 8, 4), ("window", 1, 5, 4), ("window", 9, 5, 4)],
}


def test_scripted_attacks_and_requests_agree_read_by_read_and_frame_by_frame() -> None:
    for name, frames in SCRIPTS.items():
        wire = _wire(frames)
        for local in ({}, {_CODES.MAX_CONCURRENT_STREAMS: 100, _CODES.INITIAL_WINDOW_SIZE: 65535}):
            for kind in ("h2", "ours"):
                whole = PREFACE + _CLIENT_SETTINGS + b"".join(wire)
                by_frame = [PREFACE + _CLIENT_SETTINGS, *wire]
                # bytes as asyncio hands them, and a bytearray (h2's buffer takes any buffer; so must the lane).
                for reads in ([whole], by_frame, [bytearray(whole)], [bytearray(r) for r in by_frame]):
                    actions = [("respond_end", 1)] * 2
                    fast = _run(_server(kind, local), receive_data, reads, actions)
                    slow = _run(_server(kind, local), h2.connection.H2Connection.receive_data, reads, actions)
                    assert fast == slow, (name, kind, local, len(reads))


class _Counting(h2.connection.H2Connection):
    """Plain h2 that counts the frames its own ``_receive_frame`` handles, by type."""

    def __init__(self) -> None:
        super().__init__(_config())
        self.slow: list[str] = []

    def _receive_frame(self, frame: Any) -> list[h2.events.Event]:
        self.slow.append(type(frame).__name__)
        return super()._receive_frame(frame)


def test_the_frames_of_simple_requests_take_the_fast_lane() -> None:
    assert FAST_PATH
    conn = _Counting()
    conn.initiate_connection()
    frames = [
        ("headers", 1, 0x5, 1),  # the first request opens the connection (IDLE -> SERVER_OPEN): h2's path
        ("settings", 0, 0x1, ""),
        ("headers", 3, 0x5, 0),
        ("headers", 5, 0x4, 3),
        ("data", 5, 0x0, 2),
        ("data", 5, 0x1, 3),
        ("window", 0, 100, 4),
        ("window", 3, 100, 4),
        ("ping", 0, 0x0, 8),
        ("ping", 0, 0x1, 8),
        ("headers", 7, 0x25, 0),  # with PRIORITY: h2's
    ]
    events = receive_data(conn, PREFACE + _CLIENT_SETTINGS + b"".join(_frame_bytes(f) for f in frames))
    assert conn.slow == ["SettingsFrame", "HeadersFrame", "HeadersFrame"]
    kinds = [type(e).__name__ for e in events]
    assert kinds.count("RequestReceived") == 4
    assert kinds.count("DataReceived") == 2
    assert {"PingReceived", "PingAckReceived", "SettingsAcknowledged"} <= set(kinds)
    assert conn.data_to_send().endswith(b"\x00\x00\x08\x06\x01\x00\x00\x00\x00" + b"p" * 8)  # the PING's ACK
