"""The downstream HTTP/1.1 protocol: httptools callbacks on a raw ``asyncio.Protocol`` (the hot path).

Invariants:

1. Responses go out in request order. One request is handled at a time; pipelined requests wait in ``_queue`` and
   reading pauses while any wait, so memory stays bounded.
2. Nothing ambiguous is forwarded. llhttp runs strict: CL+TE together, duplicate Content-Length, bad chunk sizes,
   obsolete line folding and bad tokens are all a 400 followed by close. A request head over ``maxHeaderBytes`` is a
   431, a request-target over it a 414, a ``Transfer-Encoding`` other than ``chunked`` a 501.
3. After an error answer, or when a request body was not read to its end, the connection closes: the next bytes on
   it cannot be trusted to start a request.
4. Flow control crosses the legs: a full client socket pauses the upstream reader (through the response body), a
   full upstream socket pauses this reader (through the request body).
5. Timeouts are deadlines checked by the entrypoint's ticker, so there is no timer per request.
6. The request head is final once it is complete. Chunked-body trailers (which httptools reports through
   ``on_header``) are counted against ``maxHeaderBytes`` and dropped: no router, middleware, trust check or backend
   ever sees them as header fields.
7. Bytes that make no parsing progress (an unterminated header line, trailers, chunk extensions) are bounded too:
   httptools buffers a field until its line ends, so more than ``maxHeaderBytes`` + 4 KiB of them is a 431.
8. Only HTTP/1.0 and HTTP/1.1 are served (a request line without a version is a 400, ``HTTP/2.0`` a 505, as Go), and
   a ``Host`` that Go's ``httpguts.ValidHostHeader`` rejects is a 400, never routed or forwarded. The one exception is
   the HTTP/2 prior-knowledge preface as a connection's first bytes: llhttp pauses on it and the connection is
   handed to the HTTP/2 protocol (``_prior_knowledge``), at no cost to any other read.

This module is HTTP/1.1 framing only: parsing callbacks, pipelining, flow control and writing. What a request goes
through between its head and its response (Host and path checks, forwarded headers, routing, error answers, the
observer) is ``http.pipeline``, shared with every other protocol and with ``ingress explain``.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from time import perf_counter
from typing import TYPE_CHECKING, Any, Final

import httptools

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.connection import PauseReason
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.http.pipeline import RequestRejected, build_request, discard_response, handle_request, report
from hanzo_edge.http.status import DATE, status_line, status_text
from hanzo_edge.http.tls_info import TLSInfo, tls_info_of

if TYPE_CHECKING:
    from hanzo_edge.http.settings import ConnectionContext, EntrypointSettings

__all__ = ["HttpProtocol", "RequestRejected"]

log = logging.getLogger("hanzo_edge.http")

_SPECIAL = {
    b"host": 1,
    b"transfer-encoding": 2,
    b"expect": 3,
    b"upgrade": 4,
    b"content-length": 5,
    b"connection": 6,
}
_PREFIXED: Final = 7  # an X-/X_ field: a managed X-Forwarded-* one when the entrypoint's set has it
_HEAD_KINDS: Final[dict[bytes, int]] = {}
"""Raw request field name → its ``_SPECIAL`` kind, ``_PREFIXED`` or 0: one dict probe per field, no lower-case copy.
Names come from clients: bounded, cleared when full."""


def _head_kind(name: bytes) -> int:
    lname = name.lower()
    kind = _SPECIAL.get(lname)
    if kind is None:
        kind = _PREFIXED if lname[:2] in (b"x-", b"x_") else 0
    if len(_HEAD_KINDS) >= 4096:
        _HEAD_KINDS.clear()
    _HEAD_KINDS[name] = kind
    return kind


_NO_BODY_STATUS: Final = frozenset({204, 304})
_FUTURE: Final = asyncio.Future  # a native constant in the compiled build, not a module attribute read per request
_LINES: Final[dict[int, bytes]] = {}  # HTTP/1.1 status lines with the standard reason, without a call into http.status
_FRAMING: Final = frozenset({b"content-length", b"transfer-encoding"})
_FRAMING_LENGTHS: Final = frozenset(len(n) for n in _FRAMING)
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# Body bytes from which writing them as they are (writev) beats copying them into one buffer.
_JOIN_LIMIT: Final = 16 * 1024
_STALL_SLACK = 4096  # Go reads a request head up to maxHeaderBytes + 4096 bytes before answering 431
_METHOD_ROOM = 32  # carried request-line bytes beyond the URL: a preceding LF, the method, SP and CRLF
# Pause reasons as plain ints: IntFlag arithmetic allocates a flag object per operation.
_BODY_CONSUMER = PauseReason.BODY_CONSUMER.value
_PIPELINE = PauseReason.PIPELINE.value
_EXPECT_CONTINUE = PauseReason.EXPECT_CONTINUE.value
_UPGRADE = PauseReason.UPGRADE.value


def _error_bytes(status: int) -> bytes:
    # Go's net/http answers unparseable requests like this, and closes.
    text = f"{status} {status_text(status)}".encode("latin-1")
    return (
        status_line(status, None, False)
        + b"Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(text)
        + text
    )


def _framed(head: bytes, chunks: list[bytes], chunked: bool) -> list[bytes]:
    """Return ``head`` and ``chunks`` as buffers for one ``writelines``, each chunk framed when ``chunked``."""
    if not chunked:
        return [head, *chunks]
    out = [head]
    for chunk in chunks:
        out += (b"%x\r\n" % len(chunk), chunk, b"\r\n")
    return out


class HttpProtocol(asyncio.Protocol):
    """One client connection on one entrypoint."""

    def __init__(self, ctx: ConnectionContext) -> None:
        self.ctx = ctx
        self.loop = ctx.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        # Bound once per connection: each per-request call then skips the method lookup on a non-native object.
        self._time: Callable[[], float] = ctx.loop.time
        self._http_version: Callable[[], str] = self.parser.get_http_version
        self._method: Callable[[], bytes] = self.parser.get_method
        self._should_keep_alive: Callable[[], bool] = self.parser.should_keep_alive
        self._use_settings(ctx.settings)
        self.client_ip = ""
        self.client_ip_bytes = b""
        self.client_port = 0
        self.tls_info: TLSInfo | None = None  # read once from the TLS connection, shared by its requests
        self.requests = 0
        self.opened_at = 0.0
        self.closing = False
        self._peer_eof = False  # the client half-closed (eof_received): answer what it asked for, then close
        # parse state of the request being read
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0
        self._host: bytes | None = None
        self._host_count = 0
        self._managed = False
        self._expect = False
        self._upgrade = False
        self._chunked = False
        self._content_length: int | None = None
        self._upgrade_rest = b""
        self._parser_stopped = False
        self._reading_body: StreamBody | None = None
        self._head_open = False  # between on_message_begin and on_headers_complete: on_header is a head field
        self._trailer_bytes = 0
        # Bytes fed since the parser last made progress (head complete, body bytes, message complete), and the
        # request-line bytes kept while a head spans packets (to spot an HTTP/0.9 line that llhttp holds back).
        self._progress = False
        self._stalled = 0
        self._line_carry: bytes | None = None
        self._carry_whole = False
        # pipeline and handling state
        self._queue: deque[Request | int] = deque()  # an int is a deferred error answer (status)
        self._failed = False
        self._response_started = False
        self._conn_header = False
        self._active: Request | None = None
        self._task: asyncio.Task[None] | None = None
        # The eager start (see _start): a request started while the parser ran waits in _eager for the end of that
        # read; its coroutine, driven without a Task, waits in _coro on the future _waiting.
        self._eager: Request | None = None
        self._coro: Coroutine[Any, None, None] | None = None
        self._waiting: asyncio.Future[Any] | None = None
        self._must_cancel = False
        self._resume_cb = self._resume  # bound once: one callback object per connection, not per request
        self._context = contextvars.copy_context()
        self._resp_body: StreamBody | None = None
        self._resp_chunked = False
        self._resp_keep_alive = True
        self._head_request = False
        self._resp_status = 0
        self._resp_bytes = 0
        # flow control: why the socket is not read (PauseReason values, or-ed)
        self._pause_reasons = 0
        self._expect_pending: Request | None = None
        # deadlines (loop.time() based; 0 = none)
        self.read_deadline = 0.0
        self.idle_deadline = 0.0
        self.write_deadline = 0.0
        self._tunnel: Any = None

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
            # The TLS stage's context names the TLS options the handshake used (421 when a request needs others).
            made_with = getattr(getattr(ssl_object, "context", None), "tls_options_name", "default")
            self._use_settings(self.ctx.secure_settings(made_with))
        now = self._time()
        self.opened_at = now
        settings = self.settings
        if settings.read_timeout > 0:
            self.read_deadline = now + settings.read_timeout
        self.ctx.connection_opened(self)

    def _use_settings(self, settings: EntrypointSettings) -> None:
        """Serve with ``settings``; the limits read on every request are copied into native attributes."""
        self.settings = settings
        self._max_header_bytes = settings.max_header_bytes
        self._read_timeout = settings.read_timeout
        self._write_timeout = settings.write_timeout
        self._idle_timeout = settings.idle_timeout
        self._max_requests = settings.keep_alive_max_requests
        self._max_time = settings.keep_alive_max_time
        self._managed_headers = settings.managed_headers

    def data_received(self, data: bytes) -> None:
        if self._tunnel is not None:
            self._tunnel.to_upstream(data)
            return
        if self._failed:
            return  # the parser is in an error state; the connection closes once earlier answers are out
        self._progress = False
        self._feed(data)
        eager = self._eager
        if eager is not None:
            self._eager = None
            self._step(handle_request(self, eager, True), None)

    def _feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            offset = exc.args[0] if exc.args and isinstance(exc.args[0], int) else len(data)
            self._on_parser_upgrade(data[offset:])
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, RequestRejected):
                self._reject(cause.status)
            else:
                log.exception("request callback failed", exc_info=cause)
                self._reject(500)
        except httptools.HttpParserInvalidURLError:
            self._reject(400)
        except httptools.HttpParserError as exc:
            if str(exc) == "Pause on PRI/Upgrade" and self._prior_knowledge(data):
                return  # the connection is HTTP/2 now (h2c by prior knowledge)
            # Go answers 501 to a Transfer-Encoding it does not implement; llhttp reports those as parse errors.
            self._reject(501 if "Invalid `Transfer-Encoding`" in str(exc) else 400)
        else:
            if self._progress:
                self._stalled = 0
                if self._head_open:
                    self._check_partial_head(data)  # a pipelined request's head continues in a later packet
            else:
                self._no_progress(data)

    def _prior_knowledge(self, data: bytes) -> bool:
        """Hand a plain connection that opened with the HTTP/2 preface to the HTTP/2 protocol (h2c, RFC 9113 §3.3).

        llhttp checks the whole 24-byte preface and pauses right after it, so this costs nothing per read: only a
        connection whose very first bytes are the preface gets here. The reads before this one made no parsing
        progress, so ``_stalled`` counts them, which locates the preface's end in ``data``.
        """
        from hanzo_edge.http.h2 import PREFACE

        transport = self.transport
        consumed = len(PREFACE) - self._stalled
        # Go's server lets "PRI * HTTP/2.0" through to Traefik's h2c handler on any connection, TLS without ALPN h2
        # included; only the first request of a connection can be the preface.
        if transport is None or self.requests or self._active is not None:
            return False
        if self.parser.get_http_version() != "2.0":
            return False  # llhttp pauses on any "PRI * HTTP/x.y" line; only the HTTP/2 preface is one (a 400)
        if not 0 <= consumed <= len(data):
            return False
        # llhttp pauses on "PRI <any target> HTTP/2.0" too, and after leading empty lines: only the exact preface
        # bytes may end here, else HTTP/2 would start reading frames at the wrong offset (a 400, as Go answers).
        if self._url != b"*" or data[:consumed] != PREFACE[len(PREFACE) - consumed :]:
            return False
        from hanzo_edge.http.h2.server import H2Protocol  # h2 is loaded by the first HTTP/2 connection only

        self._failed = True  # this protocol reads nothing more
        self.read_deadline = self.idle_deadline = 0.0
        self.ctx.connection_closed(self)
        protocol = H2Protocol(self.ctx)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        protocol.data_received(PREFACE + data[consumed:])
        return True

    def _no_progress(self, data: bytes) -> None:
        """Bound the bytes that made no parsing progress (Go's head read limit); check a partial head."""
        stalled = self._stalled + len(data)
        self._stalled = stalled
        if stalled > self.settings.max_header_bytes + _STALL_SLACK:
            self._reject(431)
        elif self._head_open:
            self._check_partial_head(data)

    def _check_partial_head(self, data: bytes) -> None:
        if self._http09_line(data):
            self._reject(400)

    def _http09_line(self, data: bytes) -> bool:
        """Return True when the head read so far is a request line without a version (HTTP/0.9's ``GET /a``).

        llhttp accepts such a line but reports it only once one more byte arrives, so a client that sends just the
        line would hold the connection until ``readTimeout``; Go answers 400 at once. Only called while a head spans
        packets: the last request-line-sized bytes are carried over to see a line split across packets.
        """
        parser = self.parser
        if parser.get_http_version() == "0.9":
            return True  # llhttp already took the line as HTTP/0.9 and reads its headers
        carry = self._line_carry
        tail = data if carry is None else carry + data
        whole = carry is None or self._carry_whole  # does tail start at a packet that began this message?
        found = False
        if self._url and tail.endswith(b"\n"):
            line = parser.get_method() + b" " + self._url
            end = len(tail) - (2 if tail.endswith(b"\r\n") else 1)
            start = end - len(line)
            # The line must start the message: at a line start, or at the start of the bytes of this message.
            found = (
                start >= 0 and tail[start:end] == line and ((start == 0 and whole) or tail[start - 1 : start] == b"\n")
            )
        keep = len(self._url) + _METHOD_ROOM
        self._carry_whole = whole and len(tail) <= keep
        self._line_carry = tail[-keep:]
        return found

    def eof_received(self) -> bool | None:
        if self._tunnel is not None:
            # Go's ReverseProxy ends a tunnel when either side closes: close the backend side too.
            self._tunnel.downstream_closed()
            return None
        body = self._reading_body
        if body is not None:
            self._reading_body = None
            body.feed_error(ConnectionResetError("client closed before the end of the body"))
        if self._active is None and not self._queue:
            return None  # close now
        # Half-closed client: finish the responses it already asked for (queued ones too), then close. The socket
        # still writes: ``closing`` (which drops writes) would cut the answer short and leave the connection open.
        self._peer_eof = True
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.ctx.connection_closed(self)
        body = self._reading_body
        if body is not None:
            self._reading_body = None
            body.feed_error(ConnectionResetError("client disconnected"))
        if self._tunnel is not None:
            self._tunnel.downstream_closed()
            self._tunnel = None
        resp_body = self._resp_body
        if resp_body is not None:
            self._resp_body = None
            resp_body.feed_error(ConnectionResetError("client disconnected"))
            resp_body.discard()  # the upstream connection cannot finish its message for anyone: it closes
        self._cancel()
        self._queue.clear()

    def pause_writing(self) -> None:
        if self._resp_body is not None:
            self._resp_body.pause()
        elif self._tunnel is not None:
            self._tunnel.conn.pause_reading()

    def resume_writing(self) -> None:
        if self._resp_body is not None:
            self._resp_body.resume()
        elif self._tunnel is not None:
            self._tunnel.conn.resume_reading()

    # -- the request body's source (BodySource) -----------------------------------------------------------------------
    def close(self) -> None:
        """The request body's consumer gave the rest up (``StreamBody.discard``); the client connection stays open.

        The rest is drained as it arrives, and ``send_response`` ends keep-alive when the body is not complete by
        then: closing now would cut the response the handler is about to send (Go's server, too, answers first and
        closes after). Before ``BodySource.close`` existed nothing could close this connection through its body.
        """

    def pause_reading(self) -> None:
        """Pause the client socket because the request body's consumer is behind."""
        self._set_paused(_BODY_CONSUMER, True)

    def resume_reading(self) -> None:
        """Resume the client socket (sends ``100 Continue`` first when the client is waiting for it)."""
        pending = self._expect_pending
        transport = self.transport
        if transport is None or self.closing or self._peer_eof or transport.is_closing():
            self._expect_pending = None
            return
        if pending is not None and pending is self._active:
            self._expect_pending = None
            transport.write(_CONTINUE)
            self._set_paused(_EXPECT_CONTINUE, False)
        self._set_paused(_BODY_CONSUMER, False)

    @property
    def pause_reasons(self) -> PauseReason:
        """Why reading is paused now (empty when it is not)."""
        return PauseReason(self._pause_reasons)

    def _set_paused(self, reason: int, on: bool) -> None:
        before = self._pause_reasons
        after = before | reason if on else before & ~reason
        self._pause_reasons = after
        transport = self.transport
        if transport is None or self.closing or self._peer_eof:
            return  # nothing more to read
        if before == 0 and after != 0:
            transport.pause_reading()
        elif before != 0 and after == 0:
            transport.resume_reading()

    # -- parser callbacks --------------------------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._head_open = True
        self._line_carry = None
        self._trailer_bytes = 0
        self._url = b""
        self._headers = []
        self._head_bytes = 0
        self._host = None
        self._host_count = 0
        self._managed = False
        self._expect = False
        self._upgrade = False
        self._chunked = False
        self._conn_header = False
        self._content_length = None
        self.idle_deadline = 0.0
        if self.read_deadline == 0.0 and self._read_timeout > 0:
            self.read_deadline = self._time() + self._read_timeout

    def on_url(self, url: bytes) -> None:
        url = self._url + url if self._url else url
        if len(url) > self._max_header_bytes:
            raise RequestRejected(414)
        self._url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._head_open:
            self._on_trailer(name, value)
            return
        size = self._head_bytes + len(name) + len(value) + 4
        if size + len(self._url) > self._max_header_bytes:
            raise RequestRejected(431)
        self._head_bytes = size
        self._headers.append((name, value))
        kind = _HEAD_KINDS.get(name)
        if kind is None:
            kind = _head_kind(name)
        if kind == 0:
            return
        if kind == _PREFIXED:
            if name.lower() in self._managed_headers:
                self._managed = True
            return
        if kind == 1:
            self._host = value
            self._host_count += 1
        elif kind == 2:
            # Go answers 501 to any Transfer-Encoding but a single "chunked" (checked before llhttp judges it).
            if self._chunked or value.strip().lower() != b"chunked":
                raise RequestRejected(501)
            self._chunked = True
        elif kind == 3:
            if value.lower() == b"100-continue":
                self._expect = True
        elif kind == 4:
            self._upgrade = True
        elif kind == 6:
            self._conn_header = True
        else:
            try:
                self._content_length = int(value)
            except ValueError:
                raise RequestRejected(400, "invalid Content-Length") from None

    def _on_trailer(self, name: bytes, value: bytes) -> None:
        # A chunked body's trailer field. Go keeps trailers apart from the head (req.Trailer); we forward none, so
        # dropping them is all that is left to do, after counting them against the same bound as the head.
        size = self._trailer_bytes + len(name) + len(value) + 4
        if size > self.settings.max_header_bytes:
            raise RequestRejected(431)
        self._trailer_bytes = size

    def on_headers_complete(self) -> None:
        self._head_open = False
        self._progress = True
        version = self._http_version()
        if version != "1.1" and version != "1.0":
            # Go: a request line without a version is malformed (400); any HTTP/0.x or 2+ version is a 505.
            raise RequestRejected(400 if version == "0.9" else 505)
        req = build_request(  # rejects a missing or repeated Host too
            self.settings,
            self._method().decode("latin-1"),
            version,
            self._url.decode("latin-1"),
            self._headers,
            self._host,
            self._host_count,
            self._managed,
            self._conn_header,
            self._upgrade,
            self.client_ip,
            self.client_ip_bytes,
            self.client_port,
        )
        req.tls_info = self.tls_info
        self.requests += 1
        keep_alive = self._should_keep_alive() and not self.ctx.draining
        if self._max_requests and self.requests >= self._max_requests:
            keep_alive = False
        if self._max_time and self._time() - self.opened_at >= self._max_time:
            keep_alive = False
        req.keep_alive = keep_alive
        # A body exists when the request is chunked or declares a non-zero length.
        clen = self._content_length
        if (clen is not None and clen > 0) or (self._chunked and clen is None):
            body = StreamBody(self, clen)
            req.body = body
            self._reading_body = body
            if self._expect:
                # Hold the body until someone reads it; then send 100 Continue (Go's expectContinueReader).
                self._expect_pending = req
                body._paused = True
                self._set_paused(_EXPECT_CONTINUE, True)
        if self._active is None:
            self._start(req, True)
        else:
            self._queue.append(req)
            self._set_paused(_PIPELINE, True)

    def on_body(self, body: bytes) -> None:
        self._progress = True
        stream = self._reading_body
        if stream is not None:
            stream.feed(body)

    def on_message_complete(self) -> None:
        self._progress = True
        self.read_deadline = 0.0
        body = self._reading_body
        if body is not None:
            self._reading_body = None
            pending = self._expect_pending
            if pending is not None and pending.body is body:
                # "Expect: 100-continue" and the whole body anyway: nothing is held back any more (RFC 9110 §10.1.1
                # lets the 100 be omitted), and a consumer that finds the body complete never resumes reading, which
                # left the connection paused for its next request.
                self._expect_pending = None
                body._paused = False
                self._set_paused(_EXPECT_CONTINUE, False)
            body.feed_eof()

    # -- handling ----------------------------------------------------------------------------------------------------
    def _start(self, req: Request, eager: bool = False) -> None:
        """Start handling ``req``. ``eager`` (a request read now, no earlier one in progress): its coroutine runs
        as soon as this read is parsed (so the body bytes that came with the head are buffered and go upstream with
        it) and without a Task (:meth:`_step`), as Python 3.12's eager tasks run, unless its route needs one. A
        queued request starts in a Task on the next loop step, once the previous exchange released its upstream
        connection for it."""
        self._active = req
        self._response_started = False
        self._resp_status = 0
        self._resp_bytes = 0
        req.started = perf_counter()
        if self._write_timeout > 0:
            self.write_deadline = self._time() + self._write_timeout
        if eager:
            self._eager = req
        else:
            self._task = self.loop.create_task(handle_request(self, req))

    def _step(self, coro: Coroutine[Any, None, None], exc: BaseException | None) -> None:
        """Run the eagerly started request's coroutine up to its next suspension (a Task's step, without the Task).

        A future it awaits resumes it from its done callback; a bare yield (``handle_request`` found a route that
        needs a Task) or anything else hands the rest to a Task, which resumes it at once (a pending future yielded
        again, since its blocking flag is reset as a Task resets it).
        """
        try:
            yielded = coro.send(None) if exc is None else coro.throw(exc)
        except StopIteration:
            return
        except asyncio.CancelledError:
            return  # cancelled (connection lost) outside the handler's own handling, as a cancelled Task ends
        except Exception:
            log.exception("request handling failed")
            return
        if isinstance(yielded, _FUTURE):
            self._coro = coro
            self._waiting = yielded
            yielded.add_done_callback(self._resume_cb, context=self._context)
            return
        self._task = self.loop.create_task(coro)

    def _resume(self, future: asyncio.Future[Any]) -> None:
        coro = self._coro
        if coro is None or future is not self._waiting:
            return
        self._coro = None
        self._waiting = None
        if self._must_cancel:
            self._must_cancel = False
            self._step(coro, asyncio.CancelledError())
        else:
            self._step(coro, None)  # the awaited future hands the coroutine its result (or raises its exception)

    def _cancel(self) -> None:
        """Cancel the request in progress (Task or eager coroutine), as ``Task.cancel`` does."""
        self._eager = None  # not started yet: it never will be
        task = self._task
        if task is not None and not task.done():
            task.cancel()
        if self._coro is not None:
            waiting = self._waiting
            if waiting is None or not waiting.cancel():
                self._must_cancel = True  # its future is done already: it resumes with CancelledError instead

    def send_response(self, req: Request, response: Response) -> None:
        """Write the response head (and what of the body is already here); relay the rest as it arrives."""
        transport = self.transport
        if transport is None or transport.is_closing():
            discard_response(response)
            return
        status = response.status
        keep_alive = req.keep_alive and not self.ctx.draining and not (self._peer_eof and not self._queue)
        request_body = req.body
        if isinstance(request_body, StreamBody) and not request_body.at_eof:
            keep_alive = False  # the rest of the body would be read as a new request
        if req.upgrade or self._parser_stopped:
            if req.upgrade and response.tunnel is not None and status == 101:
                self._open_tunnel(req, response)
                return
            # The parser stopped at an upgrade or CONNECT; the connection cannot carry another request.
            keep_alive = False
        self._response_started = True
        self._resp_status = status
        http10 = req.version == "1.0"
        line = None if http10 or response.reason is not None else _LINES.get(status)
        if line is None:
            line = status_line(status, response.reason, http10)
            if not http10 and response.reason is None:
                _LINES[status] = line  # statuses are three digits: at most 900 entries
        parts = [line]
        raw = response.headers.raw
        body = response.body
        for name, value in raw:
            # Framing headers are re-derived from the body below, so a handler cannot send two.
            if len(name) in _FRAMING_LENGTHS and name.lower() in _FRAMING:
                continue
            parts += (name, b": ", value, b"\r\n")
        if not response.has_date and not any(len(n) == 4 and n.lower() == b"date" for n, _ in raw):
            parts.append(DATE.line())
        head_only = req.method == "HEAD" or status in _NO_BODY_STATUS or status < 200
        chunked = False
        payload = b""
        large: list[bytes] | None = None
        if isinstance(body, bytes):
            if status >= 200 and status not in _NO_BODY_STATUS:
                parts.append(b"Content-Length: %d\r\n" % len(body))
            if not head_only:
                payload = body
        elif body.length is not None:
            if status >= 200 and status not in _NO_BODY_STATUS:
                parts.append(b"Content-Length: %d\r\n" % body.length)
        elif not head_only:
            if not http10:
                parts.append(b"Transfer-Encoding: chunked\r\n")
                chunked = True
            else:
                keep_alive = False  # HTTP/1.0: the body ends when the connection closes
        if not keep_alive:
            parts.append(b"Connection: close\r\n")
        elif http10:
            parts.append(b"Connection: keep-alive\r\n")
        parts.append(b"\r\n")
        if payload:
            parts.append(payload)
            self._resp_bytes = len(payload)
        elif not head_only and isinstance(body, StreamBody):
            # Usually the whole (small) upstream body arrived with its head: send head and body in one write.
            buffered = body.take_buffered()
            size = 0
            for chunk in buffered:
                size += len(chunk)
            self._resp_bytes += size
            if size < _JOIN_LIMIT:
                for chunk in buffered:
                    parts.append(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
            else:
                large = buffered
        if large is None:
            transport.write(b"".join(parts))
        else:
            # Large reads (uvloop's are 256,000 bytes each) go to the transport as they are, in one writev: no copy
            # of the body into a joined buffer (and no fresh pages for one).
            transport.writelines(_framed(b"".join(parts), large, chunked))
        self._resp_keep_alive = keep_alive
        if isinstance(body, StreamBody):
            if head_only:
                # Nothing to relay; let the upstream finish (its body is empty) and move on.
                if not body.at_eof:
                    body.drain()
                self._response_done()
                return
            self._resp_chunked = chunked
            self._resp_body = body
            self._head_request = False
            body.pump(self)
            return
        self._response_done()

    # -- response body sink (BodySink) ---------------------------------------------------------------------------------
    def write(self, chunk: bytes) -> None:
        """Relay one chunk of the response body to the client."""
        transport = self.transport
        if transport is None or self.closing:
            return
        size = len(chunk)
        self._resp_bytes += size
        if not self._resp_chunked:
            transport.write(chunk)
        elif size < _JOIN_LIMIT:
            transport.write(b"%x\r\n%b\r\n" % (size, chunk))
        else:
            transport.writelines((b"%x\r\n" % size, chunk, b"\r\n"))  # no copy of a large chunk for its framing

    def write_eof(self) -> None:
        """The response body is complete."""
        self._resp_body = None
        if self._resp_chunked and self.transport is not None and not self.closing:
            self.transport.write(b"0\r\n\r\n")
        self._response_done()

    def abort(self, exc: BaseException) -> None:
        """The upstream failed mid-body: the client can only learn it from a closed connection."""
        self._resp_body = None
        if self._active is not None:
            self.observe(self._active, self._resp_status, True)
        self._resp_keep_alive = False
        if self.transport is not None:
            self.transport.close()

    # -- between requests --------------------------------------------------------------------------------------------
    def _response_done(self) -> None:
        active = self._active
        observer = self.ctx.observer
        if active is not None and observer is not None:
            report(observer, active, self._resp_status, self._resp_bytes, False)
        self._active = None
        self._task = None
        self.write_deadline = 0.0
        transport = self.transport
        if transport is None or self.closing:
            return
        if not self._resp_keep_alive or self.ctx.draining:
            transport.close()
            return
        if self._queue:
            nxt = self._queue.popleft()
            if isinstance(nxt, int):
                self.closing = True
                transport.write(_error_bytes(nxt))
                transport.close()
                return
            if not self._queue:
                self._set_paused(_PIPELINE, False)
            self._start(nxt)
            return
        if self._peer_eof:
            transport.close()  # the half-closed client got every answer it asked for
            return
        if self._reading_body is None and self._idle_timeout > 0:
            self.idle_deadline = self._time() + self._idle_timeout

    def observe(self, req: Request, status: int, aborted: bool) -> None:
        """Report ``req`` to the entrypoint observer with the response bytes written so far."""
        observer = self.ctx.observer
        if observer is not None:
            report(observer, req, status, self._resp_bytes, aborted)

    def _reject(self, status: int) -> None:
        """Answer an unparseable request with ``status`` and close, keeping earlier answers in order."""
        transport = self.transport
        self._failed = True
        if transport is None or transport.is_closing():
            return
        body = self._reading_body
        self._reading_body = None
        active = self._active
        if active is None:
            self.closing = True
            transport.write(_error_bytes(status))
            transport.close()
            return
        if body is not None and body is active.body:
            # The request being handled is itself broken (e.g. a bad chunk size in its body).
            body.feed_error(ValueError("malformed request body"))
            if not self._response_started:
                self.closing = True
                self._cancel()
                transport.write(_error_bytes(status))
                transport.close()
            else:
                self._resp_keep_alive = False
                transport.close()
            return
        # A later pipelined request is broken: answer the earlier ones first, then this error, then close.
        if body is not None and self._queue and self._queue[-1] is not None:
            last = self._queue[-1]
            if isinstance(last, Request) and last.body is body:
                self._queue.pop()
                body.feed_error(ValueError("malformed request body"))
        self._queue.append(status)
        self._set_paused(_PIPELINE, True)

    def check_deadlines(self, now: float) -> None:
        """Close the connection if a read, write or idle deadline passed (called by the entrypoint ticker)."""
        if self.read_deadline and now >= self.read_deadline:
            if self._active is None or self._reading_body is not None:
                self.close_now()
                return
            self.read_deadline = 0.0
        if self.idle_deadline and now >= self.idle_deadline and self._active is None:
            self.close_now()
            return
        if self.write_deadline and now >= self.write_deadline and self._active is not None:
            self.close_now()

    def close_if_idle(self) -> bool:
        """Close now when no request is in progress (graceful shutdown). Returns True if it closed."""
        if self._active is None and self._reading_body is None and not self._queue:
            self.close_now()
            return True
        return False

    def close_now(self) -> None:
        """Close the connection at once (shutdown, a passed deadline)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    # -- upgrades ------------------------------------------------------------------------------------------------------
    def _on_parser_upgrade(self, rest: bytes) -> None:
        # httptools stops at the end of an Upgrade request's head; the bytes after it belong to the new protocol.
        # Hold them (and further reads) until the backend accepts the upgrade with a 101.
        self._set_paused(_UPGRADE, True)
        self._parser_stopped = True
        self._upgrade_rest = rest

    def _open_tunnel(self, req: Request, response: Response) -> None:
        transport = self.transport
        tunnel = response.tunnel
        if transport is None or tunnel is None:
            return
        parts = [status_line(101, response.reason)]
        for name, value in response.headers.raw:
            parts.append(name + b": " + value + b"\r\n")
        parts.append(b"Connection: Upgrade\r\n\r\n")
        transport.write(b"".join(parts))
        self._tunnel = tunnel
        self.read_deadline = self.idle_deadline = self.write_deadline = 0.0
        tunnel.attach(transport)
        rest = self._upgrade_rest
        if rest:
            tunnel.to_upstream(rest)
        self._upgrade_rest = b""
        self._set_paused(_UPGRADE | _BODY_CONSUMER | _PIPELINE | _EXPECT_CONTINUE, False)
