"""One entrypoint's listening socket(s) and the connection context its connections share."""

from __future__ import annotations

import asyncio
import logging
import socket

from hanzo_edge.http.server import HttpProtocol
from hanzo_edge.http.settings import ConnectionContext

__all__ = ["Listener"]

log = logging.getLogger("hanzo_edge.server")


class Listener:
    """Binds ``host:port`` (all interfaces when ``host`` is empty) and serves :class:`HttpProtocol` connections."""

    def __init__(self, ctx: ConnectionContext, host: str, port: int, *, reuse_port: bool = False) -> None:
        self.ctx = ctx
        self.host = host
        self.port = port
        self.reuse_port = reuse_port
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        """Bind and start accepting. Raises OSError when the address cannot be bound."""
        loop = self.ctx.loop
        self.server = await loop.create_server(
            self._protocol,
            self.host or None,
            self.port,
            reuse_address=True,
            reuse_port=self.reuse_port or None,
            backlog=4096,
        )
        sockets = self.server.sockets
        for sock in sockets:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("entryPoint %s listening on %s:%d", self.ctx.settings.name, self.host or "*", self.port)

    def _protocol(self) -> HttpProtocol:
        return HttpProtocol(self.ctx)

    def stop_accepting(self) -> None:
        """Close the listening sockets; open connections are untouched."""
        if self.server is not None:
            self.server.close()
