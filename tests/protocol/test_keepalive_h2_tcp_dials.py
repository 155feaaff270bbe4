"""TCP keep-alive on the dials the HTTP/1.1 pool does not make: the HTTP/2 pool's and the TCP router's.

Traefik dials every backend with Go's ``net.Dialer{KeepAlive: 30s}`` (TCP routers: the serversTransport's
``dialKeepAlive``). Go 1.23+ applies that as idle = the value, then a probe every 15 s, 9 of them; a negative value
turns probes off. Checked with ``getsockopt`` on the real sockets.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

import pytest
import trustme
from edge_wire import async_test

from hanzo_edge.http.h2.pool import H2Pool
from hanzo_edge.http.pool import TransportOptions
from hanzo_edge.server.tcp_proxy import set_keep_alive

pytestmark = pytest.mark.skipif(
    not all(hasattr(socket, n) for n in ("TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT")),
    reason="Linux TCP keep-alive options",
)


def keep_alive(sock: socket.socket) -> tuple[int, int, int, int]:
    return (
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
    )


@pytest.mark.parametrize(("interval", "want"), [(40.0, (1, 40, 15, 9)), (0.0, (1, 15, 15, 9)), (2.5, (1, 3, 15, 9))])
def test_a_tcp_router_dial_probes_as_gos_dialer(interval: float, want: tuple[int, int, int, int]) -> None:
    with socket.socket() as sock:
        set_keep_alive(sock, interval)
        assert keep_alive(sock) == want


def test_a_negative_dial_keep_alive_turns_probes_off() -> None:
    with socket.socket() as sock:
        set_keep_alive(sock, -1.0)
        assert keep_alive(sock)[0] == 0


@async_test
async def test_the_h2_pool_dial_gets_keep_alive_probes() -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    context.set_alpn_protocols(["h2"])

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    roots = (ca.cert_pem.bytes().decode(),)
    pools = [
        H2Pool("https", "127.0.0.1", port, TransportOptions(root_cas=roots)),
        H2Pool("https", "127.0.0.1", port, TransportOptions(root_cas=roots, dial_keep_alive=-1.0)),
    ]
    try:
        seen = []
        for pool in pools:
            conn = await asyncio.wait_for(pool.acquire(), 10)
            assert conn is not None
            assert conn.transport is not None
            seen.append(keep_alive(conn.transport.get_extra_info("socket")))
        assert seen[0] == (1, 30, 15, 9)  # Traefik's dialer: KeepAlive 30 s
        assert seen[1][0] == 0
    finally:
        for pool in pools:
            pool.abandon()
        server.close()
        await server.wait_closed()
