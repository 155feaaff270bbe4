"""Keep-alive connection pools to backends, keyed by servers-transport settings and origin.

Pools outlive configuration generations (Traefik's ``transportManager``): a reload that keeps a server keeps its warm
connections. Idle connections are reused most-recently-used first, at most ``max_idle`` are kept, and those idle
longer than ``idle_timeout`` are closed by :meth:`PoolRegistry.sweep`.

A pool holds no connection by a back-pointer: it hands each connection it dials its :meth:`ConnectionPool.on_release`
callback, and the connection reports there when an exchange ends (reusable or not) and when it closes while idle.
The pool detaches a connection (clears its callback) before closing it itself, so nothing is counted twice.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mypy_extensions import mypyc_attr

from hanzo_edge.http.errors import ConnectError, DialTimeout
from hanzo_edge.http.tls_buffered_reads import buffer_reads
from hanzo_edge.http.upstream import UpstreamConnection
from hanzo_edge.http.upstream_tls import (
    ClientTLS,
    TLSConfigError,
    client_context,
    peer_cert_uri_error,
    verify_error_text,
)

if TYPE_CHECKING:
    from hanzo_edge.http.h2.pool import H2Pool

log = logging.getLogger(__name__)

__all__ = ["ConnectionPool", "PoolRegistry", "TransportOptions", "set_keep_alive"]


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """How connections to backends are made (a servers transport, Traefik's ``forwardingTimeouts`` and TLS)."""

    max_idle_conns_per_host: int = 200
    dial_timeout: float = 30.0
    response_header_timeout: float = 0.0
    idle_conn_timeout: float = 90.0
    insecure_skip_verify: bool = False
    server_name: str = ""
    root_cas: tuple[str, ...] = ()  # files or inline PEM; set: only these roots are trusted (Go's RootCAs)
    certificates: tuple[tuple[str, str], ...] = ()  # (cert, key) client certificates for mTLS to the servers
    peer_cert_uri: str = ""  # the URI SAN the server certificate must carry
    disable_http2: bool = False  # https servers: offer only http/1.1 in ALPN (Traefik's disableHTTP2)
    read_idle_timeout: float = 0.0  # HTTP/2: PING a connection quiet for this long (0: never)
    ping_timeout: float = 15.0  # HTTP/2: close a connection whose PING is unanswered this long
    # TCP keep-alive probes on each dialled socket, Go's net.Dialer.KeepAlive: idle seconds before the first probe
    # (0: Go's 15 s), negative: none. 30 s is the dialer of Traefik's transports (and of Go's DefaultTransport), which
    # no option changes; the gateway sets KrakenD's dialer_keep_alive instead.
    dial_keep_alive: float = 30.0
    # Go's Transport.DisableCompression, read by the gateway's backend calls (gateway/backend.py): when False they
    # ask for gzip and decode it. The ingress proxy never adds Accept-Encoding, so it has no use for it.
    disable_compression: bool = False

    def client_tls(self, alpn: tuple[str, ...] = ("http/1.1",)) -> ClientTLS:
        """The TLS settings an ``https`` pool builds its (cached) client context from."""
        return ClientTLS(
            insecure_skip_verify=self.insecure_skip_verify,
            root_cas=self.root_cas,
            certificates=self.certificates,
            verify_chain=bool(self.peer_cert_uri),
            alpn=alpn,
        )


# Compiled build: open to interpreted subclasses (forwardAuth's client-TLS pool, test pools).
@mypyc_attr(allow_interpreted_subclasses=True)
class ConnectionPool:
    """Connections to one origin (scheme, host, port) under one :class:`TransportOptions`."""

    __slots__ = ("_idle", "_loop", "_ssl", "_tls_error", "active", "host", "options", "port", "scheme", "server_name")

    def __init__(self, scheme: str, host: str, port: int, options: TransportOptions) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.options = options
        self.active = 0
        self._idle: list[UpstreamConnection] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ssl: ssl.SSLContext | None = None
        self._tls_error = ""  # unusable TLS material: every dial fails with it (502) rather than trusting less
        self.server_name = options.server_name or host
        if scheme == "https":
            try:
                self._ssl = client_context(options.client_tls())
            except TLSConfigError as exc:
                self._tls_error = f"tls: {exc}"
                log.error("TLS configuration for %s:%d unusable: %s", host, port, exc)

    def acquire_idle(self) -> UpstreamConnection | None:
        """Return an idle connection without awaiting, or None when a new one must be dialled."""
        idle = self._idle
        while idle:
            conn = idle.pop()
            if not conn.closed:
                self.active += 1
                return conn
        return None

    async def acquire(self) -> UpstreamConnection:
        """Return an idle connection, or dial a new one.

        Raises :class:`ConnectError` when the backend refuses or is unreachable, :class:`UpstreamTimeout` when
        dialling exceeds ``dial_timeout``.
        """
        conn = self.acquire_idle()
        if conn is not None:
            return conn
        conn = await self._dial()
        self.active += 1
        return conn

    def on_release(self, conn: UpstreamConnection, reusable: bool) -> None:
        """The callback each connection of this pool reports to (:data:`~hanzo_edge.http.upstream.ReleaseCallback`).

        ``reusable``: a handed-out connection completed its exchange; it is kept idle (closed when the pool is full).
        Not reusable: forget it, idle or handed out.
        """
        if reusable:
            self.active -= 1
            if conn.closed:
                return
            if len(self._idle) >= max(self.options.max_idle_conns_per_host, 0):
                _close_detached(conn)
                return
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        elif conn in self._idle:
            self._idle.remove(conn)
        else:
            self.active -= 1

    def adopt_idle(self, conn: UpstreamConnection) -> None:
        """Keep a connection dialled elsewhere as an idle one of this pool (an https dial that offered h2 and
        got http/1.1: the HTTP/2 pool hands it over, so the request that caused it is served on it)."""
        conn.on_release = self.on_release
        self.active += 1
        self.on_release(conn, True)

    def sweep(self, now: float) -> None:
        """Close connections idle for longer than ``idle_conn_timeout``."""
        timeout = self.options.idle_conn_timeout
        if timeout <= 0 or not self._idle:
            return
        keep = [c for c in self._idle if now - c.idle_since < timeout and not c.closed]
        for conn in self._idle:
            if conn not in keep:
                _close_detached(conn)
        self._idle = keep

    def close(self) -> None:
        """Close every idle connection."""
        for conn in self._idle:
            _close_detached(conn)
        self._idle = []

    @property
    def idle(self) -> int:
        """Number of idle connections."""
        return len(self._idle)

    async def _dial(self) -> UpstreamConnection:
        loop = asyncio.get_running_loop()
        timeout = self.options.dial_timeout
        if self._tls_error:
            raise ConnectError(self._tls_error)
        try:
            coro = loop.create_connection(
                lambda: UpstreamConnection(self.on_release),
                self.host,
                self.port,
                ssl=self._ssl,
                server_hostname=self.server_name if self._ssl else None,
            )
            if timeout > 0:
                _, conn = await asyncio.wait_for(coro, timeout)
            else:
                _, conn = await coro
        except TimeoutError as exc:
            raise DialTimeout(f"dial tcp {self.host}:{self.port}: i/o timeout") from exc
        except ssl.SSLError as exc:
            # Traefik answers 502 and logs the reason at DEBUG (proxy.go's ErrorHandler); so do we.
            reason = verify_error_text(exc, self.server_name)
            log.debug("'502 Bad Gateway' caused by: %s (%s:%d)", reason, self.host, self.port)
            raise ConnectError(reason) from exc
        except OSError as exc:
            raise ConnectError(f"dial tcp {self.host}:{self.port}: {exc}") from exc
        if self.options.peer_cert_uri:
            self._check_peer_cert_uri(conn)
        if self._ssl is not None and conn.transport is not None:
            buffer_reads(conn.transport)  # no 256 KiB bytes per decrypted read (http/tls_buffered_reads.py)
        sock = conn.transport.get_extra_info("socket") if conn.transport is not None else None
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            if self.options.dial_keep_alive >= 0:
                set_keep_alive(sock, self.options.dial_keep_alive)
        return conn

    def _check_peer_cert_uri(self, conn: UpstreamConnection) -> None:
        ssl_object = conn.transport.get_extra_info("ssl_object") if conn.transport is not None else None
        reason = peer_cert_uri_error(
            ssl_object.getpeercert() if ssl_object is not None else None, self.options.peer_cert_uri
        )
        if reason:
            conn.on_release = None  # never counted by this pool
            conn.close()
            log.debug("'502 Bad Gateway' caused by: %s (%s:%d)", reason, self.host, self.port)
            raise ConnectError(reason)

    def __repr__(self) -> str:
        return f"<ConnectionPool {self.scheme}://{self.host}:{self.port} active={self.active} idle={len(self._idle)}>"


# Go's net.Dialer (Go 1.23+, KeepAliveConfig): a KeepAlive >= 0 enables probes with TCP_KEEPIDLE = KeepAlive
# rounded up to whole seconds (0: 15 s), and leaves the interval and count at Go's defaults, 15 s and 9 probes.
GO_KEEP_ALIVE_DEFAULT = 15
GO_KEEP_ALIVE_INTERVAL = 15
GO_KEEP_ALIVE_COUNT = 9


_C_INT_MAX = 2**31 - 1  # setsockopt takes a C int: a bigger Python int is a TypeError, not the kernel's EINVAL


def set_keep_alive(sock: socket.socket, idle: float) -> None:
    """TCP keep-alive probes on ``sock`` as Go's dialer sets them for ``KeepAlive: idle`` (``idle`` >= 0; once per
    dial, never per request). A platform without one of the options keeps its own value for it. A value the kernel
    refuses (Linux: an idle past 32767 s) never fails the dial: as Go's SetKeepAliveConfig, the first failure ends
    the settings and is otherwise ignored."""
    seconds = min(math.ceil(idle), _C_INT_MAX) if idle > 0 else GO_KEEP_ALIVE_DEFAULT
    for level, option, value in (
        (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
        (socket.IPPROTO_TCP, getattr(socket, "TCP_KEEPIDLE", None), seconds),
        (socket.IPPROTO_TCP, getattr(socket, "TCP_KEEPINTVL", None), GO_KEEP_ALIVE_INTERVAL),
        (socket.IPPROTO_TCP, getattr(socket, "TCP_KEEPCNT", None), GO_KEEP_ALIVE_COUNT),
    ):
        if option is None:
            continue
        try:
            sock.setsockopt(level, option, value)
        except OSError:
            log.debug("setsockopt(%s, %s) on a backend connection failed", option, value)
            return


def _close_detached(conn: UpstreamConnection) -> None:
    """Close a connection the pool already stopped counting, so it does not report back."""
    conn.on_release = None
    conn.close()


# Compiled build: open to interpreted subclasses (forwardAuth's one-pool registry).
@mypyc_attr(allow_interpreted_subclasses=True)
class PoolRegistry:
    """Every pool of the process, created on first use and kept across configuration generations."""

    __slots__ = ("_h2_pools", "_pools")

    def __init__(self) -> None:
        self._pools: dict[tuple[TransportOptions, str, str, int], ConnectionPool] = {}
        self._h2_pools: dict[tuple[TransportOptions, str, str, int], H2Pool] = {}

    def get_h2(self, options: TransportOptions, scheme: str, host: str, port: int) -> H2Pool:
        """Return the HTTP/2 pool for this transport and origin (``h2c``, or ``https`` with ALPN h2)."""
        key = (options, scheme, host, port)
        pool = self._h2_pools.get(key)
        if pool is None:
            # Imported here: a process without HTTP/2 backends never loads the h2 library.
            from hanzo_edge.http.h2.pool import H2Pool

            fallback = self.get(options, scheme, host, port) if scheme == "https" else None
            pool = H2Pool(scheme, host, port, options, fallback)
            self._h2_pools[key] = pool
        return pool

    def get(self, options: TransportOptions, scheme: str, host: str, port: int) -> ConnectionPool:
        """Return the pool for this transport and origin."""
        key = (options, scheme, host, port)
        pool = self._pools.get(key)
        if pool is None:
            pool = ConnectionPool(scheme, host, port, options)
            self._pools[key] = pool
        return pool

    def sweep(self) -> None:
        """Close idle connections past their transport's idle timeout, in every pool."""
        now = time.monotonic()
        for pool in self._pools.values():
            pool.sweep(now)
        for h2_pool in self._h2_pools.values():
            h2_pool.sweep()

    def close(self) -> None:
        """Close every idle connection of every pool."""
        for pool in self._pools.values():
            pool.close()
        for h2_pool in self._h2_pools.values():
            h2_pool.close()
