"""The TLS stage of an entrypoint's connection pipeline: ClientHello → context by SNI → handshake → ALPN.

As Traefik's TCP router does, the entrypoint looks at a connection's first byte only when some TLS router serves on
it: a TLS handshake record goes through TLS, anything else is plain HTTP on the same port. The ClientHello is read
here (:mod:`~hanzo_edge.server.client_hello`) so that the whole context (certificate *and* versions, ciphers, client
authentication of the host's TLS options) is chosen before OpenSSL sees a byte; then the event loop's own TLS
protocol (uvloop's, in C, on a uvloop loop) takes the transport and is fed the bytes already read. The handshake's
end hands the decrypting transport on; the pipeline picks the application protocol from the ALPN result.

A ClientHello that is not one, or truncated, closes the connection without a log line above DEBUG; a handshake
that stalls is cut at ``readTimeout`` by the entrypoint's deadline ticker (the reader is a
:class:`~hanzo_edge.http.connection.Connection` until the handshake ends). Nothing here blocks the accept loop.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import contextlib
import logging
import ssl
from collections.abc import Callable
from typing import Any, Protocol

from hanzo_edge.http.settings import ConnectionContext
from hanzo_edge.http.tls_buffered_reads import buffer_reads
from hanzo_edge.server.client_hello import INVALID, MAX_HELLO_BYTES, NEED_MORE, looks_like_tls, parse_client_hello
from hanzo_edge.server.entrypoint import Handoff, ProtocolFactory
from hanzo_edge.server.tcp_router_stage import TCPEndpoint, TCPRoute, TCPTable, client_ip_of, forward

__all__ = ["TLSEndpoint", "TLSStage"]

log = logging.getLogger("hanzo_edge.server.tls")


class TLSEndpoint(Protocol):
    """What the stage asks of the current TLS configuration for its entrypoint (swapped on every reload)."""

    def active(self) -> bool:
        """True when some TLS router serves on this entrypoint (otherwise no ClientHello is looked for)."""

    def context_for(self, server_name: str) -> ssl.SSLContext | None:
        """The context of a handshake for ``server_name`` ("" without SNI); None refuses it (``sniStrict``)."""


def _ssl_protocol_class(loop: asyncio.AbstractEventLoop) -> Any:
    """uvloop's C TLS protocol on a uvloop loop (several times faster), asyncio's otherwise."""
    try:
        import uvloop
        import uvloop.loop
    except ImportError:  # pragma: no cover - uvloop is a dependency; asyncio's protocol is the fallback
        return asyncio.sslproto.SSLProtocol
    if isinstance(loop, uvloop.Loop):
        return uvloop.loop.SSLProtocol  # type: ignore[attr-defined]
    return asyncio.sslproto.SSLProtocol


class TLSStage:
    """The :class:`~hanzo_edge.server.entrypoint.ConnectionStage` terminating TLS on one entrypoint.

    ``plain`` makes the application protocol of a connection when no TLS router serves on the entrypoint (the
    stage then costs one call per connection and nothing per read). ``tcp``: the entrypoint's TCP routers, which
    see the connection first, in Traefik's order (``routing/tcp_table.py``), from the same read of its first bytes.
    """

    __slots__ = ("ctx", "endpoint", "plain", "tcp")

    def __init__(
        self, ctx: ConnectionContext, endpoint: TLSEndpoint, plain: ProtocolFactory, tcp: TCPEndpoint | None = None
    ) -> None:
        self.ctx = ctx
        self.endpoint = endpoint
        self.plain = plain
        self.tcp = tcp

    def begin(self, handoff: Handoff) -> asyncio.Protocol:
        """Return the protocol that takes a new connection (the plain one when nothing here speaks TLS)."""
        table = self.tcp.table() if self.tcp is not None else None
        if table is not None and not table.active:
            table = None
        if table is None and not self.endpoint.active():
            return self.plain()
        return _HelloReader(self.ctx, self.endpoint, handoff, self.tcp if table is not None else None, table)


class _HelloReader(asyncio.Protocol):
    """One connection until its TLS handshake ends (or until it proves to be plain HTTP)."""

    def __init__(
        self,
        ctx: ConnectionContext,
        endpoint: TLSEndpoint,
        handoff: Handoff,
        tcp: TCPEndpoint | None = None,
        table: TCPTable | None = None,
    ) -> None:
        self.ctx = ctx
        self.endpoint = endpoint
        self.handoff = handoff
        self.tcp = tcp
        self.table = table  # this generation's TCP routers, for the whole life of this reader
        self.tcp_route: TCPRoute | None = None  # the TCP router a TLS termination is for
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.deadline = 0.0
        self.tracked = False

    # -- asyncio.Protocol ------------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        read_timeout = self.ctx.settings.read_timeout
        if read_timeout > 0:
            self.deadline = self.ctx.loop.time() + read_timeout
        self.tracked = True
        self.ctx.connection_opened(self)
        table = self.table
        if table is not None:
            # Traefik: plain TCP routers only and no TLS at all here: match before the client speaks.
            route = table.early(client_ip_of(transport))
            if route is not None:
                self._untrack()
                forward(self.ctx, self.transport, route, b"")  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        if not looks_like_tls(buffer[0]):
            self._untrack()
            table = self.table
            route = table.match_plain(client_ip_of(self.transport)) if table is not None else None
            if route is not None:
                forward(self.ctx, self.transport, route, buffer)  # type: ignore[arg-type]
                return
            self.handoff(self.transport, buffer)  # type: ignore[arg-type]
            return
        hello = parse_client_hello(buffer)
        if hello == NEED_MORE:
            if len(buffer) > MAX_HELLO_BYTES:
                self._close()
            else:
                self.buffer = buffer
            return
        if hello == INVALID or isinstance(hello, str):
            self._close()
            return
        self.buffer = b""
        table = self.table
        if table is not None and self.tcp is not None:
            route = table.match_tls(hello.server_name, hello.alpn, client_ip_of(self.transport))
            if route is not None:
                self._tcp_tls(self.tcp, route, hello.server_name, buffer)
                return
        self._start_tls(hello.server_name, buffer)

    def eof_received(self) -> bool:
        self._close()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._untrack()

    # -- TLS -------------------------------------------------------------------------------------------------------
    def _tcp_tls(self, tcp: TCPEndpoint, route: TCPRoute, server_name: str, hello: bytes) -> None:
        """A TLS TCP router took the connection: pass the ClientHello through, or terminate with its options."""
        if route.passthrough:
            self._untrack()
            forward(self.ctx, self.transport, route, hello)  # type: ignore[arg-type]
            return
        self.tcp_route = route
        self._start_tls(server_name, hello, lambda: tcp.termination_context(route.tls or "", server_name))

    def _start_tls(
        self, server_name: str, hello: bytes, choose: Callable[[], ssl.SSLContext | None] | None = None
    ) -> None:
        transport = self.transport
        if transport is None:
            return
        try:
            context = choose() if choose is not None else self.endpoint.context_for(server_name)
        except (OSError, ValueError) as exc:
            # A CA or certificate file that vanished since the build: this handshake cannot be served.
            log.debug("TLS handshake for %r refused: %s", server_name, exc)  # a client must not flood the log
            context = None
        if context is None:
            self._close()
            return
        loop = self.ctx.loop
        read_timeout = self.ctx.settings.read_timeout
        protocol = _ssl_protocol_class(loop)(
            loop,
            _HandshakeDone(self),
            context,
            None,
            server_side=True,
            call_connection_made=True,
            ssl_handshake_timeout=read_timeout if read_timeout > 0 else None,
        )
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        view = memoryview(hello)
        while view and not transport.is_closing():
            buf = protocol.get_buffer(len(view))
            size = min(len(buf), len(view))
            buf[:size] = view[:size]
            protocol.buffer_updated(size)
            view = view[size:]

    def handshake_done(self, transport: asyncio.Transport) -> None:
        """Hand the decrypting transport on (the pipeline picks the application protocol by ALPN)."""
        self._untrack()
        if self.tcp_route is not None:
            forward(self.ctx, transport, self.tcp_route, b"")  # a TCP router terminating TLS
            buffer_reads(transport)  # its decrypted reads too (http/tls_buffered_reads.py)
            return
        self.handoff(transport, b"")
        buffer_reads(transport)  # decrypt into one reused buffer, not a 256 KiB bytes per read (see the module)

    # -- Connection ------------------------------------------------------------------------------------------------
    def check_deadlines(self, now: float) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            self._untrack()  # a handshake that failed inside the TLS protocol: nothing calls us back
        elif self.deadline and now >= self.deadline:
            self._close()

    def close_if_idle(self) -> bool:
        self._close()  # no request can be in progress before the handshake ends
        return True

    def close_now(self) -> None:
        self._close()

    def _close(self) -> None:
        self._untrack()
        transport = self.transport
        if transport is not None and not transport.is_closing():
            with contextlib.suppress(Exception):
                transport.abort()

    def _untrack(self) -> None:
        if self.tracked:
            self.tracked = False
            self.ctx.connection_closed(self)


class _HandshakeDone(asyncio.Protocol):
    """The TLS protocol's first application protocol: only told when the handshake has completed."""

    __slots__ = ("reader",)

    def __init__(self, reader: _HelloReader) -> None:
        self.reader = reader

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.reader.handshake_done(transport)  # type: ignore[arg-type]
