"""A UDP entrypoint (Traefik ``pkg/udp``): one session per client address, each with its own socket to a server.

The first datagram from a client address opens a session: the entrypoint's UDP router's service picks a server and
a connected socket to it is made; later datagrams from that address go through the same socket, and the server's
replies go back to the client from the entrypoint's address. A session ends after ``udp.timeout`` (default 3 s)
without a datagram either way.

Bounded, unlike Traefik: at most :func:`max_sessions` sessions (a socket each) exist per entrypoint. A flood from
many source ports cannot open more: a datagram from a new address is dropped while the table is full (counted in
:attr:`UDPEntrypoint.dropped`), and one that arrives while its session is still connecting waits in a short queue
(at most 64 datagrams per session and 4 MiB per entrypoint; past that it is dropped, as UDP may).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
from collections.abc import Callable
from typing import Protocol

__all__ = ["DEFAULT_MAX_SESSIONS", "UDPEntrypoint", "UDPService", "UDPTarget", "max_sessions"]

log = logging.getLogger("hanzo_edge.udp")

DEFAULT_MAX_SESSIONS = 4096
"""The session limit per UDP entrypoint, further bounded to half the process's open-file limit."""
_QUEUED_WHILE_CONNECTING = 64
_QUEUED_BYTES = 4 * 1024 * 1024
"""Bytes held per entrypoint for sessions still connecting: a flood of large datagrams from many source ports while
their sockets are being made (a server named by host name waits for DNS) cannot pin more than this."""
_MAX_DATAGRAM = 65535


def max_sessions() -> int:
    """:data:`DEFAULT_MAX_SESSIONS`, or half the soft ``RLIMIT_NOFILE`` when that is lower (each needs a socket)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return DEFAULT_MAX_SESSIONS
    return max(16, min(DEFAULT_MAX_SESSIONS, soft // 2))


class UDPTarget(Protocol):
    """A UDP server (``services/tcp_balancer.py``'s ``UDPServerTarget``)."""

    @property
    def address(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...


class UDPService(Protocol):
    """The balancer of an entrypoint's UDP router."""

    def pick(self) -> UDPTarget | None:
        """The server of a new session."""


class _Session(asyncio.DatagramProtocol):
    """One client address and its socket to the server it was given."""

    __slots__ = ("client", "closed", "entrypoint", "last_seen", "queued", "transport")

    def __init__(self, entrypoint: UDPEntrypoint, client: tuple[str, int], now: float) -> None:
        self.entrypoint = entrypoint
        self.client = client
        self.last_seen = now
        self.transport: asyncio.DatagramTransport | None = None
        self.queued: list[bytes] | None = []
        self.closed = False

    def send(self, data: bytes, now: float) -> None:
        self.last_seen = now
        if self.transport is not None:
            self.transport.sendto(data)
        elif self.queued is not None and len(self.queued) < _QUEUED_WHILE_CONNECTING:
            entrypoint = self.entrypoint
            if entrypoint.queued_bytes + len(data) <= _QUEUED_BYTES:
                entrypoint.queued_bytes += len(data)
                self.queued.append(data)

    def _release_queue(self) -> list[bytes]:
        queued = self.queued or []
        self.queued = None
        self.entrypoint.queued_bytes -= sum(len(data) for data in queued)
        return queued

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        queued = self._release_queue()
        if self.closed:
            # Swept or shut down while its socket was being made: nothing tracks this session any more.
            transport.close()
            return
        for data in queued:
            self.transport.sendto(data)  # type: ignore[union-attr]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.last_seen = self.entrypoint.loop.time()
        self.entrypoint.reply(data, self.client)

    def error_received(self, exc: Exception) -> None:
        # e.g. ICMP port unreachable from a server that is down: the session stays until its timeout, as in Traefik.
        log.debug("UDP session %s: %s", self.client, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.entrypoint.forget(self)

    def close(self) -> None:
        transport = self.transport
        self._release_queue()
        self.closed = True
        if transport is not None:
            transport.close()
        else:
            self.entrypoint.forget(self)


class UDPEntrypoint(asyncio.DatagramProtocol):
    """The protocol of a UDP entrypoint's listening socket.

    ``service()`` returns the current generation's balancer for this entrypoint (None: no UDP router serves here,
    datagrams are dropped). ``timeout`` is ``udp.timeout``; ``limit`` the session bound.
    """

    def __init__(
        self,
        name: str,
        loop: asyncio.AbstractEventLoop,
        service: Callable[[], UDPService | None],
        timeout: float = 3.0,
        limit: int | None = None,
    ) -> None:
        self.name = name
        self.loop = loop
        self.service = service
        self.timeout = timeout if timeout > 0 else 3.0
        self.limit = limit if limit is not None else max_sessions()
        self.sessions: dict[tuple[str, int], _Session] = {}
        self.dropped = 0
        self.queued_bytes = 0  # held for sessions still connecting (bounded by _QUEUED_BYTES)
        self.transport: asyncio.DatagramTransport | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._connecting: set[asyncio.Task[None]] = set()  # strong references: the loop keeps only weak ones

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        client = (addr[0], addr[1])
        now = self.loop.time()
        session = self.sessions.get(client)
        if session is None:
            session = self._open(client, now)
            if session is None:
                self.dropped += 1
                return
        session.send(data, now)

    def _open(self, client: tuple[str, int], now: float) -> _Session | None:
        if len(self.sessions) >= self.limit:
            log.debug("UDP entryPoint %s: %d sessions, datagram from %s dropped", self.name, self.limit, client)
            return None
        balancer = self.service()
        target = balancer.pick() if balancer is not None else None
        if target is None:
            return None
        session = _Session(self, client, now)
        self.sessions[client] = session
        task = self.loop.create_task(self._connect(session, target))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)
        if self._sweeper is None:
            self._sweeper = self.loop.call_later(self._sweep_interval(), self._sweep)
        return session

    async def _connect(self, session: _Session, target: UDPTarget) -> None:
        try:
            await self.loop.create_datagram_endpoint(lambda: session, remote_addr=(target.host, target.port))
        except OSError as exc:
            log.debug("UDP entryPoint %s: cannot reach %s: %s", self.name, target.address, exc)
            session.close()

    def reply(self, data: bytes, client: tuple[str, int]) -> None:
        """Send a server's datagram back to ``client`` from the entrypoint's address."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.sendto(data, client)

    def forget(self, session: _Session) -> None:
        if self.sessions.get(session.client) is session:
            del self.sessions[session.client]

    def _sweep_interval(self) -> float:
        return max(0.05, min(1.0, self.timeout / 4))

    def _sweep(self) -> None:
        deadline = self.loop.time() - self.timeout
        for session in [s for s in self.sessions.values() if s.last_seen <= deadline]:
            self.forget(session)
            session.close()
        self._sweeper = self.loop.call_later(self._sweep_interval(), self._sweep) if self.sessions else None

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP entryPoint %s: %s", self.name, exc)

    def close(self) -> None:
        """Stop: close the listening socket and every session."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for session in list(self.sessions.values()):
            session.close()
        self.sessions.clear()
        if self.transport is not None:
            with contextlib.suppress(Exception):
                self.transport.close()
