"""``inFlightReq``: at most ``amount`` simultaneous requests per source (Traefik ``inflightreq`` / oxy ``connlimit``).

The default source is the **request host** (``sourceCriterion.requestHost``), not the client IP. A request that
finds ``amount`` requests of its source already in flight gets **429** with the body
``max connections reached: <amount>`` (no Content-Type, as Traefik writes it). ``amount <= 0`` rejects everything,
as in Traefik.

When is a request no longer in flight? Traefik releases its slot when ``ServeHTTP`` returns, i.e. once the whole
response was written. Here the slot is released:

* when the next handler raises (or the request is cancelled);
* at once for a ``bytes`` body, a ``HEAD`` request, a 1xx/204/304 status or an upgrade (``101``: the tunnel is no
  longer counted once switched);
* for a streamed (:class:`~hanzo_edge.http.body.StreamBody`) body, when its consumer (the server writing it
  downstream, after the head, or a middleware reading it) has seen its end, its failure, or closed it. The body is
  relayed through a wrapper that keeps the original's length and flow control.

Counts are per middleware instance (per router) and per process: with several workers, each enforces ``amount``.
"""

from __future__ import annotations

from collections.abc import Awaitable

from hanzo_edge.config.middlewares import InFlightReq as InFlightReqConfig
from hanzo_edge.http.body import BodyRelay, BodySink, StreamBody
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.middlewares._source import source_extractor
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["InFlightReq"]

_NO_BODY_STATUS = frozenset((204, 304))


async def _answer(response: Response) -> Response:
    return response


class _Slot:
    """One request's hold on its source's count; calling it releases the hold once."""

    __slots__ = ("counts", "held", "source")

    def __init__(self, counts: dict[str, int], source: str) -> None:
        self.counts = counts
        self.source = source
        self.held = True

    def __call__(self) -> None:
        if self.held:
            self.held = False
            left = self.counts.get(self.source, 0) - 1
            if left > 0:
                self.counts[self.source] = left
            else:
                self.counts.pop(self.source, None)


class _ReleaseSink:
    """Passes a pumped body to the real sink and releases the slot when it ends."""

    __slots__ = ("release", "sink")

    def __init__(self, sink: BodySink, release: _Slot) -> None:
        self.sink = sink
        self.release = release

    def write(self, chunk: bytes) -> None:
        self.sink.write(chunk)

    def write_eof(self) -> None:
        try:
            self.sink.write_eof()
        finally:
            self.release()

    def abort(self, exc: BaseException) -> None:
        try:
            self.sink.abort(exc)
        finally:
            self.release()


class _SlotRelay(BodyRelay):
    """Relays the original body into the wrapper; a consumer that gives the wrapper up releases the slot too."""

    __slots__ = ("release",)

    def __init__(self, inner: StreamBody, outer: StreamBody, release: _Slot) -> None:
        self.release = release
        super().__init__(inner, outer)

    def close(self) -> None:
        """Give the original body up (closing its upstream) and release the slot."""
        try:
            super().close()
        finally:
            self.release()


class _ReleasingBody(StreamBody):
    """A streamed body that releases an in-flight slot once its consumer reached the end (or gave up)."""

    __slots__ = ("_release",)

    def __init__(self, inner: StreamBody, release: _Slot) -> None:
        super().__init__(None, inner.length, inner.high_water)
        self._release = release
        _SlotRelay(inner, self, release)  # becomes this body's source

    def pump(self, sink: BodySink) -> None:
        """Send the body to ``sink``; the slot is released when it ends or fails."""
        super().pump(_ReleaseSink(sink, self._release))

    async def read_chunk(self) -> bytes:
        """Return the next chunk (``b""`` at the end, which releases the slot). Raises BodyError on failure."""
        try:
            chunk = await super().read_chunk()
        except BaseException:
            self._release()
            raise
        if not chunk:
            self._release()
        return chunk


@register("inFlightReq")
class InFlightReq:
    """Limits simultaneous requests per source. Raises ValueError for conflicting or invalid source criteria."""

    __slots__ = ("amount", "counts", "name", "next", "rejection", "source")

    def __init__(self, next: Handler, config: InFlightReqConfig, *, name: str, ctx: BuildContext) -> None:
        try:
            self.source = source_extractor(getattr(config, "source_criterion", None), default="host")
        except ValueError as exc:
            raise ValueError(f"error creating requests limiter: {exc}") from None
        self.next = next
        self.name = name
        self.amount = int(getattr(config, "amount", 0) or 0)
        self.rejection = f"max connections reached: {self.amount}".encode()
        self.counts: dict[str, int] = {}

    def __call__(self, req: Request) -> Awaitable[Response]:
        source = self.source(req)
        current = self.counts.get(source, 0)
        if current >= self.amount:
            return _answer(Response(429, Headers(), self.rejection))
        self.counts[source] = current + 1
        return self._serve(req, _Slot(self.counts, source))

    async def _serve(self, req: Request, slot: _Slot) -> Response:
        try:
            response = await self.next(req)
        except BaseException:
            slot()
            raise
        body = response.body
        if (
            isinstance(body, bytes)
            or req.method == "HEAD"
            or response.status < 200
            or response.status in _NO_BODY_STATUS
            or body.consumed
        ):
            slot()
            return response
        response.body = _ReleasingBody(body, slot)
        return response
