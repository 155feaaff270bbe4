"""An asyncio client of the ZAP listener on the same :class:`~.tls_engine.TlsEngine` (tests and the benchmark).

It reports what the listener negotiated (:attr:`ZapClient.group`), sends with flow control (:meth:`ZapClient.send`
waits while the socket is full) and hands every decrypted chunk to ``on_data``, so a caller can pipe many MiB
without keeping them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from OpenSSL import SSL

from hanzo_edge.gateway.zap.tls_engine import TlsEngine, TlsFailure

__all__ = ["ZapClient", "open_zap"]


class ZapClient(asyncio.Protocol):
    """One client connection (see the module docstring)."""

    def __init__(self, engine: TlsEngine, on_data: Callable[[bytes], None] | None = None) -> None:
        self.engine = engine
        self.on_data = on_data
        self.received = bytearray() if on_data is None else None
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.handshake: asyncio.Future[str | None] = loop.create_future()
        self.ended: asyncio.Future[None] = loop.create_future()  # close_notify, FIN or a failure
        self.peer_closed = False
        self._writable: asyncio.Future[None] | None = None

    @property
    def group(self) -> str | None:
        return self.engine.group

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._flush()

    def data_received(self, data: bytes) -> None:
        try:
            chunks = self.engine.feed(data)
        except TlsFailure as exc:
            self._flush()
            self._fail(exc)
            return
        self._flush()
        if self.engine.handshake_done and not self.handshake.done():
            self.handshake.set_result(self.engine.group)
        for chunk in chunks:
            if self.on_data is not None:
                self.on_data(chunk)
            elif self.received is not None:
                self.received += chunk
        if self.engine.peer_closed:
            self.peer_closed = True
            self._end()

    def eof_received(self) -> bool:
        self._end()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if exc is not None:
            self._fail(exc)
        self._end()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    async def send(self, data: bytes | memoryview) -> None:
        """Encrypt and write ``data``; returns once the socket accepts more. Raises ConnectionError once closed."""
        if self.transport is None:
            raise ConnectionError("ZAP connection closed")
        self.engine.send(data)
        self._flush()
        if self._writable is not None:
            await self._writable

    def close_write(self) -> None:
        """``close_notify`` then a FIN: our direction is over, the listener's goes on."""
        self.engine.close()
        self._flush()
        if self.transport is not None and self.transport.can_write_eof():
            self.transport.write_eof()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _flush(self) -> None:
        out = self.engine.outgoing()
        if out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(out)

    def _fail(self, exc: BaseException) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(exc)
        if not self.ended.done():
            self.ended.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def _end(self) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(ConnectionError("closed during the TLS handshake"))
        if not self.ended.done():
            self.ended.set_result(None)


async def open_zap(
    host: str,
    port: int,
    context: SSL.Context,
    *,
    server_name: str = "",
    on_data: Callable[[bytes], None] | None = None,
) -> ZapClient:
    """Connect and finish the handshake; raises TlsFailure or ConnectionError when it fails."""
    loop = asyncio.get_running_loop()
    engine = TlsEngine.client(context, server_name)
    _, client = await loop.create_connection(lambda: ZapClient(engine, on_data), host, port)
    await client.handshake
    return client
