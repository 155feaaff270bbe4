"""ZAP listener benchmark: throughput and handshake rate of post-quantum TLS 1.3, against stdlib-ssl classic TLS.

Usage (alone, on a quiet machine)::

    .venv/bin/python benchmarks/zap_bench.py [--rounds 3] [--clients 4] [--streams 8] [--mib 32] \
        [--duration 10] [--concurrency 16] [--json benchmarks/results/zap.json]
    .venv/bin/python benchmarks/zap_bench.py --smoke   # ~15 s, proves the harness works (figures meaningless)

Both targets terminate TLS 1.3 on 127.0.0.1 and pipe the decrypted bytes to the same echo node (its own uvloop
process, ``--echo-node``; see :class:`EchoNode` for why it holds every transport and closes instead of half-closing):

* ``zap``: ``gateway run`` with ``ZAP_LISTENER_ENABLED=true`` (pyOpenSSL over memory BIOs on the cryptography
  wheel's OpenSSL; clients get X25519MLKEM768);
* ``stdlib``: the reference, a uvloop server with the stdlib ``ssl`` module (the system OpenSSL, classic X25519)
  piping with the same flow control (this file, ``--reference-server``).

Every client is the same pyOpenSSL engine (``hanzo_edge.gateway.zap.client``), so only the server side differs; the
group each target negotiated is printed. Two figures per target, interleaved over ``--rounds``:

* **throughput**: ``--clients`` processes each open ``--streams`` connections, send ``--mib`` MiB on each, read the
  whole echo back, close; MiB/s of payload echoed (each byte crosses the server twice, once each way);
* **handshakes/s**: ``--clients`` processes each keep ``--concurrency`` sessions going for ``--duration`` seconds:
  connect, handshake, 1 byte echoed, close. Only sessions whose byte came back count; any other ends the run.

If a process the figures depend on dies (the echo node, the gateway, the reference server, a client), the run stops
at once naming it and how it died (``killed by SIGABRT``...) and exits 1: no figure is printed for a broken setup.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import multiprocessing as mp
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GATEWAY = str(Path(sys.executable).parent / "gateway")


# -- the echo node: a process of its own behind both targets -------------------------------------------------------
class EchoNode(asyncio.Protocol):
    """Echoes every byte with flow control; once the peer's input ends, the echo is flushed and the socket closed.

    Two uvloop rules shape it (issue 21: this node, not the gateway or the reference, died with glibc's "double free
    or corruption" in the benchmark's handshake phase):

    * uvloop keeps a transport alive while it reads, writes or closes, but **not** while a ``write_eof()``
      (``uv_shutdown``) is pending, and the request lives inside the transport object. An earlier node half-closed
      (``write_eof()`` and ``return True``) once the peer's input ended, leaving the transport reachable only through
      its cycle with the protocol: a young-generation GC run before the shutdown completed (another connection's
      callback in the same epoll batch) freed the transport, libuv then called the shutdown callback on freed
      memory, and Cython's DECREF of the already-freed object freed it a second time (core: ``_int_free`` <-
      ``__uv_stream_on_shutdown`` <- ``uv__stream_destroy``, ``TCPTransport`` with refcount 0, handle ``data`` NULL).
      Every open transport is therefore held in :attr:`open_transports` until ``connection_lost``.
    * after EOF uvloop stops reading, so a half-closed socket never learns the peer went away: it stays open until
      collected. An echo has nothing left to say once its input ended, so it closes instead of half-closing (the
      transport flushes what it holds first, then sends the FIN).
    """

    open_transports: set[asyncio.BaseTransport] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        EchoNode.open_transports.add(transport)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def eof_received(self) -> bool:
        return False  # close: flush the echo, then FIN

    def connection_lost(self, exc: Exception | None) -> None:
        EchoNode.open_transports.discard(self.transport)

    def pause_writing(self) -> None:
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()


def run_echo_node(port: int, protocol: type[asyncio.Protocol] = EchoNode) -> None:
    """Serve ``protocol`` on 127.0.0.1:``port`` with uvloop, forever (``--echo-node PORT``)."""
    import uvloop

    async def main() -> None:
        await asyncio.get_running_loop().create_server(protocol, "127.0.0.1", port, backlog=4096)
        await asyncio.Event().wait()

    uvloop.run(main())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_accepting(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing accepts on 127.0.0.1:{port}")


def make_certificate(root: Path) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "zap.bench")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("zap.bench")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = root / "tls.crt", root / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


# -- the reference: stdlib ssl on uvloop, same piping -------------------------------------------------------------
def reference_server(port: int, node_port: int, cert: str, key: str) -> None:
    import ssl

    import uvloop

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(cert, key)

    class Node(asyncio.Protocol):
        def __init__(self, client: Client) -> None:
            self.client = client

        def data_received(self, data: bytes) -> None:
            if self.client.transport is not None:
                self.client.transport.write(data)

        def eof_received(self) -> bool:
            if self.client.transport is not None:
                self.client.transport.close()  # a TLS transport cannot half-close: close_notify
            return False

        def connection_lost(self, exc: Exception | None) -> None:
            self.client.node = None

        def pause_writing(self) -> None:
            if self.client.transport is not None:
                self.client.transport.pause_reading()

        def resume_writing(self) -> None:
            if self.client.transport is not None:
                self.client.transport.resume_reading()

    class Client(asyncio.Protocol):
        def __init__(self) -> None:
            self.transport: Any = None
            self.node: Any = None
            self.pending: list[bytes] = []
            self.ended = False

        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            asyncio.get_running_loop().create_task(self.dial())

        async def dial(self) -> None:
            node, _ = await asyncio.get_running_loop().create_connection(lambda: Node(self), "127.0.0.1", node_port)
            self.node = node
            if self.transport is None:
                node.close()
                return
            node.writelines(self.pending)

        def data_received(self, data: bytes) -> None:
            if self.node is not None:
                self.node.write(data)
            else:
                self.pending.append(data)

        def eof_received(self) -> bool:
            # close_notify ends an ssl transport whatever we return: the node is closed with it.
            self.ended = True
            return False

        def connection_lost(self, exc: Exception | None) -> None:
            self.transport = None
            if self.node is not None:
                self.node.close()

        def pause_writing(self) -> None:
            if self.node is not None:
                self.node.pause_reading()

        def resume_writing(self) -> None:
            if self.node is not None:
                self.node.resume_reading()

    async def main() -> None:
        await asyncio.get_running_loop().create_server(Client, "127.0.0.1", port, ssl=context, backlog=4096)
        await asyncio.Event().wait()

    uvloop.run(main())


# -- clients ------------------------------------------------------------------------------------------------------
def _client_context() -> Any:
    from hanzo_edge.gateway.zap.contexts import client_context

    return client_context(verify=False)


def throughput_client(port: int, streams: int, mib: int, out: Any) -> None:
    import uvloop

    from hanzo_edge.gateway.zap.client import open_zap

    block = os.urandom(1 << 20)

    async def stream(context: Any) -> tuple[int, str | None]:
        # No half-close: the stdlib reference cannot send after the client's close_notify; the echo's length is known.
        received = 0
        total = mib * len(block)
        echoed = asyncio.get_running_loop().create_future()

        def count(data: bytes) -> None:
            nonlocal received
            received += len(data)
            if received >= total and not echoed.done():
                echoed.set_result(None)

        client = await open_zap("127.0.0.1", port, context, on_data=count)
        view = memoryview(block)
        for _ in range(mib):
            for offset in range(0, len(block), 256 * 1024):
                await client.send(view[offset : offset + 256 * 1024])
        await asyncio.wait((echoed, client.ended), return_when=asyncio.FIRST_COMPLETED)
        client.close()
        if not echoed.done():
            # The target or the node went away: say so instead of waiting for bytes that will never come.
            reason = _outcome(client.ended)
            raise ConnectionError(f"the echo ended after {received} of {total} bytes ({reason})")
        return received, client.group

    async def main() -> None:
        context = _client_context()
        started = time.perf_counter()
        results = await asyncio.gather(*(stream(context) for _ in range(streams)))
        elapsed = time.perf_counter() - started
        out.put({"bytes": sum(r for r, _ in results), "elapsed": elapsed, "group": results[0][1]})

    _report_failure(out, lambda: uvloop.run(main()))


def handshake_client(port: int, concurrency: int, duration: float, out: Any) -> None:
    import uvloop

    from hanzo_edge.gateway.zap.client import open_zap

    async def main() -> None:
        loop = asyncio.get_running_loop()
        context = _client_context()
        deadline = time.perf_counter() + duration
        done = failed = 0
        group: str | None = None
        failures: dict[str, int] = {}

        async def session() -> bool:
            nonlocal group
            answered = loop.create_future()

            def first_byte(_data: bytes) -> None:
                if not answered.done():
                    answered.set_result(None)

            try:
                client = await open_zap("127.0.0.1", port, context, on_data=first_byte)
            except Exception as exc:  # a refused or failed handshake is a counted failure
                failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
                return False
            await client.send(b"!")
            await asyncio.wait((answered, client.ended), return_when=asyncio.FIRST_COMPLETED)
            client.close()
            if not answered.done():
                # Handshaken but not echoed (the node is gone): not a session the target served.
                reason = _outcome(client.ended)
                failures[reason] = failures.get(reason, 0) + 1
                return False
            group = client.group
            return True

        async def worker() -> None:
            nonlocal done, failed
            while time.perf_counter() < deadline:
                if await session():
                    done += 1
                else:
                    failed += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        out.put({"sessions": done, "failed": failed, "failures": failures, "elapsed": elapsed, "group": group})

    _report_failure(out, lambda: uvloop.run(main()))


def _outcome(ended: asyncio.Future[None]) -> str:
    """How a client's connection ended, for an error message (and the exception retrieved, so none is unheard)."""
    if not ended.done():
        return "still open"
    exc = ended.exception()
    return "closed by the peer" if exc is None else f"{type(exc).__name__}: {exc}"


def _report_failure(out: Any, run: Any) -> None:
    """Run a client; an exception goes to the parent as ``{"error": ...}`` rather than a silent missing result."""
    try:
        run()
    except Exception as exc:  # every failure is reported, with its type
        out.put({"error": f"{type(exc).__name__}: {exc}"})


class HelperDied(RuntimeError):
    """A process the measurement depends on (the echo node, a target) exited: the figures would be meaningless."""


def describe_exit(code: int) -> str:
    """``-6`` is ``killed by SIGABRT`` (glibc's abort on heap corruption), ``1`` is ``exit status 1``."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def check_helpers(helpers: dict[str, subprocess.Popen[bytes]]) -> None:
    for name, proc in helpers.items():
        code = proc.poll()
        if code is not None:
            raise HelperDied(f"the {name} (pid {proc.pid}) died: {describe_exit(code)}")


def run_clients(
    target: Any,
    args: tuple[Any, ...],
    clients: int,
    timeout: float,
    helpers: dict[str, subprocess.Popen[bytes]],
) -> list[dict[str, Any]]:
    """Run ``clients`` processes of ``target`` and collect one result each, watching the helpers meanwhile."""
    ctx = mp.get_context("spawn")  # a fresh interpreter per client: no OpenSSL or loop state inherited by fork
    results_queue = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, results_queue)) for _ in range(clients)]
    for proc in procs:
        proc.start()
    deadline = time.monotonic() + timeout
    results: list[dict[str, Any]] = []
    try:
        while len(results) < len(procs):
            try:
                results.append(results_queue.get(timeout=0.5))
                continue
            except queue.Empty:
                pass
            check_helpers(helpers)
            for proc in procs:
                if proc.exitcode not in (None, 0):
                    raise HelperDied(f"a client process (pid {proc.pid}) died: {describe_exit(proc.exitcode)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(procs) - len(results)} client processes gave no result in {timeout:.0f}s")
    finally:
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
    errors = [result["error"] for result in results if "error" in result]
    if errors:
        raise RuntimeError(f"{len(errors)} client processes failed: {errors[0]}")
    check_helpers(helpers)
    return results


def measure(port: int, options: argparse.Namespace, helpers: dict[str, subprocess.Popen[bytes]]) -> dict[str, Any]:
    streams_args = (port, options.streams, options.mib)
    streams = run_clients(throughput_client, streams_args, options.clients, options.timeout, helpers)
    payload = sum(r["bytes"] for r in streams) / (1 << 20)
    elapsed = max(r["elapsed"] for r in streams)
    shake_args = (port, options.concurrency, options.duration)
    shakes = run_clients(handshake_client, shake_args, options.clients, options.duration + options.timeout, helpers)
    failed = sum(r["failed"] for r in shakes)
    if failed:
        reasons: dict[str, int] = {}
        for result in shakes:
            for reason, count in result["failures"].items():
                reasons[reason] = reasons.get(reason, 0) + count
        raise RuntimeError(f"{failed} handshake sessions failed: {reasons}")
    return {
        "group": streams[0]["group"],
        "throughput_mib_s": payload / elapsed,
        "handshakes_s": sum(r["sessions"] for r in shakes) / max(r["elapsed"] for r in shakes),
    }


# -- the run ------------------------------------------------------------------------------------------------------
def run_rounds(options: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    """Start the echo node and both targets, measure them interleaved; raises HelperDied if any of them dies."""
    helpers: dict[str, subprocess.Popen[bytes]] = {}
    with tempfile.TemporaryDirectory(prefix="zap-bench-") as tmp:
        root = Path(tmp)
        cert, key = make_certificate(root)
        node_port, zap_port, ref_port, http_port = free_port(), free_port(), free_port(), free_port()
        try:
            helpers["echo node"] = subprocess.Popen([sys.executable, __file__, "--echo-node", str(node_port)])
            config = root / "gateway.json"
            config.write_text(json.dumps({"version": 3, "listen_ip": "127.0.0.1", "port": http_port, "endpoints": []}))
            env = {
                **os.environ,
                "AUTH_ENABLED": "false",
                "BILLING_ENABLED": "false",
                "ZAP_LISTENER_ENABLED": "true",
                "ZAP_LISTENER_PORT": str(zap_port),
                "ZAP_TLS_CERT": cert,
                "ZAP_TLS_KEY": key,
                "ZAP_INTERNAL_ADDR": f"127.0.0.1:{node_port}",
                "HANZO_GATEWAY_LOG_LEVEL": "ERROR",
            }
            helpers["gateway (ZAP listener)"] = subprocess.Popen([GATEWAY, "run", "-c", str(config)], env=env, cwd=tmp)
            reference = [sys.executable, __file__, "--reference-server", str(ref_port), str(node_port), cert, key]
            helpers["stdlib-ssl reference server"] = subprocess.Popen(reference)
            for port in (node_port, zap_port, ref_port):
                wait_accepting(port)
            rounds: dict[str, list[dict[str, Any]]] = {"zap": [], "stdlib": []}
            for index in range(options.rounds):
                for name, port in (("zap", zap_port), ("stdlib", ref_port)):
                    figures = measure(port, options, helpers)
                    rounds[name].append(figures)
                    print(
                        f"round {index + 1} {name:6s} group={figures['group']}: "
                        f"{figures['throughput_mib_s']:.0f} MiB/s echoed, {figures['handshakes_s']:.0f} handshakes/s",
                        flush=True,
                    )
            check_helpers(helpers)
        finally:
            for proc in reversed(helpers.values()):
                if proc.poll() is None:
                    proc.terminate()
            for proc in helpers.values():
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
    return rounds


# -- main ---------------------------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--streams", type=int, default=8, help="throughput connections per client process")
    parser.add_argument("--mib", type=int, default=32, help="MiB sent (and echoed) per throughput connection")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of handshakes per round")
    parser.add_argument("--concurrency", type=int, default=16, help="handshake loops per client process")
    parser.add_argument("--json", default="", help="write the results here")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up on a measurement after this long")
    parser.add_argument("--smoke", action="store_true", help="tiny run that proves the harness works")
    parser.add_argument("--reference-server", nargs=4, metavar=("PORT", "NODE", "CERT", "KEY"), help=argparse.SUPPRESS)
    parser.add_argument("--echo-node", type=int, metavar="PORT", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.echo_node:
        run_echo_node(options.echo_node)
        return 0
    if options.reference_server:
        port, node, cert, key = options.reference_server
        reference_server(int(port), int(node), cert, key)
        return 0
    if options.smoke:
        options.rounds, options.clients, options.streams, options.mib = 1, 1, 2, 2
        options.duration, options.concurrency, options.timeout = 2.0, 4, 30.0

    try:
        rounds = run_rounds(options)
    except (HelperDied, RuntimeError, TimeoutError) as exc:
        print(f"zap_bench: {exc}", file=sys.stderr, flush=True)
        return 1
    summary = {
        name: {
            "group": figures[0]["group"],
            "throughput_mib_s": statistics.median(f["throughput_mib_s"] for f in figures),
            "handshakes_s": statistics.median(f["handshakes_s"] for f in figures),
        }
        for name, figures in rounds.items()
    }
    summary["ratio"] = {
        "throughput": summary["zap"]["throughput_mib_s"] / summary["stdlib"]["throughput_mib_s"],
        "handshakes": summary["zap"]["handshakes_s"] / summary["stdlib"]["handshakes_s"],
    }
    print(json.dumps(summary, indent=2))
    if options.json:
        Path(options.json).write_text(json.dumps({"options": vars(options), "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
