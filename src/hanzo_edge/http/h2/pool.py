"""HTTP/2 connections to one backend origin, shared by every request to it (Go's ``http2.Transport`` pool).

A request takes a stream on the first connection that has room (fewer open streams than the backend's
``SETTINGS_MAX_CONCURRENT_STREAMS``; 100 until its SETTINGS arrive, as Go assumes). When every connection is full,
one more is dialled; requests that arrive meanwhile wait for that one dial rather than each dialling its own, so a
burst of 100 requests opens one connection, not 100.

``h2c`` origins are dialled in cleartext with the HTTP/2 preface (prior knowledge). ``https`` origins offer
``h2, http/1.1`` in ALPN: a server that picks ``http/1.1`` (or none) is an HTTP/1.1 origin from then on; its
connection is handed to the origin's HTTP/1.1 pool (:meth:`~hanzo_edge.http.pool.ConnectionPool.adopt_idle`), which
serves this request and the following ones, and :attr:`H2Pool.http11` tells the target to go there directly.

Connections with no stream for ``idle_conn_timeout`` are closed by :meth:`H2Pool.sweep` (GOAWAY first).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl

from hanzo_edge.http.errors import ConnectError, DialTimeout
from hanzo_edge.http.h2.client import H2ClientConnection
from hanzo_edge.http.pool import ConnectionPool, TransportOptions, set_keep_alive
from hanzo_edge.http.tls_buffered_reads import buffer_reads
from hanzo_edge.http.upstream import UpstreamConnection
from hanzo_edge.http.upstream_tls import TLSConfigError, client_context, peer_cert_uri_error, verify_error_text

log = logging.getLogger(__name__)

__all__ = ["ALPN_H2", "H2Pool"]

_MAX_DIALS_PER_REQUEST = 4
"""Dials one request may wait for before it fails (each brings room for ~100 streams unless it closes at once)."""

ALPN_H2 = ("h2", "http/1.1")
"""What an ``https`` dial offers when HTTP/2 is allowed (Traefik's transport unless ``disableHTTP2``)."""


class _AlpnChoice(asyncio.Protocol):
    """Stands in for the protocol until the TLS handshake ends, then hands the transport to the one ALPN chose."""

    def __init__(self, pool: H2Pool) -> None:
        self.pool = pool
        self.chosen: H2ClientConnection | UpstreamConnection | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        ssl_object = transport.get_extra_info("ssl_object")
        protocol = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        chosen: H2ClientConnection | UpstreamConnection
        chosen = self.pool.new_connection() if protocol == "h2" else UpstreamConnection(None)
        self.chosen = chosen
        transport.set_protocol(chosen)
        chosen.connection_made(transport)
        buffer_reads(transport)  # no 256 KiB bytes per decrypted read (http/tls_buffered_reads.py)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.chosen is not None:
            self.chosen.connection_lost(exc)


class H2Pool:
    """HTTP/2 connections to one origin under one :class:`~hanzo_edge.http.pool.TransportOptions`."""

    __slots__ = (
        "_dialing",
        "_ssl",
        "_tls_error",
        "connections",
        "dials",
        "fallback",
        "host",
        "http11",
        "options",
        "port",
        "scheme",
        "server_name",
    )

    def __init__(
        self, scheme: str, host: str, port: int, options: TransportOptions, fallback: ConnectionPool | None = None
    ) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.options = options
        self.fallback = fallback
        self.connections: list[H2ClientConnection] = []
        self.http11 = False  # an https origin that answered ALPN without h2: served by ``fallback``
        self.dials = 0
        self.server_name = options.server_name or host
        self._dialing: asyncio.Task[None] | None = None
        self._ssl: ssl.SSLContext | None = None
        self._tls_error = ""
        if scheme == "https":
            try:
                self._ssl = client_context(options.client_tls(ALPN_H2))
            except TLSConfigError as exc:
                self._tls_error = f"tls: {exc}"
                log.error("TLS configuration for %s:%d unusable: %s", host, port, exc)

    def ready(self) -> H2ClientConnection | None:
        """Return a connection with room for one more stream, without awaiting (None: one must be dialled)."""
        for conn in self.connections:
            if conn.can_open():
                return conn
        return None

    async def acquire(self) -> H2ClientConnection | None:
        """Return a connection with room for a stream, dialling when all are full.

        None means the origin speaks HTTP/1.1 (ALPN): the request goes to :attr:`fallback`, where the connection just
        made waits idle. Raises :class:`~hanzo_edge.http.errors.ConnectError` or
        :class:`~hanzo_edge.http.errors.DialTimeout` when the dial fails (every request waiting on it gets the error).
        """
        for _ in range(_MAX_DIALS_PER_REQUEST):
            conn = self.ready()
            if conn is not None:
                return conn
            if self.http11:
                return None
            dialing = self._dialing
            if dialing is None:
                dialing = asyncio.get_running_loop().create_task(self._dial())
                dialing.add_done_callback(self._dialled)
                self._dialing = dialing
            # Shielded: a waiter that is cancelled (its client left) must not cancel the dial the others wait for.
            await asyncio.shield(dialing)
        # Every connection dialled for this request was full or closed at once (a backend that accepts and hangs up).
        raise ConnectError(
            f"http2: no usable connection to {self.host}:{self.port} after {_MAX_DIALS_PER_REQUEST} dials"
        )

    def new_connection(self) -> H2ClientConnection:
        """A connection protocol bound to this pool's options (not yet connected)."""
        options = self.options
        return H2ClientConnection(
            self._on_change, read_idle_timeout=options.read_idle_timeout, ping_timeout=options.ping_timeout
        )

    def sweep(self) -> None:
        """Close connections without a stream for longer than ``idle_conn_timeout`` (GOAWAY, then close)."""
        timeout = self.options.idle_conn_timeout
        if timeout <= 0 or not self.connections:
            return
        for conn in list(self.connections):
            if not conn.streams and conn.loop.time() - conn.idle_since >= timeout:
                conn.close()

    def close(self) -> None:
        """Close every connection without a stream in progress."""
        for conn in list(self.connections):
            if not conn.streams:
                conn.close()

    def abandon(self) -> None:
        """Cancel a dial in progress and close every connection, streams or not (a pool used once, then dropped:
        a dial that outlived it would complete into a pool nobody holds and stay open)."""
        dialing = self._dialing
        if dialing is not None and not dialing.done():
            dialing.cancel()
        for conn in list(self.connections):
            conn.close()

    @property
    def active_streams(self) -> int:
        """Streams in progress on every connection."""
        return sum(conn.active_streams for conn in self.connections)

    # -- internals --------------------------------------------------------------------------------------------------
    def _on_change(self, conn: H2ClientConnection) -> None:
        if conn.closed and conn in self.connections:
            self.connections.remove(conn)

    def _dialled(self, task: asyncio.Task[None]) -> None:
        self._dialing = None
        if not task.cancelled():
            task.exception()  # retrieved here too, so a failed dial nobody awaited any more is not logged as lost

    async def _dial(self) -> None:
        loop = asyncio.get_running_loop()
        if self._tls_error:
            raise ConnectError(self._tls_error)
        self.dials += 1
        tls = self._ssl is not None
        try:
            coro = loop.create_connection(
                (lambda: _AlpnChoice(self)) if tls else self.new_connection,
                self.host,
                self.port,
                ssl=self._ssl,
                server_hostname=self.server_name if tls else None,
            )
            timeout = self.options.dial_timeout
            transport, protocol = await (asyncio.wait_for(coro, timeout) if timeout > 0 else coro)
        except TimeoutError as exc:
            raise DialTimeout(f"dial tcp {self.host}:{self.port}: i/o timeout") from exc
        except ssl.SSLError as exc:
            reason = verify_error_text(exc, self.server_name)
            log.debug("'502 Bad Gateway' caused by: %s (%s:%d)", reason, self.host, self.port)
            raise ConnectError(reason) from exc
        except OSError as exc:
            raise ConnectError(f"dial tcp {self.host}:{self.port}: {exc}") from exc
        if tls and self.options.peer_cert_uri:
            ssl_object = transport.get_extra_info("ssl_object")
            reason = peer_cert_uri_error(
                ssl_object.getpeercert() if ssl_object is not None else None, self.options.peer_cert_uri
            )
            if reason:
                transport.close()
                log.debug("'502 Bad Gateway' caused by: %s (%s:%d)", reason, self.host, self.port)
                raise ConnectError(reason)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            if self.options.dial_keep_alive >= 0:  # as the HTTP/1.1 pool's dial: Traefik's dialer probes at 30 s
                set_keep_alive(sock, self.options.dial_keep_alive)
        conn = protocol.chosen if isinstance(protocol, _AlpnChoice) else protocol
        if isinstance(conn, UpstreamConnection):
            # The server did not pick h2: it is an HTTP/1.1 origin, served by the HTTP/1.1 pool from now on.
            self.http11 = True
            if self.fallback is not None:
                self.fallback.adopt_idle(conn)
            else:
                conn.close()
            return
        if isinstance(conn, H2ClientConnection) and not conn.closed:
            self.connections.append(conn)

    def __repr__(self) -> str:
        return f"<H2Pool {self.scheme}://{self.host}:{self.port} connections={len(self.connections)}>"
