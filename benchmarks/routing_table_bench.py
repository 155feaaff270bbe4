"""How routing scales with the number of routers: build time and per-request lookup cost (CPU only, no sockets).

For N host routers (``Host(`svc-i.example.com`)``, those with ``i % 10 == 1`` also ``&& PathPrefix(`/api`)``, each
with its own one-server service) it generates a dynamic YAML file and reports:

* ``load``: ``load_file_snapshot`` (YAML parse + decode), ``build``: ``build_tables``, ``shadows``: the
  ``ingress check`` shadow analysis (target for N=10000: load + build < 1 s);
* ``RoutingTable.lookup`` in ns per call for a hit on the first host, a hit on the last host (both host-only
  routers) and a miss, and the ratio of N=max to N=1 (target: under 5% more).

Run: ``python benchmarks/routing_table_bench.py [--sizes 1,1000,10000] [--lookups 200000] [--repeat 7]``.
Timings are the best of ``--repeat`` runs; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.providers.file import load_file_snapshot
from hanzo_edge.routing.build import build_tables
from hanzo_edge.routing.explain import find_shadows
from hanzo_edge.routing.table import RoutingTable

TARGET_BUILD_S = 1.0
TARGET_LOOKUP_GROWTH = 0.05


def write_config(path: Path, n: int) -> None:
    """Write the dynamic configuration with ``n`` host routers to ``path``."""
    lines = ["http:", "  routers:"]
    for i in range(n):
        rule = f"Host(`svc-{i}.example.com`)"
        if i % 10 == 1:  # svc-0 and the last host stay host-only, so N=1 and N=10000 compare like with like
            rule += " && PathPrefix(`/api`)"
        lines += [f"    r{i}:", f'      rule: "{rule}"', f"      service: s{i}"]
    lines.append("  services:")
    for i in range(n):
        lines += [
            f"    s{i}:",
            "      loadBalancer:",
            "        servers:",
            f"          - url: http://127.0.0.1:{10000 + i % 1000}",
        ]
    path.write_text("\n".join(lines) + "\n")


def best(repeat: int, fn: Callable[[], object]) -> float:
    """Best wall time of ``repeat`` calls of ``fn`` (seconds)."""
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def request(host: str) -> Request:
    """A request as the entrypoint hands it to the table."""
    return Request("GET", "/api/x", Headers([(b"Host", host.encode())]), host=host, routing_path="/api/x")


def lookup_ns(table: RoutingTable, req: Request, lookups: int, repeat: int) -> float:
    """Best ns per ``table.lookup(req)`` over ``repeat`` runs of ``lookups`` calls."""
    lookup = table.lookup
    rounds = range(lookups // 10)

    def run() -> None:
        for _ in rounds:  # unrolled to keep the loop's own cost small next to the lookup
            lookup(req)
            lookup(req)
            lookup(req)
            lookup(req)
            lookup(req)
            lookup(req)
            lookup(req)
            lookup(req)
            lookup(req)
            lookup(req)

    return best(repeat, run) / (len(rounds) * 10) * 1e9


def main() -> int:
    """Run the benchmark; print the figures; return 0 when both targets are met, 1 otherwise."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,1000,10000")
    parser.add_argument("--lookups", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    options = TransportOptions()
    results: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"dynamic-{n}.yml"
            write_config(path, n)
            config, warnings = load_file_snapshot(str(path))
            if warnings:
                print(f"unexpected warnings: {warnings[:3]}", file=sys.stderr)
            pools = PoolRegistry()

            def load(p: Path = path) -> object:
                return load_file_snapshot(str(p))

            def build(c: object = config, p: PoolRegistry = pools) -> object:
                return build_tables({"file": c}, ["web"], ["web"], p, options)

            load_s = best(3, load)
            build_s = best(3, build)
            result = build_tables({"file": config}, ["web"], ["web"], pools, options)
            errors = sum(len(v) for v in result.errors.values())
            table = result.tables["web"]
            start = time.perf_counter()
            shadows = find_shadows("web", table, lambda name: "")
            shadow_s = time.perf_counter() - start
            row = {
                "routers": float(len(table)),
                "errors": float(errors),
                "shadowed": float(len(shadows)),
                "load_s": load_s,
                "build_s": build_s,
                "shadow_s": shadow_s,
                "first_ns": lookup_ns(table, request("svc-0.example.com"), args.lookups, args.repeat),
                "last_ns": lookup_ns(table, request(f"svc-{n - 1}.example.com"), args.lookups, args.repeat),
                "miss_ns": lookup_ns(table, request("nowhere.example.com"), args.lookups, args.repeat),
            }
            results[n] = row
            pools.close()
    print(
        f"{'N':>6} {'load s':>8} {'build s':>8} {'load+build':>10} {'shadows s':>9} "
        f"{'first ns':>9} {'last ns':>8} {'miss ns':>8}"
    )
    for n, r in results.items():
        print(
            f"{n:>6} {r['load_s']:>8.3f} {r['build_s']:>8.3f} {r['load_s'] + r['build_s']:>10.3f} "
            f"{r['shadow_s']:>9.3f} {r['first_ns']:>9.1f} {r['last_ns']:>8.1f} {r['miss_ns']:>8.1f}"
        )
    ok = True
    small, large = min(results), max(results)
    big = results[large]
    if big["errors"] or big["shadowed"]:
        print(f"unexpected: {big['errors']:.0f} build errors, {big['shadowed']:.0f} shadowed routers")
        ok = False
    build_total = big["load_s"] + big["build_s"]
    met = build_total < TARGET_BUILD_S
    ok &= met
    print(f"load+build for N={large}: {build_total:.3f} s (target < {TARGET_BUILD_S} s) {'OK' if met else 'MISSED'}")
    for kind in ("first", "last", "miss"):
        base, grown = results[small][f"{kind}_ns"], big[f"{kind}_ns"]
        ratio = grown / base
        met = ratio < 1 + TARGET_LOOKUP_GROWTH
        ok &= met
        print(
            f"lookup {kind:>5}: N={small} {base:.1f} ns, N={large} {grown:.1f} ns, ratio {ratio:.3f} "
            f"(target < {1 + TARGET_LOOKUP_GROWTH:.2f}) {'OK' if met else 'MISSED'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
