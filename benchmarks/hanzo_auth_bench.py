"""The Hanzo chain's cost: auth per request (µs) and SSE time-to-first-byte through the gateway vs direct.

Scenarios (issue 20), all on api.bench's AI route (the host table's ``/v1/chat`` → nginx, rewritten to ``/api/chat``):

* ``apikey_off`` / ``apikey_on``: an ``sk-`` API key, the gateway with auth off / on (on: stripped, recognised as a
  key, passed unvalidated);
* ``jwt_off`` / ``jwt_billing``: an RS256 JWT, auth off / auth on with billing (JWKS cached after the first request;
  Commerce is nginx answering ``{"available": 100}`` at once, over a kept-alive pooled connection).

Each is measured with wrk at one connection (µs/request = 1e6 / requests/s: the serial latency the chain adds) and at
``--connections`` (requests/s), interleaved over ``--rounds``. The auth cost is the difference to the ``_off`` twin.

SSE TTFB: an asyncio SSE backend sends its first event as soon as the request arrives and the next ones 50 ms
apart; a raw-socket client times request → first ``data:`` byte, on a fresh connection each time, directly and
through the gateway's host table (``--samples`` each, alternating), and reports median and p99.

Usage (alone, on a quiet machine)::

    .venv/bin/python benchmarks/hanzo_auth_bench.py [--rounds 3] [--duration 10] [--connections 32] [--samples 500]
    .venv/bin/python benchmarks/hanzo_auth_bench.py --smoke   # ~15 s: proves the harness works (figures meaningless)

Results go to ``benchmarks/results/hanzo_auth.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from gateway_bench import ROOT, VENV, free_port, stop, wait_http

ISSUER = "https://iam.bench"


def start_nginx(work: Path, port: int) -> subprocess.Popen[bytes]:
    """The backend (``/api/...``), Commerce (``/api/v1/billing/balance``) and the JWKS (``/jwks``) in one nginx."""
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
    location = /jwks {{ default_type application/json; alias {work}/jwks.json; }}
    location = /api/v1/billing/balance {{ default_type application/json; return 200 '{{"available":100}}'; }}
    location / {{ default_type application/json; return 200 '{{"id":"c1","object":"chat.completion"}}'; }}
  }}
}}
"""
    )
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(work)], stderr=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/jwks")
    return proc


def signing_key(work: Path) -> Any:
    import jwt  # noqa: F401 - PyJWT is a dependency of the project
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": "bench", "use": "sig"}
    (work / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    return key


def token(key: Any) -> str:
    import jwt

    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "alice", "owner": "hanzo", "email": "a@b.c", "iat": now, "exp": now + 86400}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "bench"})


class SseBackend:
    """First event at once, then ``events - 1`` more 50 ms apart (asyncio, in a thread)."""

    def __init__(self, port: int, events: int = 3) -> None:
        self.port = port
        self.events = events
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", self.port))
        ready.set()
        self.loop.run_until_complete(server.serve_forever())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
                b"Connection: close\r\n\r\n"
            )
            for index in range(self.events):
                if index:
                    await asyncio.sleep(0.05)
                event = b'data: {"i":%d}\n\n' % index
                writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def ttfb(port: int, host: str, path: str) -> float:
    """Seconds from sending the request (on a fresh connection) to the first ``data:`` byte."""
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\nAuthorization: Bearer sk-b\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.perf_counter()
        sock.sendall(request.encode())
        seen = b""
        while b"data:" not in seen:
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError(f"no event from :{port}{path}: {seen[:200]!r}")
            seen += chunk
        return time.perf_counter() - started


def start_gateway(work: Path, name: str, port: int, upstream: int, sse: int, env: dict[str, str]) -> Any:
    folder = work / name
    folder.mkdir()
    routes = folder / "routes.yaml"
    routes.write_text(
        "routes:\n  api.bench:\n"
        f'    - {{prefix: /v1/chat, backend: "http://127.0.0.1:{upstream}", rewrite: /api/chat}}\n'
        f'    - {{prefix: /v1/stream, backend: "http://127.0.0.1:{sse}"}}\n'
    )
    config = {"version": 3, "listen_ip": "127.0.0.1", "port": port, "endpoints": []}
    path = folder / "gateway.json"
    path.write_text(json.dumps(config))
    base = {
        "PATH": "/usr/bin:/bin",
        "GATEWAY_ROUTES_FILE": str(routes),
        "AUTH_JWKS_URL": f"http://127.0.0.1:{upstream}/jwks",
        "AUTH_ISSUER": ISSUER,
        "AUTH_BILLING_URL": f"http://127.0.0.1:{upstream}",
        "COMMERCE_SERVICE_TOKEN": "bench",
    }
    proc = subprocess.Popen(
        [str(VENV / "gateway"), "run", "-c", str(path)], env={**base, **env}, stderr=subprocess.DEVNULL, cwd=folder
    )
    wait_http(f"http://127.0.0.1:{port}/__health")
    return proc


def wrk(url: str, seconds: int, connections: int, headers: dict[str, str]) -> float:
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None or "Non-2xx" in out:
        raise RuntimeError(f"wrk on {url} failed or saw errors:\n{out}")
    return float(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--samples", type=int, default=500, help="SSE TTFB samples per target")
    parser.add_argument("--smoke", action="store_true", help="1 round of 1 s, 20 samples: check the harness")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.duration, args.samples = 1, 1, 20
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            print(f"hanzo_auth_bench: {tool} is required (scripts/sysdeps.sh installs it)", file=sys.stderr)
            return 2
    procs: list[subprocess.Popen[bytes]] = []
    serial: dict[str, list[float]] = {}
    loaded: dict[str, list[float]] = {}
    ttfbs: dict[str, list[float]] = {"direct": [], "gateway": []}
    with tempfile.TemporaryDirectory(prefix="hanzo-bench-") as tmp:
        work = Path(tmp)
        try:
            upstream, sse_port, off_port, on_port = free_port(), free_port(), free_port(), free_port()
            key = signing_key(work)
            procs.append(start_nginx(work, upstream))
            SseBackend(sse_port)
            off = {"AUTH_ENABLED": "false", "BILLING_ENABLED": "false"}
            on = {"AUTH_ENABLED": "true", "BILLING_ENABLED": "true"}
            procs.append(start_gateway(work, "off", off_port, upstream, sse_port, off))
            procs.append(start_gateway(work, "on", on_port, upstream, sse_port, on))
            jwt_header = {"Host": "api.bench", "Authorization": f"Bearer {token(key)}"}
            key_header = {"Host": "api.bench", "Authorization": "Bearer sk-bench-key"}
            scenarios = {
                "apikey_off": (off_port, key_header),
                "apikey_on": (on_port, key_header),
                "jwt_off": (off_port, jwt_header),
                "jwt_billing": (on_port, jwt_header),
            }
            for port, headers in scenarios.values():  # warm pools, the JWKS cache and code paths
                wrk(f"http://127.0.0.1:{port}/v1/chat/completions", 1, 4, headers)
            for _ in range(args.rounds):  # interleaved, so drift in machine load hits every scenario alike
                for name, (port, headers) in scenarios.items():
                    url = f"http://127.0.0.1:{port}/v1/chat/completions"
                    serial.setdefault(name, []).append(wrk(url, args.duration, 1, headers))
                    loaded.setdefault(name, []).append(wrk(url, args.duration, args.connections, headers))
            for _ in range(args.samples):
                ttfbs["direct"].append(ttfb(sse_port, "127.0.0.1", "/v1/stream"))
                ttfbs["gateway"].append(ttfb(off_port, "api.bench", "/v1/stream"))
        finally:
            for proc in reversed(procs):
                stop(proc)
    us = {name: 1e6 / statistics.median(values) for name, values in serial.items()}

    def p99(values: list[float]) -> float:
        return sorted(values)[max(0, int(len(values) * 0.99) - 1)]

    report: dict[str, Any] = {
        "smoke": args.smoke,
        "rounds": args.rounds,
        "duration_s": args.duration,
        "connections": args.connections,
        "us_per_request_serial": us,
        "auth_cost_us": {
            "apikey": us["apikey_on"] - us["apikey_off"],
            "jwt_billing": us["jwt_billing"] - us["jwt_off"],
        },
        "median_rps_loaded": {name: statistics.median(values) for name, values in loaded.items()},
        "sse_ttfb_ms": {
            target: {"median": statistics.median(values) * 1e3, "p99": p99(values) * 1e3}
            for target, values in ttfbs.items()
        },
    }
    out = ROOT / "benchmarks" / "results" / "hanzo_auth.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
