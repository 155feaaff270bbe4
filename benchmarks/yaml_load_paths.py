"""YAML load cost of the two paths of ``config/documents.py``: a plain routers file (libyaml events) and the same file
with one alias per router (PyYAML's compose + construct, which the review of issue 22 made the node path).

Prints, per variant, the median CPU time of a load and its tracemalloc peak. Run on a quiet machine:

    .venv/bin/python benchmarks/yaml_load_paths.py --routers 10000 --rounds 7

``--smoke`` runs 500 routers once (proves the harness works; the figures mean nothing).
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

from hanzo_edge.config.documents import _load_yaml


def routers_yaml(count: int, *, aliased: bool) -> str:
    lines = ["x-chain: &chain [auth, compress]"] if aliased else []
    lines += ["http:", "  routers:"]
    for i in range(count):
        lines += [f"    r{i}:", f"      rule: Host(`svc-{i}.example.com`)", "      service: backend"]
        lines.append("      middlewares: *chain" if aliased else "      middlewares: [auth, compress]")
    return "\n".join(lines) + "\n"


def measure(text: str, rounds: int) -> tuple[float, int]:
    times = []
    for _ in range(rounds):
        started = time.process_time()
        _load_yaml(text)
        times.append(time.process_time() - started)
    tracemalloc.start()
    try:
        _load_yaml(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return statistics.median(times), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routers", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    count, rounds = (500, 1) if args.smoke else (args.routers, args.rounds)
    for name, aliased in (("events (plain)", False), ("node tree (aliases)", True)):
        cpu, peak = measure(routers_yaml(count, aliased=aliased), rounds)
        print(f"{name:22} routers={count} cpu_median={cpu * 1000:.1f} ms peak={peak / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
