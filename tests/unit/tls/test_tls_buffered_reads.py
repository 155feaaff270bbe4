"""``BufferedReads``: decrypted TLS reads go through one reused buffer, and the application sees the same bytes.

Real uvloop TLS on a socketpair (server: our options' context; client: ``ssl`` defaults). Without the adapter every
read of uvloop's copying path allocates a 256 KiB ``bytes`` (``mmap``/``munmap`` per request in a server process);
``tracemalloc``'s peak shows it, so the test fails on that path and passes through the adapter.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import tracemalloc
from collections.abc import Awaitable, Callable

import pytest
import uvloop

from hanzo_edge.config.tls import TLSOptions
from hanzo_edge.http.pool import ConnectionPool, TransportOptions
from hanzo_edge.http.tls_buffered_reads import BufferedReads, buffer_reads
from hanzo_edge.tls.certificates import default_generated_certificate
from hanzo_edge.tls.options import compile_options


class Recorder(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.transport: asyncio.Transport | None = None
        self.data = bytearray()
        self.eof = loop.create_future()
        self.lost = loop.create_future()
        self.grew = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        assert type(data) is bytes  # the application keeps what it is given: never a view of the shared buffer
        self.data += data
        self.grew.set()

    def eof_received(self) -> bool:
        self.eof.set_result(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)


async def wait_for_bytes(recorder: Recorder, size: int) -> None:
    async with asyncio.timeout(10):
        while len(recorder.data) < size:
            recorder.grew.clear()
            await recorder.grew.wait()


async def tls_pair(
    loop: asyncio.AbstractEventLoop, buffered: bool
) -> tuple[Recorder, asyncio.Transport, Callable[[], Awaitable[None]]]:
    cert = default_generated_certificate()
    server_ctx = compile_options("default", TLSOptions()).context(cert.cert_path, cert.key_path)
    client_ctx = ssl.create_default_context()
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    server_sock, client_sock = socket.socketpair()
    recorder = Recorder(loop)
    accepted = loop.create_task(loop.connect_accepted_socket(lambda: recorder, server_sock, ssl=server_ctx))
    client, _ = await loop.create_connection(asyncio.Protocol, sock=client_sock, ssl=client_ctx, server_hostname="a")
    server, _ = await accepted
    if buffered:
        buffer_reads(server)

    async def close() -> None:
        server.close()
        client.close()

    return recorder, client, close


def run(coro: Callable[[], Awaitable[None]]) -> None:
    uvloop.run(coro())  # type: ignore[arg-type]


def test_the_application_gets_every_byte_in_order_and_the_end() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        recorder, client, close = await tls_pair(loop, buffered=True)
        assert recorder.transport is not None
        assert isinstance(recorder.transport.get_protocol(), BufferedReads)
        sent = b"".join(bytes([i % 251]) * (i * 97 % 3000 + 1) for i in range(200))  # many records, odd sizes
        big = bytes(range(256)) * 4096  # 1 MiB: more than the shared buffer holds at once
        for chunk in (sent, big):
            client.write(chunk)
        await wait_for_bytes(recorder, len(sent) + len(big))
        assert bytes(recorder.data) == sent + big
        client.close()  # close_notify: the application hears the end, then the loss
        async with asyncio.timeout(10):
            await recorder.eof
            await recorder.lost
        await close()

    run(scenario)


def test_an_application_that_hands_the_connection_over_is_out_of_the_adapter() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        recorder, client, close = await tls_pair(loop, buffered=True)
        client.write(b"first")
        await wait_for_bytes(recorder, 5)
        successor = Recorder(loop)
        assert recorder.transport is not None
        recorder.transport.set_protocol(successor)  # what HttpProtocol does for h2c by prior knowledge
        client.write(b"second")
        await wait_for_bytes(successor, 6)
        assert (bytes(recorder.data), bytes(successor.data)) == (b"first", b"second")
        await close()

    run(scenario)


@pytest.mark.parametrize("buffered", [True, False], ids=["adapter", "uvloop-copying-path"])
def test_small_reads_allocate_no_256k_bytes(buffered: bool) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        recorder, client, close = await tls_pair(loop, buffered)
        client.write(b"warm-up")
        await wait_for_bytes(recorder, 7)
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            for i in range(1, 21):
                client.write(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                await wait_for_bytes(recorder, 7 + 27 * i)
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        await close()
        if buffered:
            assert peak < 64 * 1024
        else:
            assert peak >= 256 * 1024  # the path the adapter avoids: a 256 KiB bytes per read

    run(scenario)


def test_connections_to_https_backends_read_through_the_adapter() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        cert = default_generated_certificate()
        server_ctx = compile_options("default", TLSOptions()).context(cert.cert_path, cert.key_path)
        backend = Recorder(loop)
        server = await loop.create_server(lambda: backend, "127.0.0.1", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        pool = ConnectionPool("https", "127.0.0.1", port, TransportOptions(insecure_skip_verify=True))
        conn = await pool.acquire()
        assert conn.transport is not None
        assert isinstance(conn.transport.get_protocol(), BufferedReads)
        assert conn.transport.get_protocol().app is conn  # type: ignore[attr-defined]
        conn.transport.write(b"ping")
        await wait_for_bytes(backend, 4)
        conn.transport.close()
        server.close()
        await server.wait_closed()

    run(scenario)
