"""A tiny HTTP/2 client for tests, on ``h2``: the same client state machine over a socket or over no socket at all.

:class:`H2Peer` is the client side only as bytes: requests and raw frames go into :attr:`H2Peer.outbox`, bytes from
the server go into :meth:`H2Peer.feed`, and what arrived is collected per stream (:class:`StreamResult`) and per
connection (``goaway``, ``settings_acks``, ``pings``). It validates nothing it sends (``validate_outbound_headers``
off), so a test can send what a hostile client sends: upper-case names, CR/LF, bad pseudo-headers.

:class:`H2Client` runs an :class:`H2Peer` over a blocking socket: h2c by prior knowledge, or TLS with ALPN ``h2``.
The protocol tests (``tests/protocol/test_h2_*.py``) wire an :class:`H2Peer` to ``H2Protocol`` with a mock
transport instead.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from h2.errors import ErrorCodes
from hyperframe.frame import (
    ContinuationFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
)

__all__ = [
    "ErrorCodes",
    "H2Client",
    "H2Peer",
    "StreamResult",
    "continuation_flood",
    "ping_frames",
    "raw_frame",
    "rst_frame",
    "settings_frames",
]


@dataclass
class StreamResult:
    """What the server sent on one stream."""

    status: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    trailers: list[tuple[str, str]] = field(default_factory=list)
    ended: bool = False
    reset: int | None = None  # RST_STREAM error code from the server

    def header(self, name: str) -> str | None:
        values = [v for n, v in self.headers if n == name.lower()]
        return ", ".join(values) if values else None

    @property
    def done(self) -> bool:
        return self.ended or self.reset is not None


def raw_frame(frame: Frame) -> bytes:
    """Serialise a hyperframe frame (for frames ``h2``'s client would refuse to send)."""
    return bytes(frame.serialize())


class _HostileClientConnection(h2.connection.H2Connection):
    """``h2``'s client without its own checks a hostile (or merely eager) client skips.

    * It opens streams beyond the server's ``MAX_CONCURRENT_STREAMS`` (the server must refuse them, not trust us).
    * After the server's GOAWAY it still reads the responses of the streams the GOAWAY lets finish: ``h2`` moves its
      state machine to CLOSED on any GOAWAY, which would refuse them (the server side of a graceful drain is what is
      tested here, so the client keeps listening as browsers and nghttp2 do).
    """

    @property
    def open_outbound_streams(self) -> int:
        h2.connection.H2Connection.open_outbound_streams.fget(self)  # type: ignore[attr-defined]  # sweeps closed
        return 0

    def receive_data(self, data: bytes) -> list[h2.events.Event]:  # type: ignore[override]
        events = super().receive_data(data)
        if any(isinstance(e, h2.events.ConnectionTerminated) for e in events) and not self._terminated_with_error(
            events
        ):
            self.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
        return events

    def _receive_goaway_frame(self, frame: GoAwayFrame) -> tuple[list[Frame], list[h2.events.Event]]:
        frames, events = super()._receive_goaway_frame(frame)
        if not frame.error_code:
            # Reopen at once: the responses the GOAWAY lets finish may come in the same read as the GOAWAY itself.
            self.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
        return frames, events

    @staticmethod
    def _terminated_with_error(events: list[h2.events.Event]) -> bool:
        return any(isinstance(e, h2.events.ConnectionTerminated) and e.error_code for e in events)


class H2Peer:
    """The client side of an HTTP/2 connection, as bytes in and bytes out (see the module docstring)."""

    def __init__(self, settings: dict[int, int] | None = None, auto_window: bool = True) -> None:
        config = h2.config.H2Configuration(
            client_side=True,
            header_encoding=None,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
            validate_inbound_headers=False,
        )
        self.conn = _HostileClientConnection(config)
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.auto_window = auto_window
        self.streams: dict[int, StreamResult] = {}
        self.goaway: h2.events.ConnectionTerminated | None = None
        self.server_settings: dict[int, int] = {}
        self.settings_acks = 0
        self.pings = 0
        self.events: list[h2.events.Event] = []
        self.unsent: dict[int, tuple[bytes, bool]] = {}  # request bodies waiting for flow-control window

    def send_pending(self) -> None:
        """Send as much of the waiting request bodies as the server's windows and frame size allow."""
        for sid, (data, end) in list(self.unsent.items()):
            while data:
                size = min(len(data), self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
                if size <= 0:
                    break
                self.conn.send_data(sid, data[:size])
                data = data[size:]
            if data:
                self.unsent[sid] = (data, end)
            else:
                del self.unsent[sid]
                if end:
                    self.conn.end_stream(sid)

    # -- sending -------------------------------------------------------------------------------------------------
    def outbox(self) -> bytes:
        """The bytes to send to the server now."""
        self.send_pending()
        return bytes(self.conn.data_to_send())

    def request(
        self,
        path: str = "/",
        authority: str = "example.com",
        method: str = "GET",
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        end: bool = True,
        scheme: str = "http",
    ) -> int:
        """Start a request; returns its stream id. ``end=False`` leaves the request body open."""
        sid = self.conn.get_next_available_stream_id()
        block = [(b":method", method.encode()), (b":scheme", scheme.encode()), (b":path", path.encode())]
        if authority:
            block.insert(1, (b":authority", authority.encode()))
        block += [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]
        self.conn.send_headers(sid, block, end_stream=end and not body)
        self.streams[sid] = StreamResult()
        if body:
            self.unsent[sid] = (body, end)
            self.send_pending()
        return sid

    def send_headers_raw(self, sid: int, block: Iterable[tuple[bytes, bytes]], end: bool = True) -> int:
        """Send a header block exactly as given (no validation); returns ``sid``."""
        self.conn.send_headers(sid, list(block), end_stream=end)
        self.streams.setdefault(sid, StreamResult())
        return sid

    def data(self, sid: int, data: bytes, end: bool = False) -> None:
        self.conn.send_data(sid, data, end_stream=end)

    def reset(self, sid: int, code: ErrorCodes = ErrorCodes.CANCEL) -> None:
        self.conn.reset_stream(sid, code)

    # -- receiving -----------------------------------------------------------------------------------------------
    def feed(self, data: bytes) -> list[h2.events.Event]:
        """Take bytes from the server; returns the events they made (also kept in :attr:`events`)."""
        if not data:
            return []
        events = self.conn.receive_data(data)
        for event in events:
            self._on(event)
        self.events += events
        return events

    def _on(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.ResponseReceived):
            result = self.streams.setdefault(event.stream_id, StreamResult())
            for name, value in event.headers or ():
                if name == b":status":
                    result.status = int(value)
                else:
                    result.headers.append((name.decode("latin-1"), value.decode("latin-1")))
        elif isinstance(event, h2.events.DataReceived):
            result = self.streams.setdefault(event.stream_id, StreamResult())
            result.body += event.data or b""
            if self.auto_window and event.flow_controlled_length:
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.TrailersReceived):
            result = self.streams.setdefault(event.stream_id, StreamResult())
            result.trailers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in event.headers or ()]
        elif isinstance(event, h2.events.StreamEnded):
            self.streams.setdefault(event.stream_id, StreamResult()).ended = True
        elif isinstance(event, h2.events.StreamReset):
            self.streams.setdefault(event.stream_id, StreamResult()).reset = int(event.error_code or 0)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = event
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            for code, setting in event.changed_settings.items():
                self.server_settings[int(code)] = setting.new_value
        elif isinstance(event, h2.events.SettingsAcknowledged):
            self.settings_acks += 1
        elif isinstance(event, h2.events.PingAckReceived):
            self.pings += 1

    @property
    def goaway_code(self) -> int | None:
        """The error code of the server's GOAWAY (None: none arrived)."""
        return None if self.goaway is None else int(self.goaway.error_code or 0)


class H2Client:
    """An :class:`H2Peer` over a blocking socket to ``127.0.0.1:port`` (h2c, or TLS with ALPN ``h2``)."""

    def __init__(
        self,
        port: int,
        *,
        tls: ssl.SSLContext | None = None,
        server_hostname: str = "localhost",
        host: str = "127.0.0.1",
        timeout: float = 10.0,
        settings: dict[int, int] | None = None,
        auto_window: bool = True,
    ) -> None:
        sock = socket.create_connection((host, port), timeout=timeout)
        if tls is not None:
            tls.set_alpn_protocols(["h2"])
            sock = tls.wrap_socket(sock, server_hostname=server_hostname)
            self.alpn = sock.selected_alpn_protocol()
        else:
            self.alpn = None
        self.sock = sock
        self.timeout = timeout
        self.peer = H2Peer(settings, auto_window)
        self.closed = False
        self.flush()

    def __enter__(self) -> H2Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def flush(self) -> None:
        data = self.peer.outbox()
        if data:
            self.sock.sendall(data)

    def send(self, data: bytes) -> None:
        """Send raw bytes (a hand-made frame) after anything the client state machine queued."""
        self.flush()
        self.sock.sendall(data)

    def pump(self, until: Callable[[], object], timeout: float | None = None) -> None:
        """Read from the server until ``until()`` is true; raises AssertionError on timeout or EOF before it."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not until():
            if self.closed:
                raise AssertionError("server closed the connection before the condition held")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("condition not met in time")
            self.sock.settimeout(min(remaining, 0.5))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except (ConnectionResetError, ssl.SSLError):
                data = b""
            if not data:
                self.closed = True
                continue
            self.peer.feed(data)
            self.flush()

    def read_until_closed(self, timeout: float | None = None) -> None:
        """Read until the server closes the connection (bounded)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not self.closed and time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, min(0.5, deadline - time.monotonic())))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except (ConnectionResetError, ssl.SSLError, OSError):
                data = b""
            if not data:
                self.closed = True
                break
            try:
                self.peer.feed(data)
            except h2.exceptions.ProtocolError:
                self.closed = True
                break
        assert self.closed, "the server did not close the connection"

    def request(self, *args: object, **kwargs: object) -> int:
        sid = self.peer.request(*args, **kwargs)  # type: ignore[arg-type]
        self.flush()
        return sid

    def response(self, sid: int, timeout: float | None = None) -> StreamResult:
        self.pump(lambda: self.peer.streams[sid].done, timeout)
        return self.peer.streams[sid]

    def get(self, path: str = "/", authority: str = "example.com", **kwargs: object) -> StreamResult:
        return self.response(self.request(path, authority, **kwargs))


def continuation_flood(sid: int, block: bytes, frames: int) -> bytes:
    """A HEADERS frame without END_HEADERS followed by ``frames`` CONTINUATION frames that never end the block."""
    out = [raw_frame(HeadersFrame(sid, block[:1]))]
    out += [raw_frame(ContinuationFrame(sid, b"\x00" * 16)) for _ in range(frames)]
    return b"".join(out)


def settings_frames(count: int) -> bytes:
    return b"".join(raw_frame(SettingsFrame(0, {h2.settings.SettingCodes.MAX_FRAME_SIZE: 16384})) for _ in range(count))


def ping_frames(count: int) -> bytes:
    return b"".join(raw_frame(PingFrame(0, b"%08d" % i)) for i in range(count))


def rst_frame(sid: int, code: int = 8) -> bytes:
    return raw_frame(RstStreamFrame(sid, code))
