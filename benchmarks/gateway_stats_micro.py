"""CPU cost of KrakenD's ``/__stats`` bookkeeping per request, without sockets: µs per request and per scrape.

Per request the gateway does what ``gateway run`` with ``telemetry/metrics`` does on the hot path: the route wrapper's
``connected`` add, the entrypoint observer's router cells (status, size and time histograms), and one proxy-layer and
one backend-layer ``record``. The figure is compared with an empty loop of the same shape. The scrape renders the map
for ``--endpoints`` endpoints. Each variant is timed ``--rounds`` times and the best round is printed.

Run: ``python benchmarks/gateway_stats_micro.py [N] [--endpoints 50] [--rounds 5]`` (``N=20000 --rounds 1`` is the
smoke run).
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace
from typing import Any, cast

from hanzo_edge.gateway.stats import GatewayStats, StatsConfig
from hanzo_edge.http.messages import Request


def _best(rounds: int, run: Any) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=200_000)
    parser.add_argument("--endpoints", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    stats = GatewayStats(StatsConfig(collection_time=3600))
    routes = {f"ep{i}-get@gateway": f"/api/v1/items/{i}/{{id}}" for i in range(args.endpoints)}
    stats.bind_routes(routes)
    req = cast(Request, SimpleNamespace(route=SimpleNamespace(name="ep0-get@gateway")))
    pipe = stats.layer_cells("pipe", "/api/v1/items/0/:id")
    backend = stats.layer_cells("backend", "/items/{{.Id}}")
    if pipe is None or backend is None:
        raise SystemExit("layers are off")
    n = args.n

    def counted() -> None:
        observe, record_pipe, record_backend = stats.observe, pipe.record, backend.record
        for _ in range(n):
            stats.connected += 1
            record_backend(True, False, 0.0012)
            record_pipe(True, False, 0.0013)
            observe(req, 200, 512, 0.0015, False)

    def empty() -> None:
        for _ in range(n):
            pass

    base = _best(args.rounds, empty)
    cost = _best(args.rounds, counted)
    for i in range(args.endpoints):  # every endpoint has samples, as after a busy period
        cells = stats.router_cells(f"/api/v1/items/{i}/{{id}}")
        for value in range(1028):
            cells.time.update(value * 1000)
            cells.size.update(value)
    scrape = _best(args.rounds, stats.render)
    print(f"per request: {(cost - base) / n * 1e6:.3f} µs (n={n})")
    print(f"per scrape ({args.endpoints} endpoints, full reservoirs): {scrape * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
