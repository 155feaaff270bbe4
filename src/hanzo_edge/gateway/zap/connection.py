"""One ZAP connection: TLS terminated in the event loop, the decrypted byte stream piped to ``ZAP_INTERNAL_ADDR``.

hanzoai/gateway accepts the TLS connection and runs two ``io.Copy`` between it and a TCP connection to the internal
ZAP node. Here the client socket's bytes go through a :class:`~.tls_engine.TlsEngine` (pyOpenSSL over memory BIOs)
and the internal socket's through the same engine the other way, all in protocol callbacks: no thread, task or
await per chunk.

- **Handshake first.** The internal node is dialled only once the handshake is done (a client that never finishes
  one costs no backend connection); the handshake has a deadline checked by the listener's ticker.
- **Backpressure both ways.** A full internal socket pauses reading the client; a full client socket pauses reading
  the internal node; plaintext that arrives while the node is being dialled is held up to a bound, then the client
  is paused too.
- **Half-close.** The client's ``close_notify`` (or its FIN) ends the internal socket's writing (``write_eof``); the
  node's FIN becomes our ``close_notify`` then a FIN to the client. The connection closes when both directions
  have ended, or at once on a TLS error, a reset, or a node that cannot be dialled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from OpenSSL import SSL

from hanzo_edge.gateway.zap.tls_engine import TlsEngine, TlsFailure
from hanzo_edge.http.settings import ConnectionContext

__all__ = ["ZapConnection", "ZapTarget"]

log = logging.getLogger("hanzo_edge.gateway.zap")

_MAX_PENDING = 256 * 1024
"""Plaintext held while the internal node is being dialled; past this, reading the client pauses."""

_PAUSED_BY_NODE = 1
_PAUSED_BY_PENDING = 2


@dataclass(frozen=True, slots=True)
class ZapTarget:
    """What every connection of one listener shares: the TLS context and where the decrypted stream goes."""

    context: SSL.Context
    host: str
    port: int
    handshake_timeout: float = 10.0
    dial_timeout: float = 10.0


class ZapConnection(asyncio.Protocol):
    """The client leg of one ZAP connection; it owns the internal leg (:class:`_NodeSide`)."""

    __slots__ = (
        "client",
        "client_ended",
        "closed",
        "ctx",
        "deadline",
        "dial",
        "engine",
        "node",
        "node_ended",
        "paused",
        "peer",
        "pending",
        "pending_size",
        "target",
    )

    def __init__(self, ctx: ConnectionContext, target: ZapTarget) -> None:
        self.ctx = ctx
        self.target = target
        self.engine = TlsEngine.server(target.context)
        self.client: asyncio.Transport | None = None
        self.node: asyncio.Transport | None = None
        self.dial: asyncio.Task[None] | None = None
        self.pending: list[bytes] = []
        self.pending_size = 0
        self.paused = 0  # why reading the client is paused (_PAUSED_* bits)
        self.client_ended = False
        self.node_ended = False
        self.closed = False
        self.deadline: float | None = None
        self.peer: Any = None

    # -- client leg (asyncio.Protocol) ------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.client = transport  # type: ignore[assignment]
        self.peer = transport.get_extra_info("peername")
        self.deadline = self.ctx.loop.time() + self.target.handshake_timeout
        self.ctx.connection_opened(self)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        engine = self.engine
        try:
            chunks = engine.feed(data)
        except TlsFailure as exc:
            log.debug("zap %s: TLS failed: %s", self.peer, exc)
            self._flush_client()  # the alert saying why
            self._finish()
            return
        self._flush_client()
        if self.deadline is not None and engine.handshake_done:
            self._handshake_done()
        if chunks:
            node = self.node
            if node is not None:
                node.writelines(chunks)
            else:
                self.pending.extend(chunks)
                self.pending_size += sum(map(len, chunks))
                if self.pending_size > _MAX_PENDING:
                    self._pause_client(_PAUSED_BY_PENDING)
        if engine.peer_closed and not self.client_ended:
            self._client_done()

    def eof_received(self) -> bool:
        if not self.engine.handshake_done:
            self._finish()
            return False
        # A FIN without close_notify is a truncated stream; either way nothing more comes from the client.
        if not self.client_ended:
            self._client_done()
        return not self.closed  # keep the transport open to go on writing what the node sends

    def connection_lost(self, exc: Exception | None) -> None:
        self.client = None
        self._finish()

    def pause_writing(self) -> None:
        if self.node is not None:
            self.node.pause_reading()

    def resume_writing(self) -> None:
        node = self.node
        if node is not None and not node.is_closing():
            node.resume_reading()

    def _pause_client(self, reason: int) -> None:
        if not self.paused and self.client is not None:
            self.client.pause_reading()
        self.paused |= reason

    def _resume_client(self, reason: int) -> None:
        if not self.paused & reason:
            return
        self.paused &= ~reason
        client = self.client
        if not self.paused and client is not None and not client.is_closing():
            client.resume_reading()

    def _flush_client(self) -> None:
        out = self.engine.outgoing()
        client = self.client
        if out and client is not None and not client.is_closing():
            client.write(out)

    def _handshake_done(self) -> None:
        self.deadline = None
        log.debug("zap %s: %s %s %s", self.peer, self.engine.version, self.engine.group, self.engine.cipher)
        self.dial = self.ctx.loop.create_task(self._dial())

    def _client_done(self) -> None:
        """Nothing more will come from the client: end the node's input, keep its output flowing."""
        self.client_ended = True
        if self.node_ended:
            self._finish()
            return
        node = self.node
        if node is not None:
            _half_close(node)

    # -- node leg -----------------------------------------------------------------------------------------------
    async def _dial(self) -> None:
        target = self.target
        loop = self.ctx.loop
        try:
            connecting = loop.create_connection(lambda: _NodeSide(self), target.host, target.port)
            transport, _ = await asyncio.wait_for(connecting, target.dial_timeout)
        except (OSError, TimeoutError) as exc:
            log.warning("zap %s: cannot reach %s:%d: %s", self.peer, target.host, target.port, exc or "timeout")
            self._finish()
            return
        if self.closed:
            transport.abort()
            return
        self.node = transport
        if self.pending:
            transport.writelines(self.pending)
            self.pending = []
            self.pending_size = 0
            self._resume_client(_PAUSED_BY_PENDING)
        if self.client_ended:
            _half_close(transport)

    def node_data(self, data: bytes) -> None:
        try:
            self.engine.send(data)
        except TlsFailure as exc:
            log.debug("zap %s: cannot encrypt: %s", self.peer, exc)
            self._finish()
            return
        self._flush_client()

    def node_eof(self) -> None:
        """The node ended its output: ``close_notify``, then a FIN, to the client."""
        self.node_ended = True
        self.engine.close()
        self._flush_client()
        if self.client_ended:
            self._finish()
            return
        client = self.client
        if client is not None and client.can_write_eof():
            client.write_eof()

    def node_lost(self) -> None:
        # Gone, after a FIN or not: what the client still sends has nowhere to go (Go's copy gets a write error).
        # Closing the client flushes what it has not been sent yet.
        self.node = None
        self._finish()

    def node_paused(self) -> None:
        self._pause_client(_PAUSED_BY_NODE)

    def node_resumed(self) -> None:
        self._resume_client(_PAUSED_BY_NODE)

    # -- ending -------------------------------------------------------------------------------------------------
    def _finish(self) -> None:
        """Close both legs (flushing what was written) and leave the listener's connections."""
        if self.closed:
            return
        self.closed = True
        dial = self.dial
        if dial is not None and not dial.done():
            dial.cancel()
        for transport in (self.node, self.client):
            if transport is not None and not transport.is_closing():
                transport.close()
        self.pending = []
        self.ctx.connection_closed(self)

    # -- Connection (the listener's deadline ticker and graceful shutdown) ------------------------------------------
    def check_deadlines(self, now: float) -> None:
        deadline = self.deadline
        if deadline is not None and now >= deadline:
            log.debug("zap %s: no TLS handshake within %.3gs", self.peer, self.target.handshake_timeout)
            self.close_now()

    def close_if_idle(self) -> bool:
        """A connection still in its handshake carries nothing yet: a drain closes it; a stream is waited for."""
        if self.engine.handshake_done:
            return False
        self._finish()
        return True

    def close_now(self) -> None:
        for transport in (self.node, self.client):
            if transport is not None:
                with contextlib.suppress(Exception):
                    transport.abort()
        self._finish()


def _half_close(transport: asyncio.Transport) -> None:
    if transport.can_write_eof():
        transport.write_eof()
    else:
        transport.close()


class _NodeSide(asyncio.Protocol):
    """The internal leg: everything is reported to the client leg."""

    __slots__ = ("owner",)

    def __init__(self, owner: ZapConnection) -> None:
        self.owner = owner

    def data_received(self, data: bytes) -> None:
        self.owner.node_data(data)

    def eof_received(self) -> bool:
        self.owner.node_eof()
        return True  # keep writing what the client still sends

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.node_lost()

    def pause_writing(self) -> None:
        self.owner.node_paused()

    def resume_writing(self) -> None:
        self.owner.node_resumed()
