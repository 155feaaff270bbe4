"""Reload under load for ``gateway run``: wrk on an endpoint while ``gateway.json`` is rewritten N times.

Usage (alone, on a quiet machine)::

    .venv/bin/python benchmarks/gateway_reload_bench.py [--rewrites 50] [--duration 30] [--connections 32]
    .venv/bin/python benchmarks/gateway_reload_bench.py --smoke   # ~10 s, proves the harness works

A standard-library JSON backend answers ``{"id": 1}``; ``gateway run`` serves ``GET /v`` (the backend's answer plus
``proxy.static`` data ``{"version": N}``) and polls its file every 0.25 s (the default). wrk runs for
``--duration`` seconds with ``--connections`` keep-alive connections (2 threads) while the file is atomically
replaced ``--rewrites`` times, spread evenly over the run (each version adds or removes an endpoint, so the route
table changes). The result is wrk's requests/s, latency percentiles and its error counts (socket errors and
non-2xx answers): the bar is **0 errors**. Results go to ``benchmarks/results/gateway_reload.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GATEWAY = str(ROOT / ".venv" / "bin" / "gateway")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Backend(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        data = b'{"id": 1}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _config(backend: str, port: int, version: int) -> str:
    endpoints: list[dict[str, Any]] = [
        {
            "endpoint": "/v",
            "extra_config": {"proxy": {"static": {"strategy": "always", "data": {"version": version}}}},
            "backend": [{"url_pattern": "/", "allow": ["id"]}],
        }
    ]
    if version % 2 == 0:
        endpoints.append({"endpoint": f"/extra/{version}", "backend": [{"url_pattern": "/"}]})
    doc = {"version": 3, "listen_ip": "127.0.0.1", "port": port, "host": [backend], "endpoints": endpoints}
    return json.dumps(doc)


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _wait_ready(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /__health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("gateway did not become ready")


def _parse_wrk(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {"raw": text}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["requests_per_second"] = float(rps.group(1)) if rps else None
    total = re.search(r"(\d+) requests in", text)
    out["requests"] = int(total.group(1)) if total else None
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx"] = int(non2xx.group(1)) if non2xx else 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["socket_errors"] = sum(int(g) for g in sock.groups()) if sock else 0
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", text, re.MULTILINE)
        out[f"p{pct}"] = m.group(1) if m else None
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rewrites", type=int, default=50)
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "gateway_reload.json"))
    args = parser.parse_args()
    if args.smoke:
        args.duration, args.rewrites, args.connections = 6, 10, 8
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (../shared/bench/setup.sh installs it)")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Backend)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    backend = f"http://127.0.0.1:{server.server_address[1]}"
    port = _free_port()
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "gateway.json"
        _write(path, _config(backend, port, 0))
        log = (Path(scratch) / "gateway.log").open("wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "KRAKEND_", "GATEWAY_"))}
        env.update({"AUTH_ENABLED": "false", "BILLING_ENABLED": "false"})
        gateway = subprocess.Popen([GATEWAY, "run", "-c", str(path)], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(port)
            wrk = subprocess.Popen(
                [
                    "wrk",
                    "-t2",
                    f"-c{args.connections}",
                    f"-d{args.duration}s",
                    "--latency",
                    f"http://127.0.0.1:{port}/v",
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            pause = args.duration * 0.8 / max(args.rewrites, 1)
            time.sleep(args.duration * 0.1)
            for version in range(1, args.rewrites + 1):
                _write(path, _config(backend, port, version))
                time.sleep(pause)
            output, _ = wrk.communicate(timeout=args.duration + 30)
        finally:
            gateway.send_signal(signal.SIGTERM)
            try:
                gateway.wait(10)
            except subprocess.TimeoutExpired:
                gateway.kill()
            log.close()
            server.shutdown()
        reloads = (Path(scratch) / "gateway.log").read_text(errors="replace").count("reloaded ")
    result = _parse_wrk(output)
    result.update(
        {
            "rewrites": args.rewrites,
            "reloads_applied": reloads,
            "duration_s": args.duration,
            "connections": args.connections,
            "smoke": args.smoke,
        }
    )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    summary = {k: v for k, v in result.items() if k != "raw"}
    print(json.dumps(summary, indent=2))
    errors = result["non_2xx"] + result["socket_errors"]
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
