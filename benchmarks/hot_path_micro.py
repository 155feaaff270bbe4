"""Per-request Python cost of the proxy hot path, without sockets (mock transports on both legs).

Drives a real ``HttpProtocol`` → ``RoutingTable`` → ``WeightedRoundRobin`` → ``ServerTarget`` → ``UpstreamConnection``
with a canned nginx-like response, so the figure is the interpreter's share of a proxied keep-alive GET.
Run: ``python benchmarks/hot_path_micro.py [N] [--rounds R] [--cpu] [--profile] [--json] [--routers N]``: the best
of R rounds is printed. ``--cpu`` times with ``time.process_time`` (this process's CPU), which other load on a shared
machine disturbs far less than wall time; ``--json`` prints ``{"us_per_request": ...}`` as the last line (for
``compile_lever.py``). Pure Python by default; ``PYTHONPATH=build/compiled/src`` runs the compiled tree
(``make compiled``), and the printout says which build ran.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import pstats
import time

import uvloop

from hanzo_edge.http import server as server_module
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.http.proxy import ServerTarget
from hanzo_edge.http.server import HttpProtocol
from hanzo_edge.http.settings import ConnectionContext, EntrypointSettings
from hanzo_edge.http.upstream import UpstreamConnection
from hanzo_edge.routing.build import not_found
from hanzo_edge.routing.switch import HandlerSwitch
from hanzo_edge.routing.table import Route, RoutingTable
from hanzo_edge.rules.compile import compile_rule
from hanzo_edge.services.wrr import WeightedRoundRobin

# mypyc's build (scripts/build_compiled.py) makes the hot modules extension modules.
BUILD = "compiled" if (server_module.__file__ or "").endswith(".so") else "pure"
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 22 Nov 2026 03:54:34 GMT\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Length: 100\r\nConnection: keep-alive\r\n\r\n" + b"x" * 100
)


class DownTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.out = 0
        self.done: asyncio.Future[None] | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.out += 1
        if self.done is not None and not self.done.done():
            self.done.set_result(None)

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class UpTransport(DownTransport):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.loop = loop
        self.conn: UpstreamConnection | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        conn = self.conn
        if conn is not None:
            self.loop.call_soon(conn.data_received, RESPONSE)


def decoy_routes(count: int, service: WeightedRoundRobin) -> list[Route]:
    """``count`` host routers ``Host(`svc-i.example.com`)`` beside the measured one (issue 22's 10,000-router row)."""
    routes = []
    for i in range(count):
        rule = compile_rule(f"Host(`svc-{i}.example.com`)")
        routes.append(Route(f"decoy{i}@file", 30, rule.matches, service, rule.hosts, rule.host_only))
    return routes


async def run(n: int, rounds: int, profile: bool, cpu: bool, routers: int = 1) -> float:
    loop = asyncio.get_running_loop()
    pools = PoolRegistry()
    options = TransportOptions()
    target = ServerTarget("http://127.0.0.1:9", pools, options)
    pool = target.pool
    conn = UpstreamConnection(pool.on_release)
    up = UpTransport(loop)
    up.conn = conn
    conn.connection_made(up)
    pool.active += 1
    pool.on_release(conn, True)  # idle in the pool, as after a first exchange
    rule = compile_rule("Host(`127.0.0.1`)")
    route = Route("bench@file", 19, rule.matches, WeightedRoundRobin([("s", 1, target)]), rule.hosts, rule.host_only)
    table = RoutingTable([route, *decoy_routes(routers - 1, route.handler)], not_found)
    gc.freeze()  # as the ingress does after each build (routing/heap.py)
    # Through the entrypoint's HandlerSwitch, as the ingress looks routes up (app.py).
    ctx = ConnectionContext(EntrypointSettings(), HandlerSwitch(table).lookup, loop)
    proto = HttpProtocol(ctx)
    down = DownTransport()
    proto.connection_made(down)

    async def one() -> None:
        down.done = loop.create_future()
        proto.data_received(REQUEST)
        await down.done

    for _ in range(2000):
        await one()
    clock = time.process_time if cpu else time.perf_counter
    best = float("inf")
    for _ in range(rounds):
        prof = cProfile.Profile() if profile else None
        if prof:
            prof.enable()
        t0 = clock()
        for _ in range(n):
            await one()
        dt = clock() - t0
        if prof:
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        best = min(best, dt * 1e6 / n)
    kind = "CPU" if cpu else "wall"
    print(f"{n} requests, best of {rounds}: {best:.2f} us/request ({kind}, {BUILD}, {routers} routers, no syscalls)")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("n", nargs="?", type=int, default=50000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=1, help="rounds; the best is reported")
    parser.add_argument("--cpu", action="store_true", help="time process CPU instead of wall time")
    parser.add_argument("--profile", action="store_true", help="cProfile each round (top 25 by own time)")
    parser.add_argument("--json", action="store_true", help="print the figure as one JSON line last")
    parser.add_argument("--routers", type=int, default=1, help="routers in the table (N-1 decoy host routers)")
    args = parser.parse_args()
    best = uvloop.run(run(args.n, max(1, args.rounds), args.profile, args.cpu, max(1, args.routers)))
    if args.json:
        figures = {"us_per_request": round(best, 3), "cpu": args.cpu, "n": args.n, "rounds": args.rounds}
        print(json.dumps({**figures, "build": BUILD}))


if __name__ == "__main__":
    main()
