"""Forward one client connection to a TCP server (Traefik ``pkg/tcp/proxy.go``), byte for byte, both ways.

A TCP router's connection arrives here with the bytes an earlier stage already read (a passthrough ClientHello, or
nothing after a TLS termination). The router's middlewares admit it or close it; its service picks a server; the
server is dialled within ``dialTimeout`` (a refused or silent server closes the client at once, never leaving it
hanging); a PROXY header (v1 or v2) goes first when the transport asks for one, then what the client sent so far.

Flow control crosses the legs: a full socket on one side pauses reading on the other. Half-closes propagate as in
Traefik: when one peer ends its writing (EOF), the other gets a FIN (``write_eof``), and the connection is fully
closed ``terminationDelay`` later if the other direction has not ended by then (a negative delay: never).

Connections join the entrypoint's :class:`~hanzo_edge.http.settings.ConnectionContext`, so they count in
``open_connections`` and a graceful shutdown waits for them up to ``graceTimeOut``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Any, Protocol

from hanzo_edge.http.pool import set_keep_alive as set_socket_keep_alive
from hanzo_edge.http.settings import ConnectionContext
from hanzo_edge.http.tls_buffered_reads import buffer_reads
from hanzo_edge.http.upstream_tls import peer_cert_uri_error
from hanzo_edge.server.proxy_header import encode_v1, encode_v2

__all__ = ["ForwardRoute", "ServerTarget", "TCPProxyConnection", "set_keep_alive"]

Release = Callable[[], None]


class ServerTarget(Protocol):
    """A TCP server and how to dial it (``services/tcp_balancer.py``'s ``ServerTarget``)."""

    @property
    def address(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def dial_timeout(self) -> float: ...
    @property
    def dial_keep_alive(self) -> float: ...
    @property
    def termination_delay(self) -> float: ...
    @property
    def proxy_protocol(self) -> int: ...
    @property
    def tls(self) -> ssl.SSLContext | None: ...
    @property
    def server_name(self) -> str: ...
    @property
    def peer_cert_uri(self) -> str: ...


class ForwardRoute(Protocol):
    """What the proxy needs of a TCP router (``routing/tcp_table.py``'s ``TCPRoute``)."""

    @property
    def name(self) -> str: ...

    def admit(self, client_ip: str) -> list[Release] | None:
        """Run the router's middlewares: the releases to call at the end, or None to close the connection."""

    def pick(self) -> ServerTarget | None:
        """The server of the next connection (None: the service has none)."""


log = logging.getLogger("hanzo_edge.tcp")

_MAX_PENDING = 256 * 1024
"""Client bytes held while the server is being dialled; past this, reading the client pauses."""


def set_keep_alive(sock: socket.socket | None, interval: float) -> None:
    """Traefik's ``dialKeepAlive`` as Go 1.23+'s dialer applies it: probes after ``interval`` seconds idle (0: 15 s;
    < 0: off), then every 15 s, 9 of them (the HTTP pools' :func:`hanzo_edge.http.pool.set_keep_alive`)."""
    if sock is None or interval < 0:
        return
    set_socket_keep_alive(sock, interval)


def _address(value: Any) -> tuple[str, int] | None:
    if isinstance(value, tuple) and len(value) >= 2 and isinstance(value[0], str):
        return value[0], int(value[1])
    return None


def _local_address(transport: asyncio.BaseTransport) -> tuple[str, int] | None:
    """The address the client connected to: a PROXY header's destination when one was honoured (as go-proxyproto's
    ``LocalAddr``, which Traefik's header to the servers uses), else the entrypoint socket's."""
    header = transport.get_extra_info("proxy_header")
    destination = getattr(header, "destination", None)
    return _address(destination) if destination is not None else _address(transport.get_extra_info("sockname"))


class TCPProxyConnection(asyncio.Protocol):
    """The client side of one proxied connection; it owns the server side (:class:`_ServerSide`)."""

    def __init__(self, ctx: ConnectionContext, route: ForwardRoute) -> None:
        self.ctx = ctx
        self.route = route
        self.client: asyncio.Transport | None = None
        self.server: asyncio.Transport | None = None
        self.pending: list[bytes] = []
        self.pending_size = 0
        self.client_ended = False
        self.server_ended = False
        self.closed = False
        self.releases: list[Release] = []
        self.target: ServerTarget | None = None
        self.dial: asyncio.Task[None] | None = None
        self.cutoff: asyncio.TimerHandle | None = None

    # -- client side (asyncio.Protocol) ----------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.client = transport  # type: ignore[assignment]
        peer = _address(transport.get_extra_info("peername"))
        client_ip = peer[0] if peer is not None else ""
        releases = self.route.admit(client_ip)
        if releases is None:
            self._close_client()
            return
        self.releases = releases
        target = self.route.pick()
        if target is None:
            log.debug("router %s: no server to forward to", self.route.name)
            self._finish()
            return
        self.target = target
        self.ctx.connection_opened(self)
        self.dial = self.ctx.loop.create_task(self._dial(target, peer, _local_address(transport)))

    def data_received(self, data: bytes) -> None:
        server = self.server
        if server is not None:
            server.write(data)
            return
        self.pending.append(data)
        self.pending_size += len(data)
        if self.pending_size > _MAX_PENDING and self.client is not None:
            self.client.pause_reading()

    def eof_received(self) -> bool:
        self.client_ended = True
        if self.server is not None:
            self._half_close(self.server, self.target)
        # Keep writing to the client until the server is done too; a TLS transport closes on close_notify anyway
        # (and warns when asked to stay open).
        client = self.client
        return client is None or client.get_extra_info("ssl_object") is None

    def connection_lost(self, exc: Exception | None) -> None:
        self.client = None
        self._finish()

    def pause_writing(self) -> None:
        if self.server is not None:
            self.server.pause_reading()

    def resume_writing(self) -> None:
        if self.server is not None and not self.server.is_closing():
            self.server.resume_reading()

    # -- server side ------------------------------------------------------------------------------------------------
    async def _dial(self, target: ServerTarget, client: tuple[str, int] | None, local: tuple[str, int] | None) -> None:
        loop = self.ctx.loop
        try:
            connecting = loop.create_connection(
                lambda: _ServerSide(self),
                target.host,
                target.port,
                ssl=target.tls,
                server_hostname=(target.server_name or target.host) if target.tls is not None else None,
            )
            timeout = target.dial_timeout if target.dial_timeout > 0 else None
            transport, _ = await asyncio.wait_for(connecting, timeout)
        except (OSError, ValueError, TimeoutError) as exc:  # ValueError: e.g. a server name ssl refuses
            log.debug("router %s: dialing %s failed: %s", self.route.name, target.address, exc or "timeout")
            self._finish()
            return
        if self.closed:
            transport.abort()
            return
        if target.tls is not None and target.peer_cert_uri:
            ssl_object = transport.get_extra_info("ssl_object")
            problem = peer_cert_uri_error(ssl_object.getpeercert() if ssl_object else None, target.peer_cert_uri)
            if problem:
                log.debug("router %s: %s: %s", self.route.name, target.address, problem)
                transport.abort()
                self._finish()
                return
        if target.tls is not None:
            buffer_reads(transport)  # no 256 KiB bytes per decrypted read (http/tls_buffered_reads.py)
        set_keep_alive(transport.get_extra_info("socket"), target.dial_keep_alive)
        if target.proxy_protocol == 1:
            transport.write(encode_v1(client, local))
        elif target.proxy_protocol == 2:
            transport.write(encode_v2(client, local))
        if self.pending:
            transport.write(b"".join(self.pending))
            self.pending.clear()
        self.server = transport
        client_transport = self.client
        if client_transport is not None and self.pending_size > _MAX_PENDING:
            client_transport.resume_reading()
        self.pending_size = 0
        if self.client_ended:
            self._half_close(transport, target)

    def server_data(self, data: bytes) -> None:
        if self.client is not None:
            self.client.write(data)

    def server_eof(self) -> None:
        self.server_ended = True
        if self.client is not None:
            self._half_close(self.client, self.target)

    def server_lost(self) -> None:
        self.server = None
        self._finish()

    def server_paused(self) -> None:
        if self.client is not None:
            self.client.pause_reading()

    def server_resumed(self) -> None:
        if self.client is not None and not self.client.is_closing():
            self.client.resume_reading()

    # -- ending -----------------------------------------------------------------------------------------------------
    def _half_close(self, transport: asyncio.Transport, target: ServerTarget | None) -> None:
        """One peer is done writing: pass the FIN on, and give the other direction ``terminationDelay``."""
        if self.client_ended and self.server_ended:
            self._finish()
            return
        if transport.can_write_eof():
            transport.write_eof()
        else:
            transport.close()  # a TLS leg cannot half-close: close_notify, then the connection ends
        delay = target.termination_delay if target is not None else 0.0
        if delay >= 0 and self.cutoff is None:
            self.cutoff = self.ctx.loop.call_later(delay, self._cut_off, delay)

    def _cut_off(self, delay: float) -> None:
        """``terminationDelay`` is over. Traefik starts it once its copy has *written* everything the half-closed
        peer sent; here bytes may still wait in a transport's buffer, so the delay starts again until they left."""
        pending = any(t is not None and t.get_write_buffer_size() for t in (self.server, self.client))
        if pending and not self.closed:
            self.cutoff = self.ctx.loop.call_later(max(delay, 0.01), self._cut_off, delay)
            return
        self._finish()

    def _close_client(self) -> None:
        client = self.client
        if client is not None and not client.is_closing():
            client.close()

    def _finish(self) -> None:
        """Close both legs (flushing what was written) and give back what the connection held."""
        if self.closed:
            return
        self.closed = True
        if self.cutoff is not None:
            self.cutoff.cancel()
        dial = self.dial
        if dial is not None and not dial.done():
            dial.cancel()
        server = self.server
        if server is not None and not server.is_closing():
            server.close()
        self._close_client()
        for release in self.releases:
            release()
        self.releases = []
        self.ctx.connection_closed(self)

    # -- Connection (the entrypoint's deadline ticker and shutdown) ---------------------------------------------------
    def check_deadlines(self, now: float) -> None:
        """A proxied connection has no deadline of its own (Traefik clears them once a TCP router takes it)."""

    def close_if_idle(self) -> bool:
        return False  # a byte stream is never known to be idle: a graceful shutdown waits for it

    def close_now(self) -> None:
        for transport in (self.server, self.client):
            if transport is not None:
                with contextlib.suppress(Exception):
                    transport.abort()
        self._finish()


class _ServerSide(asyncio.Protocol):
    """The server leg: everything is reported to the client side."""

    __slots__ = ("owner",)

    def __init__(self, owner: TCPProxyConnection) -> None:
        self.owner = owner

    def data_received(self, data: bytes) -> None:
        self.owner.server_data(data)

    def eof_received(self) -> bool:
        self.owner.server_eof()
        server = self.owner.server
        return server is None or server.get_extra_info("ssl_object") is None  # a TLS leg closes on close_notify

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.server_lost()

    def pause_writing(self) -> None:
        self.owner.server_paused()

    def resume_writing(self) -> None:
        self.owner.server_resumed()
