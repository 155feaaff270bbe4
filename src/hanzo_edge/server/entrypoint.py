"""An entrypoint's connection factory: the stages a new connection passes before its application protocol.

Traefik's TCP entrypoint reads an optional PROXY protocol header, lets the TCP routers look at the connection (a
``HostSNI`` router may take it, TLS passthrough included), terminates TLS (certificate by SNI, protocol by ALPN),
and hands the rest to HTTP/1.1 or HTTP/2. Here that chain is a :class:`ConnectionPipeline`, built once per entrypoint:

    accept ─▶ stage ─▶ stage ─▶ … ─▶ select(transport) ─▶ protocols["http/1.1" | "h2" | …]()
              PROXY    TCP router / TLS                    ALPN, or http/1.1 on a plain connection

A :class:`ConnectionStage` makes the protocol that owns a fresh connection first; once it has read its part it calls
its *handoff* with the transport the rest of the chain should use (a wrapper that reports the PROXY header's client
address, a TLS transport that decrypts) and the bytes it read beyond its part; a stage that keeps the connection (a
TCP router forwarding it to a backend) never calls it. The last handoff picks the application protocol by name.

The stages in ``src`` are PROXY (``server/proxy_protocol.py``) and TLS (``server/tls_stage.py``); the protocols are
HTTP/1.1 (``HttpProtocol``) and HTTP/2 (``http/h2/server.py``, ALPN ``h2``; on a plain connection ``HttpProtocol``
hands a prior-knowledge preface over to it). With no stage, the factory *is* the default protocol's constructor: a
plain entrypoint pays nothing per connection or per read for the seams.

A stage that waits on the client (a PROXY header, a ClientHello) bounds that wait itself, e.g. by joining the
entrypoint's ``ConnectionContext`` as a :class:`~hanzo_edge.http.connection.Connection` until it hands over.

The PROXY stage (``server/proxy_protocol.py``, first in the chain) reads its header by peeking and consuming exactly
the header's bytes, so a later stage finds the socket unread from the header's end: its handoff gives no bytes
(except a lone signature prefix that was no header, which only an HTTP client sends), and the transport it hands on
may be a ``ClientAddressTransport`` (``peername`` = the carried client; the TLS stage hands it to the TLS protocol with
``set_protocol``; a stage that replaces the transport keeps that ``peername``).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from hanzo_edge.http.server import HttpProtocol
from hanzo_edge.http.settings import ConnectionContext

__all__ = [
    "HTTP1",
    "HTTP2",
    "ConnectionPipeline",
    "ConnectionStage",
    "Handoff",
    "ProtocolFactory",
    "ProtocolSelector",
    "connection_pipeline",
    "hand_over",
    "http2_protocol",
    "negotiated_protocol",
]

HTTP1 = "http/1.1"
"""ALPN protocol id of HTTP/1.1 (RFC 7301), and the protocol of a connection that negotiated none."""
HTTP2 = "h2"
"""ALPN protocol id of HTTP/2 over TLS."""

ProtocolFactory = Callable[[], asyncio.Protocol]
"""What ``loop.create_server`` calls per accepted connection."""

Handoff = Callable[[asyncio.Transport, bytes], None]
"""``handoff(transport, already_read)``: pass a connection on to the rest of the chain."""

ProtocolSelector = Callable[[asyncio.BaseTransport], str]
"""Names the application protocol of a connection that went through every stage."""


class ConnectionStage(Protocol):
    """One step before the application protocol (PROXY header, TCP router, TLS)."""

    def begin(self, handoff: Handoff) -> asyncio.Protocol:
        """Return the protocol that takes a new connection; it calls ``handoff`` when the rest of the chain may."""


def negotiated_protocol(transport: asyncio.BaseTransport) -> str:
    """Return the protocol ALPN chose on a TLS transport, else ``http/1.1`` (a plain connection, or no ALPN)."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is not None:
        chosen = ssl_object.selected_alpn_protocol()
        if chosen:
            return str(chosen)
    return HTTP1


def hand_over(transport: asyncio.Transport, protocol: asyncio.Protocol, already_read: bytes) -> None:
    """Make ``protocol`` the owner of ``transport`` and give it the bytes an earlier stage read past its own part.

    ``transport`` is duck-typed (uvloop's transports are not ``asyncio.Transport`` instances); it must support
    ``set_protocol``, as asyncio's and uvloop's socket transports do.
    """
    transport.set_protocol(protocol)
    protocol.connection_made(transport)
    if already_read and not transport.is_closing():
        protocol.data_received(already_read)


class ConnectionPipeline:
    """The per-entrypoint chain from an accepted socket to its application protocol; see the module docstring.

    ``protocols`` maps protocol names (ALPN ids) to factories; ``select`` names the protocol of a connection that
    went through every stage, and a name nobody serves falls back to ``default``. Raises ValueError when ``default``
    is not in ``protocols``.
    """

    __slots__ = ("default", "protocols", "select", "stages")

    def __init__(
        self,
        protocols: Mapping[str, ProtocolFactory],
        stages: Sequence[ConnectionStage] = (),
        select: ProtocolSelector = negotiated_protocol,
        default: str = HTTP1,
    ) -> None:
        if default not in protocols:
            raise ValueError(f"the default protocol {default!r} has no factory (protocols: {', '.join(protocols)})")
        self.protocols = dict(protocols)
        self.stages = tuple(stages)
        self.select = select
        self.default = default

    def factory(self) -> ProtocolFactory:
        """Return what the listener calls per accepted connection (built once; no per-connection closures)."""
        if not self.stages:
            # Nothing before the application protocol can negotiate another one: the default protocol itself.
            return self.protocols[self.default]
        handoff: Handoff = self._open_application
        for stage in reversed(self.stages[1:]):
            handoff = functools.partial(_begin_stage, stage, handoff)
        return functools.partial(self.stages[0].begin, handoff)

    def _open_application(self, transport: asyncio.Transport, already_read: bytes) -> None:
        factory = self.protocols.get(self.select(transport)) or self.protocols[self.default]
        hand_over(transport, factory(), already_read)


def _begin_stage(stage: ConnectionStage, handoff: Handoff, transport: asyncio.Transport, already_read: bytes) -> None:
    hand_over(transport, stage.begin(handoff), already_read)


def http2_protocol(ctx: ConnectionContext) -> asyncio.Protocol:
    """Return a new HTTP/2 server protocol for a connection of ``ctx`` (``h2`` is loaded on first use only)."""
    from hanzo_edge.http.h2.server import H2Protocol

    return H2Protocol(ctx)


def connection_pipeline(ctx: ConnectionContext, stages: Sequence[ConnectionStage] = ()) -> ConnectionPipeline:
    """Return the connection pipeline of the entrypoint whose connections share ``ctx``: HTTP/1.1 or HTTP/2 (ALPN)
    after ``stages``. h2c by prior knowledge on a plain connection is ``HttpProtocol``'s hand-over (its parser
    stops at the preface), so the plain hot path pays nothing for it."""
    return ConnectionPipeline(
        {HTTP1: functools.partial(HttpProtocol, ctx), HTTP2: functools.partial(http2_protocol, ctx)}, stages
    )
