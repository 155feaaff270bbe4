"""In-process CPU per request of issue 22's "full product" and its parts, without sockets (see hot_path_micro.py).

Variants, measured interleaved in one process (CPU time, best of the rounds):

* ``bare``: the bench router, nothing on;
* ``headers``: one ``headers`` middleware (``customResponseHeaders`` + ``stsSeconds``, as ``HEADERS=1`` in
  ``ingress-for-bench.sh``);
* ``metrics``: the Prometheus observer (entrypoint + service scopes, Traefik's defaults);
* ``accesslog``: the JSON access log to ``/dev/null`` (written on the loop, :mod:`...accesslog.output`);
* ``accesslog-buffered``: the same with ``bufferingSize`` 100 (one write per 100 lines, no per-iteration hand-over);
* ``accesslog-filtered``: the same with a status filter that keeps no line (the observer hook alone);
* ``full``: all three, as the app wires them (one fan-out observer).

Each request here is one event-loop iteration, so the access log's per-iteration write counts once per request (under
real load ~20 requests share one). Run: ``python benchmarks/obs22_full_micro.py [N] [--rounds R] [--profile
VARIANT]``; smoke: ``python benchmarks/obs22_full_micro.py 3000 --rounds 1``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import time
from collections.abc import Callable
from typing import Any

import uvloop
from hot_path_micro import REQUEST, DownTransport, UpTransport

from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.http.messages import Request
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.http.server import HttpProtocol
from hanzo_edge.http.settings import ConnectionContext, EntrypointSettings
from hanzo_edge.http.upstream import UpstreamConnection
from hanzo_edge.observability.accesslog import AccessLog
from hanzo_edge.observability.metrics import Metrics
from hanzo_edge.routing.build import build_tables

HEADERS = {"hdr": {"headers": {"customResponseHeaders": {"X-Served-By": "edge"}, "stsSeconds": 31536000}}}
VARIANTS = ("bare", "headers", "metrics", "accesslog", "accesslog-buffered", "accesslog-filtered", "full")
DEFAULT = ("bare", "headers", "metrics", "accesslog", "full")
Observer = Callable[[Request, int, int, float, bool], None]


async def variant(name: str, loop: asyncio.AbstractEventLoop) -> tuple[Callable[[], Any], AccessLog | None]:
    """Build the variant's protocol; return one request's coroutine function and the log to close."""
    router: dict[str, Any] = {"rule": "Host(`127.0.0.1`)", "service": "s"}
    if name in ("headers", "full"):
        router["middlewares"] = list(HEADERS)
    http = {
        "routers": {"bench": router},
        "services": {"s": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}}},
        "middlewares": HEADERS,
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
    pool.on_release(conn, True)
    ctx = ConnectionContext(EntrypointSettings(), result.tables["web"].lookup, loop)
    hooks: list[Observer] = []
    access_log = None
    if name in ("accesslog", "accesslog-buffered", "accesslog-filtered", "full"):
        buffering = 100 if name == "accesslog-buffered" else 0
        keep = ("999",) if name == "accesslog-filtered" else ()
        access_log = AccessLog(format="json", file_path=os.devnull, buffering_size=buffering, status_codes=keep)
        hooks.append(access_log.observer)
    if name in ("metrics", "full"):
        hooks.append(Metrics().observer)
    if len(hooks) == 1:
        ctx.observer = hooks[0]
    elif hooks:

        def fan_out(req: Request, status: int, size: int, duration: float, aborted: bool) -> None:
            for hook in hooks:
                hook(req, status, size, duration, aborted)

        ctx.observer = fan_out
    proto = HttpProtocol(ctx)
    down = DownTransport()
    proto.connection_made(down)

    async def one() -> None:
        down.done = loop.create_future()
        proto.data_received(REQUEST)
        await down.done

    return one, access_log


async def run(n: int, rounds: int, names: list[str], profile: str) -> None:
    loop = asyncio.get_running_loop()
    built = {name: await variant(name, loop) for name in names}
    for one, _ in built.values():
        for _ in range(2000):
            await one()
    best = dict.fromkeys(names, float("inf"))
    for _ in range(rounds):
        for name in names:
            one = built[name][0]
            prof = cProfile.Profile() if name == profile else None
            if prof:
                prof.enable()
            t0 = time.process_time()
            for _ in range(n):
                await one()
            best[name] = min(best[name], (time.process_time() - t0) * 1e6 / n)
            if prof:
                prof.disable()
                pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    base = best[names[0]]
    for name in names:
        print(f"{name:>10}: {best[name]:6.2f} us CPU/request  (+{best[name] - base:5.2f} vs {names[0]})")
    for _, access_log in built.values():
        if access_log is not None:
            await access_log.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("n", nargs="?", type=int, default=30000, help="requests per variant and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--variants", default=",".join(DEFAULT), help=f"of {', '.join(VARIANTS)}")
    parser.add_argument("--profile", default="", help="cProfile this variant (top 25 by own time)")
    args = parser.parse_args()
    names = [v for v in args.variants.split(",") if v in VARIANTS]
    uvloop.run(run(args.n, max(1, args.rounds), names, args.profile))


if __name__ == "__main__":
    main()
