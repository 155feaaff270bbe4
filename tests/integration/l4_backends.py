"""Real TCP and UDP backends for the layer-4 integration tests: asyncio servers on a background thread.

:class:`TCPEcho` echoes every byte (optionally behind TLS, optionally greeting first), records the first bytes of
each connection (a PROXY header shows there) and half-closes when the client does. :class:`UDPEcho` answers each
datagram with ``<name>:<payload>`` and records the client addresses it saw.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Coroutine
from typing import Any

__all__ = ["L4Loop", "TCPEcho", "UDPEcho"]


class L4Loop:
    """An event loop on a daemon thread that the backends run on."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.closers: list[Any] = []  # servers and transports to close at the end
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        """Close every server, cancel every connection handler, then stop and close the loop."""

        async def shutdown() -> None:
            for closer in self.closers:
                closer.close()
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.sleep(0)  # let closed transports finish closing

        self.run(shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.loop.is_running():
            self.loop.close()


class TCPEcho:
    """A TCP echo server on 127.0.0.1 (``tls``: a server context; ``greeting``: sent as soon as a client connects)."""

    def __init__(
        self,
        l4: L4Loop,
        *,
        name: str = "echo",
        tls: ssl.SSLContext | None = None,
        greeting: bytes = b"",
        hold_after_eof: bool = False,
    ) -> None:
        self.l4 = l4
        self.name = name
        self.tls = tls
        self.greeting = greeting
        self.hold_after_eof = hold_after_eof  # keep the connection open after the client's FIN
        self.first_bytes: list[bytes] = []
        self.eofs = 0
        self.handshakes = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    def start(self) -> TCPEcho:
        self.server = self.l4.run(asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls))
        self.l4.closers.append(self.server)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if writer.get_extra_info("ssl_object") is not None:
            self.handshakes += 1
        first = True
        self.writers.add(writer)
        try:
            if self.greeting:
                writer.write(self.greeting)
            while True:
                data = await reader.read(65536)
                if not data:
                    self.eofs += 1
                    break
                if first:
                    self.first_bytes.append(data)
                    first = False
                writer.write(data)
                await writer.drain()
            if self.hold_after_eof:
                await asyncio.sleep(3600)  # never answer the FIN (cancelled when the loop closes)
            elif writer.can_write_eof():
                writer.write_eof()
            await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()


class _UDPEchoProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: UDPEcho) -> None:
        self.owner = owner
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.owner.peers.append(addr)
        assert self.transport is not None
        self.transport.sendto(self.owner.name.encode() + b":" + data, addr)


class UDPEcho:
    """A UDP server on 127.0.0.1 answering ``<name>:<datagram>``; ``peers`` lists each datagram's source."""

    def __init__(self, l4: L4Loop, name: str = "udp") -> None:
        self.l4 = l4
        self.name = name
        self.peers: list[tuple[str, int]] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    def start(self) -> UDPEcho:
        async def open_endpoint() -> asyncio.DatagramTransport:
            transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: _UDPEchoProtocol(self), local_addr=("127.0.0.1", 0)
            )
            return transport

        self.transport = self.l4.run(open_endpoint())
        self.l4.closers.append(self.transport)
        self.port = self.transport.get_extra_info("sockname")[1]
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.transport is not None:
            self.l4.loop.call_soon_threadsafe(self.transport.close)
