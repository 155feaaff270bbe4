"""The gateway's CPU per request on the no-op fast path, A/B between two source trees (e.g. two compiled builds).

Wall req/s is noise on a shared machine; the CPU time of the gateway process (user + sys of every thread, from
``/proc/PID/stat``) over a fixed load is not. This starts nginx as the backend (as ``gateway_bench.py``), then for each
round and each tree a ``gateway run`` with ``PYTHONPATH`` set to that tree, warms it up, runs ``wrk`` on a no-op
endpoint and prints µs of CPU per request. Rounds alternate the trees so drift hits both alike.

Usage (hold the shared lock)::

    flock -w 900 /tmp/hanzo-bench.lock .venv/bin/python benchmarks/gwk_noop_cpu_ab.py \
        --tree before=/tmp/gwk-ab/before/build/compiled/src --tree after=build/compiled/src --seconds 5 --rounds 3

``--keys '{"disable_compression": true}'`` adds service keys to the gateway.json of every tree.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gateway_bench import VENV, free_port, start_nginx, stop, wait_http
from obs22_cpu_probe import thread_ticks

TICK = 1_000_000 / 100  # µs per clock tick (USER_HZ is 100 on Linux)


def start_gateway(work: Path, tree: str, port: int, upstream: int, keys: dict[str, object]) -> subprocess.Popen[bytes]:
    config = {
        "version": 3,
        "listen_ip": "127.0.0.1",
        "port": port,
        "host": [f"http://127.0.0.1:{upstream}"],
        "endpoints": [{"endpoint": "/noop", "output_encoding": "no-op", "backend": [{"url_pattern": "/a"}]}],
        **keys,
    }
    path = work / f"gateway-{port}.json"
    path.write_text(json.dumps(config))
    env = {"PATH": "/usr/bin:/bin", "HANZO_GATEWAY_LOG_LEVEL": "ERROR", "PYTHONPATH": tree}
    proc = subprocess.Popen([str(VENV / "gateway"), "run", "-c", str(path)], env=env, stderr=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/__health")
    return proc


def wrk_requests(url: str, seconds: float, connections: int) -> int:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    total = next(line for line in out.splitlines() if "requests in" in line)
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    return int(total.split()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", action="append", required=True, help="NAME=DIR to put first on PYTHONPATH")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--keys", default="{}", help="JSON object of service keys for gateway.json")
    args = parser.parse_args()
    trees = dict(item.split("=", 1) for item in args.tree)
    keys = json.loads(args.keys)
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory(prefix="gwk-ab-") as tmp:
        work = Path(tmp)
        upstream = free_port()
        nginx = start_nginx(work, upstream)
        try:
            for round_no in range(args.rounds):
                order = list(trees.items()) if round_no % 2 == 0 else list(reversed(trees.items()))
                for name, tree in order:
                    port = free_port()
                    gateway = start_gateway(work, str(Path(tree).resolve()), port, upstream, keys)
                    try:
                        url = f"http://127.0.0.1:{port}/noop"
                        wrk_requests(url, args.warmup, args.connections)
                        user0, sys0 = thread_ticks(gateway.pid)
                        requests = wrk_requests(url, args.seconds, args.connections)
                        user1, sys1 = thread_ticks(gateway.pid)
                    finally:
                        stop(gateway)
                    user = (user1 - user0) * TICK / requests
                    system = (sys1 - sys0) * TICK / requests
                    figures[name].append((user, system))
                    rate = requests / args.seconds
                    print(
                        f"round {round_no} {name:>10}: {user + system:6.2f} µs CPU/request "
                        f"({user:.2f} user + {system:.2f} sys), {rate:,.0f} req/s",
                        flush=True,
                    )
                    time.sleep(0.2)
        finally:
            stop(nginx)
    for name, rows in figures.items():
        totals = [u + s for u, s in rows]
        print(
            f"{name:>10}: median {statistics.median(totals):.2f} µs CPU/request over {len(rows)} rounds "
            f"(user {statistics.median(u for u, _ in rows):.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
