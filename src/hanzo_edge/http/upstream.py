"""One HTTP/1.1 connection to a backend, on a raw ``asyncio.Protocol`` with httptools' response parser.

One exchange at a time (no upstream pipelining). The connection is at once:

* the sink of the request body (``write``/``write_eof``/``abort``): chunks go straight to the socket, and when the
  socket buffer fills (``pause_writing``) the request body's source (the client socket) is paused;
* the source of the response body (``pause_reading``/``resume_reading``): the downstream pumps it and pauses this
  socket when the client is slow.

httptools quirks handled here (see ENGINEERING.md §4): HEAD responses are framed by hand (a fresh parser after the
head), close-delimited bodies are ended on EOF, a ``101`` is detected from the status before the parser complains, and
trailers (reported through ``on_header`` after the body started) are dropped.

A hostile backend is bounded like Go's transport bounds it: the bytes of a response head, interim ``1xx`` heads
included, may not exceed :attr:`UpstreamConnection.max_head_bytes` (Go's ``MaxResponseHeaderBytes`` default, 10 MiB),
at most :attr:`UpstreamConnection.max_interim_responses` interim responses precede the final one (Go's
``max1xxResponses``), and a response nobody asked for closes the connection. Each answers 502 when a request waits;
the connection is closed at once, nothing more is read. Trailers and chunk framing count against the same byte bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

import httptools

from hanzo_edge.http.body import BodyError, StreamBody
from hanzo_edge.http.errors import UpstreamProtocolError, UpstreamTimeout
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Response

__all__ = ["HOP_BY_HOP", "ReleaseCallback", "UpstreamConnection"]

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
"""Hop-by-hop header names (RFC 9110 §7.6.1 plus Go's list), lower-case."""

_NO_BODY_STATUS: Final = frozenset({204, 304})
MAX_RESPONSE_HEAD_BYTES = 10 << 20
"""Go's default ``Transport.MaxResponseHeaderBytes`` (Traefik's serversTransport has no option for it)."""
MAX_INTERIM_RESPONSES = 5
"""Go's ``max1xxResponses``: interim responses allowed before the final one."""
_IMPLIED_TOKENS = HOP_BY_HOP | {b"close"}  # "Connection: keep-alive/close" names nothing extra to remove

# What the response head does with a backend's field, by its name as the backend spelled it: one dict probe per
# field instead of a lower-case copy and a set probe. Backends use few spellings; the cache is bounded anyway.
# Final: native constants in the compiled build (a plain module global is a dict lookup at every use).
_FORWARD: Final = 0
_HOP: Final = 1
_CHUNKED: Final = 2
_CONNECTION: Final = 3
_UPGRADE: Final = 4
_LENGTH: Final = 5
_DATE: Final = 6
_HOP_KINDS: Final = {b"transfer-encoding": _CHUNKED, b"connection": _CONNECTION, b"upgrade": _UPGRADE}
_NAME_KINDS: Final[dict[bytes, int]] = {}
_IMPLIED_VALUES: Final = frozenset({b"keep-alive", b"Keep-Alive", b"close", b"Close"})


def _name_kind(name: bytes) -> int:
    lname = name.lower()
    if lname in HOP_BY_HOP:
        kind = _HOP_KINDS.get(lname, _HOP)
    else:
        kind = _LENGTH if lname == b"content-length" else _DATE if lname == b"date" else _FORWARD
    if len(_NAME_KINDS) >= 4096:
        _NAME_KINDS.clear()
    _NAME_KINDS[name] = kind
    return kind


ReleaseCallback = Callable[["UpstreamConnection", bool], None]
"""``on_release(conn, reusable)``: what a connection calls when it is done with the exchange it was handed out for.

``reusable`` True: the exchange completed and the connection may serve another (it stays open, and the callback
stays armed for when it later closes while idle). False: the connection closed, failed or left for a tunnel; it
forgets the callback first, so it is reported unusable at most once. The pool hands the callback over when it dials
(httpcore's shape: the connection owns its lifecycle and tells whoever holds it, which multiplexed upstreams need).
"""


def _chunk_framed(head: bytes, chunks: list[bytes]) -> list[bytes]:
    """Return ``head`` followed by ``chunks`` in chunked framing, as buffers for one ``writelines``."""
    out = [head]
    for chunk in chunks:
        out += (b"%x\r\n" % len(chunk), chunk, b"\r\n")
    return out


def connection_tokens(value: bytes) -> set[bytes]:
    """Return the lower-case header names listed in a ``Connection`` header value."""
    return {t.strip().lower() for t in value.split(b",") if t.strip()}


class UpstreamConnection(asyncio.Protocol):
    """A pooled connection to one backend origin. Use through :class:`~hanzo_edge.http.pool.ConnectionPool`.

    ``on_release`` (see :data:`ReleaseCallback`) is told when an exchange ends; without one, the connection closes
    after its first exchange.
    """

    max_head_bytes = MAX_RESPONSE_HEAD_BYTES
    max_interim_responses = MAX_INTERIM_RESPONSES

    def __init__(self, on_release: ReleaseCallback | None = None) -> None:
        self.on_release = on_release
        self.transport: asyncio.Transport | None = None
        self._new_parser()
        self.closed = False
        self.requests_sent = 0
        self.idle_since = 0.0
        self._loop = asyncio.get_event_loop()
        self._create_future = self._loop.create_future  # bound once: no method lookup per exchange
        self._future: asyncio.Future[Response] | None = None
        self._response: Response | None = None
        self._resp_body: StreamBody | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._conn_tokens: set[bytes] | None = None
        self._content_length: int | None = None
        self._head_only = False
        self._got_bytes = False
        self._in_body = False
        self._req_body: StreamBody | None = None
        self._req_chunked = False
        self._req_done = True
        self._resp_done = True
        self._keep_alive = True
        self._reading_paused = False
        # responseHeaderTimeout: a deadline per exchange, checked by one timer per connection that re-arms itself
        # for a later deadline (Go's deadline shape): keep-alive exchanges create no timer each (see _check_header).
        self._header_timer: asyncio.TimerHandle | None = None
        self._header_deadline = 0.0
        self._upgraded = False
        self._has_date = False
        self._resp_is_chunked = False
        self._interim = 0
        # Bytes received since the parser last made progress (final head complete, body bytes, message complete):
        # the head, interim heads, trailers and chunk framing. httptools buffers a field until its line ends.
        self._stalled = 0
        self._progress = False
        # Bytes of a Content-Length body still to come once the parser has seen its head and first bytes: they go
        # to the body as they arrive, without httptools (see _relay_counted).
        self._body_left = 0
        # True while httptools parses a read: a response it completes is released only once the whole read is
        # parsed, so bytes after it in the same read (an unsolicited response) close the connection before any
        # holder could hand it to another request.
        self._feeding = False
        self._release_deferred = False

    # -- asyncio.Protocol ------------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        left = self._body_left
        if left:
            self._relay_counted(data, left)
            return
        if self._upgraded:
            tunnel = self._response.tunnel if self._response is not None else None
            if tunnel is not None:
                tunnel.from_upstream(data)
            return
        self._progress = False
        self._feeding = True
        try:
            self._feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._end_feed()
            self._on_upgrade(data[exc.args[0] :] if exc.args and isinstance(exc.args[0], int) else b"")
        except httptools.HttpParserError as exc:
            # Each way on fails the connection or gives it to a tunnel: a response completed earlier in this read
            # is not released (its bytes were followed by a broken or unsolicited message).
            self._feeding = False
            self._release_deferred = False
            cause = exc.__context__
            if isinstance(cause, UpstreamProtocolError):
                self._fail(cause)  # one of our bounds, raised from a callback to stop the parser at once
                return
            if self._response is not None and self._response.status == 101:
                end = data.find(b"\r\n\r\n")
                self._on_upgrade(data[end + 4 :] if end >= 0 else b"")
                return
            self._fail(UpstreamProtocolError(f"malformed response from backend: {exc}"))
        else:
            if self._release_deferred:
                self._end_feed()
            else:
                self._feeding = False
            if self._progress:
                self._stalled = 0
                if self._in_body and not self._resp_done and not self._resp_is_chunked:
                    # A body that goes on in later reads: count the rest of a declared length ourselves.
                    length = self._content_length
                    body = self._resp_body
                    if length is not None and body is not None:
                        self._body_left = length - body.received
                return
            stalled = self._stalled + len(data)
            self._stalled = stalled
            if stalled > self.max_head_bytes:
                self._fail(UpstreamProtocolError(f"server response headers exceeded {self.max_head_bytes} bytes"))

    def _end_feed(self) -> None:
        """The parser is done with this read: release the connection if a response it completed asked to."""
        self._feeding = False
        if self._release_deferred:
            self._release_deferred = False
            self._release()

    def _relay_counted(self, data: bytes, left: int) -> None:
        """Deliver a read of a Content-Length body to the body as it is, ``left`` bytes of the body still to come.

        httptools copies every body piece it reports (a 1 MiB response is copied once more for nothing) and walks
        it; past the head and the first bytes of a declared-length body there is nothing to parse, only bytes to
        count. The parser that saw the head still waits for the body's end, so a fresh one takes the next response.
        """
        size = len(data)
        body = self._resp_body
        if size <= left:
            self._body_left = left - size
            if body is not None:
                body.feed(data)
            if size == left:
                self._end_counted()
            return
        # The body ends inside this read. What follows can only be a response nobody asked for (one exchange at a
        # time): the connection is discarded, never released first (a pool that handed it on before the fresh
        # parser reports the extra bytes would give them to another request as its response), then closed.
        self._body_left = 0
        self._keep_alive = False
        if body is not None:
            body.feed(data[:left])
        self._end_counted()
        if not self.closed:
            self.data_received(data[left:])

    def _new_parser(self) -> None:
        """A fresh response parser, with its per-response methods bound once (no lookup per call)."""
        parser = httptools.HttpResponseParser(self)
        self.parser = parser
        self._feed_data: Callable[[bytes], None] = parser.feed_data
        self._status_code: Callable[[], int] = parser.get_status_code
        self._should_keep_alive: Callable[[], bool] = parser.should_keep_alive

    def _end_counted(self) -> None:
        self._new_parser()
        if not self._resp_done:
            self._finish_response()

    def eof_received(self) -> bool | None:
        # A close-delimited body (no Content-Length, not chunked) ends at EOF: httptools never completes it.
        body = self._resp_body
        if (
            body is not None
            and self._in_body
            and self._content_length is None
            and not self._resp_is_chunked
            and not self._resp_done
        ):
            self._keep_alive = False
            self._finish_response()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_header_timer()
        if self._upgraded:
            tunnel = self._response.tunnel if self._response is not None else None
            if tunnel is not None:
                tunnel.upstream_closed()
            return
        if not self._resp_done:
            self._fail(UpstreamProtocolError("backend closed the connection" + (f": {exc}" if exc else "")))
        self._report_unusable()

    def pause_writing(self) -> None:
        if self._req_body is not None:
            self._req_body.pause()

    def resume_writing(self) -> None:
        if self._req_body is not None:
            self._req_body.resume()

    # -- response body source ----------------------------------------------------------------------------------------
    def pause_reading(self) -> None:
        """Stop reading the response (the client is slow)."""
        if not self._reading_paused and self.transport is not None and not self.closed:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        """Read the response again."""
        if self._reading_paused and self.transport is not None and not self.closed:
            self._reading_paused = False
            self.transport.resume_reading()

    # -- request body sink -------------------------------------------------------------------------------------------
    def write(self, chunk: bytes) -> None:
        """Send one request-body chunk upstream (framed when the request is chunked)."""
        transport = self.transport
        if transport is None or self.closed or (self._resp_done and self._future is None):
            return
        if self._req_chunked:
            transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
        else:
            transport.write(chunk)

    def write_eof(self) -> None:
        """The request body is complete."""
        if self._req_chunked and self.transport is not None and not self.closed:
            self.transport.write(b"0\r\n\r\n")
        self._req_done = True
        self._req_body = None
        if self._resp_done and self._future is None:
            self._release()

    def abort(self, exc: BaseException) -> None:
        """The client's request body failed: this connection cannot be reused."""
        self._req_body = None
        self._keep_alive = False
        self.close()

    # -- exchange ----------------------------------------------------------------------------------------------------
    def send(
        self,
        head: bytes,
        body: bytes | StreamBody,
        *,
        chunked: bool,
        head_request: bool,
        response_header_timeout: float = 0.0,
    ) -> asyncio.Future[Response]:
        """Write a request and return a future for the response head (the body streams behind it).

        The future fails with an :class:`~hanzo_edge.http.errors.UpstreamError` subclass.
        """
        transport = self.transport
        future: asyncio.Future[Response] = self._create_future()
        if transport is None or self.closed:
            future.set_exception(UpstreamProtocolError("backend connection is closed"))
            return future
        self.requests_sent += 1
        self._future = future
        self._response = None
        self._resp_body = None
        self._headers = []
        self._conn_tokens = None
        self._content_length = None
        self._head_only = head_request
        self._got_bytes = False
        self._in_body = False
        self._resp_done = False
        self._keep_alive = True
        self._req_chunked = chunked
        self._interim = 0
        self._stalled = 0
        self._body_left = 0
        if response_header_timeout > 0:
            deadline = self._loop.time() + response_header_timeout
            self._header_deadline = deadline
            timer = self._header_timer
            if timer is None or deadline < timer.when():
                # None armed, or armed for later than this deadline (a shorter timeout than an earlier exchange's:
                # a gateway endpoint's, or its time left): this exchange's own deadline must be checked in time.
                if timer is not None:
                    timer.cancel()
                self._header_timer = self._loop.call_at(deadline, self._check_header)
        if isinstance(body, bytes):
            self._req_done = True
            self._req_body = None
            if chunked:
                transport.write(head + (b"%x\r\n%b\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"))
            else:
                transport.write(head + body if body else head)
        else:
            self._req_done = False
            self._req_body = body
            # What of the body arrived with the client's head (usually all of a small one) goes out with our head.
            buffered = body.take_buffered()
            if not buffered:
                transport.write(head)
            elif chunked:
                transport.writelines(_chunk_framed(head, buffered))
            else:
                transport.writelines([head, *buffered])
            body.pump(self)
        return future

    def close(self) -> None:
        """Close the socket; any exchange in progress fails."""
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()
        self._report_unusable()

    @property
    def reused(self) -> bool:
        """True when this connection served an earlier request (a stale keep-alive may fail the next one)."""
        return self.requests_sent > 1

    @property
    def got_response_bytes(self) -> bool:
        """True once any byte of the current response arrived."""
        return self._got_bytes

    # -- parser callbacks --------------------------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self._resp_done:
            # Bytes on a connection with no request waiting (idle in the pool, or after the response it owed): Go's
            # transport closes such a connection ("unsolicited response received on idle HTTP channel").
            raise UpstreamProtocolError("unsolicited response from backend")

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._in_body:
            return  # a trailer: dropped, as Traefik does not forward trailers it did not announce
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._status_code()
        if 100 <= status < 200 and status != 101:
            # Interim response (100 Continue, 103 Early Hints): the final head follows on the same connection,
            # and the response-header timeout keeps running until it does (as Go's transport). Interim heads are
            # no progress: their bytes count toward the head bound with the final head's.
            self._headers = []
            self._interim += 1
            if self._interim > self.max_interim_responses:
                raise UpstreamProtocolError("too many 1xx informational responses")
            return
        self._progress = True
        self._header_deadline = 0.0  # the head is here; the connection's timer finds no deadline and lapses
        self._has_date = False
        self._resp_is_chunked = False
        headers = self._filter_headers(status)
        if not self._should_keep_alive():
            self._keep_alive = False
        response = Response(status, Headers(headers))
        response.has_date = self._has_date
        self._response = response
        if status == 101:
            return  # _on_upgrade completes the future
        no_body = self._head_only or status in _NO_BODY_STATUS
        body = StreamBody(self, None if no_body else self._content_length)
        if no_body:
            body.length = self._content_length if self._head_only else None
        response.body = body
        self._resp_body = body
        self._in_body = True
        future = self._future
        self._future = None
        if future is not None and not future.done():
            future.set_result(response)
        if no_body:
            # llhttp cannot know a HEAD response has no body; restart it for the next exchange.
            if self._head_only:
                self._new_parser()
            self._finish_response()

    def on_body(self, body: bytes) -> None:
        if self._resp_done:
            # Only the parser that read a HEAD response's head gets here (it takes the declared length for a body
            # that never comes): bytes after that head in the same read are unsolicited, as Go's transport finds.
            raise UpstreamProtocolError("unsolicited response from backend")
        self._progress = True
        if self._resp_body is not None:
            self._resp_body.feed(body)

    def on_message_complete(self) -> None:
        if self._in_body and not self._resp_done:
            self._progress = True  # not for an interim response: those count toward the head bound
            self._finish_response()

    # -- internals ---------------------------------------------------------------------------------------------------
    def _filter_headers(self, status: int) -> list[tuple[bytes, bytes]]:
        out: list[tuple[bytes, bytes]] = []
        tokens: set[bytes] | None = None
        upgrade = status == 101
        kinds = _NAME_KINDS
        for pair in self._headers:
            kind = kinds.get(pair[0])
            if kind is None:
                kind = _name_kind(pair[0])
            if kind == _FORWARD:
                out.append(pair)
            elif kind == _LENGTH:
                self._content_length = int(pair[1])  # llhttp already validated it
                out.append(pair)
            elif kind == _DATE:
                self._has_date = True
                out.append(pair)
            elif kind == _CHUNKED:
                self._resp_is_chunked = True
            elif kind == _CONNECTION:
                if pair[1] in _IMPLIED_VALUES:
                    continue  # "Connection: keep-alive" on every response of a keep-alive backend: no set to build
                listed = connection_tokens(pair[1]) - _IMPLIED_TOKENS
                if listed:
                    tokens = listed if tokens is None else tokens | listed
            elif kind == _UPGRADE and upgrade:
                out.append(pair)
        if tokens:
            out = [p for p in out if p[0].lower() not in tokens or (upgrade and p[0].lower() == b"upgrade")]
        return out

    def _finish_response(self) -> None:
        self._resp_done = True
        self._in_body = False
        body = self._resp_body
        self._resp_body = None
        if body is not None:
            body.feed_eof()
        if self._req_done:
            self._release()
        else:
            # The backend answered before reading the whole request body: the connection cannot be reused.
            self._keep_alive = False
            self._release()

    def _release(self) -> None:
        if self._feeding:
            self._release_deferred = True  # see _end_feed
            return
        if self._reading_paused and self.transport is not None and not self.closed:
            self._reading_paused = False
            self.transport.resume_reading()
        on_release = self.on_release
        if on_release is not None and self._keep_alive and self._req_done and not self.closed:
            on_release(self, True)
        else:
            self.close()

    def _report_unusable(self) -> None:
        """Tell the holder, once, that this connection can serve no further exchange."""
        on_release = self.on_release
        if on_release is not None:
            self.on_release = None
            on_release(self, False)

    def _fail(self, exc: Exception) -> None:
        self._cancel_header_timer()
        self._body_left = 0
        future = self._future
        self._future = None
        self._resp_done = True
        if future is not None and not future.done():
            future.set_exception(exc)
        body = self._resp_body
        self._resp_body = None
        if body is not None:
            body.feed_error(BodyError(str(exc)))
        self._keep_alive = False
        self.close()

    def _check_header(self) -> None:
        """The connection's header timer: fail a head that is late, wait on for a later deadline, else lapse."""
        self._header_timer = None
        deadline = self._header_deadline
        if not deadline:
            return
        # Within a millisecond counts as passed: timers are kept in milliseconds and may fire that much early.
        if self._loop.time() + 0.001 >= deadline:
            self._header_deadline = 0.0
            self._fail(UpstreamTimeout("timeout awaiting response headers"))
        else:
            self._header_timer = self._loop.call_at(deadline, self._check_header)

    def _cancel_header_timer(self) -> None:
        self._header_deadline = 0.0
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _on_upgrade(self, rest: bytes) -> None:
        response = self._response
        if response is None or response.status != 101:
            self._fail(UpstreamProtocolError("unexpected upgrade from backend"))
            return
        self._upgraded = True
        self._resp_done = True
        self._report_unusable()  # the socket now belongs to the tunnel
        response.body = b""
        response.tunnel = _PendingTunnel(self, rest)
        future = self._future
        self._future = None
        if future is not None and not future.done():
            future.set_result(response)


class _PendingTunnel:
    """Upstream bytes that arrive after a 101 and before the downstream attaches its tunnel end."""

    __slots__ = ("buffer", "closed", "conn", "peer")

    def __init__(self, conn: UpstreamConnection, rest: bytes) -> None:
        self.conn = conn
        self.buffer: list[bytes] = [rest] if rest else []
        self.closed = False
        self.peer: asyncio.Transport | None = None

    def attach(self, downstream: asyncio.Transport) -> None:
        """Join the two sockets: everything from now on is copied byte for byte."""
        self.peer = downstream
        for chunk in self.buffer:
            downstream.write(chunk)
        self.buffer.clear()
        if self.closed:
            downstream.close()

    def from_upstream(self, data: bytes) -> None:
        """Bytes from the backend side of the tunnel."""
        if self.peer is not None:
            self.peer.write(data)
        else:
            self.buffer.append(data)

    def to_upstream(self, data: bytes) -> None:
        """Bytes from the client side of the tunnel."""
        transport = self.conn.transport
        if transport is not None and not self.conn.closed:
            transport.write(data)

    def upstream_closed(self) -> None:
        """The backend closed its side: close the client side too."""
        self.closed = True
        if self.peer is not None:
            self.peer.close()

    def downstream_closed(self) -> None:
        """The client closed its side: close the backend side too."""
        self.conn.close()
