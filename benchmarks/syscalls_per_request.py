"""System calls per proxied request: ``strace -f -c`` on a running ``ingress`` while a client drives a known count.

Usage: ``.venv/bin/python benchmarks/syscalls_per_request.py [--requests 2000] [--mode seq,wrk] [--tls]
[--path /small|/large.bin] [--duration 3]``.

It starts the shared bench's nginx backend (``../shared/bench/run.py``'s config: 100-byte ``/small``, 1 MiB
``/large.bin``) and one ``ingress`` worker routing ``Host(`127.0.0.1`)`` (or, with ``--tls``, a ``websecure``
entrypoint with a generated certificate and a ``tls: {}`` router, as ``tls_bench.py`` sets it up), warms it up, then
attaches ``strace -f -c`` to the ingress process (every thread) for a measured batch and divides each call's count by
the requests answered:

* ``seq``: one keep-alive connection, ``--requests`` requests one after another from a blocking client. Each request
  is then alone on the loop, so the ideal is 1 recv + 1 send per leg and 2-3 ``epoll_wait``;
* ``cpu``: the ``seq`` batch three times without a tracer; the proxy's CPU (user + system) per request, best of 3;
* ``wrk``: ``wrk -t1 -c16`` for ``--duration`` seconds; requests are counted by wrk. Under concurrency one
  ``epoll_wait`` serves several connections. ``--close`` makes every request a new connection (``newconn``): what
  uvloop and the kernel spend per connection (accept4, TCP_NODELAY, getsockname + getpeername, epoll_ctl, close).

The figures are counts, not times, so they hold on a loaded machine (strace slows the process; it changes no count
that matters here except ``epoll_wait`` under ``wrk``, which gets fewer events per wake-up when the proxy is slower).
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tls_bench import INGRESS_DYNAMIC, INGRESS_STATIC, SERVER_NAME, generate_certificates, run

ROOT = Path(__file__).resolve().parent.parent
INGRESS = ROOT / ".venv" / "bin" / "ingress"
PLAIN_DYNAMIC = """http:
  routers:
    bench:
      rule: Host(`127.0.0.1`)
      service: backend
  services:
    backend:
      loadBalancer:
        servers:
          - url: http://{upstream}
"""
_SUMMARY_ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?(\w+)\s*$")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((run.HOST, 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection((run.HOST, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {seconds} s")


class Client:
    """A blocking keep-alive HTTP/1.1 client that reads each response to its Content-Length."""

    def __init__(self, port: int, host: str, context: ssl.SSLContext | None, body: bytes = b"") -> None:
        sock = socket.create_connection((run.HOST, port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock: socket.socket = context.wrap_socket(sock, server_hostname=host) if context else sock
        self.host = host
        self.buf = b""
        self.body = body  # sent with every request (POST) when not empty

    def get(self, path: str) -> int:
        if self.body:
            head = f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(self.body)}\r\n\r\n"
            self.sock.sendall(head.encode() + self.body)
        else:
            self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        if match is None:
            raise RuntimeError(f"no Content-Length in {head!r}")
        length = int(match.group(1))
        while len(rest) < length:
            rest += self._chunk()
        self.buf = rest[length:]
        return status

    def _chunk(self) -> bytes:
        data = self.sock.recv(1 << 20)
        if not data:
            raise RuntimeError("connection closed")
        return data

    def _more(self) -> None:
        self.buf += self._chunk()


def strace_counts(pid: int, out: Path, drive: Callable[[], None], raw: Path | None = None) -> dict[str, int]:
    """Attach ``strace -f -c`` to ``pid``, call ``drive()``, detach, and return the calls counted per name.

    With ``raw``, every call is also logged there (``strace -f -tt``, 200 bytes of each buffer) to read the sequence.
    """
    argv = ["strace", "-f", "-c", "-o", str(out), "-p", str(pid)]
    if raw is not None:
        argv = ["strace", "-f", "-tt", "-s", "40", "-o", str(raw), "-p", str(pid)]
    tracer = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # strace attaches to every thread before the batch starts
    try:
        drive()
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=30)
    counts: dict[str, int] = {}
    if raw is not None:
        for line in raw.read_text().splitlines():
            call = re.match(r"^\d+\s+[\d:.]+\s+(\w+)\(", line)
            if call:
                counts[call.group(1)] = counts.get(call.group(1), 0) + 1
        return counts
    for line in out.read_text().splitlines():
        row = _SUMMARY_ROW.match(line)
        if row and row.group(3) != "total":
            counts[row.group(3)] = int(row.group(1))
    return counts


def drive_seq(client: Client, path: str, n: int) -> None:
    """``n`` requests for ``path``, one after another on ``client``'s connection."""
    for _ in range(n):
        if client.get(path) != 200:
            raise RuntimeError("non-200 answer")


def drive_wrk(url: str, host: str, args: argparse.Namespace, answered: list[int]) -> None:
    """Run wrk against ``url`` for ``--duration`` seconds; append the requests it completed to ``answered``."""
    wrk = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{args.connections}",
            f"-d{max(1, round(args.duration))}s",
            "-H",
            f"Host: {host}",
            *(["-H", "Connection: close"] if args.close else []),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=args.duration + 60,
        check=True,
    )
    match = re.search(r"(\d+) requests in", wrk.stdout)
    if match is None or "Non-2xx" in wrk.stdout:
        raise RuntimeError(wrk.stdout)
    answered.append(int(match.group(1)))


def process_cpu(pid: int) -> float:
    """Return the CPU seconds (user + system) ``pid`` has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(title: str, counts: dict[str, int], requests: int) -> None:
    total = sum(counts.values())
    print(f"\n{title}: {requests} requests, {total / requests:.2f} system calls per request")
    for name, calls in sorted(counts.items(), key=lambda kv: -kv[1]):
        if calls / requests >= 0.005:
            print(f"  {name:<18} {calls / requests:8.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000, help="requests in the measured seq batch")
    parser.add_argument("--mode", default="seq,wrk", help="comma list of seq, wrk, cpu (CPU per request, no strace)")
    parser.add_argument("--tls", action="store_true", help="measure the websecure (TLS) entrypoint")
    parser.add_argument("--path", default="/small", help="/small (100 B) or /large.bin (1 MiB)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds of the wrk batch")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--post", type=int, default=0, help="seq/cpu: POST this many body bytes (path /post)")
    parser.add_argument("--close", action="store_true", help="wrk sends Connection: close (a connection per request)")
    parser.add_argument("--raw", type=Path, help="also log every call of the seq batch to this file (strace -tt)")
    args = parser.parse_args()
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="syscalls-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # nginx workers run as 'nobody' when we are root
        try:
            backend_port = free_port()
            (work / "www").mkdir()
            (work / "www" / "large.bin").write_bytes(os.urandom(run.LARGE_SIZE))
            (work / "www" / "large.bin").chmod(0o644)
            conf = run.write_conf(
                work,
                "backend.conf",
                run.BACKEND_CONF.format(
                    dir=work,
                    workers=1,
                    port=backend_port,
                    small=run.SMALL_BODY.strip("\n") + "\\n",
                    post=run.POST_REPLY.strip("\n") + "\\n",
                ),
            )
            procs.append(subprocess.Popen(run.nginx_launch(conf, work).argv, start_new_session=True))
            wait_listening(backend_port, 10)
            port = free_port()
            upstream = f"{run.HOST}:{backend_port}"
            context: ssl.SSLContext | None = None
            host = "127.0.0.1"
            if args.tls:
                certs = generate_certificates(work, "rsa")
                (work / "dynamic.yml").write_text(
                    INGRESS_DYNAMIC.format(cert=certs.cert, key=certs.key, server_name=SERVER_NAME, upstream=upstream)
                )
                static = work / "traefik.yml"
                static.write_text(INGRESS_STATIC.format(port=port, workdir=work))
                argv = [str(INGRESS), f"--configFile={static}"]
                context = ssl.create_default_context(cafile=str(certs.ca))
                host = SERVER_NAME
            else:
                (work / "dynamic.yml").write_text(PLAIN_DYNAMIC.format(upstream=upstream))
                argv = [
                    str(INGRESS),
                    f"--entrypoints.web.address={run.HOST}:{port}",
                    f"--providers.file.filename={work / 'dynamic.yml'}",
                    "--providers.file.watch=false",
                ]
            ingress = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL)
            procs.append(ingress)
            wait_listening(port, 30)
            client = Client(port, host, context, b"p" * args.post)
            for _ in range(500):
                client.get(args.path)
            kind = "TLS" if args.tls else "plain"
            for mode in args.mode.split(","):
                if mode == "seq":
                    seq = functools.partial(drive_seq, client, args.path, args.requests)
                    counts = strace_counts(ingress.pid, work / "seq.strace", seq, args.raw)
                    report(f"{kind} {args.path}, one keep-alive connection, sequential", counts, args.requests)
                elif mode == "wrk":
                    url = f"{'https' if args.tls else 'http'}://{run.HOST}:{port}{args.path}"
                    answered: list[int] = []
                    load = functools.partial(drive_wrk, url, host, args, answered)
                    counts = strace_counts(ingress.pid, work / "wrk.strace", load)
                    close = ", Connection: close" if args.close else ""
                    report(f"{kind} {args.path}, wrk -t1 -c{args.connections}{close}", counts, answered[0])
                elif mode == "cpu":
                    # No tracer: the proxy's own CPU per request (user + system, from /proc), best of 3 batches.
                    best = float("inf")
                    for _ in range(3):
                        before = process_cpu(ingress.pid)
                        for _ in range(args.requests):
                            client.get(args.path)
                        best = min(best, (process_cpu(ingress.pid) - before) / args.requests)
                    print(
                        f"\n{kind} {args.path}, sequential, no tracer: {best * 1e6:.1f} us CPU per request (best of 3)"
                    )
                else:
                    print(f"unknown mode {mode!r}", file=sys.stderr)
                    return 2
        finally:
            for proc in procs:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
                    try:
                        proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        os.killpg(proc.pid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
