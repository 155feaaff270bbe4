"""Per-request CPU of relaying a large (1 MiB) response, without sockets: the copies and Python work of the relay.

The ``large`` scenario's path (``../shared/bench/run.py``: GET ``/large.bin``, 1 MiB, keep-alive) in process: a real
``HttpProtocol`` → ``RoutingTable`` → ``ServerTarget`` → ``UpstreamConnection``, with mock transports on both legs
(``hot_path_micro.py``'s). The upstream mock delivers the response in uvloop's read size (256,000 bytes per
``data_received``), several reads per loop iteration as libuv's read loop does, and stops while the connection has
paused reading; the downstream mock swallows ``write``/``writelines`` without copying. So the figure is what our
code and the libraries it calls (httptools, joins, slices) spend on a megabyte, kernel copies excluded.

Run: ``python benchmarks/large_relay_micro.py [N] [--rounds R] [--size BYTES] [--untuned]``; the best of R rounds,
CPU time (``time.process_time``) per request. The process sets the malloc thresholds ingress sets at startup
(``server/malloc_tuning.py``) unless ``--untuned``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import uvloop
from hot_path_micro import REQUEST, DownTransport

from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.http.proxy import ServerTarget
from hanzo_edge.http.server import HttpProtocol
from hanzo_edge.http.settings import ConnectionContext, EntrypointSettings
from hanzo_edge.http.upstream import UpstreamConnection
from hanzo_edge.routing.build import not_found
from hanzo_edge.routing.table import Route, RoutingTable
from hanzo_edge.rules.compile import compile_rule
from hanzo_edge.server.malloc_tuning import tune_malloc
from hanzo_edge.services.wrr import WeightedRoundRobin

READ_SIZE = 256_000  # uvloop's read buffer for a plain stream
READS_PER_ITERATION = 32  # libuv reads a readable stream up to 32 times per wake-up


class SinkTransport(DownTransport):
    """The client side: counts what is written, copies nothing, and says when a whole response went out."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0
        self.target = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._count(len(data))

    def writelines(self, list_of_data: object) -> None:
        total = 0
        for data in list_of_data:  # type: ignore[attr-defined]
            total += len(data)
        self._count(total)

    def _count(self, n: int) -> None:
        self.written += n
        if self.target and self.written >= self.target and self.done is not None and not self.done.done():
            self.done.set_result(None)


class ChunkedUpstream(DownTransport):
    """The backend side: answers each request with ``response`` in READ_SIZE pieces, honouring pause_reading."""

    def __init__(self, loop: asyncio.AbstractEventLoop, response: bytes) -> None:
        super().__init__()
        self.loop = loop
        self.conn: UpstreamConnection | None = None
        self.pieces = [response[i : i + READ_SIZE] for i in range(0, len(response), READ_SIZE)]
        self.next = len(self.pieces)
        self.paused = False
        self.scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if data.startswith(b"GET "):
            self.next = 0
            self._schedule()

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False
        self._schedule()

    def _schedule(self) -> None:
        if not self.scheduled and self.next < len(self.pieces):
            self.scheduled = True
            self.loop.call_soon(self._deliver)

    def _deliver(self) -> None:
        self.scheduled = False
        conn = self.conn
        for _ in range(READS_PER_ITERATION):
            if self.paused or conn is None or self.next >= len(self.pieces):
                return
            piece = self.pieces[self.next]
            self.next += 1
            conn.data_received(piece)
        self._schedule()


async def run(n: int, rounds: int, size: int) -> float:
    loop = asyncio.get_running_loop()
    body = os.urandom(size)
    response = (
        b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 22 Nov 2026 03:54:34 GMT\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Length: %d\r\nConnection: keep-alive\r\n\r\n" % size
    ) + body
    pools = PoolRegistry()
    target = ServerTarget("http://127.0.0.1:9", pools, TransportOptions())
    pool = target.pool
    conn = UpstreamConnection(pool.on_release)
    up = ChunkedUpstream(loop, response)
    up.conn = conn
    conn.connection_made(up)
    pool.active += 1
    pool.on_release(conn, True)
    rule = compile_rule("Host(`127.0.0.1`)")
    route = Route("bench@file", 19, rule.matches, WeightedRoundRobin([("s", 1, target)]), rule.hosts, rule.host_only)
    table = RoutingTable([route], not_found)
    ctx = ConnectionContext(EntrypointSettings(), table.lookup, loop)
    proto = HttpProtocol(ctx)
    down = SinkTransport()
    proto.connection_made(down)

    # The first response sizes what the client receives per request (our head differs from the backend's).
    proto.data_received(REQUEST)
    for _ in range(10_000):
        if proto._active is None and down.written:
            break
        await asyncio.sleep(0)
    down.target = down.written

    async def one() -> None:
        down.written = 0
        down.done = loop.create_future()
        proto.data_received(REQUEST)
        await down.done

    for _ in range(50):
        await one()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        for _ in range(n):
            await one()
        best = min(best, (time.process_time() - t0) * 1e6 / n)
    print(f"{n} responses of {size} bytes, best of {rounds}: {best:.1f} us CPU/request (in process, no syscalls)")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("n", nargs="?", type=int, default=2000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best is reported")
    parser.add_argument("--size", type=int, default=1 << 20, help="response body bytes")
    parser.add_argument("--untuned", action="store_true", help="keep glibc's malloc thresholds (no tune_malloc)")
    args = parser.parse_args()
    if not args.untuned:
        tune_malloc()  # as ingress and gateway do at startup (server/malloc_tuning.py)
    uvloop.run(run(args.n, max(1, args.rounds), args.size))


if __name__ == "__main__":
    main()
