"""One HTTP/2 stream of a server connection: the request's channel, its body's source, its response's sink.

A :class:`ServerStream` is what ``http.pipeline.handle_request`` sees as its ``RequestChannel`` (so the shared
pipeline serves HTTP/2 streams as it serves HTTP/1.1 requests), the :class:`~hanzo_edge.http.body.BodySource` of
the request body (pausing it stops granting flow-control window: the client can send at most one window ahead of
the consumer), and the :class:`~hanzo_edge.http.body.BodySink` of the response body (chunks queue here while the
client's window is shut; the connection writes them as WINDOW_UPDATEs arrive).

All the protocol work is the connection's (``server.H2Protocol``): a stream only keeps its own state and forwards.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from hanzo_edge.http.body import StreamBody

if TYPE_CHECKING:
    import asyncio

    from hanzo_edge.http.h2.server import H2Protocol
    from hanzo_edge.http.messages import Request, Response
    from hanzo_edge.http.settings import ConnectionContext

__all__ = ["ServerStream"]


class ServerStream:
    """The per-stream state of an HTTP/2 server connection (see the module docstring)."""

    __slots__ = (
        "blocked_since",
        "body",
        "conn",
        "ctx",
        "ending",
        "expect_continue",
        "in_paused",
        "out_paused",
        "pending",
        "pending_bytes",
        "pumping",
        "read_deadline",
        "req",
        "response_body",
        "sent",
        "sid",
        "started_response",
        "status",
        "task",
        "trailers",
        "unacked",
        "write_deadline",
    )

    def __init__(self, conn: H2Protocol, ctx: ConnectionContext, sid: int) -> None:
        self.conn = conn
        self.ctx = ctx
        self.sid = sid
        self.req: Request | None = None
        self.body: StreamBody | None = None  # the request body while the client is still sending it
        self.task: asyncio.Task[None] | None = None
        self.unacked = 0  # request bytes received while the consumer was paused: their window is not granted yet
        self.in_paused = False
        self.expect_continue = False  # the client waits for a 100 (Continue) before sending the body
        self.response_body: StreamBody | None = None
        self.pending: deque[bytes] = deque()  # response bytes waiting for the client's window
        self.pending_bytes = 0
        self.out_paused = False  # the response body's source is paused by this stream
        self.pumping = False  # the response body hands over what it buffered: queue it, the connection writes after
        self.ending = False  # the response body ended: END_STREAM (or trailers) once `pending` is written
        self.trailers: list[tuple[bytes, bytes]] | None = None
        self.started_response = False
        self.status = 0
        self.sent = 0  # response body bytes written (the observer's response size)
        self.blocked_since = 0.0  # loop time since when output waits on a zero window (0: it does not)
        self.read_deadline = 0.0
        self.write_deadline = 0.0

    # -- RequestChannel ------------------------------------------------------------------------------------------
    def send_response(self, req: Request, response: Response) -> None:
        """Write the response on this stream (``handle_request`` calls it once)."""
        self.conn.send_response(self, req, response)

    def observe(self, req: Request, status: int, aborted: bool) -> None:
        """Report ``req`` to the entrypoint observer with the response bytes written so far."""
        self.conn.observe(self, req, status, aborted)

    # -- BodySource of the request body ----------------------------------------------------------------------------
    def pause_reading(self) -> None:
        """The request body's consumer is behind: stop granting window (the client stops within one window)."""
        self.in_paused = True

    def resume_reading(self) -> None:
        """The consumer caught up (or, with ``Expect: 100-continue``, starts reading): grant window / send 100."""
        self.in_paused = False
        if self.expect_continue:
            self.expect_continue = False
            self.conn.send_continue(self)
        if self.unacked:
            self.conn.grant(self)

    def close(self) -> None:
        """Nobody wants the rest of the request body: what still arrives is dropped (its window granted at once)."""
        self.in_paused = False
        if self.unacked:
            self.conn.grant(self)

    # -- BodySink of the response body -----------------------------------------------------------------------------
    def write(self, chunk: bytes) -> None:
        """Queue one chunk of the response body and write what the client's window allows."""
        self.pending.append(chunk)
        self.pending_bytes += len(chunk)
        if not self.pumping:
            self.conn.flush_stream(self)

    def write_eof(self) -> None:
        """The response body ended: trailers (if any) and END_STREAM follow the queued bytes."""
        body = self.response_body
        if body is not None:
            self.trailers = body.trailers
        self.response_body = None
        self.ending = True
        if not self.pumping:
            self.conn.flush_stream(self)

    def abort(self, exc: BaseException) -> None:
        """The upstream failed mid-body: the client learns it from RST_STREAM (INTERNAL_ERROR), as from Go."""
        self.response_body = None
        self.conn.abort_stream(self)
