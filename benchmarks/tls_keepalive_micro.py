"""Per-request cost of a keep-alive request over TLS against the same request in clear, in one process.

Both ends of a ``socketpair`` run on one uvloop loop: the server side is the real ``HttpProtocol`` (made the way the
TLS stage hands it a decrypting transport: uvloop's ``SSLProtocol`` with our options' context), routed through the
entrypoint's ``HandlerSwitch`` and ``SecureRoutingTable`` (the 421 check) to a ``ServerTarget`` whose upstream is
canned (``hot_path_micro``'s), so no backend process or socket is involved on that leg. The client is uvloop's TLS
client sending one GET at a time. The figure is process CPU per request of client + server; the client's share is the
same in every variant, so differences between runs of two trees are the server's.

Run: ``python benchmarks/tls_keepalive_micro.py [N] [--rounds R] [--plain|--tls] [--copied-reads] [--profile]`` (best
of R rounds; ``--copied-reads`` leaves the server on uvloop's copying read path, as before ``BufferedReads``).
``--smoke`` runs a few thousand requests of both variants (seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import socket
import ssl
import time

import uvloop
from hot_path_micro import RESPONSE, UpTransport

from hanzo_edge.config.tls import TLSOptions
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.http.proxy import ServerTarget
from hanzo_edge.http.server import HttpProtocol
from hanzo_edge.http.settings import ConnectionContext, EntrypointSettings
from hanzo_edge.http.tls_buffered_reads import buffer_reads
from hanzo_edge.http.upstream import UpstreamConnection
from hanzo_edge.routing.build import not_found
from hanzo_edge.routing.secure_table import SecureRoutingTable
from hanzo_edge.routing.switch import HandlerSwitch
from hanzo_edge.routing.table import Route, RoutingTable
from hanzo_edge.rules.compile import compile_rule
from hanzo_edge.services.wrr import WeightedRoundRobin
from hanzo_edge.tls.catalog import TLSCatalog
from hanzo_edge.tls.certificates import CertificateStore, default_generated_certificate
from hanzo_edge.tls.options import compile_options

REQUEST = b"GET / HTTP/1.1\r\nHost: a.test\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"
RESPONSE_SIZE = len(RESPONSE)  # the proxy re-frames the canned response; the client only counts to its body's end


class Client(asyncio.Protocol):
    """Sends one request, waits for one whole response (Content-Length 100), repeats."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.done: asyncio.Future[None] | None = None
        self.ready = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.ready.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end >= 0 and len(self.buffer) >= head_end + 4 + 100:
            self.buffer = b""
            if self.done is not None and not self.done.done():
                self.done.set_result(None)

    async def one(self) -> None:
        assert self.transport is not None
        self.done = self.loop.create_future()
        self.transport.write(REQUEST)
        await self.done


def server_side(loop: asyncio.AbstractEventLoop) -> tuple[ConnectionContext, ssl.SSLContext]:
    pools = PoolRegistry()
    target = ServerTarget("http://127.0.0.1:9", pools, TransportOptions())
    pool = target.pool
    conn = UpstreamConnection(pool.on_release)
    up = UpTransport(loop)
    up.conn = conn
    conn.connection_made(up)
    pool.active += 1
    pool.on_release(conn, True)
    rule = compile_rule("Host(`a.test`)")
    route = Route("bench@file", 19, rule.matches, WeightedRoundRobin([("s", 1, target)]), rule.hosts, rule.host_only)
    cert = default_generated_certificate()
    catalog = TLSCatalog(CertificateStore.of([], cert))
    catalog.options["default"] = compile_options("default", TLSOptions())
    catalog.hosts["websecure"] = {"a.test": "default"}
    secure = SecureRoutingTable([route], not_found, entry_point="websecure", options_for_host=catalog.options_for_host)
    switch = HandlerSwitch(RoutingTable([route], not_found), secure)
    context = catalog.context_for("websecure", "a.test")
    assert context is not None
    return ConnectionContext(EntrypointSettings(name="websecure"), switch.lookup, loop), context


async def run(n: int, rounds: int, tls: bool, profile: bool, copied_reads: bool = False) -> float:
    loop = asyncio.get_running_loop()
    ctx, server_ctx = server_side(loop)
    client_ctx = ssl.create_default_context()
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    server_sock, client_sock = socket.socketpair()
    server = HttpProtocol(ctx)
    server_task = loop.create_task(
        loop.connect_accepted_socket(lambda: server, server_sock, ssl=server_ctx if tls else None)
    )
    _, client = await loop.create_connection(
        lambda: Client(loop),
        sock=client_sock,
        ssl=client_ctx if tls else None,
        server_hostname="a.test" if tls else None,
    )
    await server_task
    await client.ready
    if tls and not copied_reads and server.transport is not None:
        buffer_reads(server.transport)  # what the TLS stage does once the handshake is done
    for _ in range(min(n, 2000)):
        await client.one()
    best = float("inf")
    for _ in range(rounds):
        prof = cProfile.Profile() if profile else None
        if prof:
            prof.enable()
        t0 = time.process_time()
        for _ in range(n):
            await client.one()
        dt = time.process_time() - t0
        if prof:
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(30)
        best = min(best, dt * 1e6 / n)
    assert client.transport is not None
    client.transport.close()
    print(f"{'TLS  ' if tls else 'plain'} {n} requests, best of {rounds}: {best:.2f} us/request (CPU, client+server)")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("n", nargs="?", type=int, default=30000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best is reported")
    parser.add_argument("--plain", action="store_true", help="only the clear-text variant")
    parser.add_argument("--tls", action="store_true", help="only the TLS variant")
    parser.add_argument(
        "--copied-reads", action="store_true", help="leave uvloop's copying read path (the server before the fix)"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile each round (top 30 by own time)")
    parser.add_argument("--smoke", action="store_true", help="3000 requests, 1 round, both variants")
    args = parser.parse_args()
    n, rounds = (3000, 1) if args.smoke else (args.n, max(1, args.rounds))
    variants = [False] if args.plain else [True] if args.tls else [False, True]
    figures = {tls: uvloop.run(run(n, rounds, tls, args.profile, args.copied_reads)) for tls in variants}
    if len(figures) == 2:
        print(f"TLS adds {figures[True] - figures[False]:.2f} us/request")


if __name__ == "__main__":
    main()
