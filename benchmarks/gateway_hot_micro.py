"""Per-request Python cost of the gateway's no-op endpoint vs the same route through ``ingress`` (no sockets).

Both faces are built as their commands build them (``GatewayApp`` from a ``gateway.json`` like
``gateway_bench.py``'s, with the Hanzo chain from an empty environment, i.e. auth on; ``IngressApp`` with the
``replacePath`` route of ``gateway_bench.py``), then a real ``HttpProtocol`` is driven with fake transports on both
legs: the upstream answers a canned nginx-like response. The figure is the interpreter's share of one proxied
keep-alive GET. Both faces are built in one process and their rounds alternate, so a change in the machine's load
hits both alike; the best round of each is reported.

Run: ``python benchmarks/gateway_hot_micro.py [N] [--rounds R] [--cpu] [--profile] [--face gateway|ingress|both]``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from hanzo_edge.http.server import HttpProtocol
from hanzo_edge.http.settings import ConnectionContext, EntrypointSettings
from hanzo_edge.http.upstream import UpstreamConnection

UPSTREAM = "http://127.0.0.1:18099"
BODY = b'{"id":1,"name":"bench","tags":["a","b"],"nested":{"x":1,"y":"z"}}'
REQUEST = b"GET /noop HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 22 Nov 2026 03:54:34 GMT\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\nConnection: keep-alive\r\n\r\n" % len(BODY) + BODY
)


class DownTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.done: asyncio.Future[None] | None = None
        self.last = b""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.last = bytes(data)
        if self.done is not None and not self.done.done():
            self.done.set_result(None)

    def writelines(self, data: Any) -> None:
        self.write(b"".join(data))

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
    def __init__(self, loop: asyncio.AbstractEventLoop, conn: UpstreamConnection) -> None:
        super().__init__()
        self.loop = loop
        self.conn = conn

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.loop.call_soon(self.conn.data_received, RESPONSE)


def _seed_pools(app: Any, loop: asyncio.AbstractEventLoop) -> None:
    # One idle upstream connection in every pool the build made, as after a first exchange.
    for pool in app.pools._pools.values():
        conn = UpstreamConnection(pool.on_release)
        conn.connection_made(UpTransport(loop, conn))
        pool.active += 1
        pool.on_release(conn, True)


def gateway_table(work: Path) -> tuple[Any, Any]:
    from hanzo_edge.commands.gateway_check import check_gateway
    from hanzo_edge.gateway.hanzo.settings import HanzoSettings
    from hanzo_edge.gateway.server import GatewayApp, gateway_static
    from hanzo_edge.gateway.translate import ENTRY_POINT

    config = {
        "version": 3,
        "port": 8080,
        "host": [UPSTREAM],
        "endpoints": [{"endpoint": "/noop", "output_encoding": "no-op", "backend": [{"url_pattern": "/a"}]}],
    }
    path = work / "gateway.json"
    path.write_text(json.dumps(config))
    _doc, translation, errors = check_gateway(str(path), {})
    if translation is None or errors:
        raise RuntimeError(f"gateway.json: {errors}")
    app = GatewayApp(gateway_static("127.0.0.1", 8080), translation, HanzoSettings.from_env({}))
    result = app.build(app.initial_snapshots())
    return app, result.tables[ENTRY_POINT]


def ingress_table(work: Path) -> tuple[Any, Any]:
    from hanzo_edge.app import IngressApp
    from hanzo_edge.config.loader import load_static

    dynamic = {
        "http": {
            "routers": {"noop": {"rule": "Path(`/noop`)", "service": "backend", "middlewares": ["toA"]}},
            "middlewares": {"toA": {"replacePath": {"path": "/a"}}},
            "services": {"backend": {"loadBalancer": {"servers": [{"url": UPSTREAM}]}}},
        }
    }
    static = load_static(["--entrypoints.web.address=127.0.0.1:8080"], {}, search=False)
    app = IngressApp(static, provider_factories={})
    from hanzo_edge.config.dynamic import decode_dynamic

    result = app.build({"file": decode_dynamic(dynamic)[0]})
    return app, result.tables["web"]


class _Face:
    """One face built and driven: a real ``HttpProtocol`` on a fake transport, its pools seeded."""

    def __init__(self, face: str, loop: asyncio.AbstractEventLoop, work: Path) -> None:
        self.name = face
        self.loop = loop
        app, table = gateway_table(work) if face == "gateway" else ingress_table(work)
        self.app = app  # the pools live as long as the app
        _seed_pools(app, loop)
        ctx = ConnectionContext(EntrypointSettings(), table.lookup, loop)
        self.proto = HttpProtocol(ctx)
        self.down = DownTransport()
        self.proto.connection_made(self.down)

    async def one(self) -> None:
        self.down.done = self.loop.create_future()
        self.proto.data_received(REQUEST)
        await self.down.done

    async def warm(self) -> None:
        await self.one()
        if not self.down.last.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"{self.name}: unexpected answer {self.down.last[:200]!r}")
        for _ in range(2000):
            await self.one()


async def run(faces: tuple[str, ...], n: int, rounds: int, profile: bool, cpu: bool) -> dict[str, float]:
    """Best µs/request per face; the faces' rounds alternate, so drift in the machine's load hits each alike."""
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory(prefix="gateway-micro-") as tmp:
        built = [_Face(face, loop, Path(tmp)) for face in faces]
    for face in built:
        await face.warm()
    clock = time.process_time if cpu else time.perf_counter
    best = dict.fromkeys(faces, float("inf"))
    for _ in range(rounds):
        for face in built:
            prof = cProfile.Profile() if profile else None
            if prof:
                prof.enable()
            t0 = clock()
            for _ in range(n):
                await face.one()
            dt = clock() - t0
            if prof:
                prof.disable()
                print(f"--- {face.name}")
                pstats.Stats(prof).sort_stats("tottime").print_stats(25)
            best[face.name] = min(best[face.name], dt * 1e6 / n)
    for name, figure in best.items():
        print(f"{name}: {n} requests, best of {rounds}: {figure:.2f} us/request ({'CPU' if cpu else 'wall'})")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("n", nargs="?", type=int, default=20000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best is reported")
    parser.add_argument("--cpu", action="store_true", help="time process CPU instead of wall time")
    parser.add_argument("--profile", action="store_true", help="cProfile each round (top 25 by own time)")
    parser.add_argument("--face", choices=("gateway", "ingress", "both"), default="both")
    args = parser.parse_args()
    faces = ("gateway", "ingress") if args.face == "both" else (args.face,)
    figures = uvloop.run(run(faces, args.n, max(1, args.rounds), args.profile, args.cpu))
    if len(figures) == 2:
        print(f"gateway/ingress cost ratio: {figures['gateway'] / figures['ingress']:.2f}")


if __name__ == "__main__":
    main()
