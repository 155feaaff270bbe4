"""TLS connections to backends decrypt into the shared read buffer (http/tls_buffered_reads.py), whatever ALPN chose.

The HTTP/2 pool's dial (``_AlpnChoice``) hands the transport to an HTTP/2 connection or, when the origin answers
ALPN without h2, to an HTTP/1.1 connection the HTTP/1.1 pool adopts: both read through :class:`BufferedReads`, and
what the backend sends still arrives whole.
"""

from __future__ import annotations

import asyncio
import ssl

import pytest
import trustme
from edge_wire import async_test

from hanzo_edge.http.h2.pool import H2Pool
from hanzo_edge.http.pool import ConnectionPool, TransportOptions
from hanzo_edge.http.tls_buffered_reads import BufferedReads

BODY = bytes(range(256)) * 1200  # 307,200 bytes: more than one 256 KiB read


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def tls_backend(ca: trustme.CA, alpn: list[str]) -> tuple[asyncio.Server, int]:
    """A TLS server that answers any HTTP/1.1 request with BODY (and just holds an HTTP/2 connection open)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    context.set_alpn_protocols(alpn)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    return server, server.sockets[0].getsockname()[1]


@async_test
async def test_h2_dial_reads_through_the_shared_buffer(ca: trustme.CA) -> None:
    server, port = await tls_backend(ca, ["h2"])
    pool = H2Pool("https", "127.0.0.1", port, TransportOptions(root_cas=(ca.cert_pem.bytes().decode(),)))
    try:
        conn = await asyncio.wait_for(pool.acquire(), 10)
        assert conn is not None
        assert conn.transport is not None
        assert isinstance(conn.transport.get_protocol(), BufferedReads)
    finally:
        pool.abandon()
        server.close()
        await server.wait_closed()


@async_test
async def test_http11_answer_to_the_h2_dial_reads_through_the_shared_buffer(ca: trustme.CA) -> None:
    server, port = await tls_backend(ca, ["http/1.1"])
    opts = TransportOptions(root_cas=(ca.cert_pem.bytes().decode(),))
    fallback = ConnectionPool("https", "127.0.0.1", port, opts)
    pool = H2Pool("https", "127.0.0.1", port, opts, fallback)
    try:
        assert await asyncio.wait_for(pool.acquire(), 10) is None  # an HTTP/1.1 origin: the fallback serves it
        conn = fallback.acquire_idle()
        assert conn is not None
        assert conn.transport is not None
        assert isinstance(conn.transport.get_protocol(), BufferedReads)
        head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        response = await asyncio.wait_for(conn.send(head, b"", chunked=False, head_request=False), 10)
        assert response.status == 200
        body = response.body
        assert not isinstance(body, bytes)
        assert await asyncio.wait_for(body.read(), 10) == BODY
    finally:
        fallback.close()
        pool.abandon()
        server.close()
        await server.wait_closed()
