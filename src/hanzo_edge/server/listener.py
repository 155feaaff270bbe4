"""One entrypoint's listening socket(s), the connection context its connections share, and its connection factory.

The listener knows no protocol: each accepted connection goes to ``protocol_factory``, the entrypoint's
``server.entrypoint.ConnectionPipeline`` (HTTP/1.1 today; PROXY, TLS, HTTP/2 and TCP routers later).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

from hanzo_edge.http.settings import ConnectionContext
from hanzo_edge.server.port_guard import PortGuard

__all__ = ["Listener"]

log = logging.getLogger("hanzo_edge.server")


class Listener:
    """Binds ``host:port`` (all interfaces when ``host`` is empty) and serves it with ``protocol_factory``."""

    def __init__(
        self,
        ctx: ConnectionContext,
        host: str,
        port: int,
        *,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        reuse_port: bool = False,
    ) -> None:
        self.ctx = ctx
        self.protocol_factory = protocol_factory
        self.host = host
        self.port = port
        self.reuse_port = reuse_port
        self.server: asyncio.Server | None = None
        self.guard: PortGuard | None = None
        """This process's claim on the port (``server.port_guard``), given up when the listener stops accepting."""

    async def start(self) -> None:
        """Bind and start accepting. Raises OSError when the address cannot be bound."""
        loop = self.ctx.loop
        self.server = await loop.create_server(
            self.protocol_factory,
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

    def hold(self, guard: PortGuard) -> None:
        """Keep ``guard`` (the claim on this listener's port) while accepting, and answer probes from the loop."""
        self.guard = guard
        guard.watch(self.ctx.loop)

    def stop_accepting(self) -> None:
        """Close the listening sockets; open connections are untouched.

        The port claim goes with them: once nothing here accepts, another instance may take the port while this
        one drains.
        """
        if self.server is not None:
            self.server.close()
        if self.guard is not None:
            self.guard.release()
            self.guard = None
