"""In-process A/B of what issue 22's "full product" adds per request, wired as the ingress wires it, without sockets.

``obs22_cpu_probe.py`` measures the real process through wrk, but its round-to-round noise (±1-2 us/request on a
shared machine) hides the sub-microsecond levers. This runs the same request loop as ``hot_path_micro.py`` (one
``HttpProtocol`` over fake transports, a pooled upstream that answers at once) with the pieces the full product
adds, built the app's way:

* ``bare``: the bench router ``Host(`127.0.0.1`)`` alone, no observer;
* ``metrics``: ``--metrics.prometheus.entryPoint=web``: the ``prometheus@internal`` router (from
  ``routing/internal.py``) before the bench router, and the ``Metrics`` observer;
* ``full``: that, plus a ``headers`` middleware (custom response header + STS, as ``HEADERS=1``) and the JSON
  access log to ``/dev/null``, the two observers behind the app's ``FanOut``.

Usage: ``python benchmarks/nat22_full_micro.py --compare AFTER_TREE BEFORE_TREE`` runs one child process per tree
and repeat, alternating (``PYTHONPATH`` = the tree), and prints each variant's median over the repeats of each
child's best round (CPU µs per request). Hold the shared lock: ``flock -w 900 /tmp/hanzo-bench.lock ...``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VARIANTS = ("bare", "metrics", "full")
HEADERS = {"hdr": {"headers": {"customResponseHeaders": {"X-Served-By": "edge"}, "stsSeconds": 31536000}}}


def child(names: list[str], n: int, rounds: int) -> dict[str, float]:
    """Measure ``names`` in this process (imports the tree on ``sys.path``); return best µs CPU per request."""
    import asyncio
    import gc
    import time
    from typing import Any

    import uvloop
    from hot_path_micro import REQUEST, DownTransport, UpTransport

    from hanzo_edge.config.dynamic import decode_dynamic
    from hanzo_edge.config.loader import load_static
    from hanzo_edge.http.pool import PoolRegistry, TransportOptions
    from hanzo_edge.http.server import HttpProtocol
    from hanzo_edge.http.settings import ConnectionContext, EntrypointSettings
    from hanzo_edge.http.upstream import UpstreamConnection
    from hanzo_edge.observability.accesslog import AccessLog
    from hanzo_edge.observability.fan_out import FanOut
    from hanzo_edge.observability.metrics import Metrics
    from hanzo_edge.routing.build import build_tables
    from hanzo_edge.routing.internal import InternalHandlers, PingHandler, internal_routes

    async def variant(name: str, loop: asyncio.AbstractEventLoop) -> Any:
        router: dict[str, Any] = {"rule": "Host(`127.0.0.1`)", "service": "s", "entryPoints": ["web"]}
        if name == "full":
            router["middlewares"] = list(HEADERS)
        http = {
            "routers": {"bench": router},
            "services": {"s": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}}},
            "middlewares": HEADERS,
        }
        config, _ = decode_dynamic({"http": http})
        metrics = Metrics() if name != "bare" else None
        flags = ["--entrypoints.web.address=:8080"]
        if metrics is not None:
            flags += ["--metrics.prometheus=true", "--metrics.prometheus.entryPoint=web"]
        static = load_static(flags, {}, search=False)
        handlers = InternalHandlers(ping=PingHandler(), prometheus=metrics.handler if metrics is not None else None)
        internal = internal_routes(static, handlers)
        pools = PoolRegistry()
        options = TransportOptions()
        result = build_tables(
            {"file": config},
            ["web"],
            ["web"],
            pools,
            options,
            internal_routes=internal.routes,
            internal_services={"prometheus@internal": metrics.handler} if metrics is not None else None,
        )
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
        access_log = None
        if name == "full" and metrics is not None:
            access_log = AccessLog(format="json", file_path=os.devnull)
            ctx.observer = FanOut((access_log.observer, metrics.observer))  # the app's order (app._observer_for)
        elif metrics is not None:
            ctx.observer = metrics.observer
        proto = HttpProtocol(ctx)
        down = DownTransport()
        proto.connection_made(down)

        async def one() -> None:
            down.done = loop.create_future()
            proto.data_received(REQUEST)
            await down.done

        return one, access_log, result

    async def run() -> dict[str, float]:
        loop = asyncio.get_running_loop()
        built = {name: await variant(name, loop) for name in names}
        gc.freeze()  # as the ingress does after each build (routing/heap.py)
        for one, _, _ in built.values():
            for _ in range(2000):
                await one()
        best = dict.fromkeys(names, float("inf"))
        for _ in range(rounds):
            for name in names:
                one = built[name][0]
                t0 = time.process_time()
                for _ in range(n):
                    await one()
                best[name] = min(best[name], (time.process_time() - t0) * 1e6 / n)
        for _, access_log, _ in built.values():
            if access_log is not None:
                await access_log.aclose()
        return best

    return uvloop.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("n", nargs="?", type=int, default=20000, help="requests per variant and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--repeats", type=int, default=3, help="child processes per tree (alternating)")
    parser.add_argument("--compare", nargs="+", default=[], metavar="TREE", help="trees to A/B (first is 'A')")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    names = args.variants.split(",")
    if args.child or not args.compare:
        print(json.dumps(child(names, args.n, args.rounds)))
        return
    figures: dict[str, dict[str, list[float]]] = {tree: {name: [] for name in names} for tree in args.compare}
    for _ in range(args.repeats):
        for tree in args.compare:
            env = dict(os.environ, PYTHONPATH=f"{tree}{os.pathsep}{HERE}")
            cmd = [sys.executable, __file__, str(args.n), "--rounds", str(args.rounds), "--variants", args.variants]
            out = subprocess.run([*cmd, "--child"], env=env, capture_output=True, text=True, check=True, timeout=300)
            for name, value in json.loads(out.stdout.strip().splitlines()[-1]).items():
                figures[tree][name].append(value)
    first = args.compare[0]
    for name in names:
        base = statistics.median(figures[first][name])
        for tree in args.compare:
            values = figures[tree][name]
            med = statistics.median(values)
            spread = ", ".join(f"{v:.2f}" for v in values)
            print(f"{name:>8} {tree}: {med:6.2f} us CPU/request ({med - base:+.2f} vs first; {spread})")


if __name__ == "__main__":
    main()
