"""Layer-4 benchmark: TCP passthrough throughput against HAProxy (``mode tcp``), and UDP datagrams/s against direct.

Usage (alone, on a quiet machine)::

    .venv/bin/python benchmarks/tcp_bench.py [--rounds 3] [--duration 10] [--clients 8] [--json FILE]
    .venv/bin/python benchmarks/tcp_bench.py --smoke   # ~20 s, proves the harness works (figures meaningless)

TCP: a backend process reads each connection to its end and answers ``ok`` (so the client's half-close crosses the
proxy, and the answer comes back after it). ``--clients`` client processes each loop: connect, send a 1 MiB stream,
``shutdown(SHUT_WR)``, read the answer to EOF. Targets, one at a time, interleaved over ``--rounds``:

* ``direct``: the backend itself (the ceiling);
* ``haproxy``: ``mode tcp``, one thread (``nbthread 1``), a plain ``server`` line;
* ``ingress``: one worker, a ``HostSNI(`*`)`` TCP router on its own entrypoint (the plain path, matched before the
  first byte), default transport, so both proxies copy bytes and nothing else.

The figure is MiB/s of client payload (and streams/s); the issue's bar is ingress within 20% of HAProxy.

TLS passthrough (``tcp_tls_*``): the same 1 MiB streams inside TLS to a TLS backend (a generated self-signed
certificate for ``bench.test``), length-prefixed since TLS cannot half-close. ``haproxy`` routes by SNI
(``req_ssl_sni`` after ``inspect-delay``), ``ingress`` by a ``HostSNI(`bench.test`)`` router with
``tls.passthrough``: both read the ClientHello, then copy bytes.

UDP: a backend echoes each datagram. ``--clients`` client processes each keep ``--window`` 64-byte datagrams in
flight (one socket each, so one session each) and count echoes per second, against the backend directly and
through an ``ingress`` UDP entrypoint. The figure is datagrams/s through ingress as a share of direct.

The tools come from ``../shared/bench/setup.sh`` (via ``bench_tools.ensure_bench_tools``) when HAProxy is missing.
Results go to ``benchmarks/results/tcp.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_tools import ensure_bench_tools

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT.parent / "shared" / "bench"
INGRESS = str(Path(sys.executable).parent / "ingress")
STREAM = 1 << 20
CHUNK = 64 * 1024


# -- helpers ----------------------------------------------------------------------------------------------------------
def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


# -- backends (own processes) -----------------------------------------------------------------------------------------
def _tcp_sink(port: int) -> None:
    """Read each connection to EOF, answer ``ok``, close. One thread per connection (recv is C speed)."""
    import threading

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(1024)

    def serve(conn: socket.socket) -> None:
        with conn:
            buf = bytearray(CHUNK)
            while conn.recv_into(buf):
                pass
            conn.sendall(b"ok")

    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def _tls_sink(port: int, cert: str, key: str) -> None:
    """TLS: read an 8-byte length, then that many bytes, answer ``ok``, close."""
    import ssl
    import threading

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(1024)

    def serve(raw: socket.socket) -> None:
        try:
            with context.wrap_socket(raw, server_side=True) as conn:
                size = int.from_bytes(_recv_exact(conn, 8), "big")
                buf = bytearray(CHUNK)
                while size > 0:
                    got = conn.recv_into(buf, min(CHUNK, size))
                    if not got:
                        return
                    size -= got
                conn.sendall(b"ok")
        except (OSError, ValueError):
            raw.close()

    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def _recv_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ValueError("EOF")
        data += chunk
    return data


def _tls_client(port: int, duration: float, out: Any) -> None:
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the backend's self-signed certificate; the proxies never see inside
    payload = STREAM.to_bytes(8, "big") + os.urandom(CHUNK) * (STREAM // CHUNK)
    streams = 0
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="bench.test") as sock,
        ):
            sock.sendall(payload)
            answer = sock.recv(16)
        if answer != b"ok":
            raise RuntimeError(f"bad answer {answer!r} through port {port}")
        streams += 1
    out.put(streams)


def self_signed(workdir: Path) -> tuple[str, str]:
    """A certificate and key for ``bench.test`` written to ``workdir``."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = workdir / "bench.crt", workdir / "bench.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_file), str(key_file)


def _udp_echo(port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("127.0.0.1", port))
    while True:
        data, addr = sock.recvfrom(2048)
        sock.sendto(data, addr)


# -- clients ----------------------------------------------------------------------------------------------------------
def _tcp_client(port: int, duration: float, out: Any) -> None:
    payload = os.urandom(CHUNK) * (STREAM // CHUNK)
    streams = 0
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := sock.recv(16):
                answer += chunk
        if answer != b"ok":
            raise RuntimeError(f"bad answer {answer!r} through port {port}")
        streams += 1
    out.put(streams)


def _udp_client(port: int, duration: float, window: int, out: Any) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(0.5)
    target = ("127.0.0.1", port)
    datagram = b"x" * 64
    echoed = 0
    for _ in range(window):
        sock.sendto(datagram, target)
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        try:
            sock.recv(2048)
        except TimeoutError:
            for _ in range(window):  # lost datagrams: refill the window
                sock.sendto(datagram, target)
            continue
        echoed += 1
        sock.sendto(datagram, target)
    out.put(echoed)


def run_clients(target: Callable[..., None], args: tuple[Any, ...], clients: int, duration: float) -> int:
    queue: Any = mp.Queue()
    procs = [mp.Process(target=target, args=(*args, queue)) for _ in range(clients)]
    for proc in procs:
        proc.start()
    total = sum(queue.get(timeout=duration + 30) for _ in procs)
    for proc in procs:
        proc.join(10)
    return int(total)


# -- proxies ----------------------------------------------------------------------------------------------------------
def start_haproxy(workdir: Path, port: int, backend: int, tls_port: int, tls_backend: int) -> subprocess.Popen[bytes]:
    config = workdir / "haproxy.cfg"
    config.write_text(
        "global\n  nbthread 1\n  maxconn 4000\n"
        "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n"
        f"frontend f\n  bind 127.0.0.1:{port}\n  default_backend b\n"
        f"backend b\n  server s1 127.0.0.1:{backend}\n"
        f"frontend ftls\n  bind 127.0.0.1:{tls_port}\n  tcp-request inspect-delay 5s\n"
        "  tcp-request content accept if { req_ssl_hello_type 1 }\n"
        "  use_backend btls if { req_ssl_sni -i bench.test }\n"
        f"backend btls\n  server s1 127.0.0.1:{tls_backend}\n"
    )
    proc = subprocess.Popen(["haproxy", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: accepts(port), what="haproxy")
    return proc


def start_ingress(
    workdir: Path, tcp_port: int, udp_port: int, tcp_backend: int, udp_backend: int, tls_port: int, tls_backend: int
) -> subprocess.Popen[bytes]:
    dynamic = workdir / "dynamic.yml"  # JSON is YAML; the file provider reads .yml
    dynamic.write_text(
        json.dumps(
            {
                "tcp": {
                    "routers": {
                        "bench": {"rule": "HostSNI(`*`)", "service": "bench", "entryPoints": ["tcp"]},
                        "pass": {
                            "rule": "HostSNI(`bench.test`)",
                            "service": "pass",
                            "entryPoints": ["tls"],
                            "tls": {"passthrough": True},
                        },
                    },
                    "services": {
                        "bench": {"loadBalancer": {"servers": [{"address": f"127.0.0.1:{tcp_backend}"}]}},
                        "pass": {"loadBalancer": {"servers": [{"address": f"127.0.0.1:{tls_backend}"}]}},
                    },
                },
                "udp": {
                    "routers": {"bench": {"service": "bench", "entryPoints": ["udp"]}},
                    "services": {"bench": {"loadBalancer": {"servers": [{"address": f"127.0.0.1:{udp_backend}"}]}}},
                },
            }
        )
    )
    web = free_port()
    proc = subprocess.Popen(
        [
            INGRESS,
            f"--entrypoints.web.address=127.0.0.1:{web}",
            f"--entrypoints.tcp.address=127.0.0.1:{tcp_port}",
            f"--entrypoints.tls.address=127.0.0.1:{tls_port}",
            f"--entrypoints.udp.address=127.0.0.1:{udp_port}/udp",
            f"--providers.file.filename={dynamic}",
            "--log.level=ERROR",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "ingress.log").open("wb"),
    )
    wait_until(lambda: accepts(tcp_port), what="ingress")
    return proc


def stop(proc: subprocess.Popen[bytes] | mp.Process) -> None:
    proc.terminate()
    if isinstance(proc, subprocess.Popen):
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    else:
        proc.join(10)
        if proc.is_alive():
            proc.kill()


# -- main -------------------------------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--window", type=int, default=16, help="UDP datagrams in flight per client")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "tcp.json"))
    parser.add_argument("--smoke", action="store_true", help="1 round of 2 s with 2 clients: proves the harness")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.duration, args.clients = 1, 2.0, 2
    ensure_bench_tools(BENCH)
    if shutil.which("haproxy") is None:
        print("haproxy is missing: run ../shared/bench/setup.sh", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="tcp-bench-"))
    tcp_backend, udp_backend, tls_backend = free_port(), free_port(socket.SOCK_DGRAM), free_port()
    ha_port, tcp_port, udp_port = free_port(), free_port(), free_port(socket.SOCK_DGRAM)
    ha_tls_port, tls_port = free_port(), free_port()
    cert, key = self_signed(workdir)
    backends = [mp.Process(target=_tcp_sink, args=(tcp_backend,), daemon=True),
                mp.Process(target=_tls_sink, args=(tls_backend, cert, key), daemon=True),
                mp.Process(target=_udp_echo, args=(udp_backend,), daemon=True)]  # fmt: skip
    for proc in backends:
        proc.start()
    wait_until(lambda: accepts(tcp_backend), what="tcp backend")
    wait_until(lambda: accepts(tls_backend), what="tls backend")
    haproxy = start_haproxy(workdir, ha_port, tcp_backend, ha_tls_port, tls_backend)
    ingress = start_ingress(workdir, tcp_port, udp_port, tcp_backend, udp_backend, tls_port, tls_backend)
    results: dict[str, list[float]] = {}
    try:
        for round_no in range(args.rounds):
            for name, port in (("direct", tcp_backend), ("haproxy", ha_port), ("ingress", tcp_port)):
                streams = run_clients(_tcp_client, (port, args.duration), args.clients, args.duration)
                mib_s = streams * STREAM / (1 << 20) / args.duration
                results.setdefault(f"tcp_{name}_mib_s", []).append(mib_s)
                print(f"round {round_no + 1} tcp {name:8s} {mib_s:9.1f} MiB/s  ({streams} streams of 1 MiB)")
            for name, port in (("direct", tls_backend), ("haproxy", ha_tls_port), ("ingress", tls_port)):
                streams = run_clients(_tls_client, (port, args.duration), args.clients, args.duration)
                mib_s = streams * STREAM / (1 << 20) / args.duration
                results.setdefault(f"tcp_tls_{name}_mib_s", []).append(mib_s)
                print(f"round {round_no + 1} tls passthrough {name:8s} {mib_s:9.1f} MiB/s  ({streams} streams)")
            for name, port in (("direct", udp_backend), ("ingress", udp_port)):
                echoed = run_clients(_udp_client, (port, args.duration, args.window), args.clients, args.duration)
                rate = echoed / args.duration
                results.setdefault(f"udp_{name}_dgram_s", []).append(rate)
                print(f"round {round_no + 1} udp {name:8s} {rate:9.0f} datagrams/s")
    finally:
        stop(ingress)
        stop(haproxy)
        for proc in backends:
            stop(proc)
    medians = {key: statistics.median(values) for key, values in results.items()}
    summary = {
        "ingress_vs_haproxy_tcp": medians["tcp_ingress_mib_s"] / medians["tcp_haproxy_mib_s"],
        "ingress_vs_haproxy_tls_passthrough": medians["tcp_tls_ingress_mib_s"] / medians["tcp_tls_haproxy_mib_s"],
        "ingress_vs_direct_udp": medians["udp_ingress_dgram_s"] / medians["udp_direct_dgram_s"],
    }
    print(json.dumps({"medians": medians, **summary}, indent=2))
    record = {"args": vars(args), "rounds": results, "medians": medians, **summary, "time": time.time()}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
