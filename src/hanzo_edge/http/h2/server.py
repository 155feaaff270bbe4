"""The downstream HTTP/2 protocol: ``h2``'s sans-IO state machine driven by a raw ``asyncio.Protocol``.

One :class:`H2Protocol` per connection (ALPN ``h2`` on a TLS entrypoint, or the prior-knowledge preface on a plain
one). Each stream's request goes through the same shared pipeline as HTTP/1.1 (``http.pipeline``: ``build_request``
then ``handle_request`` with the stream as its channel), so routers, middlewares, services and observers cannot
tell the protocols apart except by ``req.version == "2.0"``.

Invariants:

1. Streams are independent. A response waits for its own stream's window only; a stream whose client window stays
   shut holds at most ``stream_send_buffer`` bytes (then its upstream is paused) and is reset after
   ``window_stall_timeout``. A request body is granted window only as its consumer takes it.
2. Every per-connection resource a client controls is bounded (``limits.H2Limits``): concurrent streams
   (REFUSED_STREAM over it), header list size (431 over the advertised size, GOAWAY ENHANCE_YOUR_CALM over the
   HPACK hard limit), resets, SETTINGS and PINGs per interval (GOAWAY ENHANCE_YOUR_CALM), bytes owed to a client
   that does not read (connection closed), CONTINUATION frames (``h2``: GOAWAY PROTOCOL_ERROR).
3. A protocol violation ``h2`` detects (bad preface, stream ids reused or decreasing, a ``content-length`` that
   disagrees with the DATA frames, flow-control violations) ends the connection with the GOAWAY code ``h2`` chose;
   a malformed header block (invalid or upper-case names, CR/LF/NUL in values, bad pseudo-headers,
   connection-specific fields: ``translate.request_head``, in one pass instead of ``h2``'s validation) ends it with
   GOAWAY PROTOCOL_ERROR; no half-understood request ever reaches the pipeline, so none reaches an HTTP/1.1 backend.
4. RST_STREAM from the client cancels that stream's handler task (and so its upstream request) only.
5. Graceful end (drain on SIGTERM, ``keepAliveMaxRequests``, ``keepAliveMaxTime``, ``idleTimeout``): one GOAWAY
   NO_ERROR naming the last stream that will be served; streams above it are refused; the connection closes when
   the last served stream is done. (The GOAWAY is written as a raw frame: ``h2`` forbids all further input once it
   has sent one itself, which would forbid draining.)

Priorities are ignored (as Go ignores them) and nothing is pushed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from time import perf_counter
from typing import TYPE_CHECKING, Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import h2.stream
from h2.errors import ErrorCodes
from hyperframe.frame import DataFrame, Frame, GoAwayFrame, RstStreamFrame

from hanzo_edge.http.body import BodyError, StreamBody
from hanzo_edge.http.h2.fast_frames import send_whole_response
from hanzo_edge.http.h2.fast_receive import receive_data as fast_receive_data
from hanzo_edge.http.h2.limits import EventBudget, H2Limits
from hanzo_edge.http.h2.response_heads import response_block
from hanzo_edge.http.h2.server_hpack import RepeatingDecoder, StatelessEncoder
from hanzo_edge.http.h2.stream import ServerStream
from hanzo_edge.http.h2.translate import (
    H2RequestHead,
    MalformedHeaders,
    StreamRejected,
    check_trailer_fields,
    request_head,
    response_header_block,
)
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.http.pipeline import RequestRejected, build_request, discard_response, handle_request, report
from hanzo_edge.http.status import DATE, status_text
from hanzo_edge.http.tls_info import TLSInfo, tls_info_of

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from hanzo_edge.http.settings import ConnectionContext, EntrypointSettings

__all__ = ["H2Protocol"]

log = logging.getLogger("hanzo_edge.http.h2")

_NO_BODY_STATUS = frozenset({204, 304})
_SETTINGS = h2.settings.SettingCodes
_CLOSED = h2.stream.StreamState.CLOSED
_SWEEP_AT = 32  # streams in h2's table before its closed ones are swept (plus those still open)
# Per connection at most 8 translated request heads of blocks up to 4 KiB (HPACK-accounted): a few KiB per connection.
_HEAD_CACHE_ENTRIES = 8
_HEAD_CACHE_BYTES = 4096


class _ServerConnection(h2.connection.H2Connection):
    """``h2``'s connection without its own concurrent-stream check, which is a connection error (GOAWAY).

    RFC 9113 §5.1.2 lets a server refuse the stream instead (RST_STREAM REFUSED_STREAM), which is what Go and
    Traefik do and what :class:`H2Protocol` does; closed streams are still swept as ``h2`` does when it counts.
    Its HPACK coders are ``server_hpack``'s: a decoder that remembers repeated blocks, an encoder without state.
    """

    def __init__(self, config: h2.config.H2Configuration) -> None:
        super().__init__(config)
        self.closed_answers = 0  # RST_STREAMs answering frames on closed streams, not yet spent from the budget
        self.decoder = RepeatingDecoder(self.decoder.max_header_list_size)
        self.encoder = StatelessEncoder()  # type: ignore[assignment]  # h2 only calls encode and header_table_size

    @property
    def open_inbound_streams(self) -> int:
        # h2 counts (and sweeps closed streams from its table) on every new stream: a walk of the whole table each
        # time. The count is unused here, and h2 itself sweeps only when it counts, so sweeping once the table holds
        # _SWEEP_AT streams keeps the table bounded at the same semantics for a fraction of the cost.
        streams = self.streams
        if len(streams) >= _SWEEP_AT:
            # h2's _open_streams sweep (closed streams leave the table, how each closed is kept), without its count.
            closed = [sid for sid, stream in streams.items() if stream.state_machine.state is _CLOSED]
            for sid in closed:
                self._closed_streams[sid] = streams.pop(sid).state_machine.stream_closed_by
        return 0

    def receive_data(self, data: bytes) -> list[h2.events.Event]:  # type: ignore[override]
        """``h2``'s ``receive_data`` with ``fast_receive``'s lane for the frames of simple requests."""
        return fast_receive_data(self, data)

    def _receive_goaway_frame(self, frame: GoAwayFrame) -> tuple[list[Frame], list[h2.events.Event]]:
        frames, events = super()._receive_goaway_frame(frame)
        if not frame.error_code:
            # A graceful GOAWAY from the client: it opens no more streams, but those it opened still finish both
            # ways (RFC 9113 §6.8, as Go's server drains them). h2 moved to CLOSED, which would refuse the rest of
            # their request bodies and every response: reopen; H2Protocol refuses any stream opened after it.
            self.state_machine.state = h2.connection.ConnectionState.SERVER_OPEN
        return frames, events

    def _answer_closed_stream(self, sid: int, events: Sequence[h2.events.Event]) -> bool:
        """Should a frame on closed stream ``sid`` be answered with RST_STREAM (STREAM_CLOSED), as ``h2`` answers it?

        Not when we reset the stream ourselves: RFC 9113 §5.1 says to ignore what the client still had in flight
        (``h2`` answered every frame, so empty DATA frames on a refused stream drew unlimited RST_STREAMs). Otherwise
        the client is in error and is answered, and each answer no event reports counts in :attr:`closed_answers`,
        which ``H2Protocol`` spends from the reset budget (the reset flood, CVE-2019-9514)."""
        if self._stream_closed_by(sid) is h2.stream.StreamClosedBy.SEND_RST_STREAM:
            return False
        if not events:
            self.closed_answers += 1
        return True

    def _handle_data_on_closed_stream(
        self, events: list[h2.events.Event], exc: h2.exceptions.StreamClosedError, frame: DataFrame
    ) -> tuple[list[Frame], list[h2.events.Event]]:
        # h2's: the bytes go back to the connection window, and an RST_STREAM answers, which we send only when
        # _answer_closed_stream says so.
        frames, events = super()._handle_data_on_closed_stream(events, exc, frame)
        if not self._answer_closed_stream(exc.stream_id, exc._events):
            frames = [f for f in frames if not isinstance(f, RstStreamFrame)]
        return frames, events

    def _receive_rst_stream_frame(self, frame: RstStreamFrame) -> tuple[list[Frame], list[h2.events.Event]]:
        refuse_idle_reset(self, frame.stream_id)
        return super()._receive_rst_stream_frame(frame)

    def clear_outbound_data_buffer(self) -> None:
        """Keep what is queued: h2 calls this when a GOAWAY arrives, which would drop responses already owed."""

    def _receive_frame(self, frame: Frame) -> list[h2.events.Event]:
        """h2's own ``_receive_frame`` (as of 4.4) minus its ``repr(frame)`` for a no-op trace log, built for every
        frame received (~2.7 us each, ~5% of a request); the handling of stream errors is h2's, line for line."""
        events: list[h2.events.Event]
        try:
            frames, events = self._frame_dispatch_table[frame.__class__](frame)
        except h2.exceptions.StreamClosedError as e:
            # Closed by RST_STREAM: a stream error (answer RST_STREAM); otherwise a connection error.
            if self._stream_is_closed_by_reset(e.stream_id):
                events = e._events
                if self._answer_closed_stream(e.stream_id, events):
                    f = RstStreamFrame(e.stream_id)
                    f.error_code = e.error_code
                    self._prepare_for_sending([f])
            else:
                raise
        except h2.exceptions.StreamIDTooLowError as e:
            # A stream closed by RST_STREAM is a stream error; by END_STREAM or implicitly, a connection error.
            if self._stream_is_closed_by_reset(e.stream_id):
                events = []
                if self._answer_closed_stream(e.stream_id, events):
                    f = RstStreamFrame(e.stream_id)
                    f.error_code = ErrorCodes.STREAM_CLOSED
                    self._prepare_for_sending([f])
            elif self._stream_is_closed_by_end(e.stream_id):
                raise h2.exceptions.StreamClosedError(e.stream_id) from e
            else:
                raise
        else:
            self._prepare_for_sending(frames)
        return events


def refuse_idle_reset(conn: h2.connection.H2Connection, sid: int) -> None:
    """Raise ``ProtocolError`` for RST_STREAM on an idle stream, which ``h2`` ignores (RFC 9113 §6.4: a connection
    error, as Go's server makes it). A stream ``h2`` swept after closing is not idle: its reset is ignored (§5.1)."""
    if sid in conn.streams:
        return
    outbound = conn._stream_id_is_outbound(sid)
    if sid > (conn.highest_outbound_stream_id if outbound else conn.highest_inbound_stream_id):
        conn.state_machine.process_input(h2.connection.ConnectionInputs.RECV_RST_STREAM)  # h2's own check first
        msg = f"RST_STREAM on idle stream {sid}"
        raise h2.exceptions.ProtocolError(msg)


def _config() -> h2.config.H2Configuration:
    return h2.config.H2Configuration(
        client_side=False,
        header_encoding=None,
        # translate.request_head validates and joins cookies in the pass that translates (h2's generator chain cost
        # ~15 us a request); h2 still checks content-length against the DATA frames.
        validate_inbound_headers=False,
        normalize_inbound_headers=False,
        validate_outbound_headers=False,  # our response blocks are built lower-case and clean (translate.py)
        normalize_outbound_headers=False,
    )


class H2Protocol(asyncio.Protocol):
    """One HTTP/2 client connection on one entrypoint (see the module docstring)."""

    def __init__(self, ctx: ConnectionContext, clock: Callable[[], float] | None = None) -> None:
        self.ctx = ctx
        self.settings: EntrypointSettings = ctx.settings
        self.loop = ctx.loop
        self.clock = clock or ctx.loop.time
        self.limits: H2Limits = ctx.settings.http2
        self.transport: asyncio.Transport | None = None
        self.conn = _ServerConnection(_config())
        self.streams: dict[int, ServerStream] = {}
        self.client_ip = ""
        self.client_ip_bytes = b""
        self.client_port = 0
        self.tls_info: TLSInfo | None = None
        self.requests = 0
        self.opened_at = 0.0
        self.closed = False
        self.goaway_last: int | None = None  # set once a graceful GOAWAY went out: the last stream served
        self.write_paused = False
        self.owed_while_paused = 0  # bytes written while the client was not reading (control frames, heads)
        self.flush_pending = False  # a deferred write of h2's output is scheduled (_flush_soon)
        self.write_paused_since = 0.0  # since when the client's socket has been full (0: it is not)
        self.starting: list[ServerStream] = []  # streams whose request arrived in the read being handled
        self.read_deadline = 0.0  # until the preface and first SETTINGS arrived
        self.idle_deadline = 0.0
        self.preface_seen = False
        limits = self.limits
        self.resets = EventBudget(limits.resets_per_interval, limits.interval, self.clock)
        self.settings_budget = EventBudget(limits.settings_per_interval, limits.interval, self.clock)
        self.pings = EventBudget(limits.pings_per_interval, limits.interval, self.clock)
        self.calmed = ""  # the limit that ended the connection ("" while none did); for logs and tests
        self.heads: dict[tuple[tuple[bytes, bytes], ...], H2RequestHead] = {}  # valid request blocks seen, translated

    # -- asyncio.Protocol ------------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.client_ip = str(peer[0])
            self.client_port = int(peer[1])
        self.client_ip_bytes = self.client_ip.encode("latin-1")
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.tls_info = tls_info_of(ssl_object)
            made_with = getattr(getattr(ssl_object, "context", None), "tls_options_name", "default")
            self.settings = self.ctx.secure_settings(made_with)
        now = self.clock()
        self.opened_at = now
        if self.settings.read_timeout > 0:
            self.read_deadline = now + self.settings.read_timeout
        if self.settings.idle_timeout > 0:
            # Until the first stream (Go's idle timer runs from the start): a connection that never opens one closes.
            self.idle_deadline = now + self.settings.idle_timeout
        limits = self.limits
        conn = self.conn
        conn.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                _SETTINGS.MAX_CONCURRENT_STREAMS: limits.max_concurrent_streams,
                _SETTINGS.INITIAL_WINDOW_SIZE: limits.initial_window_size,
                _SETTINGS.MAX_HEADER_LIST_SIZE: limits.max_header_list_size,
                _SETTINGS.HEADER_TABLE_SIZE: limits.header_table_size,
            },
        )
        conn.initiate_connection()
        conn.decoder.max_allowed_table_size = limits.header_table_size
        conn.decoder.max_header_list_size = limits.hpack_hard_limit
        if limits.connection_window_size > 65535:
            conn.increment_flow_control_window(limits.connection_window_size - 65535)
        self.ctx.connection_opened(self)
        self._flush()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            # h2 queued a GOAWAY with the error's code (PROTOCOL_ERROR, FRAME_SIZE_ERROR, FLOW_CONTROL_ERROR,
            # COMPRESSION_ERROR, ENHANCE_YOUR_CALM for an HPACK bomb, ...): send it and close.
            log.debug("HTTP/2 connection error from %s: %s", self.client_ip, exc)
            if self.conn.state_machine.state != h2.connection.ConnectionState.CLOSED:
                # Raised before h2 could queue its GOAWAY (a bad preface): RFC 9113 §3.4, PROTOCOL_ERROR.
                with contextlib.suppress(h2.exceptions.ProtocolError):
                    self.conn.close_connection(error_code=ErrorCodes.PROTOCOL_ERROR)
            self._terminate("")
            return
        conn = self.conn
        while conn.closed_answers:
            # Frames on closed streams the client reset or ended, each answered with RST_STREAM: a reset each.
            conn.closed_answers -= 1
            self._spend_reset()
            if self._ended():
                return
        for event in events:
            handler = _DISPATCH.get(type(event))
            if handler is not None:
                handler(self, event)
                if self._ended():
                    return
        if self.starting:
            self._start_streams()
        self._flush()

    def _start_streams(self) -> None:
        create_task = self.loop.create_task
        streams = self.streams
        for stream in self.starting:
            req = stream.req
            if req is not None and streams.get(stream.sid) is stream:
                stream.task = create_task(handle_request(stream, req))
        self.starting.clear()

    def _ended(self) -> bool:
        """True once the connection is closed or closing (a handler may have ended it)."""
        return self.closed

    def eof_received(self) -> bool | None:
        # The client sends nothing more; streams it asked for can still be answered only if it keeps reading,
        # which a half-closed HTTP/2 client does not promise: end now (as Go does on EOF).
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.ctx.connection_closed(self)
        for stream in list(self.streams.values()):
            self._cancel_stream(stream, ConnectionResetError("client disconnected"))
        self.streams.clear()

    def pause_writing(self) -> None:
        self.write_paused = True
        self.write_paused_since = self.clock()
        for stream in self.streams.values():
            self._pace(stream)

    def resume_writing(self) -> None:
        self.write_paused = False
        self.write_paused_since = 0.0
        self.owed_while_paused = 0
        for stream in list(self.streams.values()):
            if stream.pending or stream.ending:
                self.flush_stream(stream)
            else:
                self._pace(stream)

    # -- events --------------------------------------------------------------------------------------------------
    def _on_request(self, event: h2.events.RequestReceived) -> None:
        sid = event.stream_id
        self.preface_seen = True
        self.read_deadline = 0.0
        self.idle_deadline = 0.0
        if self.goaway_last is not None and sid > self.goaway_last:
            self._reset(sid, ErrorCodes.REFUSED_STREAM)
            # Each one costs a decode and a reset as a rapid reset does: a GOAWAY must not open a way around its limit.
            self._spend_reset()
            return
        if len(self.streams) >= self.limits.max_concurrent_streams:
            self._reset(sid, ErrorCodes.REFUSED_STREAM)
            self._spend_reset()
            return
        fields = event.headers or ()
        stream = ServerStream(self, self.ctx, sid)
        self.streams[sid] = stream
        settings = self.settings
        now = self.clock()
        if settings.read_timeout > 0 and event.stream_ended is None:
            stream.read_deadline = now + settings.read_timeout
        if settings.write_timeout > 0:
            stream.write_deadline = now + settings.write_timeout
        key = tuple(fields)
        head = self.heads.get(key)
        if head is None:
            size = 0
            for name, value in fields:
                size += len(name) + len(value) + 32
            if size > self.limits.max_header_list_size:
                self._answer_error(stream, 431, event.stream_ended is not None)
                return
            try:
                head = request_head(list(fields), settings.managed_headers)
            except MalformedHeaders as exc:
                self._protocol_error(str(exc))
                return
            except StreamRejected as exc:
                self._answer_error(stream, exc.status, event.stream_ended is not None)
                return
            if size <= _HEAD_CACHE_BYTES:
                # A client repeats its requests field for field (h2load, gRPC, API polling): the same block is the
                # same valid head. Only heads that passed every check are kept; bounded per connection.
                if len(self.heads) >= _HEAD_CACHE_ENTRIES:
                    self.heads.clear()
                self.heads[key] = head
        if event.stream_ended is not None and head.content_length:
            # h2 checks content-length only against DATA frames: a request that ends on its HEADERS yet declares a
            # body is malformed (RFC 9113 §8.1.1), a connection error as h2 makes the DATA-frame case.
            self._protocol_error("content-length on a request without a body")
            return
        try:
            req = build_request(
                settings,
                head.method,
                "2.0",
                head.target,
                list(head.headers),  # the request's own list: the pipeline edits it in place
                head.host,
                0 if head.host is None else 1,
                head.managed,
                False,
                False,
                self.client_ip,
                self.client_ip_bytes,
                self.client_port,
            )
        except RequestRejected as exc:
            self._answer_error(stream, exc.status, event.stream_ended is not None)
            return
        req.tls_info = self.tls_info
        stream.req = req
        if event.stream_ended is None:
            # High-water mark 0: a chunk nobody has taken yet pauses the stream, so its window is granted only as the
            # consumer reads. What clients send ahead of the consumers is then bounded by the connection window in
            # total, not by a per-body buffer times maxConcurrentStreams.
            body = StreamBody(stream, head.content_length, high_water=0)
            req.body = body
            stream.body = body
            if head.expect_continue:
                # Hold the body until someone reads it, then send 100 (Go's expectContinueReader): a body refused
                # by routing or its size limit is never sent.
                body._paused = True
                stream.in_paused = True
                stream.expect_continue = True
        self.requests += 1
        max_requests = settings.keep_alive_max_requests
        if (max_requests and self.requests >= max_requests) or (
            settings.keep_alive_max_time and now - self.opened_at >= settings.keep_alive_max_time
        ):
            self.start_shutdown()  # this stream is still served: it is the GOAWAY's last stream
        req.started = perf_counter()
        # Started once this read's frames are all handled: a stream the same read resets (rapid reset sends
        # HEADERS and RST_STREAM back to back) never costs a task.
        self.starting.append(stream)

    def _on_data(self, event: h2.events.DataReceived) -> None:
        stream = self.streams.get(event.stream_id)
        size = event.flow_controlled_length or 0
        body = None if stream is None else stream.body
        if stream is None or body is None:
            # Nobody reads it (an answered or refused stream): give the window back at once.
            if size:
                self._ack(event.stream_id, size)
            return
        data = event.data or b""
        if data:
            body.feed(data)
        if stream.in_paused:
            stream.unacked += size
        elif size:
            self._ack(stream.sid, size)

    def _on_stream_ended(self, event: h2.events.StreamEnded) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is None:
            return
        stream.read_deadline = 0.0
        body = stream.body
        if body is not None:
            if body.length is not None and body.received != body.length:
                # Ended by trailers (h2 checks the length only when END_STREAM is on a DATA frame): a body short of
                # its content-length must not end normally, or an HTTP/1.1 backend sent Content-Length: N gets fewer
                # bytes and reads the next pooled request as the rest (desync). Malformed: RFC 9113 §8.1.1.
                self._protocol_error("request body shorter than its content-length")
                return
            stream.body = None
            body.feed_eof()

    def _on_reset(self, event: h2.events.StreamReset) -> None:
        stream = self.streams.pop(event.stream_id, None)
        if stream is not None:
            self._cancel_stream(stream, ConnectionResetError("stream reset by the client"))
            self._maybe_close()
        # Every StreamReset is the client's doing: its own RST_STREAM, or a stream error h2 reset for it (a window
        # overflow, ...). Both spend the budget, or a client could reset streams through us ("MadeYouReset").
        self._spend_reset()

    def _on_window(self, event: h2.events.WindowUpdated) -> None:
        if event.stream_id:
            stream = self.streams.get(event.stream_id)
            if stream is not None and (stream.pending or stream.ending):
                self.flush_stream(stream)
            return
        if self.conn.outbound_flow_control_window - (event.delta or 0) > 0:
            # The connection window was open before this update, so no stream waits on it (one with bytes queued is
            # held by its own window or by a client that does not read): nothing to write. Without this a flood of
            # tiny connection WINDOW_UPDATEs walked every stream once per 13-byte frame.
            return
        self._write_waiting()

    def _write_waiting(self) -> None:
        for stream in list(self.streams.values()):
            if stream.pending or stream.ending:
                self.flush_stream(stream)

    def _on_remote_settings(self, event: h2.events.RemoteSettingsChanged) -> None:
        if not self.settings_budget.spend():
            self._calm_down("SETTINGS flood")
            return
        self.preface_seen = True
        encoder = self.conn.encoder
        if encoder.header_table_size > self.limits.encoder_table_size:
            encoder.header_table_size = self.limits.encoder_table_size  # http2.maxEncoderHeaderTableSize
        if _SETTINGS.INITIAL_WINDOW_SIZE in event.changed_settings:
            self._write_waiting()  # the client's windows may have grown: write what waits

    def _on_settings_ack(self, event: h2.events.SettingsAcknowledged) -> None:
        # h2 sets the decoder's bound to the advertised size on ack: keep the hard (bomb) limit instead; a head
        # between the two is answered 431 on its stream, as HTTP/1.1 answers an oversized head.
        self.conn.decoder.max_header_list_size = self.limits.hpack_hard_limit

    def _on_ping(self, event: h2.events.PingReceived) -> None:
        if not self.pings.spend():
            self._calm_down("PING flood")

    def _on_trailers(self, event: h2.events.TrailersReceived) -> None:
        """Request trailers end the body (``StreamEnded`` follows): an HTTP/2 backend gets them as trailing HEADERS, as
        from Go's proxy (an HTTP/1.1 backend does not). Bounded as a head is: over it, the request body fails."""
        stream = self.streams.get(event.stream_id)
        body = None if stream is None else stream.body
        if body is None:
            return
        fields = list(event.headers or ())
        try:
            check_trailer_fields(fields)
        except MalformedHeaders as exc:
            self._protocol_error(str(exc))
            return
        if sum(len(name) + len(value) + 32 for name, value in fields) > self.limits.max_header_list_size:
            body.feed_error(BodyError("request trailers larger than the header list size"))
            return
        body.trailers = fields

    def _on_goaway(self, event: h2.events.ConnectionTerminated) -> None:
        # The client opens no more streams: finish the open ones, then close.
        if self.goaway_last is None:
            self.goaway_last = event.last_stream_id if event.last_stream_id is not None else 0
            self.goaway_last = max(self.goaway_last, max(self.streams, default=0))
        if event.error_code:
            self._terminate("")  # the client is failing the connection: nothing it opened will be read
            return
        self._maybe_close()

    # -- responses -------------------------------------------------------------------------------------------------
    def send_response(self, stream: ServerStream, req: Request, response: Response) -> None:
        """Write ``response`` on ``stream``: HEADERS, then DATA as the client's windows allow."""
        stream.task = None
        if self.closed or self.streams.get(stream.sid) is not stream:
            discard_response(response)
            return
        status = response.status
        if status == 101 or response.tunnel is not None:
            # No upgrade can be asked for over HTTP/2 (Connection/Upgrade are refused); a backend's 101 is an error.
            discard_response(response)
            response = Response(502, Headers(), status_text(502).encode())
            status = 502
        body = response.body
        head_only = req.method == "HEAD" or status in _NO_BODY_STATUS or status < 200
        length = len(body) if isinstance(body, bytes) else body.length
        has_date = response.has_date or any(len(n) == 4 and n.lower() == b"date" for n, _ in response.headers.raw)
        date = None if has_date else DATE.line()[6:-2]
        block = response_block(status, response.headers, length, date)
        empty = (
            head_only
            or (isinstance(body, bytes) and not body)
            or (isinstance(body, StreamBody) and body.length == 0 and body.at_eof and not body.trailers)
        )
        stream.started_response = True
        stream.status = status
        if isinstance(body, StreamBody) and not head_only:
            self._send_streamed(stream, block, body)
            return
        if not isinstance(body, StreamBody) and self._send_whole(stream, block, b"" if head_only else body):
            return
        try:
            self.conn.send_headers(stream.sid, block, end_stream=empty and not isinstance(body, StreamBody))
        except h2.exceptions.ProtocolError:
            discard_response(response)
            self._forget(stream)
            return
        if isinstance(body, StreamBody):
            if not body.at_eof:
                body.drain()
            stream.ending = True
            self.flush_stream(stream)
            return
        if empty:
            self._flush_soon()
            self._response_done(stream)
            return
        stream.pending.append(body)
        stream.pending_bytes = len(body)
        stream.ending = True
        self.flush_stream(stream)

    def _send_whole(self, stream: ServerStream, block: Sequence[tuple[bytes, bytes]], data: bytes) -> bool:
        """Write a complete response as raw frames (``fast_frames``) if its windows allow; False: nothing was sent."""
        if self.write_paused or not send_whole_response(self.conn, stream.sid, block, data):
            return False
        stream.sent += len(data)
        self._flush_soon()
        self._response_done(stream)
        return True

    def _send_streamed(self, stream: ServerStream, block: Sequence[tuple[bytes, bytes]], body: StreamBody) -> None:
        """Write a response whose body is a stream: what it already holds is queued first, then written once (a
        response read whole from its backend is HEADERS + one DATA frame with END_STREAM), the rest as it arrives;
        EOF: trailers or END_STREAM."""
        stream.response_body = body
        stream.pumping = True
        try:
            body.pump(stream)
        finally:
            stream.pumping = False
        if self.closed or self.streams.get(stream.sid) is not stream:
            return  # the body failed while pumping: the stream was reset (no HEADERS went out)
        pending = stream.pending
        # A body that arrived in a few chunks before the response started is still one frame when it fits one.
        whole = stream.ending and not stream.trailers and stream.pending_bytes <= self.conn.max_outbound_frame_size
        if whole and self._send_whole(stream, block, b"".join(pending) if len(pending) != 1 else pending[0]):
            pending.clear()
            stream.pending_bytes = 0
            return
        try:
            self.conn.send_headers(stream.sid, block)
        except h2.exceptions.ProtocolError:
            stream.response_body = None
            body.discard()
            self._forget(stream)
            return
        self._flush_soon()  # the HEADERS go out this loop iteration, whatever the body does
        if pending or stream.ending:
            self.flush_stream(stream)
        else:
            self._pace(stream)

    def flush_stream(self, stream: ServerStream) -> None:
        """Write what ``stream`` has queued as far as its window (and the connection's) allows."""
        if self.closed or self.streams.get(stream.sid) is not stream:
            stream.pending.clear()
            stream.pending_bytes = 0
            return
        conn = self.conn
        sid = stream.sid
        pending = stream.pending
        ended = False
        try:
            if not self.write_paused:
                max_frame = conn.max_outbound_frame_size
                while pending:
                    window = conn.local_flow_control_window(sid)
                    if window <= 0:
                        break
                    chunk = pending[0]
                    size = min(window, max_frame, len(chunk))
                    if size < len(chunk):
                        conn.send_data(sid, chunk[:size])
                        pending[0] = chunk[size:]
                    else:
                        pending.popleft()
                        # The body's last bytes carry END_STREAM themselves: one frame less per response.
                        ended = not pending and stream.ending and not stream.trailers
                        conn.send_data(sid, chunk, end_stream=ended)
                    stream.pending_bytes -= size
                    stream.sent += size
            if not pending and stream.ending and not ended:
                trailers = stream.trailers
                if trailers:
                    conn.send_headers(sid, [(n.lower(), v) for n, v in trailers], end_stream=True)
                else:
                    conn.end_stream(sid)
        except h2.exceptions.ProtocolError:
            self._flush()
            self._forget(stream)
            return
        self._flush_soon()
        if pending:
            if not stream.blocked_since and not self.write_paused:
                stream.blocked_since = self.clock()
            self._pace(stream)
            return
        stream.blocked_since = 0.0
        if stream.ending:
            self._response_done(stream)
        else:
            self._pace(stream)

    def _pace(self, stream: ServerStream) -> None:
        """Pause the response's upstream while this stream holds too much or the client socket is full."""
        body = stream.response_body
        if body is None:
            return
        hold = self.write_paused or stream.pending_bytes > self.limits.stream_send_buffer
        if hold and not stream.out_paused:
            stream.out_paused = True
            body.pause()
        elif not hold and stream.out_paused:
            stream.out_paused = False
            body.resume()

    def abort_stream(self, stream: ServerStream) -> None:
        """The response failed mid-body: reset the stream (INTERNAL_ERROR), report it aborted."""
        req = stream.req
        if req is not None:
            self.observe(stream, req, stream.status, True)
        stream.req = None
        self._reset(stream.sid, ErrorCodes.INTERNAL_ERROR)
        self._forget(stream)
        self._flush()

    def _response_done(self, stream: ServerStream) -> None:
        req = stream.req
        stream.req = None
        observer = self.ctx.observer
        if req is not None and observer is not None:
            report(observer, req, stream.status, stream.sent, False)
        body = stream.body
        if body is not None:
            # The response is complete before the request: ask the client to stop sending (RFC 9113 §8.1).
            stream.body = None
            body.feed_error(ConnectionResetError("the response ended before the request body"))
            self._reset(stream.sid, ErrorCodes.NO_ERROR)
            self._flush()
        self._forget(stream)

    def _answer_error(self, stream: ServerStream, status: int, request_ended: bool) -> None:
        """Answer a request the entrypoint refuses (431, 400, ...) as Go's server words it, on its stream only."""
        text = f"{status} {status_text(status)}".encode("latin-1")
        headers = Headers([(b"content-type", b"text/plain; charset=utf-8")])
        block = response_header_block(status, headers, len(text), DATE.line()[6:-2])
        stream.status = status
        stream.started_response = True
        try:
            self.conn.send_headers(stream.sid, block)
            self.conn.send_data(stream.sid, text, end_stream=True)
            if not request_ended:
                self.conn.reset_stream(stream.sid, ErrorCodes.NO_ERROR)
        except h2.exceptions.ProtocolError:
            pass
        self._forget(stream)
        self._flush()

    def send_continue(self, stream: ServerStream) -> None:
        """Send the interim ``100`` a client that sent ``expect: 100-continue`` waits for."""
        if self.closed or stream.started_response or self.streams.get(stream.sid) is not stream:
            return
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self.conn.send_headers(stream.sid, [(b":status", b"100")])
        self._flush()

    def observe(self, stream: ServerStream, req: Request, status: int, aborted: bool) -> None:
        """Report ``req`` to the entrypoint observer (an aborted exchange) with the bytes written so far."""
        observer = self.ctx.observer
        if observer is not None:
            report(observer, req, status, stream.sent, aborted)
        if aborted:
            stream.req = None

    # -- request body flow control -------------------------------------------------------------------------------
    def grant(self, stream: ServerStream) -> None:
        """Give the client back the window of the request bytes ``stream``'s consumer has taken."""
        size = stream.unacked
        stream.unacked = 0
        if size and not self.closed:
            self._ack(stream.sid, size)
            self._flush()

    def _ack(self, sid: int, size: int) -> None:
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self.conn.acknowledge_received_data(size, sid)

    # -- stream ends -----------------------------------------------------------------------------------------------
    def _cancel_stream(self, stream: ServerStream, exc: BaseException) -> None:
        """The stream is gone (client reset, connection lost): stop its handler and its upstream."""
        body = stream.body
        stream.body = None
        if body is not None:
            body.feed_error(exc)
        response_body = stream.response_body
        stream.response_body = None
        if response_body is not None:
            response_body.discard()  # the upstream cannot finish its message for anyone: it closes
        stream.pending.clear()
        stream.pending_bytes = 0
        self._release_window(stream)
        req = stream.req
        if req is not None:
            self.observe(stream, req, stream.status or 499, True)
        task = stream.task
        stream.task = None
        if task is not None and not task.done():
            task.cancel()

    def _forget(self, stream: ServerStream) -> None:
        if self.streams.get(stream.sid) is stream:
            del self.streams[stream.sid]
        self._release_window(stream)
        self._maybe_close()

    def _release_window(self, stream: ServerStream) -> None:
        """Give the connection back the window of request bytes ``stream`` received but never granted.

        Without it every stream that ends while its consumer is behind (reset, answered early, timed out) would keep
        its share of the connection window for the connection's life, until no stream could upload at all.
        """
        size = stream.unacked
        if size:
            stream.unacked = 0
            self._ack(stream.sid, size)  # h2 credits the connection even when the stream is already closed
            self._flush_soon()

    def _maybe_close(self) -> None:
        if self.streams or self.closed:
            return
        if self.goaway_last is not None or self.ctx.draining:
            self._close_transport()
        elif self.settings.idle_timeout > 0 and not self.idle_deadline:
            self.idle_deadline = self.clock() + self.settings.idle_timeout

    def _reset(self, sid: int, code: ErrorCodes) -> None:
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self.conn.reset_stream(sid, code)

    def _spend_reset(self) -> None:
        if not self.resets.spend():
            self._calm_down("rapid reset")

    # -- connection ends -------------------------------------------------------------------------------------------
    def start_shutdown(self) -> None:
        """Send GOAWAY NO_ERROR naming the last stream served; close once the open streams are done."""
        if self.goaway_last is not None or self.closed:
            self._maybe_close()
            return
        last = self.conn.highest_inbound_stream_id
        self.goaway_last = last
        self._flush()
        frame = GoAwayFrame(0)
        frame.last_stream_id = last
        frame.error_code = ErrorCodes.NO_ERROR
        self._write(frame.serialize())
        self._maybe_close()

    def _calm_down(self, why: str) -> None:
        """A limit fired: GOAWAY ENHANCE_YOUR_CALM and close (every stream is cancelled)."""
        log.info("HTTP/2 client %s exceeded a limit (%s): connection closed", self.client_ip, why)
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self.conn.close_connection(
                error_code=ErrorCodes.ENHANCE_YOUR_CALM, last_stream_id=self.conn.highest_inbound_stream_id
            )
        self._terminate(why)

    def _protocol_error(self, why: str) -> None:
        """A malformed header block: GOAWAY PROTOCOL_ERROR and close, as ``h2`` ends the connection for its own."""
        log.debug("HTTP/2 connection error from %s: %s", self.client_ip, why)
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self.conn.close_connection(
                error_code=ErrorCodes.PROTOCOL_ERROR, last_stream_id=self.conn.highest_inbound_stream_id
            )
        self._terminate("")

    def _terminate(self, why: str) -> None:
        self.calmed = why
        self._flush()
        for stream in list(self.streams.values()):
            self._cancel_stream(stream, ConnectionResetError("connection error"))
        self.streams.clear()
        self._close_transport()

    def _close_transport(self) -> None:
        if not self.closed:
            self._flush()  # what is owed (a last response, a GOAWAY) goes out before the close
        self.closed = True
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.close()

    # -- output ----------------------------------------------------------------------------------------------------
    def _flush_soon(self) -> None:
        """Write what ``h2`` queued at the end of this loop iteration: the responses of several streams that finish
        in one iteration share one ``transport.write`` (one TLS record, one send) instead of one each."""
        if not self.flush_pending:
            self.flush_pending = True
            self.loop.call_soon(self._flush_deferred)

    def _flush_deferred(self) -> None:
        self.flush_pending = False
        if not self.closed:
            self._flush()

    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self._write(data)

    def _write(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(data)
        if self.write_paused:
            # The client does not read: only control frames and heads are written now (DATA waits). Owing it more
            # than the bound is a flood (PING/SETTINGS answers piling up): cut the connection.
            self.owed_while_paused += len(data)
            if self.owed_while_paused > self.limits.max_pending_control_bytes and not self.closed:
                self._abort("pending control frames")

    def _abort(self, why: str) -> None:
        """End a connection whose client does not read: no GOAWAY (it would not be read), streams cancelled."""
        self.calmed = why
        log.info("HTTP/2 client %s does not read (%s): connection aborted", self.client_ip, why)
        self.closed = True
        for stream in list(self.streams.values()):
            self._cancel_stream(stream, ConnectionResetError("connection aborted"))
        self.streams.clear()
        transport = self.transport
        if transport is not None:
            transport.abort()

    # -- Connection (the entrypoint's drain, shutdown and ticker) -------------------------------------------------
    def check_deadlines(self, now: float) -> None:
        """Apply readTimeout (preface, request bodies), writeTimeout, idleTimeout, keepAliveMaxTime, stalls."""
        if self.closed:
            return
        if self.read_deadline and now >= self.read_deadline and not self.preface_seen:
            self._close_transport()
            return
        if self.idle_deadline and now >= self.idle_deadline and not self.streams:
            self.start_shutdown()
            return
        settings = self.settings
        if settings.keep_alive_max_time and now - self.opened_at >= settings.keep_alive_max_time:
            self.start_shutdown()
        stall = self.limits.window_stall_timeout
        if self.write_paused_since and stall > 0 and now - self.write_paused_since >= stall:
            # The client has read nothing for the whole stall timeout (its TCP window is shut, not just HTTP/2's):
            # nothing can reach it, not even a GOAWAY, so the connection is aborted.
            self._abort("socket not read for the stall timeout")
            return
        for stream in list(self.streams.values()):
            expired = (
                (stream.read_deadline and now >= stream.read_deadline)
                or (stream.write_deadline and now >= stream.write_deadline)
                or (stream.blocked_since and stall > 0 and now - stream.blocked_since >= stall)
            )
            if expired:
                self.streams.pop(stream.sid, None)
                self._cancel_stream(stream, TimeoutError("stream deadline passed"))
                self._reset(stream.sid, ErrorCodes.CANCEL)
        self._flush()
        self._maybe_close()

    def close_if_idle(self) -> bool:
        """Drain: GOAWAY once, then close when no stream is in progress; return True if it closed."""
        self.start_shutdown()
        return self.closed

    def close_now(self) -> None:
        """Close at once (shutdown after ``graceTimeOut``)."""
        self._close_transport()


_DISPATCH: dict[type, Callable[[H2Protocol, Any], None]] = {
    h2.events.RequestReceived: H2Protocol._on_request,
    h2.events.DataReceived: H2Protocol._on_data,
    h2.events.StreamEnded: H2Protocol._on_stream_ended,
    h2.events.StreamReset: H2Protocol._on_reset,
    h2.events.WindowUpdated: H2Protocol._on_window,
    h2.events.RemoteSettingsChanged: H2Protocol._on_remote_settings,
    h2.events.SettingsAcknowledged: H2Protocol._on_settings_ack,
    h2.events.PingReceived: H2Protocol._on_ping,
    h2.events.TrailersReceived: H2Protocol._on_trailers,
    h2.events.ConnectionTerminated: H2Protocol._on_goaway,
}
"""What each ``h2`` event does; the rest (priorities, PING ACKs, unknown frames) is ignored."""
