"""gRPC unary echo through ``ingress`` against the same calls made directly to the backend: calls/s and latency.

Usage: ``.venv/bin/python benchmarks/grpc_bench.py [--rounds 3] [--duration 10] [--concurrency 64]
[--channels 4] [--size 64] [--workers 1] [--json benchmarks/results/grpc.json]``; ``--smoke`` runs one short round
of each (a few seconds) to prove the harness works. Run it alone on a quiet machine.

What runs:

* the backend: a ``grpc.aio`` server in its own process (``--serve``), one ``echo.Echo/Unary`` method that answers
  its request bytes, on cleartext HTTP/2;
* ``ingress`` (``--workers`` processes): one plain entrypoint (h2c by prior knowledge, as gRPC clients connect),
  a ``PathPrefix(`/`)`` router, one ``loadBalancer`` service with the backend as an ``h2c://`` server;
* the load: a ``grpc.aio`` client in this process keeping ``--concurrency`` calls in flight over ``--channels``
  channels, for ``--duration`` seconds after a one-second warm-up, each call timed from its start to its answer.

Each round measures ``direct`` (client → backend) then ``proxied`` (client → ingress → backend); rounds alternate
so a machine that slows down over time hurts both alike. Reported per target: calls/s, p50, p99, p99.9 latency in
ms (medians over rounds), failed calls, and for ``proxied`` the proxy's CPU seconds per 1,000 calls (utime + stime
of the ingress process tree from /proc). The client is Python too, so on a small machine it may set the pace:
its CPU share is printed; compare ``proxied`` with ``direct`` rather than reading absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SERVICE_METHOD = "/echo.Echo/Unary"
ROOT = Path(__file__).resolve().parent.parent
INGRESS = str(Path(sys.executable).parent / "ingress")


def _identity(value: bytes) -> bytes:
    return value


# -- the backend process -----------------------------------------------------------------------------------------
async def _serve(port: int) -> None:
    import grpc

    async def unary(request: bytes, context: Any) -> bytes:
        return request

    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(unary, request_deserializer=_identity, response_serializer=_identity)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("echo.Echo", {"Unary": handler}),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


# -- helpers -----------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def tree_cpu(pid: int) -> float:
    """utime + stime (seconds) of ``pid`` and its children, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))
    return ordered[index]


# -- the load -----------------------------------------------------------------------------------------
async def load(port: int, duration: float, concurrency: int, channels: int, size: int) -> dict[str, float]:
    import grpc

    payload = b"x" * size
    chans = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(channels)]
    calls = [
        c.unary_unary(SERVICE_METHOD, request_serializer=_identity, response_deserializer=_identity) for c in chans
    ]
    latencies: list[float] = []
    failed = 0
    measuring = False
    stop_at = 0.0

    async def worker(i: int) -> None:
        nonlocal failed
        call = calls[i % len(calls)]
        while True:
            started = time.perf_counter()
            if stop_at and started >= stop_at:
                return
            try:
                answer = await call(payload, timeout=10)
                ok = answer == payload
            except grpc.RpcError:
                ok = False
            if measuring:
                if ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    failed += 1

    try:
        tasks = [asyncio.ensure_future(worker(i)) for i in range(concurrency)]
        await asyncio.sleep(1.0)  # warm-up: connections made, caches hot
        measuring = True
        begin = time.perf_counter()
        cpu_begin = time.process_time()
        stop_at = begin + duration
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - begin
        client_cpu = time.process_time() - cpu_begin
    finally:
        for chan in chans:
            await chan.close()
    ms = [v * 1000 for v in latencies]
    return {
        "calls_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "p999_ms": percentile(ms, 99.9),
        "failed": float(failed),
        "calls": float(len(latencies)),
        "client_cpu_share": client_cpu / elapsed,
    }


# -- the run -----------------------------------------------------------------------------------------
def start_ingress(backend_port: int, workers: int, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    dynamic = workdir / "dynamic.yml"
    dynamic.write_text(
        "http:\n"
        "  routers:\n    grpc:\n      rule: PathPrefix(`/`)\n      service: echo\n"
        "  services:\n    echo:\n      loadBalancer:\n        servers:\n"
        f"          - url: h2c://127.0.0.1:{backend_port}\n"
    )
    args = [INGRESS, f"--entrypoints.web.address=127.0.0.1:{port}", f"--providers.file.filename={dynamic}"]
    if workers > 1:
        args.append(f"--workers={workers}")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    wait_port(port)
    return proc, port


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--size", type=int, default=64, help="request (and answer) message bytes")
    parser.add_argument("--workers", type=int, default=1, help="ingress --workers")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "grpc.json"))
    parser.add_argument("--smoke", action="store_true", help="one 2-second round of each: proves the harness works")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.serve:
        asyncio.run(_serve(opts.serve))
        return 0
    if opts.smoke:
        opts.rounds, opts.duration = 1, 2.0
    backend_port = free_port()
    backend = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(backend_port)], stdout=subprocess.DEVNULL, start_new_session=True
    )
    results: dict[str, list[dict[str, float]]] = {"direct": [], "proxied": []}
    try:
        wait_port(backend_port)
        with tempfile.TemporaryDirectory(prefix="grpc-bench-") as tmp:
            proxy, proxy_port = start_ingress(backend_port, opts.workers, Path(tmp))
            try:
                for round_no in range(opts.rounds):
                    for name, port in (("direct", backend_port), ("proxied", proxy_port)):
                        cpu_before = tree_cpu(proxy.pid)
                        got = asyncio.run(load(port, opts.duration, opts.concurrency, opts.channels, opts.size))
                        if name == "proxied" and got["calls"]:
                            got["proxy_cpu_s_per_1k"] = (tree_cpu(proxy.pid) - cpu_before) / got["calls"] * 1000
                        results[name].append(got)
                        print(
                            f"round {round_no + 1} {name:8s} {got['calls_per_s']:9.0f} calls/s  "
                            f"p50 {got['p50_ms']:.2f} ms  p99 {got['p99_ms']:.2f} ms  failed {got['failed']:.0f}  "
                            f"client CPU {got['client_cpu_share']:.0%}",
                            flush=True,
                        )
            finally:
                stop(proxy)
    finally:
        stop(backend)
    summary = {
        name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        for name, runs in results.items()
        if runs
    }
    if summary.get("direct") and summary.get("proxied"):
        summary["ratio"] = {"calls_per_s": summary["proxied"]["calls_per_s"] / max(summary["direct"]["calls_per_s"], 1)}
    print(json.dumps(summary, indent=2))
    if not opts.smoke:
        out = Path(opts.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"options": vars(opts), "rounds": results, "summary": summary}, indent=2) + "\n")
    failed = sum(r["failed"] for runs in results.values() for r in runs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
