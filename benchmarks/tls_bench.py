"""TLS termination side by side: ``ingress`` (websecure entrypoint) against nginx serving the same certificate.

Usage: ``.venv/bin/python benchmarks/tls_bench.py [--rounds 3] [--duration 10]
[--scenario keepalive,handshake,fullhandshake] [--stime-clients 4]`` (other ``../shared/bench/run.py`` flags
such as ``--warmup``, ``--pin``, ``--quiet-busy`` pass through).

It reuses ``../shared/bench/run.py`` itself rather than a copy of it: the same nginx backend (1 worker, 100-byte
``/small``), the same interleaved rounds, quiet-machine waits and redos, /proc accounting (proxy CPU from utime +
stime, peak RSS of the process tree), wrk Lua hook, medians and table. What it adds is TLS on the front side:

* a CA and a leaf certificate (``bench.localhost`` and IP ``127.0.0.1``) generated with ``cryptography`` into the
  run's temp dir, RSA 2048 by default (HIP-68's suites are ECDHE-RSA) or ECDSA P-256 with ``--key ecdsa``;
* nginx as the peer: ``listen ... ssl``, that certificate, ``ssl_protocols TLSv1.2 TLSv1.3``, one worker,
  keep-alive to the client and to the backend, nginx's default session settings;
* ``ingress`` with one worker: a ``websecure`` entrypoint, the certificate in ``tls.certificates`` (and as the store
  default, because wrk sends the SNI ``127.0.0.1``, which names no certificate), a ``Host(`bench.localhost`)``
  router with ``tls: {}``.

Both must pass a check over real TLS before each timed run: the CA verifies the served chain (so the generated
TRAEFIK DEFAULT CERT would fail it), status 200, the exact body, a reused keep-alive connection or, for
``handshake``, a reply that announces close.

Scenarios (wrk ``-t2 -c64`` over https, ``Host: bench.localhost``):

* ``keepalive``: GET ``/small`` on kept connections, the TLS counterpart of run.py's ``small``;
* ``handshake``: the same with ``Connection: close``, so every request opens a new TCP connection and a new TLS
  session: req/s is new TLS connections per second. These are mostly *resumed* handshakes, not full ones: wrk
  closes with ``SSL_clear``, which keeps the session, and offers it again on the slot's next connection (TLS 1.3
  PSK with ECDHE, no certificate signature); h2load does the same. A probe before the first run counts, from
  nginx's ``$ssl_session_reused``, how many of wrk's connections resumed, prints it and records it in the JSON
  (``meta.tls.resumption_probe``). Full handshakes cannot be forced from the server side for a fair comparison:
  ``disableSessionTickets`` does not stop ingress resuming TLS 1.2 sessions from its session cache.
* ``fullhandshake``: full TLS handshakes per second, forced from the client side. wrk cannot be told not to resume,
  so this scenario drives ``--stime-clients`` (default 4) parallel ``openssl s_time -new`` processes instead. Each
  one opens a connection with a fresh ``SSL`` object and no session (so nothing to resume: certificate, signature
  and key exchange every time), sends one HTTP/1.0 GET for ``/small`` with ``Host: bench.localhost`` (smuggled into
  ``-www``, because s_time sends no Host header and ingress routes on it), reads the reply to the server's close,
  and starts over. connections/s is the sum of their connection counts over the pool's wall-clock time (s_time's
  own "connections/user sec" is per second of *its* CPU, and its "real seconds" are whole seconds). s_time gives
  no latencies, so p50/p99 are left empty; its ``-time`` takes whole seconds and it stops at a whole-second tick,
  so a run lasts ``round(--duration)`` to one second more. The "client CPU s" column is the s_time processes' CPU
  (utime + stime, from ``wait4``), and each run prints the busiest client's share of a core: near 100 % would mean
  the client, not the server, sets the pace. OpenSSL 3.0's client side of a full handshake costs about as much CPU
  as nginx's server side, so on a small machine the client takes a large share of it: read ``CPU us/req`` (the
  server's CPU per handshake) beside req/s, and use ``--pin`` to keep the client off the server's cores. The
  pre-flight sends s_time's exact request bytes over verified TLS and expects 200, the body and a close; every
  timed run must read exactly that reply's size per connection (a 4xx/5xx would differ), else the run counts as
  failed. The same nginx ``$ssl_session_reused`` probe runs with the s_time pool and is
  recorded as ``meta.tls.resumption_probe_fullhandshake``: it must show 0 resumed.

Results go to ``benchmarks/results/tls.json`` (``--json`` to change). Run it alone on a quiet machine.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import importlib.util
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

from bench_tools import ensure_bench_tools
from compiled_tree import use_for_children
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT.parent / "shared" / "bench"
INGRESS = ROOT / ".venv" / "bin" / "ingress"
SERVER_NAME = "bench.localhost"
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "tls.json"


def load_run_py() -> ModuleType:
    """Import ../shared/bench/run.py (not a package) under a private name."""
    spec = importlib.util.spec_from_file_location("shared_bench_run", BENCH / "run.py")
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {BENCH / 'run.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


run = load_run_py()

SCENARIOS = {
    "keepalive": run.Scenario("keepalive", "/small", about="GET 100-byte body over TLS, keep-alive"),
    "handshake": run.Scenario(
        "handshake",
        "/small",
        close=True,
        about="GET 100-byte body, Connection: close (new TCP+TLS connection per request; wrk resumes its session)",
    ),
    "fullhandshake": run.Scenario(
        "fullhandshake",
        "/small",
        close=True,
        about="GET 100-byte body, HTTP/1.0, one request per new TCP+TLS connection, full handshake every time "
        "(openssl s_time -new, which never resumes); req/s = full handshakes/s",
    ),
}
FULL_HANDSHAKE = "fullhandshake"

# s_time writes "GET <page> HTTP/1.0\r\n\r\n" and has no option for headers; ingress routes on Host, so the Host
# line rides in the page argument. What goes on the wire is an ordinary request with one extra header.
STIME_PAGE = f"/small HTTP/1.0\r\nHost: {SERVER_NAME}\r\nX-Bench: s_time"
STIME_REQUEST = f"GET {STIME_PAGE} HTTP/1.0\r\n\r\n".encode()
# The summary line of ``s_time -new``: "<n> connections in <user>s; <rate> connections/user sec, bytes read <b>".
STIME_SUMMARY = re.compile(r"^(\d+) connections in [\d.]+s; [\d.]+ connections/user sec, bytes read (\d+)$", re.M)


# --------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class CertFiles:
    ca: Path
    cert: Path  # leaf only; both servers are given the same file
    key: Path
    leaf_der: bytes  # what a check expects to be served


def _private_key(kind: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if kind == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def generate_certificates(directory: Path, key_kind: str) -> CertFiles:
    """A CA and a leaf for SERVER_NAME and 127.0.0.1 signed by it, as PEM files in ``directory``."""
    now = datetime.datetime.now(datetime.UTC)
    validity = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=2))
    ca_key = _private_key(key_kind)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tls_bench CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = _private_key(key_kind)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER_NAME)]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(SERVER_NAME), x509.IPAddress(ipaddress.ip_address(run.HOST))],
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = CertFiles(
        directory / "ca.crt",
        directory / "leaf.crt",
        directory / "leaf.key",
        leaf.public_bytes(serialization.Encoding.DER),
    )
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    # nginx workers run as 'nobody' when we are root, but the master reads the key before dropping privileges.
    for path in (files.ca, files.cert):
        path.chmod(0o644)
    files.key.chmod(0o600)
    return files


# --------------------------------------------------------------------------
# The two TLS front ends
# --------------------------------------------------------------------------

NGINX_TLS_CONF = (
    run.NGINX_COMMON
    + """http {{
"""
    + run.NGINX_TEMP_PATHS
    + """    {access_log}
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    upstream backend {{
        server {upstream};
        keepalive 256;
        keepalive_requests 10000000;
    }}
    server {{
        listen 127.0.0.1:{port} ssl backlog=4096;
        server_name {server_name};
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_max_temp_file_size 0;
        }}
    }}
}}
"""
)

# Only for the resumption probe: one line per request saying whether its connection resumed a session.
SESSION_LOG = "log_format sessions '$ssl_session_reused $ssl_protocol'; access_log {dir}/sessions.log sessions;"

INGRESS_STATIC = """entryPoints:
  websecure:
    address: "127.0.0.1:{port}"
providers:
  file:
    filename: {workdir}/dynamic.yml
    watch: false
"""

INGRESS_DYNAMIC = """tls:
  certificates:
    - certFile: {cert}
      keyFile: {key}
  stores:
    default:
      defaultCertificate:
        certFile: {cert}
        keyFile: {key}
http:
  routers:
    bench:
      rule: Host(`{server_name}`)
      entryPoints: [websecure]
      service: backend
      tls: {{}}
  services:
    backend:
      loadBalancer:
        servers:
          - url: http://{upstream}
"""


@dataclass
class TlsProxy:
    """A TLS front end under test, shaped like run.py's Proxy so its Bench can run it."""

    name: str
    command: str  # what meta() records for it
    certs: CertFiles
    builtin: str | None = None
    direct: bool = False
    log_sessions: bool = False

    def launch(self, port: int, backend_port: int, workdir: Path, workers: int) -> Any:
        upstream = f"{run.HOST}:{backend_port}"
        if self.name == "nginx":
            access_log = SESSION_LOG.format(dir=workdir) if self.log_sessions else "access_log off;"
            conf = run.write_conf(
                workdir,
                "nginx.conf",
                NGINX_TLS_CONF.format(
                    dir=workdir,
                    workers=workers,
                    port=port,
                    upstream=upstream,
                    server_name=SERVER_NAME,
                    cert=self.certs.cert,
                    key=self.certs.key,
                    access_log=access_log,
                ),
            )
            return run.nginx_launch(conf, workdir)
        run.write_conf(
            workdir,
            "dynamic.yml",
            INGRESS_DYNAMIC.format(
                cert=self.certs.cert, key=self.certs.key, server_name=SERVER_NAME, upstream=upstream
            ),
        )
        static = run.write_conf(workdir, "traefik.yml", INGRESS_STATIC.format(port=port, workdir=workdir))
        return run.Launch([str(INGRESS), f"--configFile={static}"])


# --------------------------------------------------------------------------
# Correctness pre-flight over TLS
# --------------------------------------------------------------------------


def check_https(port: int, scenario: Any, certs: CertFiles) -> None:
    """run.py's check_http over verified TLS: our leaf served, 200, exact body, keep-alive reuse or close."""
    context = ssl.create_default_context(cafile=str(certs.ca))
    conn = http.client.HTTPSConnection(run.HOST, port, timeout=10, context=context)
    expected = run.SMALL_BODY.encode()
    try:
        first_sock = None
        for attempt in (1, 2):
            headers = {"Host": SERVER_NAME}
            if scenario.close:
                headers["Connection"] = "close"
            conn.request(scenario.method, scenario.path, headers=headers)
            sock = conn.sock  # read before the reply: http.client drops it once a closing reply is read
            if attempt == 1:
                if not isinstance(sock, ssl.SSLSocket) or sock.getpeercert(binary_form=True) != certs.leaf_der:
                    raise RuntimeError("served certificate is not the generated leaf")
                first_sock = sock
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200 or data != expected:
                raise RuntimeError(f"GET {scenario.path}: status {resp.status}, {len(data)}-byte body")
            if scenario.close:
                if not resp.will_close:
                    raise RuntimeError("'Connection: close' request, but the reply does not announce close")
                return
            if resp.will_close:
                raise RuntimeError("reply closes a keep-alive connection")
            if attempt == 2 and sock is not first_sock:
                raise RuntimeError("keep-alive connection was not reused")
    finally:
        conn.close()


def check_stime_request(port: int, certs: CertFiles) -> int:
    """Send s_time's exact request over verified TLS; expect our leaf, 200, the exact body, then the server's close.

    Returns the reply's size in bytes: every connection of a timed run must read the same amount."""
    context = ssl.create_default_context(cafile=str(certs.ca))
    context.check_hostname = False  # s_time sends no SNI either; the CA check below still pins the chain
    with socket.create_connection((run.HOST, port), timeout=10) as raw, context.wrap_socket(raw) as tls:
        if tls.getpeercert(binary_form=True) != certs.leaf_der:
            raise RuntimeError("served certificate is not the generated leaf")
        tls.sendall(STIME_REQUEST)
        reply = bytearray()
        while chunk := tls.recv(65536):  # ends at the server's close; a kept-open connection times out instead
            reply += chunk
    head, _, body = bytes(reply).partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0]
    if not status.startswith(b"HTTP/1.") or status.split()[1:2] != [b"200"] or body != run.SMALL_BODY.encode():
        raise RuntimeError(f"s_time request: status line {status!r}, {len(body)}-byte body")
    return len(reply)


# --------------------------------------------------------------------------
# The bench: run.py's, measuring over https
# --------------------------------------------------------------------------


class TlsBench(run.Bench):  # type: ignore[misc, name-defined]
    """run.py's Bench with https wrk runs and the TLS check; rounds, redos, summary and table are inherited."""

    def __init__(self, args: argparse.Namespace, workdir: Path, certs: CertFiles) -> None:
        super().__init__(args, workdir)
        self.certs = certs
        self.resumption_probe: dict[str, Any] = {}
        self.full_handshake_probe: dict[str, Any] = {}
        self.reply_bytes: dict[str, int] = {}  # per proxy: the s_time reply size its pre-flight saw

    def wrk(
        self, port: int, sc: Any, seconds: float, log: Path, threads: int = 0, connections: int = 0
    ) -> tuple[dict[str, Any], float]:
        """run.py's wrk() with an https URL and the Host header; returns (results, wrk's own CPU seconds).

        ``threads``/``connections`` (0: the flags' values) let the resumption probe run a light load.
        The fullhandshake scenario runs the s_time pool instead (``connections`` then counts s_time processes)."""
        a = self.args
        if sc.name == FULL_HANDSHAKE:
            return self.stime(port, seconds, log, connections or a.stime_clients)
        if sc.name not in self.lua:
            self.lua[sc.name] = self.workdir / f"{sc.name}.lua"
            self.lua[sc.name].write_text(run.wrk_lua(sc) + f'\nwrk.headers["Host"] = "{SERVER_NAME}"\n')
        argv = ["wrk", "-t", str(threads or a.threads), "-c", str(connections or a.connections), "-d", f"{seconds:g}s"]
        argv += ["--timeout", f"{a.timeout:g}s", "--latency", "-s", str(self.lua[sc.name])]
        argv.append(f"https://{run.HOST}:{port}{sc.path}")
        out_path = log.with_suffix(".wrk.txt")
        with open(out_path, "wb") as out:
            p = self.procs.start(argv, log, cpus=self.load_cpus, stdout=out)
            _, status, usage = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
            self.procs.live.pop(p.pid, None)
        text = out_path.read_text(errors="replace")
        found = [line for line in text.splitlines() if line.startswith("BENCH_JSON ")]
        if p.returncode != 0 or not found:
            raise RuntimeError(f"wrk failed (rc={p.returncode}):\n{text[-2000:]}\n{run.tail(log)}")
        return json.loads(found[0].removeprefix("BENCH_JSON ")), usage.ru_utime + usage.ru_stime

    def stime(self, port: int, seconds: float, log: Path, clients: int) -> tuple[dict[str, Any], float]:
        """Run ``clients`` parallel ``openssl s_time -new -time round(seconds)`` (at least 1) against ``port``.

        s_time stops once its wall clock passes a whole second after ``-time``, so the run lasts that long plus up
        to a second; the rate divides by the wall-clock time measured here, from the first start to the last exit.

        Returns wrk-shaped results (connections as requests, the pool's wall-clock time as duration, no latencies)
        and the clients' summed CPU seconds. Each client's count comes from its summary line."""
        whole = max(1, round(seconds))
        argv = ["openssl", "s_time", "-connect", f"{run.HOST}:{port}", "-new", "-time", str(whole)]
        # No CA locations: s_time does not enforce verification anyway (the pre-flight does), and the default
        # CApath/store costs a directory scan per connection, about a quarter of the client's CPU.
        argv += ["-www", STIME_PAGE, "-no-CApath", "-no-CAfile", "-no-CAstore"]
        outputs = [log.parent / f"{log.name}.stime{i}.txt" for i in range(clients)]
        started = time.monotonic()
        procs = []
        for out_path in outputs:
            with open(out_path, "wb") as out:
                procs.append(self.procs.start(argv, log, cpus=self.load_cpus, stdout=out))
        # s_time has no I/O timeout: a server that stalls a connection would hang it, so the wait is bounded.
        deadline = started + whole + self.args.timeout + 10
        cpu: list[float] = [0.0] * clients
        pending = dict(enumerate(procs))
        try:
            while pending and time.monotonic() < deadline:
                for i, p in list(pending.items()):
                    pid, status, usage = os.wait4(p.pid, os.WNOHANG)
                    if pid:
                        p.returncode = os.waitstatus_to_exitcode(status)
                        cpu[i] = usage.ru_utime + usage.ru_stime
                        self.procs.live.pop(p.pid, None)
                        del pending[i]
                time.sleep(0.02)
        finally:
            for p in pending.values():
                self.procs.stop(p)
        elapsed = time.monotonic() - started
        if pending:
            raise RuntimeError(f"openssl s_time still running {elapsed:.0f}s after a {whole}s run; stopped it")
        counts: list[tuple[int, int]] = []
        for p, out_path in zip(procs, outputs, strict=True):
            text = out_path.read_text(errors="replace")
            found = STIME_SUMMARY.search(text)
            if p.returncode != 0 or not found:
                raise RuntimeError(f"openssl s_time failed (rc={p.returncode}):\n{text[-2000:]}\n{run.tail(log)}")
            counts.append((int(found.group(1)), int(found.group(2))))
        connections = sum(n for n, _ in counts)
        results: dict[str, Any] = {
            "client": f"{clients} x openssl s_time -new -time {whole}",
            "requests": connections,
            "duration_us": elapsed * 1e6,
            "bytes": sum(b for _, b in counts),
            "per_client_connections": [n for n, _ in counts],
            "per_client_cpu_s": cpu,
            # each s_time runs its connections one after another, so this is the mean time per connection
            "mean_connection_ms": clients * elapsed / max(connections, 1) * 1e3,
            "busiest_client_core_pct": 100 * max(cpu) / elapsed,
        }
        results.update(dict.fromkeys(("err_connect", "err_read", "err_write", "err_timeout", "err_status"), 0))
        results.update(dict.fromkeys(("p50_us", "p90_us", "p99_us", "p999_us"), 0))  # not measured, see the table
        return results, sum(cpu)

    def measure(self, proxy: TlsProxy, sc: Any, rnd: int) -> Any:
        """One timed run, as run.py's measure() (same accounting), checked over TLS first."""
        a = self.args
        res = run.Result(proxy.name, sc.name, rnd)
        res.idle_busy_pct = self.wait_quiet()
        self.seq += 1
        pdir = self.workdir / f"{self.seq:03d}-{sc.name}-{proxy.name}-r{rnd}"
        pdir.mkdir()
        pdir.chmod(0o755)
        log = pdir / "proxy.log"
        p = None
        try:
            port = run.free_port()
            launch = proxy.launch(port, self.backend_port, pdir, a.peer_workers)
            p = self.procs.start(launch.argv, log, cpus=self.proxy_cpus, env=launch.env)
            run.wait_listening(port, p, a.start_timeout, log)
            if sc.name == FULL_HANDSHAKE:
                if rnd == 1 or not a.check_first_round_only or proxy.name not in self.reply_bytes:
                    self.reply_bytes[proxy.name] = check_stime_request(port, self.certs)
            elif rnd == 1 or not a.check_first_round_only:
                check_https(port, sc, self.certs)
            if a.warmup > 0:
                self.wrk(port, sc, a.warmup, pdir / "warmup")
            tree, btree = run.process_tree(p.pid), run.process_tree(self.backend.pid)
            cpu0, bcpu0, mach0 = run.cpu_seconds(tree), run.cpu_seconds(btree), run.machine_cpu()
            all0 = run.all_cpu_ticks()
            sampler = run.RssSampler(p.pid)
            sampler.start()
            try:
                w, wrk_cpu = self.wrk(port, sc, a.duration, pdir / "run")
            finally:
                peak = sampler.stop()
            tree = run.process_tree(p.pid)
            cpu1, bcpu1, mach1 = run.cpu_seconds(tree), run.cpu_seconds(btree), run.machine_cpu()
            res.foreign_cpu_s = run.foreign_cpu_seconds(
                all0, run.all_cpu_ticks(), set(tree) | set(btree) | {os.getpid()}
            )
            record_wrk(res, w)
            if sc.name == FULL_HANDSHAKE:
                check_stime_replies(w, self.reply_bytes[proxy.name])
                print(
                    f"  {proxy.name}: {w['client']}: client CPU {wrk_cpu:.1f}s, busiest s_time "
                    f"{w['busiest_client_core_pct']:.0f}% of a core, {w['mean_connection_ms']:.2f} ms per connection",
                    flush=True,
                )
            res.proxy_cpu_s = cpu1 - cpu0
            res.proxy_cpu_us_per_req = res.proxy_cpu_s / max(res.requests, 1) * 1e6
            res.proxy_peak_rss_mib = peak / 1024
            res.proxy_hwm_mib = run.rss_kib(tree, "VmHWM") / 1024
            res.backend_cpu_s = bcpu1 - bcpu0
            res.wrk_cpu_s = wrk_cpu
            pct = run.machine_pct(mach0, mach1)
            res.machine_busy_pct, res.machine_softirq_pct = pct["busy"], pct["softirq"]
            res.machine_steal_pct = pct["steal"]
        except Exception as exc:  # record and carry on with the other proxy, as run.py does
            res.ok, res.error = False, str(exc)
            print(f"  !! {proxy.name} ({sc.name}, round {rnd}): {exc}", file=sys.stderr)
        finally:
            if p:
                self.procs.stop(p)
        return res

    def probe_resumption(self, sc: Any) -> dict[str, Any]:
        """Drive nginx briefly with ``sc``'s client and count, from its log, connections that resumed a session."""
        pdir = self.workdir / f"resumption-probe-{sc.name}"
        pdir.mkdir()
        pdir.chmod(0o755)
        probe = TlsProxy("nginx", "nginx logging $ssl_session_reused", self.certs, log_sessions=True)
        port = run.free_port()
        launch = probe.launch(port, self.backend_port, pdir, 1)
        p = self.procs.start(launch.argv, pdir / "proxy.log")
        try:
            run.wait_listening(port, p, self.args.start_timeout, pdir / "proxy.log")
            self.wrk(port, sc, 1, pdir / "client", threads=1, connections=4)
        finally:
            self.procs.stop(p)  # nginx writes its buffered log lines on exit
        lines = (pdir / "sessions.log").read_text().split("\n")
        fields = [line.split() for line in lines if line]
        return {
            "requests": len(fields),
            "resumed": sum(1 for f in fields if f[0] == "r"),
            "protocols": sorted({f[1] for f in fields if len(f) > 1}),
        }

    def start_backend(self) -> None:
        """run.py's backend, then (before any timed run) the resumption probe when handshakes are measured."""
        super().start_backend()
        names = {sc.name for sc in self.args.scenarios}
        if "handshake" in names:
            self.resumption_probe = self.probe_resumption(SCENARIOS["handshake"])
            print(f"resumption probe (wrk, Connection: close, nginx log): {self.resumption_probe}", flush=True)
            if not self.resumption_probe["requests"]:
                print("  warning: the resumption probe saw no requests", file=sys.stderr)
        if FULL_HANDSHAKE in names:
            probe = self.full_handshake_probe = self.probe_resumption(SCENARIOS[FULL_HANDSHAKE])
            print(f"resumption probe (openssl s_time -new, nginx log): {probe}", flush=True)
            if not probe["requests"] or probe["resumed"]:
                print("  warning: fullhandshake is not measuring full handshakes only (see the probe)", file=sys.stderr)

    def meta(self, proxies: list[TlsProxy]) -> dict[str, Any]:
        info: dict[str, Any] = super().meta(proxies)
        info["versions"]["openssl"] = run.tool_version(["openssl", "version"])
        info["versions"]["python ssl"] = ssl.OPENSSL_VERSION
        info["tls"] = {
            "key": self.args.key,
            "server_name": SERVER_NAME,
            "nginx ssl_protocols": "TLSv1.2 TLSv1.3",
            "resumption_probe": self.resumption_probe,
            "resumption_probe_fullhandshake": self.full_handshake_probe,
        }
        return info


def record_wrk(res: Any, w: dict[str, Any]) -> None:
    """Copy wrk's figures into a run.py Result, as run.py's measure() does."""
    secs = w["duration_us"] / 1e6
    res.wrk_raw = w
    res.requests = w["requests"]
    res.rps = w["requests"] / secs
    res.mbps = w["bytes"] / secs / 1e6
    res.p50_ms, res.p90_ms = w["p50_us"] / 1e3, w["p90_us"] / 1e3
    res.p99_ms, res.p999_ms = w["p99_us"] / 1e3, w["p999_us"] / 1e3
    res.socket_errors = sum(w[k] for k in ("err_connect", "err_read", "err_write", "err_timeout"))
    res.http_errors = w["err_status"]


def check_stime_replies(w: dict[str, Any], reply_bytes: int) -> None:
    """s_time does not look at statuses: a timed run is valid only if every connection read the checked reply."""
    if w["bytes"] != w["requests"] * reply_bytes:
        per = w["bytes"] / max(w["requests"], 1)
        raise RuntimeError(f"s_time read {per:.1f} bytes per connection; the checked 200 reply is {reply_bytes}")


_run_format_table = run.format_table


def format_table(sc: Any, rows: list[dict[str, Any]], a: argparse.Namespace) -> str:
    """run.py's table; for fullhandshake it names the s_time client and leaves the latencies it cannot give empty.

    Installed as run.format_table (below) because run.py's Bench.run looks the name up in its module when printing.
    The emptied latencies are None in the JSON summary too, which is what they are."""
    if sc.name != FULL_HANDSHAKE:
        return str(_run_format_table(sc, rows, a))
    for row in rows:
        for key in ("p50_ms", "p99_ms", "p999_ms"):
            if key in row:
                row[key] = None
    text = _run_format_table(sc, rows, a)
    wrk_flags = f"wrk -t{a.threads} -c{a.connections} -d{a.duration:g}s"
    client = f"{a.stime_clients} x openssl s_time -new -time {max(1, round(a.duration))}"
    return realign_table(text.replace(wrk_flags, client), {"wrk CPU s": "client CPU s"})


def realign_table(text: str, renames: dict[str, str]) -> str:
    """Rename header cells of a markdown table and pad its columns again (run.py pads to the old names)."""
    lines = text.split("\n")
    rows = [i for i, line in enumerate(lines) if line.startswith("| ")]
    if not rows:
        return text
    cells = [[c.strip() for c in lines[i][1:-1].split("|")] for i in rows]
    cells[0] = [renames.get(c, c) for c in cells[0]]
    widths = [max(len(r[j]) for r in cells) for j in range(len(cells[0]))]
    for n, (i, row) in enumerate(zip(rows, cells, strict=True)):
        lines[i] = (
            "| "
            + " | ".join(
                c.rjust(w) if n and j else c.ljust(w) for j, (c, w) in enumerate(zip(row, widths, strict=True))
            )
            + " |"
        )
    separator = rows[0] + 1
    lines[separator] = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join(lines)


vars(run)["format_table"] = format_table


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Other ../shared/bench/run.py flags (--warmup, --pin, --quiet-busy, --keep-workdir, ...) pass through.",
    )
    parser.add_argument(
        "--scenario", default="keepalive,handshake,fullhandshake", help=f"comma list of {','.join(SCENARIOS)}"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10, help="seconds per measured wrk run")
    parser.add_argument(
        "--stime-clients", type=int, default=4, help="parallel openssl s_time processes for fullhandshake"
    )
    parser.add_argument("--key", choices=("rsa", "ecdsa"), default="rsa", help="RSA 2048 or ECDSA P-256 keys")
    parser.add_argument("--json", default=str(DEFAULT_JSON), help="where to write raw results and medians")
    ours, rest = parser.parse_known_args(argv)
    names = ours.scenario.split(",")
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    # run.py's parser supplies every other knob with its own defaults; its scenario list is replaced below.
    a: argparse.Namespace = run.parse_args(
        ["--rounds", str(ours.rounds), "--duration", str(ours.duration), "--json", ours.json, *rest]
    )
    a.scenario, a.scenarios, a.key = ours.scenario, [SCENARIOS[n] for n in names], ours.key
    a.stime_clients = ours.stime_clients
    a.peers, a.baseline = "nginx", "nginx"
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if not (BENCH / "run.py").exists():
        print(f"tls_bench: {BENCH}/run.py not found", file=sys.stderr)
        return 2
    ensure_bench_tools(BENCH)
    build = use_for_children()  # ingress runs the compiled tree when fresh (PURE=1: pure Python)
    missing = [tool for tool in ("wrk", "nginx", "openssl") if not shutil.which(tool)]
    if missing or not INGRESS.exists():
        print(f"tls_bench: missing {', '.join(missing) or INGRESS} (run make install / setup.sh)", file=sys.stderr)
        return 2

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)  # unwinds through the finally below, which stops every child

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    workdir = Path(tempfile.mkdtemp(prefix="tlsbench-"))
    workdir.chmod(0o755)  # nginx workers run as 'nobody' when we are root
    certs = generate_certificates(workdir, a.key)
    proxies = [
        TlsProxy("nginx", f"nginx TLS (ssl_protocols TLSv1.2 TLSv1.3), {a.peer_workers} worker", certs),
        TlsProxy("ingress", f"{INGRESS} websecure, tls.certificates, Host router with tls: {{}}", certs),
    ]
    bench = TlsBench(a, workdir, certs)
    try:
        out = bench.run(proxies, a.scenarios)
        out["meta"]["hanzo_edge_build"] = build
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(out, indent=1))
        print(f"\nwrote {a.json}")
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        bench.procs.stop_all()
        if a.keep_workdir:
            print(f"configs and logs kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
