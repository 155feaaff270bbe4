"""Socket-free harness for the HTTP/2 server protocol: an ``h2`` client (:class:`~h2_client.H2Peer`) wired to
``H2Protocol`` through a recording transport. Frames go in, frames come out, the loop runs the handler tasks.

:meth:`H2Wire.pump` moves bytes both ways until a condition holds (bounded: loop iterations, never sleeps).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from edge_wire import MockTransport, make_settings

from h2_client import H2Peer
from hanzo_edge.http.h2.limits import H2Limits
from hanzo_edge.http.h2.server import H2Protocol
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.settings import ConnectionContext, EntrypointSettings

__all__ = ["H2Wire", "ok", "settings_with"]


async def ok(req: Request) -> Response:
    return Response(200, Headers([(b"Content-Type", b"text/plain")]), b"ok")


def settings_with(limits: H2Limits | None = None, **overrides: Any) -> EntrypointSettings:
    """Entrypoint settings for the tests, with HTTP/2 ``limits``."""
    if limits is not None:
        overrides["http2"] = limits
    return make_settings(**overrides)


class H2Wire:
    """One HTTP/2 connection: client peer ↔ ``H2Protocol`` (see the module docstring). Needs a running loop."""

    def __init__(
        self,
        handler: Handler = ok,
        *,
        settings: EntrypointSettings | None = None,
        client_settings: dict[int, int] | None = None,
        auto_window: bool = True,
        clock: Callable[[], float] | None = None,
        send_preface: bool = True,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.seen: list[Request] = []
        self.observed: list[tuple[Request, int, int, bool]] = []

        def lookup(req: Request) -> Handler:
            self.seen.append(req)
            return handler

        self.ctx = ConnectionContext(settings or settings_with(), lookup, loop)
        self.ctx.observer = self._observe
        self.transport = MockTransport(loop)
        self.proto = H2Protocol(self.ctx, clock=clock)
        self.transport.protocol = self.proto
        self.proto.connection_made(self.transport)  # type: ignore[arg-type]
        self.peer = H2Peer(client_settings, auto_window)
        self._read = 0
        if send_preface:
            self.flush()

    def _observe(self, req: Request, status: int, size: int, duration: float, aborted: bool) -> None:
        self.observed.append((req, status, size, aborted))

    def send(self, data: bytes) -> None:
        """Deliver raw bytes from the client."""
        self.proto.data_received(data)

    def flush(self) -> None:
        """Deliver what the client queued, then give the client what the server wrote."""
        out = self.peer.outbox()
        if out and not self.transport.closed:
            self.proto.data_received(out)
        self.receive()

    def receive(self) -> None:
        writes = self.transport.writes
        new = b"".join(writes[self._read :])
        self._read = len(writes)
        if new:
            self.peer.feed(new)

    @property
    def output_bytes(self) -> int:
        return sum(len(w) for w in self.transport.writes)

    async def pump(self, condition: Callable[[], object], rounds: int = 500) -> None:
        """Move bytes both ways and run the loop until ``condition()`` holds; fail after ``rounds`` iterations."""
        for _ in range(rounds):
            self.flush()
            if condition():
                return
            await asyncio.sleep(0)
        raise AssertionError("condition not reached")

    async def settle(self, rounds: int = 20) -> None:
        for _ in range(rounds):
            self.flush()
            await asyncio.sleep(0)

    async def get(self, path: str = "/", **kwargs: Any) -> Any:
        sid = self.peer.request(path, **kwargs)
        await self.pump(lambda: self.peer.streams[sid].done)
        return self.peer.streams[sid]
