"""HTTP/2 over TLS side by side: ``ingress`` (h2 by ALPN) against nginx's ``http2`` with the same certificate.

Usage: ``.venv/bin/python benchmarks/h2_bench.py [--rounds 3] [--requests 200000] [--clients 16] [--streams 10]``
(``--smoke`` runs one short round of each scenario to prove the harness works; its figures mean nothing).

Both proxies terminate TLS with one self-signed RSA-2048 certificate (made with ``cryptography`` in a temp dir) and
proxy ``GET /small`` to the same nginx backend (one worker, a fixed 100-byte body) over kept-alive HTTP/1.1
connections; each proxy runs one worker. The load is ``h2load -c <clients> -m <streams> -t 1`` (10 concurrent
streams per connection by default, as the issue asks), alternating ingress and nginx per round; the table gives the
median req/s, mean and max request time over the rounds and the ingress/nginx ratio (the issue's target: at least 0.5x).

Scenario ``rapidreset``: the latency other clients see while an attacker runs CVE-2023-44487 against ingress. A
separate process opens connections and sends HEADERS + RST_STREAM pairs as fast as it can until ingress answers
GOAWAY ENHANCE_YOUR_CALM, then reconnects; meanwhile h2load (``-c 4 -m 10``) measures the bystanders. The table
shows the bystanders' req/s and request times with and without the attack, and how many GOAWAYs the attacker got.

Results go to ``benchmarks/results/h2.json`` (``--json`` to change). Run it alone on a quiet machine: every figure
is a rate on shared cores. Needs ``h2load`` (``nghttp2-client``, see ``scripts/sysdeps.sh``) and ``nginx``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiled_tree import use_for_children

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
SMALL_BODY = b"x" * 99 + b"\n"


@dataclass
class Load:
    """One h2load run's figures."""

    rps: float
    mean_ms: float
    max_ms: float
    ok: int
    failed: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed RSA-2048 certificate for ``bench.localhost`` and 127.0.0.1."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench.localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("bench.localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "bench.crt", directory / "bench.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def nginx_conf(directory: Path, body: str) -> Path:
    path = directory / "nginx.conf"
    path.write_text(
        f"""
worker_processes 1;
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    {body}
}}
"""
    )
    return path


class Processes:
    """The backend, nginx front and ingress processes of one run (stopped by pid, never by name)."""

    def __init__(self, work: Path, cert: Path, key: Path) -> None:
        self.work = work
        self.cert, self.key = cert, key
        self.procs: list[subprocess.Popen[bytes]] = []
        self.backend_port = free_port()
        self.nginx_port = free_port()
        self.ingress_port = free_port()

    def start(self) -> None:
        backend_dir = self.work / "backend"
        backend_dir.mkdir()
        backend = nginx_conf(
            backend_dir,
            f"server {{ listen 127.0.0.1:{self.backend_port}; "
            f'location /small {{ return 200 "{SMALL_BODY.decode().strip()}\\n"; }} }}',
        )
        front_dir = self.work / "front"
        front_dir.mkdir()
        front = nginx_conf(
            front_dir,
            f"""
    upstream backend {{ server 127.0.0.1:{self.backend_port}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{self.nginx_port} ssl http2;
        ssl_certificate {self.cert};
        ssl_certificate_key {self.key};
        http2_max_concurrent_streams 250;
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}""",
        )
        for conf in (backend, front):
            self.procs.append(
                subprocess.Popen(["nginx", "-c", str(conf), "-p", str(conf.parent)], stderr=subprocess.DEVNULL)
            )
        dynamic = self.work / "dynamic.yml"
        dynamic.write_text(
            f"""
http:
  routers:
    bench:
      rule: PathPrefix(`/`)
      service: backend
      tls: {{}}
  services:
    backend:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:{self.backend_port}
tls:
  certificates:
    - certFile: {self.cert}
      keyFile: {self.key}
  stores:
    default:
      defaultCertificate:
        certFile: {self.cert}
        keyFile: {self.key}
"""
        )
        self.procs.append(
            subprocess.Popen(
                [
                    str(VENV_BIN / "ingress"),
                    f"--entrypoints.websecure.address=127.0.0.1:{self.ingress_port}",
                    "--entrypoints.websecure.http.tls=true",
                    f"--providers.file.filename={dynamic}",
                    "--log.level=ERROR",
                ],
                stdout=subprocess.DEVNULL,
                stderr=(self.work / "ingress.log").open("wb"),
                cwd=self.work,
            )
        )
        for port in (self.backend_port, self.nginx_port, self.ingress_port):
            wait_port(port)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM if proc.args[0] != "nginx" else signal.SIGQUIT)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def check_h2(port: int) -> None:
    """One GET /small over TLS with ALPN h2, through the h2 library: status 200 and the exact body."""
    sys.path.insert(0, str(ROOT / "tests"))
    from h2_client import H2Client

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with H2Client(port, tls=ctx, server_hostname="bench.localhost") as client:
        if client.alpn != "h2":
            raise RuntimeError(f"port {port} did not negotiate h2 (got {client.alpn!r})")
        result = client.get("/small", authority="bench.localhost")
    if result.status != 200 or result.body != SMALL_BODY:
        raise RuntimeError(f"port {port}: /small answered {result.status} {result.body[:80]!r}")


_FINISHED = re.compile(r"finished in [\d.]+\w+, ([\d.]+) req/s")
_REQUESTS = re.compile(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed")
_TIMES = re.compile(r"time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)")


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def h2load(port: int, requests: int, clients: int, streams: int, timeout: float = 300.0) -> Load:
    """Run h2load against ``https://127.0.0.1:port/small`` and parse its summary."""
    out = subprocess.run(
        [
            "h2load",
            "-n",
            str(requests),
            "-c",
            str(clients),
            "-m",
            str(streams),
            "-t",
            "1",
            f"https://127.0.0.1:{port}/small",
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    ).stdout
    finished, counts, times = _FINISHED.search(out), _REQUESTS.search(out), _TIMES.search(out)
    if not (finished and counts and times):
        raise RuntimeError(f"unexpected h2load output:\n{out}")
    return Load(
        rps=float(finished.group(1)),
        mean_ms=_ms(times.group(5), times.group(6)),
        max_ms=_ms(times.group(3), times.group(4)),
        ok=int(counts.group(1)),
        failed=int(counts.group(2)),
    )


def attacker(port: int, stop_at: float, result: Any) -> None:
    """CVE-2023-44487 as fast as one process can: HEADERS + RST_STREAM pairs until GOAWAY, then reconnect."""
    sys.path.insert(0, str(ROOT / "tests"))
    from h2_client import H2Peer

    goaways = resets = 0
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    while time.monotonic() < stop_at:
        try:
            raw = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock = ctx.wrap_socket(raw, server_hostname="bench.localhost")
            peer = H2Peer()
            sock.sendall(peer.outbox())
            sock.setblocking(False)
            while time.monotonic() < stop_at and peer.goaway is None:
                for _ in range(50):
                    sid = peer.request("/small", "bench.localhost")
                    peer.reset(sid)
                    resets += 1
                sock.setblocking(True)
                sock.sendall(peer.outbox())
                sock.setblocking(False)
                try:
                    data = sock.recv(65536)
                    if not data:
                        break
                    peer.feed(data)
                except (BlockingIOError, ssl.SSLWantReadError):
                    pass
            if peer.goaway is not None:
                goaways += 1
            sock.close()
        except Exception:  # the attacker keeps attacking whatever happens (resets, TLS errors, protocol errors)
            time.sleep(0.01)
    result["goaways"] = goaways
    result["resets_sent"] = resets


def run_throughput(procs: Processes, args: argparse.Namespace) -> dict[str, Any]:
    runs: dict[str, list[Load]] = {"ingress": [], "nginx": []}
    for round_no in range(args.rounds):
        for name, port in (("ingress", procs.ingress_port), ("nginx", procs.nginx_port)):
            load = h2load(port, args.requests, args.clients, args.streams)
            runs[name].append(load)
            print(
                f"round {round_no + 1} {name:8} {load.rps:10.0f} req/s  mean {load.mean_ms:7.2f} ms"
                f"  max {load.max_ms:8.2f} ms  failed {load.failed}"
            )
    med = {name: statistics.median(load.rps for load in loads) for name, loads in runs.items()}
    return {
        "runs": {name: [load.__dict__ for load in loads] for name, loads in runs.items()},
        "median_rps": med,
        "ratio": med["ingress"] / med["nginx"] if med["nginx"] else None,
    }


def run_rapid_reset(procs: Processes, args: argparse.Namespace) -> dict[str, Any]:
    requests = max(2000, args.requests // 10)
    quiet = h2load(procs.ingress_port, requests, 4, args.streams)
    manager = multiprocessing.Manager()
    result = manager.dict()
    stop_at = time.monotonic() + args.attack_seconds
    proc = multiprocessing.Process(target=attacker, args=(procs.ingress_port, stop_at, result))
    proc.start()
    time.sleep(0.5)  # the attack is under way before the bystanders start
    attacked = h2load(procs.ingress_port, requests, 4, args.streams)
    proc.join(timeout=args.attack_seconds + 30)
    if proc.is_alive():
        proc.terminate()
        proc.join(5)
    figures = {"quiet": quiet.__dict__, "under_attack": attacked.__dict__, **dict(result)}
    print(
        f"rapid reset: bystanders {quiet.rps:.0f} -> {attacked.rps:.0f} req/s, mean {quiet.mean_ms:.2f} -> "
        f"{attacked.mean_ms:.2f} ms, max {quiet.max_ms:.1f} -> {attacked.max_ms:.1f} ms; attacker got "
        f"{result.get('goaways', 0)} GOAWAYs for {result.get('resets_sent', 0)} resets"
    )
    manager.shutdown()
    return figures


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200_000, help="h2load -n per run")
    parser.add_argument("--clients", type=int, default=16, help="h2load -c")
    parser.add_argument("--streams", type=int, default=10, help="h2load -m (concurrent streams per connection)")
    parser.add_argument("--scenario", default="throughput,rapidreset")
    parser.add_argument("--attack-seconds", type=float, default=20.0)
    parser.add_argument("--smoke", action="store_true", help="one short round of each scenario (proves it works)")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "h2.json")
    args = parser.parse_args(argv)
    if args.smoke:
        args.rounds, args.requests, args.clients, args.attack_seconds = 1, 3000, 4, 4.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("h2load", "nginx"):
        if shutil.which(tool) is None:
            print(f"{tool} is missing (scripts/sysdeps.sh installs nghttp2-client)", file=sys.stderr)
            return 2
    scenarios = [s.strip() for s in args.scenario.split(",") if s.strip()]
    build = use_for_children()  # ingress runs the compiled tree when fresh (PURE=1: pure Python)
    with tempfile.TemporaryDirectory(prefix="h2bench-") as tmp:
        work = Path(tmp)
        cert, key = make_certificate(work)
        procs = Processes(work, cert, key)
        try:
            procs.start()
            for port in (procs.ingress_port, procs.nginx_port):
                check_h2(port)
            results: dict[str, Any] = {
                "meta": {
                    "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                    "cpus": os.cpu_count(),
                    "smoke": args.smoke,
                    "hanzo_edge_build": build,
                    "h2load": f"-c {args.clients} -m {args.streams} -t 1 -n {args.requests}",
                }
            }
            if "throughput" in scenarios:
                results["throughput"] = run_throughput(procs, args)
                ratio = results["throughput"]["ratio"]
                print(f"ingress / nginx (HTTP/2, TLS, -m {args.streams}): {ratio:.2f}x")
            if "rapidreset" in scenarios:
                results["rapid_reset"] = run_rapid_reset(procs, args)
        finally:
            procs.stop()
    if not args.smoke:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
