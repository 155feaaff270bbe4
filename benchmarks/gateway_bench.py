"""Gateway benchmarks: a no-op endpoint through ``gateway`` vs the same route through ``ingress``, and a 2-backend
merge endpoint vs a single-backend endpoint (both through ``gateway``).

Targets (issue 18): no-op within 10% of ingress; merge at >= 0.5x single. The backend is nginx answering a small
JSON object on two locations (so the backend is never the bottleneck); the load is wrk, one thread per scenario.

Usage::

    .venv/bin/python benchmarks/gateway_bench.py                  # full run: 3 rounds x 10 s per scenario
    .venv/bin/python benchmarks/gateway_bench.py --smoke          # 1 round x 2 s: proves the harness works

Results (requests/s per scenario and round, the ratios) go to ``benchmarks/results/gateway_latest.json`` (a smoke
run writes ``$TMPDIR/gateway_bench_smoke.json`` instead, so it never replaces quiet-machine figures).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from compiled_tree import child_env, choose

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv" / "bin"
RESULTS = ROOT / "benchmarks" / "results" / "gateway_latest.json"
SMOKE_RESULTS = Path(tempfile.gettempdir()) / "gateway_bench_smoke.json"
# gateway and ingress run the compiled tree when it is fresh (PURE=1: pure Python); the JSON says which.
BUILD = choose()
BODY = '{"id":1,"name":"bench","tags":["a","b"],"nested":{"x":1,"y":"z"}}'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status < 500:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def start_nginx(work: Path, port: int) -> subprocess.Popen[bytes]:
    conf = work / "nginx.conf"
    conf.write_text(
        f"""
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {work}; proxy_temp_path {work}; fastcgi_temp_path {work};
  uwsgi_temp_path {work}; scgi_temp_path {work};
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port};
    location / {{ default_type application/json; return 200 '{BODY}'; }}
  }}
}}
"""
    )
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(work)], stderr=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/a")
    return proc


def start_gateway(work: Path, port: int, upstream: int) -> subprocess.Popen[bytes]:
    host = [f"http://127.0.0.1:{upstream}"]
    config = {
        "version": 3,
        "listen_ip": "127.0.0.1",
        "port": port,
        "host": host,
        "endpoints": [
            {"endpoint": "/noop", "output_encoding": "no-op", "backend": [{"url_pattern": "/a"}]},
            {"endpoint": "/single", "backend": [{"url_pattern": "/a"}]},
            {
                "endpoint": "/merge",
                "backend": [{"url_pattern": "/a", "group": "a"}, {"url_pattern": "/b", "group": "b"}],
            },
        ],
    }
    path = work / "gateway.json"
    path.write_text(json.dumps(config))
    env = child_env(BUILD, {"PATH": "/usr/bin:/bin", "HANZO_GATEWAY_LOG_LEVEL": "ERROR"})
    proc = subprocess.Popen([str(VENV / "gateway"), "run", "-c", str(path)], env=env, stderr=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/__health")
    return proc


def start_ingress(work: Path, port: int, upstream: int) -> subprocess.Popen[bytes]:
    dynamic = work / "dynamic.yml"
    # The same route as the gateway's no-op endpoint: /noop forwarded as /a (replacePath, as url_pattern does).
    dynamic.write_text(
        "http:\n  routers:\n    noop:\n      rule: Path(`/noop`)\n      service: backend\n      middlewares: [toA]\n"
        "  middlewares:\n    toA:\n      replacePath:\n        path: /a\n"
        f"  services:\n    backend:\n      loadBalancer:\n        servers:\n          - url: http://127.0.0.1:{upstream}\n"
    )
    args = [f"--entrypoints.web.address=127.0.0.1:{port}", f"--providers.file.filename={dynamic}", "--log.level=ERROR"]
    proc = subprocess.Popen(
        [str(VENV / "ingress"), *args], env=child_env(BUILD, {"PATH": "/usr/bin:/bin"}), stderr=subprocess.DEVNULL
    )
    wait_http(f"http://127.0.0.1:{port}/noop")
    return proc


def wrk(url: str, seconds: int, connections: int) -> float:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if match is None or non2xx is not None:
        raise RuntimeError(f"wrk on {url} failed or saw errors:\n{out}")
    return float(match.group(1))


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--smoke", action="store_true", help="1 round of 2 s: check the harness, not the figures")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.duration = 1, 2
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            print(f"gateway_bench: {tool} is required (scripts/sysdeps.sh installs it)", file=sys.stderr)
            return 2
    procs: list[subprocess.Popen[bytes]] = []
    results: dict[str, list[float]] = {
        "gateway_noop": [],
        "ingress_noop": [],
        "gateway_single": [],
        "gateway_merge": [],
    }
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        work = Path(tmp)
        try:
            upstream, gw_port, in_port = free_port(), free_port(), free_port()
            procs.append(start_nginx(work, upstream))
            procs.append(start_gateway(work, gw_port, upstream))
            procs.append(start_ingress(work, in_port, upstream))
            urls = {
                "gateway_noop": f"http://127.0.0.1:{gw_port}/noop",
                "ingress_noop": f"http://127.0.0.1:{in_port}/noop",
                "gateway_single": f"http://127.0.0.1:{gw_port}/single",
                "gateway_merge": f"http://127.0.0.1:{gw_port}/merge",
            }
            for url in urls.values():  # warm pools and code paths
                wrk(url, 1, args.connections)
            for _ in range(args.rounds):  # interleaved, so drift in machine load hits every scenario alike
                for name, url in urls.items():
                    results[name].append(wrk(url, args.duration, args.connections))
        finally:
            for proc in reversed(procs):
                stop(proc)
    median = {name: statistics.median(values) for name, values in results.items()}
    report: dict[str, Any] = {
        "rounds": args.rounds,
        "duration_s": args.duration,
        "connections": args.connections,
        "smoke": args.smoke,
        "hanzo_edge_build": BUILD,
        "rps": results,
        "median_rps": median,
        "noop_gateway_over_ingress": median["gateway_noop"] / median["ingress_noop"],
        "merge_over_single": median["gateway_merge"] / median["gateway_single"],
        "targets": {"noop_gateway_over_ingress": ">= 0.90", "merge_over_single": ">= 0.50"},
    }
    output = SMOKE_RESULTS if args.smoke else RESULTS
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    for name, value in median.items():
        print(f"{name:16s} {value:10.0f} req/s")
    print(f"no-op gateway/ingress: {report['noop_gateway_over_ingress']:.2f} (target >= 0.90)")
    print(f"merge/single:          {report['merge_over_single']:.2f} (target >= 0.50)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
