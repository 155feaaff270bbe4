"""The PROXY protocol stage of an entrypoint (``entryPoints.<n>.proxyProtocol``): the first stage of the chain.

Traefik wraps such a listener in go-proxyproto with policy USE for peers in ``trustedIPs`` (or everyone with
``insecure``) and IGNORE for the others. The header is optional either way. A trusted peer's header sets the client
address; an untrusted peer's header is read and dropped (IGNORE), so neither its address nor its bytes reach HTTP.
A header that breaks the spec closes the connection, whoever sent it, as go-proxyproto's read error does.

How the header is read: the stage peeks at the socket (``MSG_PEEK`` on a duplicate of its descriptor) when the
connection is made and consumes exactly the header's bytes, nothing after them, so the next stage (TLS, which may
hand the raw socket to ``loop.start_tls``) finds its first byte still in the kernel's buffer. The usual case (the
load balancer's header is there at accept, or no header is) is decided at once, on the accepted transport. When the
header is still incomplete, the accepted transport is dropped (uvloop starts reading it as ``connection_made``
returns, a pause there is ignored, and it would take bytes past the header); the duplicate keeps the connection,
``loop.add_reader`` watches it, bytes are consumed while they can only be header (so a stalled peer causes no busy
loop), and a fresh transport is made on it with ``loop.connect_accepted_socket`` once the header is complete. While
it waits, the stage is a :class:`~hanzo_edge.http.connection.Connection` of the entrypoint: ``readTimeout``, drain
and shutdown close it.

After the header, the connection is handed on as it is when the socket address stands, or wrapped in a
:class:`ClientAddressTransport` that answers ``peername`` with the carried address: one object per connection,
whose methods are the socket transport's own bound methods, so reads and writes cost nothing more.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import os
import socket
from collections.abc import Callable
from typing import Any, cast

from hanzo_edge.http.settings import ConnectionContext
from hanzo_edge.server.entrypoint import Handoff
from hanzo_edge.server.proxy_header import ProxyHeader, ProxyHeaderError, Scan, scan

__all__ = ["ClientAddressTransport", "ProxyProtocolStage", "TrustedPeers", "socket_transport"]

log = logging.getLogger("hanzo_edge.proxy_protocol")

_PEEK_SIZE = 4096  # one peek sees any v1 line and a v2 header with its addresses and usual TLVs

_IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedPeers:
    """Who may set the client address with a PROXY header: ``insecure`` (everyone) or ``trustedIPs``.

    Raises ValueError naming an entry of ``trusted_ips`` that is neither an IP nor a CIDR.
    """

    __slots__ = ("insecure", "networks")

    def __init__(self, insecure: bool = False, trusted_ips: tuple[str, ...] = ()) -> None:
        self.insecure = insecure
        networks: list[_IPNetwork] = []
        for item in trusted_ips:
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError as exc:
                raise ValueError(f"invalid proxyProtocol trusted IP {item!r}: {exc}") from exc
        self.networks = tuple(networks)

    def trusts(self, peer: object) -> bool:
        """Return True when the socket peer ``peer`` (a ``peername``) may send a header that is honoured."""
        if self.insecure:
            return True
        if not isinstance(peer, tuple) or not self.networks:
            return False
        try:
            address = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
        except ValueError:
            return False
        return any(address in network for network in self.networks)


class ClientAddressTransport:
    """The socket transport of a connection whose PROXY header named its client; ``peername`` is that client.

    The usual transport methods are the socket transport's own bound methods (no call through this object);
    anything else is looked up on it. ``get_extra_info("proxy_header")`` returns the parsed header, and
    :func:`socket_transport` the transport underneath (e.g. for ``loop.start_tls``).
    """

    __slots__ = (
        "abort",
        "can_write_eof",
        "close",
        "get_protocol",
        "get_write_buffer_limits",
        "get_write_buffer_size",
        "header",
        "inner",
        "is_closing",
        "is_reading",
        "pause_reading",
        "peername",
        "resume_reading",
        "set_protocol",
        "set_write_buffer_limits",
        "write",
        "write_eof",
        "writelines",
    )

    def __init__(self, inner: asyncio.Transport, peername: tuple[str, int], header: ProxyHeader) -> None:
        self.inner = inner
        self.peername = peername
        self.header = header
        self.write = inner.write
        self.writelines = inner.writelines
        self.close = inner.close
        self.abort = inner.abort
        self.is_closing = inner.is_closing
        self.is_reading = inner.is_reading
        self.pause_reading = inner.pause_reading
        self.resume_reading = inner.resume_reading
        self.set_protocol = inner.set_protocol
        self.get_protocol = inner.get_protocol
        self.can_write_eof = inner.can_write_eof
        self.write_eof = inner.write_eof
        self.get_write_buffer_size = inner.get_write_buffer_size
        self.get_write_buffer_limits = inner.get_write_buffer_limits
        self.set_write_buffer_limits = inner.set_write_buffer_limits

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Return the carried client address as ``peername``; the header as ``proxy_header``; else the socket's."""
        if name == "peername":
            return self.peername
        if name == "proxy_header":
            return self.header
        return self.inner.get_extra_info(name, default)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def socket_transport(transport: object) -> asyncio.Transport:
    """Return the socket transport under a :class:`ClientAddressTransport`, or ``transport`` itself."""
    if isinstance(transport, ClientAddressTransport):
        return transport.inner
    return cast(asyncio.Transport, transport)


class ProxyProtocolStage:
    """The :class:`~hanzo_edge.server.entrypoint.ConnectionStage` that reads an optional PROXY header."""

    __slots__ = ("ctx", "trusted")

    def __init__(self, ctx: ConnectionContext, trusted: TrustedPeers) -> None:
        self.ctx = ctx
        self.trusted = trusted

    def begin(self, handoff: Handoff) -> asyncio.Protocol:
        """Return the protocol that reads the header of one new connection and then calls ``handoff``."""
        return _HeaderReader(self.ctx, self.trusted, handoff)


class _HeaderReader(asyncio.Protocol):
    """Reads one connection's PROXY header (see the module docstring); a Connection of the entrypoint meanwhile."""

    def __init__(self, ctx: ConnectionContext, trusted: TrustedPeers, handoff: Handoff) -> None:
        self.ctx = ctx
        self.trusted_peers = trusted
        self.handoff = handoff
        self.peer: object = None
        self.peek: socket.socket | None = None  # a duplicate of the connection's descriptor, ours to read
        self.trusted = False
        self.consumed = b""
        self.read_deadline = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.peer = transport.get_extra_info("peername")
        self.trusted = self.trusted_peers.trusts(self.peer)
        accepted = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio.Transport
        try:
            # A duplicate descriptor: peeking needs a socket, and it keeps the connection if the transport goes.
            self.peek = socket.socket(fileno=os.dup(transport.get_extra_info("socket").fileno()))
        except (OSError, AttributeError) as exc:
            log.debug("PROXY protocol: cannot read the socket of %s: %s", self.peer, exc)
            accepted.close()
            return
        outcome = self._advance()
        if outcome is _WAIT:
            # The header is not all there. The transport starts reading when this method returns (uvloop ignores a
            # pause here) and would take bytes past the header: drop it, keep the duplicate, wait for the rest.
            accepted.abort()
            self._wait()
        elif outcome is _CLOSE:
            self._release()
            accepted.close()
        else:
            self._release()
            self._hand_over(accepted, outcome)

    def connection_lost(self, exc: Exception | None) -> None:
        """The accepted transport went (closed, or dropped while waiting); the duplicate lives on if waiting."""

    # -- reading --------------------------------------------------------------------------------------------------
    def _advance(self) -> ProxyHeader | Scan | object:
        """Peek, and consume what can only be header: the header (or ABSENT) to hand over, _WAIT or _CLOSE."""
        peek = self.peek
        if peek is None:
            return _CLOSE
        try:
            data = peek.recv(_PEEK_SIZE, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return _WAIT
        except OSError:
            return _CLOSE
        if not data:
            return _CLOSE  # the peer left before saying anything that could be served
        seen = self.consumed + data
        try:
            found = scan(seen)
        except ProxyHeaderError as exc:
            log.debug("PROXY protocol: invalid header from %s: %s", self.peer, exc)
            return _CLOSE
        try:
            if found is Scan.MORE:
                _consume(peek, len(data))  # every byte seen may be header: take them, wait for the rest
                self.consumed = seen
                return _WAIT
            if isinstance(found, ProxyHeader):
                _consume(peek, found.length - len(self.consumed))
                self.consumed = b""
        except OSError:
            return _CLOSE
        return found

    def _wait(self) -> None:
        if self.peek is None:
            return
        read_timeout = self.ctx.settings.read_timeout
        if read_timeout > 0:
            self.read_deadline = self.ctx.loop.time() + read_timeout
        self.ctx.connection_opened(self)
        self.ctx.loop.add_reader(self.peek.fileno(), self._readable)

    def _readable(self) -> None:
        outcome = self._advance()
        if outcome is _WAIT:
            return
        if outcome is _CLOSE:
            self._close()
            return
        sock = self.peek
        self._stop_waiting()
        if sock is None:
            return
        self.peek = None
        # A fresh transport on the socket, whose next byte is the first one after the header.
        resumed = functools.partial(_Resumed, self, outcome)
        task = self.ctx.loop.create_task(_reopen(self.ctx.loop, resumed, sock))
        _REOPENING.add(task)
        task.add_done_callback(_REOPENING.discard)

    def _hand_over(self, transport: asyncio.Transport, found: ProxyHeader | Scan | object) -> None:
        handed: asyncio.Transport = transport
        if isinstance(found, ProxyHeader):
            if not self.trusted:
                log.debug("PROXY protocol: header from untrusted %s ignored", self.peer)
            elif found.source is not None:
                handed = cast(asyncio.Transport, ClientAddressTransport(transport, found.source, found))
        self.handoff(handed, self.consumed)

    def _stop_waiting(self) -> None:
        if self.peek is not None:
            self.ctx.loop.remove_reader(self.peek.fileno())
        self.ctx.connection_closed(self)

    def _release(self) -> None:
        if self.peek is not None:
            self.peek.close()
            self.peek = None

    def _close(self) -> None:
        self._stop_waiting()
        self._release()

    # -- Connection -----------------------------------------------------------------------------------------------
    def check_deadlines(self, now: float) -> None:
        """Close the connection when its header has not arrived within ``readTimeout``."""
        if self.read_deadline and now >= self.read_deadline:
            log.debug("PROXY protocol: no header from %s within readTimeout", self.peer)
            self._close()

    def close_if_idle(self) -> bool:
        """A connection still in its header has no request in progress: close it."""
        self._close()
        return True

    def close_now(self) -> None:
        """Close at once (shutdown)."""
        self._close()


_WAIT = object()
_CLOSE = object()
_REOPENING: set[asyncio.Task[None]] = set()  # strong references to the tasks below until they finish


def _consume(peek: socket.socket, count: int) -> None:
    """Take ``count`` bytes already seen by a peek off the socket (they are there: nobody else reads it)."""
    while count > 0:
        count -= len(peek.recv(count))


class _Resumed(asyncio.Protocol):
    """First owner of the fresh transport: hands it on at once, as the reader would have."""

    def __init__(self, reader: _HeaderReader, found: ProxyHeader | Scan | object) -> None:
        self.reader = reader
        self.found = found

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.reader._hand_over(cast(asyncio.Transport, transport), self.found)


async def _reopen(
    loop: asyncio.AbstractEventLoop, factory: Callable[[], asyncio.Protocol], sock: socket.socket
) -> None:
    try:
        await loop.connect_accepted_socket(factory, sock)
    except OSError as exc:
        log.debug("PROXY protocol: cannot resume a connection: %s", exc)
        sock.close()
