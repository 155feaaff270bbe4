"""Per-request Python cost of the issue-4 five-middleware chain, without sockets (see hot_path_micro.py).

Run: ``python benchmarks/chain_micro.py [N] [--profile] [--bare]``.
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import sys
import time

import uvloop
from hot_path_micro import REQUEST, DownTransport, UpTransport

from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.http.server import HttpProtocol
from hanzo_edge.http.settings import ConnectionContext, EntrypointSettings
from hanzo_edge.http.upstream import UpstreamConnection
from hanzo_edge.routing.build import build_tables

CHAIN = {
    "hdr": {"headers": {"customRequestHeaders": {"X-Bench": "1"}, "customResponseHeaders": {"X-Served-By": "edge"}}},
    "strip": {"stripPrefix": {"prefixes": ["/nothing-to-strip"]}},
    "allow": {"ipAllowList": {"sourceRange": ["127.0.0.1/32"]}},
    "limit": {"rateLimit": {"average": 100000000, "burst": 100000000}},
    "retry": {"retry": {"attempts": 2}},
}


async def run(n: int, profile: bool, bare: bool) -> None:
    loop = asyncio.get_running_loop()
    router = {"rule": "Host(`127.0.0.1`)", "service": "s"}
    if not bare:
        router["middlewares"] = list(CHAIN)
    http = {
        "routers": {"bench": router},
        "services": {"s": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}}},
        "middlewares": CHAIN,
    }
    config, _ = decode_dynamic({"http": http})
    pools = PoolRegistry()
    options = TransportOptions()
    result = build_tables({"file": config}, ["web"], ["web"], pools, options)
    if result.errors:
        raise SystemExit(f"build errors: {result.errors}")
    pool = pools.get(options, "http", "127.0.0.1", 9)
    conn = UpstreamConnection(pool.on_release)
    up = UpTransport(loop)
    up.conn = conn
    conn.connection_made(up)
    pool.active += 1
    pool.on_release(conn, True)  # idle in the pool, as after a first exchange
    ctx = ConnectionContext(EntrypointSettings(), result.tables["web"].lookup, loop)
    proto = HttpProtocol(ctx)
    down = DownTransport()
    proto.connection_made(down)

    async def one() -> None:
        down.done = loop.create_future()
        proto.data_received(REQUEST)
        await down.done

    for _ in range(2000):
        await one()
    prof = cProfile.Profile() if profile else None
    if prof:
        prof.enable()
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            await one()
        best = min(best, (time.perf_counter() - t0) * 1e6 / n)
    if prof:
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(22)
    print(f"{'bare' if bare else 'chain of 5'}: {best:.2f} us/request (python, no syscalls)")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 20000
    uvloop.run(run(n, "--profile" in sys.argv, "--bare" in sys.argv))


if __name__ == "__main__":
    main()
