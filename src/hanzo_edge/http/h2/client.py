"""One HTTP/2 connection to a backend (``h2c://`` or TLS with ALPN ``h2``), many requests multiplexed on it.

The ``h2`` library is the state machine; this protocol feeds it the socket's bytes and turns its events into the
proxy's objects: a :class:`~hanzo_edge.http.messages.Response` whose body is a
:class:`~hanzo_edge.http.body.StreamBody` per stream, trailers (``grpc-status``, ``grpc-message``) on
``StreamBody.trailers``.

Each stream is at once (as :class:`~hanzo_edge.http.upstream.UpstreamConnection` is for HTTP/1.1):

* the sink of its request body: DATA goes out as far as the stream's and the connection's send windows allow; the
  rest waits on the stream and the body's source (the client) is paused until a WINDOW_UPDATE opens the window;
* the source of its response body: received DATA is fed to the body at once and its flow-control credit is given
  back (WINDOW_UPDATE) while the body's consumer keeps up; when the consumer pauses (the client socket is full), the
  credit is held, so the backend stops sending on *that* stream only once its window is spent, and the held credit is
  returned when the consumer resumes. Other streams are not delayed: the connection window is large (Go's 1 GiB).

Closing a stream's response body before its end (the client went away) resets that stream with CANCEL, and only it.
A connection error (the backend closed, a protocol error, GOAWAY) fails the streams it affects: those the backend
never processed (refused, or above GOAWAY's last stream id) fail with :class:`StreamRefused`, which the proxy may
send again on another connection.

Health of an idle-looking connection (Go's ``ReadIdleTimeout``/``PingTimeout``): when nothing was read for
``read_idle_timeout`` seconds a PING is sent, and the connection is closed if no frame arrives within
``ping_timeout``. One timer per connection, re-armed lazily, none per frame.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
from hyperframe.frame import Frame, GoAwayFrame

from hanzo_edge.http.body import BodyError, StreamBody
from hanzo_edge.http.errors import UpstreamError, UpstreamProtocolError, UpstreamTimeout
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Response

__all__ = [
    "CONNECTION_WINDOW",
    "INITIAL_MAX_STREAMS",
    "STREAM_WINDOW",
    "H2ClientConnection",
    "H2UpstreamStream",
    "StreamRefused",
]

STREAM_WINDOW = 1 << 20
"""Receive window per stream: what a stalled stream may hold before the backend must wait (bounded memory)."""
CONNECTION_WINDOW = 1 << 30
"""Receive window of the whole connection (Go's ``transportDefaultConnFlow``), so one stalled stream never blocks
the connection's other streams."""
INITIAL_MAX_STREAMS = 100
"""Streams assumed allowed before the backend's SETTINGS arrive (Go's ``initialMaxConcurrentStreams``)."""
DEFAULT_MAX_STREAMS = 1000
"""Streams assumed allowed when the backend's SETTINGS name no limit (Go's ``defaultMaxConcurrentStreams``)."""
MAX_HEADER_LIST_SIZE = 10 << 20
"""Largest response header list accepted (Go's ``MaxResponseHeaderBytes`` default), advertised in SETTINGS."""

_NO_BODY_STATUS = frozenset({204, 304})
_CANCEL = h2.errors.ErrorCodes.CANCEL
_REFUSED = h2.errors.ErrorCodes.REFUSED_STREAM

OnChange = Callable[["H2ClientConnection"], None]
"""Told when a connection's capacity changed: a stream slot freed, SETTINGS arrived, GOAWAY, or it closed."""


class _ClientConnection(h2.connection.H2Connection):
    """``h2``'s client, kept open by a graceful GOAWAY for the streams the backend still answers.

    ``h2`` moves to CLOSED on any GOAWAY and drops the frames it has queued (request DATA, WINDOW_UPDATEs), so the
    rest of a response read together with the GOAWAY would be a protocol error and the bodies we still owe would be
    lost. The streams a graceful GOAWAY names finish (RFC 9113 §6.8), as in Go; no new one is opened.
    """

    def _receive_goaway_frame(self, frame: GoAwayFrame) -> tuple[list[Frame], list[h2.events.Event]]:
        frames, events = super()._receive_goaway_frame(frame)
        if not frame.error_code:
            self.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
        return frames, events

    def clear_outbound_data_buffer(self) -> None:
        """Keep what is queued (h2 calls this on a received GOAWAY)."""


class StreamRefused(UpstreamProtocolError):
    """The backend did not process the stream (REFUSED_STREAM, or above GOAWAY's last stream id): safe to retry."""


class H2UpstreamStream:
    """One request/response exchange on an :class:`H2ClientConnection` (see the module docstring)."""

    __slots__ = (
        "body",
        "conn",
        "future",
        "got_response",
        "head_request",
        "held",
        "paused",
        "pending",
        "pending_eof",
        "req_body",
        "req_done",
        "resp_done",
        "stream_id",
        "timer",
    )

    def __init__(self, conn: H2ClientConnection, stream_id: int, head_request: bool) -> None:
        self.conn = conn
        self.stream_id = stream_id
        self.future: asyncio.Future[Response] = conn.loop.create_future()
        self.body: StreamBody | None = None
        self.req_body: StreamBody | None = None
        self.pending: list[bytes] = []  # request DATA waiting for send window
        self.pending_eof = False  # the request body ended while DATA still waited
        self.req_done = False
        self.resp_done = False
        self.got_response = False
        self.head_request = head_request
        self.paused = False  # the response body's consumer is slow: hold flow-control credit
        self.held = 0  # credit held while paused
        self.timer: asyncio.TimerHandle | None = None

    # -- request body sink -----------------------------------------------------------------------------------------
    def write(self, chunk: bytes) -> None:
        """Send one request-body chunk (as far as the send window allows; the rest waits)."""
        self.conn.send_data(self, chunk)

    def write_eof(self) -> None:
        """The request body is complete: end the stream (with the body's trailers, if any)."""
        self.conn.end_request(self)

    def abort(self, exc: BaseException) -> None:
        """The client's request body failed: cancel this stream."""
        self.req_body = None
        self.conn.cancel(self, f"request body failed: {exc}")

    # -- response body source --------------------------------------------------------------------------------------
    def pause_reading(self) -> None:
        """The consumer is slow: stop granting window to the backend for this stream."""
        self.paused = True

    def resume_reading(self) -> None:
        """The consumer drained: return the credit held meanwhile."""
        self.paused = False
        held = self.held
        if held:
            self.held = 0
            self.conn.acknowledge(self, held)

    def close(self) -> None:
        """Nobody wants the rest of the response: RST_STREAM(CANCEL) for this stream only."""
        if not self.resp_done:
            self.conn.cancel(self, "response body abandoned")

    def cancel(self) -> None:
        """The client went away while waiting for the response head: cancel this stream."""
        self.conn.cancel(self, "client disconnected")

    def __repr__(self) -> str:
        return f"<H2UpstreamStream {self.stream_id} req_done={self.req_done} resp_done={self.resp_done}>"


class H2ClientConnection(asyncio.Protocol):
    """An HTTP/2 client connection to one backend origin. Use through :class:`~hanzo_edge.http.h2.pool.H2Pool`."""

    def __init__(
        self,
        on_change: OnChange | None = None,
        *,
        read_idle_timeout: float = 0.0,
        ping_timeout: float = 15.0,
        stream_window: int = STREAM_WINDOW,
    ) -> None:
        self.on_change = on_change
        self.loop = asyncio.get_event_loop()
        config = h2.config.H2Configuration(client_side=True, header_encoding=None)
        self.h2 = _ClientConnection(config=config)
        self.h2.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: stream_window,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: MAX_HEADER_LIST_SIZE,
            },
        )
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, H2UpstreamStream] = {}
        self.max_streams = INITIAL_MAX_STREAMS
        self.advertised_streams = INITIAL_MAX_STREAMS  # what the backend allows; max_streams may sit lower a while
        self.closed = False
        self.goaway = False  # no new stream may be opened (GOAWAY received or sent)
        self.streams_opened = 0
        self.idle_since = self.loop.time()
        self.last_read = self.idle_since
        self.read_idle_timeout = read_idle_timeout
        self.ping_timeout = ping_timeout
        self._write_paused = False
        self._flush_scheduled = False
        self._settings_seen = False
        self._health_timer: asyncio.TimerHandle | None = None
        self._ping_deadline = 0.0  # loop time by which a frame must arrive after our PING (0: no PING out)
        self._handlers: dict[type[h2.events.Event], Callable[[Any], None]] = {
            h2.events.ResponseReceived: self._on_response,
            h2.events.DataReceived: self._on_data,
            h2.events.TrailersReceived: self._on_trailers,
            h2.events.StreamEnded: self._on_stream_ended,
            h2.events.StreamReset: self._on_stream_reset,
            h2.events.WindowUpdated: self._on_window_updated,
            h2.events.RemoteSettingsChanged: self._on_settings,
            h2.events.ConnectionTerminated: self._on_goaway,
        }

    # -- capacity (read by the pool) --------------------------------------------------------------------------------
    def can_open(self) -> bool:
        """True when a new stream may be opened now."""
        return not self.closed and not self.goaway and len(self.streams) < self.max_streams

    @property
    def active_streams(self) -> int:
        """Streams not finished yet."""
        return len(self.streams)

    # -- asyncio.Protocol -------------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.h2.initiate_connection()
        self.h2.increment_flow_control_window(CONNECTION_WINDOW - 65535)
        self._flush()
        if self.read_idle_timeout > 0:
            self._health_timer = self.loop.call_later(self.read_idle_timeout, self._check_health)

    def data_received(self, data: bytes) -> None:
        self.last_read = self.loop.time()
        self._ping_deadline = 0.0
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self.flush()  # h2 queued the GOAWAY that says why, and the transport closes next
            self._fail_all(UpstreamProtocolError(f"http2: backend protocol error: {exc}"), refused=False)
            self._close_transport()
            return
        handlers = self._handlers
        for event in events:
            handler = handlers.get(type(event))
            if handler is not None:
                handler(event)
        self._flush()

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_health_timer()
        self._fail_all(
            UpstreamProtocolError("backend closed the connection" + (f": {exc}" if exc else "")), refused=False
        )
        self._changed()

    def pause_writing(self) -> None:
        # The socket to the backend is full: pause every request body being sent on it.
        self._write_paused = True
        for stream in self.streams.values():
            if stream.req_body is not None:
                stream.req_body.pause()

    def resume_writing(self) -> None:
        self._write_paused = False
        for stream in list(self.streams.values()):
            if stream.req_body is not None and not stream.pending:
                stream.req_body.resume()

    # -- exchanges --------------------------------------------------------------------------------------------------
    def request(
        self,
        headers: list[tuple[bytes, bytes]],
        body: bytes | StreamBody,
        *,
        head_request: bool = False,
        response_header_timeout: float = 0.0,
    ) -> H2UpstreamStream:
        """Open a stream, send ``headers`` and the body; the stream's ``future`` resolves to the response head.

        The caller checked :meth:`can_open`. The future fails with an
        :class:`~hanzo_edge.http.errors.UpstreamError` subclass.
        """
        h2conn = self.h2
        stream_id = h2conn.get_next_available_stream_id()
        stream = H2UpstreamStream(self, stream_id, head_request)
        self.streams[stream_id] = stream
        self.streams_opened += 1
        empty = isinstance(body, bytes) and not body
        try:
            h2conn.send_headers(stream_id, headers, end_stream=empty)
        except h2.exceptions.TooManyStreamsError:
            # h2 counts a stream the backend has not closed yet where we no longer do: nothing was sent, try elsewhere.
            del self.streams[stream_id]
            self.max_streams = len(self.streams)
            stream.future.set_exception(StreamRefused("http2: the backend's stream limit is reached"))
            return stream
        except h2.exceptions.H2Error as exc:
            del self.streams[stream_id]
            stream.future.set_exception(UpstreamProtocolError(f"http2: cannot send request: {exc}"))
            return stream
        if response_header_timeout > 0:
            stream.timer = self.loop.call_later(response_header_timeout, self._on_header_timeout, stream)
        if empty:
            stream.req_done = True
        elif isinstance(body, bytes):
            self.send_data(stream, body)
            self.end_request(stream)
        else:
            stream.req_body = body
            body.pump(stream)
        self._flush()
        return stream

    def send_data(self, stream: H2UpstreamStream, chunk: bytes) -> None:
        """Send request DATA for ``stream`` within the send windows; queue the rest and pause its source."""
        if stream.req_done or self.closed:
            return
        if stream.pending:
            stream.pending.append(chunk)
            return
        rest = self._send_allowed(stream.stream_id, chunk)
        if rest:
            stream.pending.append(rest)
            if stream.req_body is not None:
                stream.req_body.pause()
        self._flush()

    def end_request(self, stream: H2UpstreamStream) -> None:
        """The request body ended: end the stream once its queued DATA is sent."""
        if stream.req_done or self.closed:
            return
        if stream.pending:
            stream.pending_eof = True
            return
        trailers = stream.req_body.trailers if stream.req_body is not None else None
        stream.req_body = None
        stream.req_done = True
        try:
            if trailers:
                self.h2.send_headers(stream.stream_id, trailers, end_stream=True)
            else:
                self.h2.end_stream(stream.stream_id)
        except h2.exceptions.H2Error:
            pass  # the stream was reset meanwhile: nothing more to send
        self._stream_progress(stream)
        self._flush()

    def acknowledge(self, stream: H2UpstreamStream, size: int) -> None:
        """Give the backend back ``size`` bytes of window on ``stream`` (and the connection)."""
        if self.closed:
            return
        self.h2.acknowledge_received_data(size, stream.stream_id)
        self._flush()

    def cancel(self, stream: H2UpstreamStream, why: str) -> None:
        """Reset ``stream`` with CANCEL (only it): the client went away or its body failed."""
        if self.streams.get(stream.stream_id) is not stream:
            return
        self._reset_with_cancel(stream, UpstreamProtocolError(f"stream cancelled: {why}"))

    def _reset_with_cancel(self, stream: H2UpstreamStream, exc: UpstreamError) -> None:
        """RST_STREAM(CANCEL) for ``stream`` alone (a closed connection has nothing to send), then fail it."""
        if not self.closed:
            try:
                self.h2.reset_stream(stream.stream_id, error_code=_CANCEL)
            except h2.exceptions.H2Error:
                pass
            self._flush()
        self._finish(stream, exc)

    def close(self) -> None:
        """Close the connection politely (GOAWAY), failing any stream still open."""
        if self.closed:
            return
        self.goaway = True
        try:
            self.h2.close_connection()
            self.flush()
        except h2.exceptions.H2Error:
            pass
        self._close_transport()

    # -- h2 events --------------------------------------------------------------------------------------------------
    def _on_response(self, event: h2.events.ResponseReceived) -> None:
        stream = self.streams.get(event.stream_id or 0)
        if stream is None or event.headers is None:
            return
        status = 0
        length: int | None = None
        headers: list[tuple[bytes, bytes]] = []
        has_date = False
        for raw_name, raw_value in event.headers:
            name = bytes(raw_name)
            value = bytes(raw_value)
            if name[:1] == b":":
                if name == b":status":
                    status = int(value)
                continue
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = None
            elif name == b"date":
                has_date = True
            headers.append((name, value))
        response = Response(status, Headers(headers))
        response.has_date = has_date
        stream.got_response = True
        self._cancel_stream_timer(stream)
        if event.stream_ended is not None and not stream.head_request:
            # Ended on its HEADERS (a gRPC trailers-only answer: grpc-status among the headers): a complete empty
            # body, so an HTTP/2 client gets it as one HEADERS frame with END_STREAM, as gRPC requires.
            if not stream.future.done():
                stream.future.set_result(response)
            return
        no_body = stream.head_request or status in _NO_BODY_STATUS
        body = StreamBody(stream, None if no_body else length)
        if no_body:
            body.length = length if stream.head_request else None
        response.body = body
        stream.body = body
        if not stream.future.done():
            stream.future.set_result(response)

    def _on_data(self, event: h2.events.DataReceived) -> None:
        stream_id = event.stream_id or 0
        size = event.flow_controlled_length or 0
        stream = self.streams.get(stream_id)
        body = stream.body if stream is not None else None
        if stream is None or body is None:
            # A stream we gave up (reset) or DATA before HEADERS (h2 refuses the latter): keep the connection
            # window open all the same.
            if size:
                self.h2.acknowledge_received_data(size, stream_id)
            return
        if event.data:
            body.feed(event.data)
        if not size:
            return
        if stream.paused:
            stream.held += size
        else:
            self.h2.acknowledge_received_data(size, stream_id)

    def _on_trailers(self, event: h2.events.TrailersReceived) -> None:
        stream = self.streams.get(event.stream_id or 0)
        if stream is not None and stream.body is not None and event.headers is not None:
            stream.body.trailers = [(bytes(n), bytes(v)) for n, v in event.headers]

    def _on_stream_ended(self, event: h2.events.StreamEnded) -> None:
        stream = self.streams.get(event.stream_id or 0)
        if stream is None:
            return
        stream.resp_done = True
        body = stream.body
        if body is not None:
            body.feed_eof()
        if not stream.req_done:
            # The backend answered in full before reading the whole request (e.g. a gRPC error): stop sending, as Go
            # does (RST_STREAM CANCEL), and let the client's body drain into nothing.
            req_body = stream.req_body
            stream.req_body = None
            stream.req_done = True
            stream.pending = []
            try:
                self.h2.reset_stream(stream.stream_id, error_code=_CANCEL)
            except h2.exceptions.H2Error:
                pass
            if req_body is not None:
                req_body.resume()
        self._stream_progress(stream)

    def _on_stream_reset(self, event: h2.events.StreamReset) -> None:
        stream = self.streams.get(event.stream_id or 0)
        if stream is None:
            return
        code = event.error_code
        if code == _REFUSED and not stream.got_response:
            exc: UpstreamProtocolError = StreamRefused("http2: backend refused the stream")
        else:
            name = code.name if isinstance(code, h2.errors.ErrorCodes) else str(code)
            exc = UpstreamProtocolError(f"http2: backend reset the stream ({name})")
        self._finish(stream, exc)

    def _on_window_updated(self, event: h2.events.WindowUpdated) -> None:
        stream_id = event.stream_id or 0
        if stream_id == 0:
            self._send_pending_all()
        else:
            stream = self.streams.get(stream_id)
            if stream is not None and stream.pending:
                self._send_pending(stream)

    def _on_settings(self, event: h2.events.RemoteSettingsChanged) -> None:
        changed = event.changed_settings
        limit = changed.get(h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS)
        if limit is not None:
            self.advertised_streams = self.max_streams = int(limit.new_value)
        elif not self._settings_seen:
            # First SETTINGS without a limit: Go then allows its default (1000) rather than "unbounded".
            self.advertised_streams = self.max_streams = DEFAULT_MAX_STREAMS
        self._settings_seen = True
        if h2.settings.SettingCodes.INITIAL_WINDOW_SIZE in changed:
            self._send_pending_all()
        self._changed()

    def _on_goaway(self, event: h2.events.ConnectionTerminated) -> None:
        self.goaway = True
        last = event.last_stream_id if event.last_stream_id is not None else 0
        for stream in list(self.streams.values()):
            if stream.stream_id > last:
                self._finish(stream, StreamRefused("http2: backend sent GOAWAY before processing the stream"))
        if not self.streams:
            self._close_transport()
        # A graceful GOAWAY (the backend is draining) left h2 open for the streams it took (_ClientConnection);
        # ``goaway`` stops any new stream, and the connection closes with its last stream.
        self._changed()

    # -- internals --------------------------------------------------------------------------------------------------
    def _send_allowed(self, stream_id: int, chunk: bytes) -> bytes:
        """Send as much of ``chunk`` as the windows allow; return the rest."""
        h2conn = self.h2
        max_frame = h2conn.max_outbound_frame_size
        offset = 0
        size = len(chunk)
        try:
            while offset < size:
                window = h2conn.local_flow_control_window(stream_id)
                if window <= 0:
                    break
                step = min(window, max_frame, size - offset)
                h2conn.send_data(stream_id, chunk[offset : offset + step])
                offset += step
        except h2.exceptions.H2Error:
            return b""  # the stream is gone (reset): the rest goes nowhere
        return chunk[offset:] if offset else chunk

    def _send_pending(self, stream: H2UpstreamStream) -> None:
        pending = stream.pending
        while pending:
            rest = self._send_allowed(stream.stream_id, pending[0])
            if rest:
                pending[0] = rest
                return
            pending.pop(0)
        if stream.pending_eof:
            stream.pending_eof = False
            self.end_request(stream)
        elif stream.req_body is not None and not self._write_paused:
            stream.req_body.resume()

    def _send_pending_all(self) -> None:
        for stream in list(self.streams.values()):
            if stream.pending:
                self._send_pending(stream)

    def _stream_progress(self, stream: H2UpstreamStream) -> None:
        if stream.req_done and stream.resp_done and self.streams.get(stream.stream_id) is stream:
            del self.streams[stream.stream_id]
            self._stream_closed()

    def _finish(self, stream: H2UpstreamStream, exc: UpstreamError) -> None:
        """End ``stream`` abnormally: its waiter or its body learns why; its slot is freed."""
        self._cancel_stream_timer(stream)
        if not stream.future.done():
            stream.future.set_exception(exc)
        body = stream.body
        if body is not None and not stream.resp_done:
            body.feed_error(BodyError(str(exc)))
        stream.resp_done = True
        stream.req_done = True
        stream.pending = []
        held = stream.held
        if held:
            # Credit a paused stream held is the connection's too: an ended stream's consumer never resumes, so
            # give it back now (h2 credits the connection even for a closed stream).
            stream.held = 0
            self.acknowledge(stream, held)
        req_body = stream.req_body
        stream.req_body = None
        if req_body is not None:
            req_body.resume()  # let the client's body drain; nothing of it goes anywhere now
        if self.streams.get(stream.stream_id) is stream:
            del self.streams[stream.stream_id]
            self._stream_closed()

    def _stream_closed(self) -> None:
        self.max_streams = self.advertised_streams
        if not self.streams:
            self.idle_since = self.loop.time()
            if self.goaway:
                self._close_transport()
        self._changed()

    def _fail_all(self, exc: UpstreamProtocolError, *, refused: bool) -> None:
        for stream in list(self.streams.values()):
            self._finish(stream, StreamRefused(str(exc)) if refused else exc)

    def _on_header_timeout(self, stream: H2UpstreamStream) -> None:
        stream.timer = None
        if stream.future.done():
            return
        self._reset_with_cancel(stream, UpstreamTimeout("timeout awaiting response headers"))

    @staticmethod
    def _cancel_stream_timer(stream: H2UpstreamStream) -> None:
        timer = stream.timer
        if timer is not None:
            stream.timer = None
            timer.cancel()

    def _check_health(self) -> None:
        """Go's ReadIdleTimeout/PingTimeout: PING after a quiet spell, close when the PING goes unanswered."""
        self._health_timer = None
        if self.closed:
            return
        now = self.loop.time()
        if self._ping_deadline:
            if now >= self._ping_deadline:
                self._fail_all(UpstreamProtocolError("http2: no answer to PING (pingTimeout)"), refused=False)
                self._close_transport()
                return
            self._health_timer = self.loop.call_later(self._ping_deadline - now, self._check_health)
            return
        quiet = now - self.last_read
        if quiet < self.read_idle_timeout:
            self._health_timer = self.loop.call_later(self.read_idle_timeout - quiet, self._check_health)
            return
        self._ping_deadline = now + max(self.ping_timeout, 0.001)
        try:
            self.h2.ping(b"hanzoedg")
        except h2.exceptions.H2Error:
            pass
        self._flush()
        self._health_timer = self.loop.call_later(self._ping_deadline - now, self._check_health)

    def _cancel_health_timer(self) -> None:
        if self._health_timer is not None:
            self._health_timer.cancel()
            self._health_timer = None

    def _flush(self) -> None:
        # Deferred to the end of this loop iteration: the frames of every stream (HEADERS, DATA, WINDOW_UPDATE) that
        # this iteration produced leave in one write, not one system call each.
        if not self._flush_scheduled and not self.closed:
            self._flush_scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write what h2 has queued now."""
        self._flush_scheduled = False
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.closed:
            self.transport.write(data)

    def _close_transport(self) -> None:
        if not self.closed:
            self.flush()  # frames still queued (a last RST_STREAM, GOAWAY) go before the close
            self.closed = True
            self.goaway = True
            self._cancel_health_timer()
            if self.transport is not None:
                self.transport.close()
            self._changed()

    def _changed(self) -> None:
        on_change = self.on_change
        if on_change is not None:
            on_change(self)

    def __repr__(self) -> str:
        return f"<H2ClientConnection streams={len(self.streams)}/{self.max_streams} closed={self.closed}>"
