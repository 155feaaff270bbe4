"""Streaming message bodies with flow control across the two legs of a proxied exchange.

A :class:`StreamBody` is fed by a *source* (a downstream or upstream protocol) and drained by exactly one consumer,
in one of two modes:

* **push** (the hot path): :meth:`StreamBody.pump` hands every chunk straight to a :class:`BodySink`, which writes it
  to the other leg's transport. When that transport's buffer fills, the sink calls :meth:`StreamBody.pause`, which
  pauses reading on the source; :meth:`StreamBody.resume` undoes it. No task, no queue, no await per chunk.
* **pull**: ``async for chunk in body`` or :meth:`StreamBody.read` for middlewares that inspect or buffer bodies.
  The source is paused while more than ``high_water`` bytes wait unread.

Invariants: chunks are delivered in order and at most once; ``length`` is the declared Content-Length (None when the
body is chunked or close-delimited); a body ends with exactly one of EOF or an error.

**Size limit.** Every body carries ``limit`` (no limit by default). The chunk that takes ``received`` past it is not
delivered: the body fails with :class:`BodyTooLarge` and its source is paused for good, so whoever consumes it (the
upstream connection, a middleware reading it) sees a failed body and the protocol that made it answers 413. The
check lives here, not in a protocol's parser callbacks, so every protocol that feeds a request body (HTTP/1 today,
HTTP/2 streams and the gateway face later) is bounded the same way. A request body's limit is set once its route is
known (:meth:`StreamBody.admit`); it costs one integer comparison per chunk.

**Giving up on a body.** :meth:`StreamBody.drain` lets the source finish the message while the bytes go nowhere (a
backend connection stays reusable); :meth:`StreamBody.discard` gives the rest up and closes a source that is still
sending (:meth:`BodySource.close`). Nothing outside this module touches a body's source: whoever abandons a body says
so to the body.

**Continuing a body as another.** A middleware that read the first bytes of a body (to sniff, to peek, to buffer a
bounded prefix) or that wraps a body hands on a new one through :class:`BodyRelay`: the new body starts with those
bytes and then streams the rest of the original, and its flow control and closing act on the original.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Protocol

from mypy_extensions import mypyc_attr

__all__ = [
    "NO_LIMIT",
    "BodyError",
    "BodyRelay",
    "BodySink",
    "BodySource",
    "BodyTooLarge",
    "NullSink",
    "StreamBody",
    "body_bytes",
    "relayed",
]

NO_LIMIT = 1 << 62
"""The ``limit`` of a body without one: larger than any body, so the per-chunk check needs no second test."""


class BodyError(Exception):
    """The body ended abnormally (peer reset, truncated, or parse error). ``args[0]`` says why."""


class BodyTooLarge(BodyError):
    """The body passed its size limit (``limit``); the client is answered 413 Request Entity Too Large."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes")
        self.limit = limit


class BodySource(Protocol):
    """Whatever produces a body's bytes: its reading can be paused and resumed, and given up."""

    def pause_reading(self) -> None:
        """Stop delivering bytes until :meth:`resume_reading`."""

    def resume_reading(self) -> None:
        """Start delivering bytes again."""

    def close(self) -> None:
        """Stop for good: nobody wants the rest of the body (a connection cannot finish its message and closes)."""


class BodySink(Protocol):
    """Receives a pumped body."""

    def write(self, chunk: bytes) -> None:
        """Consume one non-empty chunk."""

    def write_eof(self) -> None:
        """The body is complete."""

    def abort(self, exc: BaseException) -> None:
        """The body failed; the sink must not expect more data."""


# Compiled build: open to interpreted subclasses (inFlightReq's releasing body).
@mypyc_attr(allow_interpreted_subclasses=True)
class StreamBody:
    """A body that arrives over time. See the module docstring for the two consumption modes."""

    __slots__ = (
        "_buffer",
        "_buffered",
        "_eof",
        "_error",
        "_paused",
        "_sink",
        "_source",
        "_waiter",
        "high_water",
        "length",
        "limit",
        "received",
        "trailers",
    )

    def __init__(self, source: BodySource | None, length: int | None = None, high_water: int = 256 * 1024) -> None:
        self._source = source
        # Trailer fields that ended the body (HTTP/2 and gRPC: grpc-status, grpc-message), set by the feeding side
        # before feed_eof(); None when the body had none. HTTP/1.1 never fills it (trailers are dropped there).
        self.trailers: list[tuple[bytes, bytes]] | None = None
        self.length = length
        self.high_water = high_water
        self.received = 0
        self.limit = NO_LIMIT
        self._buffer: deque[bytes] = deque()
        self._buffered = 0
        self._eof = False
        self._error: BaseException | None = None
        self._sink: BodySink | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    # -- feeding side (called by the protocol that reads the bytes) -------------------------------------------------
    def feed(self, chunk: bytes) -> None:
        """Deliver one chunk from the source (unless it takes the body past its ``limit``: then the body fails)."""
        received = self.received + len(chunk)
        self.received = received
        if received > self.limit:
            self._overflow()
            return
        sink = self._sink
        if sink is not None:
            sink.write(chunk)
            return
        self._buffer.append(chunk)
        self._buffered += len(chunk)
        if self._buffered > self.high_water:
            self.pause()
        self._wake()

    def feed_eof(self) -> None:
        """The source delivered the whole body."""
        if self._eof or self._error is not None:
            return
        self._eof = True
        if self._sink is not None:
            self._sink.write_eof()
        else:
            self._wake()

    def feed_error(self, exc: BaseException) -> None:
        """The source failed before the end of the body."""
        if self._eof or self._error is not None:
            return
        self._error = exc
        if self._sink is not None:
            self._sink.abort(exc)
        else:
            self._wake()

    def _overflow(self) -> None:
        if self._eof or self._error is not None:
            return  # already ended: nothing more will be read, and a finished body must not pause its connection
        # The rest of the body will never be used: stop reading the sender (the connection closes after the 413).
        self.pause()
        self.feed_error(BodyTooLarge(self.limit))

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- flow control -------------------------------------------------------------------------------------------------
    def pause(self) -> None:
        """Ask the source to stop reading (called by a sink whose transport is full)."""
        if not self._paused and self._source is not None:
            self._paused = True
            self._source.pause_reading()

    def resume(self) -> None:
        """Ask the source to read again (never once the body passed its limit: nothing more of it is wanted)."""
        if self._paused and self._source is not None and self.received <= self.limit:
            self._paused = False
            self._source.resume_reading()

    # -- size limit ---------------------------------------------------------------------------------------------------
    def admit(self, limit: int) -> bool:
        """Set the body's size limit (``0``: none) and return False when the body already cannot fit in it.

        Called once the request's route is known, before any of the body is consumed: a declared length over the
        limit is refused without reading a byte (and without ``100 Continue``), so the caller answers 413 at once.
        Bytes that arrived before routing are counted too.
        """
        limit = limit if limit > 0 else NO_LIMIT
        self.limit = limit
        length = self.length
        return (length is None or length <= limit) and self.received <= limit

    def tighten(self, limit: int) -> None:
        """Lower the size limit to ``limit`` bytes (positive) if it is higher; fails the body if already past it."""
        if limit < self.limit:
            self.limit = limit
            if self.received > limit:
                self._overflow()

    @property
    def exceeded(self) -> bool:
        """True once more than ``limit`` bytes arrived (the body failed with :class:`BodyTooLarge`)."""
        return self.received > self.limit

    # -- state --------------------------------------------------------------------------------------------------------
    @property
    def at_eof(self) -> bool:
        """True once the whole body arrived (buffered chunks may still be unread)."""
        return self._eof

    @property
    def error(self) -> BaseException | None:
        """The failure that ended the body, if any."""
        return self._error

    @property
    def consumed(self) -> bool:
        """True once a consumer has taken the body (pumped, or read to the end)."""
        return self._sink is not None or (self._eof and not self._buffer)

    # -- push mode ----------------------------------------------------------------------------------------------------
    def take_buffered(self) -> list[bytes]:
        """Remove and return the chunks that arrived before a consumer attached (so they can join one write)."""
        chunks = list(self._buffer)
        self._buffer.clear()
        self._buffered = 0
        return chunks

    def pump(self, sink: BodySink) -> None:
        """Send everything (buffered and future chunks) to ``sink``. Call at most once."""
        self._sink = sink
        while self._buffer:
            chunk = self._buffer.popleft()
            sink.write(chunk)
        self._buffered = 0
        if self._error is not None:
            sink.abort(self._error)
        elif self._eof:
            sink.write_eof()
        else:
            self.resume()

    # -- giving up --------------------------------------------------------------------------------------------------
    def drain(self) -> None:
        """Drop the rest of the body (buffered and future chunks) but let its source finish the message.

        Nothing is closed, so a backend connection goes back to its pool once the body ended. No-op when a consumer
        already took the body.
        """
        if self._sink is None:
            self.pump(_NULL_SINK)

    def discard(self, drain_up_to: int = -1) -> None:
        """Abandon the body: drop the rest (as :meth:`drain`) and close a source that is still sending.

        A source that already delivered the whole body is left alone: its connection finished the message (and may
        serve another exchange by now). A body whose declared length is at most ``drain_up_to`` bytes is drained
        instead of closed, to keep its connection (a small rest costs less than a new connection).
        """
        self.drain()
        if self._eof:
            return
        length = self.length
        if length is not None and length <= drain_up_to:
            return
        source = self._source
        if source is not None:
            source.close()

    # -- pull mode ----------------------------------------------------------------------------------------------------
    async def read_chunk(self) -> bytes:
        """Return the next chunk, or ``b""`` at the end. Raises :class:`BodyError` if the body failed."""
        while True:
            if self._buffer:
                chunk = self._buffer.popleft()
                self._buffered -= len(chunk)
                if self._buffered <= self.high_water:
                    self.resume()
                return chunk
            error = self._error
            if error is not None:
                if isinstance(error, BodyTooLarge):
                    raise BodyTooLarge(error.limit) from error
                raise BodyError(str(error)) from error
            if self._eof:
                return b""
            self.resume()
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter

    async def read(self, limit: int | None = None) -> bytes:
        """Read the whole body. Raises :class:`BodyError` on failure or when more than ``limit`` bytes arrive."""
        parts: list[bytes] = []
        total = 0
        while chunk := await self.read_chunk():
            total += len(chunk)
            if limit is not None and total > limit:
                raise BodyError(f"body larger than {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _Chunks(self)


class _Chunks:
    """``async for chunk in body``: an iterator class rather than an async generator, which mypyc cannot compile
    (benchmarks/results/compile_lever.md)."""

    __slots__ = ("_body",)

    def __init__(self, body: StreamBody) -> None:
        self._body = body

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self._body.read_chunk()
        if not chunk:
            raise StopAsyncIteration
        return chunk


class NullSink:
    """A :class:`BodySink` that swallows a body, so its source finishes the message (and a connection is reusable)."""

    __slots__ = ()

    def write(self, chunk: bytes) -> None:
        """Drop one chunk."""

    def write_eof(self) -> None:
        """Nothing to do at the end."""

    def abort(self, exc: BaseException) -> None:
        """Nothing to do on failure."""


_NULL_SINK = NullSink()


# Compiled build: open to interpreted subclasses (compress, grpcWeb, inFlightReq, the gateway's gunzip).
@mypyc_attr(allow_interpreted_subclasses=True)
class BodyRelay:
    """Continues one body (``inner``) as another (``body``): the sink of the first and the source of the second.

    ``body`` (a new body, without a source; by default one of ``inner``'s length) receives ``prefix`` first (the
    bytes a middleware already read from ``inner``), then everything ``inner`` delivers, its end or its failure.
    Pausing, resuming and closing ``body`` pause, resume and discard ``inner``. Subclasses transform the chunks
    (:meth:`write`, :meth:`write_eof`) or act when the consumer gives up (:meth:`close`).
    Raises ValueError when ``body`` already has a source.
    """

    __slots__ = ("body", "inner")

    def __init__(self, inner: StreamBody, body: StreamBody | None = None, prefix: Iterable[bytes] = ()) -> None:
        if body is None:
            body = StreamBody(None, inner.length, inner.high_water)
        elif body._source is not None:
            raise ValueError("a relayed body must not have a source of its own")
        self.inner = inner
        self.body = body
        body._source = self
        for chunk in prefix:
            if chunk:
                self.write(chunk)
        inner.pump(self)

    # -- BodySink: what the inner body delivers goes on to the relayed one ---------------------------------------------
    def write(self, chunk: bytes) -> None:
        """Pass one chunk on."""
        self.body.feed(chunk)

    def write_eof(self) -> None:
        """The inner body ended: so does the relayed one."""
        self.body.feed_eof()

    def abort(self, exc: BaseException) -> None:
        """The inner body failed: so does the relayed one."""
        self.body.feed_error(exc)

    # -- BodySource: what the relayed body's consumer asks of the inner body -----------------------------------------
    def pause_reading(self) -> None:
        """Pause the inner body's source."""
        self.inner.pause()

    def resume_reading(self) -> None:
        """Resume the inner body's source."""
        self.inner.resume()

    def close(self) -> None:
        """The consumer gave the relayed body up: give the inner one up too (closing its connection)."""
        self.inner.discard()


def relayed(inner: StreamBody, prefix: Iterable[bytes] = ()) -> StreamBody:
    """Return a body of ``inner``'s length made of ``prefix`` followed by the rest of ``inner`` (see BodyRelay)."""
    return BodyRelay(inner, None, prefix).body


async def body_bytes(body: bytes | StreamBody, limit: int | None = None) -> bytes:
    """Return the whole of ``body``. Raises :class:`BodyError` as :meth:`StreamBody.read` does."""
    if isinstance(body, bytes):
        return body
    return await body.read(limit)
