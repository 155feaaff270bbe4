"""The TCP-router step of the connection pipeline: what the TLS stage asks, and how it hands a connection over.

TCP routers share the TLS stage's single read of the connection's first bytes (``server/tls_stage.py``): the stage
asks the entrypoint's current :class:`~hanzo_edge.routing.tcp_table.TCPTable` in Traefik's order (a plain router
before the first byte when allowed, then by first byte, then by ClientHello) and, when a TCP router takes the
connection, hands it to :class:`~hanzo_edge.server.tcp_proxy.TCPProxyConnection` with the bytes already read: the
original ClientHello for ``tls.passthrough``, nothing after a TLS termination (whose context comes from the
router's TLS options and the certificate SNI selects, as for HTTPS routers).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, Protocol

from hanzo_edge.http.settings import ConnectionContext
from hanzo_edge.server.entrypoint import hand_over
from hanzo_edge.server.tcp_proxy import ForwardRoute, TCPProxyConnection

__all__ = ["TCPEndpoint", "TCPRoute", "TCPTable", "client_ip_of", "forward"]


class TCPRoute(ForwardRoute, Protocol):
    """A TCP router as the stage sees it (``routing/tcp_table.py``'s ``TCPRoute``)."""

    @property
    def tls(self) -> str | None:
        """None for a plain router, else the TLS options name of its termination."""

    @property
    def passthrough(self) -> bool:
        """Forward the TLS bytes as they are."""


class TCPTable(Protocol):
    """An entrypoint's TCP routers in Traefik's order (``routing/tcp_table.py``)."""

    @property
    def active(self) -> bool:
        """Some TCP router serves here."""

    def early(self, client_ip: str) -> TCPRoute | None:
        """The plain router taking a connection before its first byte."""

    def match_plain(self, client_ip: str) -> TCPRoute | None:
        """The plain router of a connection that does not start with TLS."""

    def match_tls(self, server_name: str, alpn: tuple[str, ...], client_ip: str) -> TCPRoute | None:
        """The TLS router of a ClientHello (None: HTTPS)."""


class TCPEndpoint(Protocol):
    """One entrypoint's view of the current generation's TCP routers (swapped on every reload)."""

    def table(self) -> TCPTable | None:
        """The entrypoint's TCP routers (None or an inactive table: HTTP only)."""

    def termination_context(self, options: str, server_name: str) -> ssl.SSLContext | None:
        """The server context terminating TLS for a TCP router with TLS options ``options`` (None: refused)."""


def client_ip_of(transport: Any) -> str:
    """The client address of a connection (the PROXY header's when one was honoured), "" when unknown."""
    peer = transport.get_extra_info("peername") if transport is not None else None
    if isinstance(peer, tuple) and peer and isinstance(peer[0], str):
        return peer[0]
    return ""


def forward(ctx: ConnectionContext, transport: asyncio.Transport, route: TCPRoute, already_read: bytes) -> None:
    """Give the connection to ``route``: its service's server gets ``already_read`` first, then the stream."""
    hand_over(transport, TCPProxyConnection(ctx, route), already_read)
