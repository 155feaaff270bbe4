"""The ZAP listener through the real ``gateway run`` CLI: post-quantum TLS 1.3 in front of a real echo node.

- a pyOpenSSL client (blocking socket) negotiates X25519MLKEM768 and its bytes come back from the node;
- ``openssl s_client`` of the system OpenSSL 3.0 (classic groups only) still connects and echoes;
- TLS 1.2 is refused with a protocol_version alert;
- a missing certificate is logged naming the file, and the gateway keeps serving HTTP without ZAP;
- concurrency: many PQ sessions at once each pipe MiBs through the listener to the echo node and back intact, every
  one reporting X25519MLKEM768. The issue's figures (50 sessions x 10 MiB) are the default;
  ``HANZO_ZAP_TEST_SESSIONS`` and ``HANZO_ZAP_TEST_MIB`` shrink them on a slow machine.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import selectors
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from edge_harness import eventually, free_port, http_request
from gateway_fixtures import Gateway, start_gateway
from OpenSSL import SSL

from hanzo_edge.gateway.zap.client import open_zap
from hanzo_edge.gateway.zap.contexts import client_context

SESSIONS = int(os.environ.get("HANZO_ZAP_TEST_SESSIONS", "50"))
MIB = int(os.environ.get("HANZO_ZAP_TEST_MIB", "10"))

# A real node process: echoes every byte with flow control and half-closes when the client does.
ECHO_NODE = """
import asyncio, sys
class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
    def data_received(self, data):
        self.transport.write(data)
    def eof_received(self):
        self.transport.write_eof()
        return True
    def pause_writing(self):
        self.transport.pause_reading()
    def resume_writing(self):
        self.transport.resume_reading()
async def main():
    server = await asyncio.get_running_loop().create_server(Echo, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


class EchoNode:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ECHO_NODE], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _files(root: Path) -> dict[str, str]:
    ca = trustme.CA()
    leaf = ca.issue_cert("zap.test")
    leaf.cert_chain_pems[0].write_to_path(root / "tls.crt")
    leaf.private_key_pem.write_to_path(root / "tls.key")
    ca.cert_pem.write_to_path(root / "ca.pem")
    return {"cert": str(root / "tls.crt"), "key": str(root / "tls.key"), "ca": str(root / "ca.pem")}


def _zap_env(files: dict[str, str], zap_port: int, node_port: int) -> dict[str, str]:
    return {
        "ZAP_LISTENER_ENABLED": "true",
        "ZAP_LISTENER_PORT": str(zap_port),
        "ZAP_TLS_CERT": files["cert"],
        "ZAP_TLS_KEY": files["key"],
        "ZAP_INTERNAL_ADDR": f"127.0.0.1:{node_port}",
    }


def _accepts(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("zap")
    files = _files(tmp)
    node = EchoNode()
    zap_port = free_port()
    gateway = start_gateway(tmp, {"endpoints": []}, _zap_env(files, zap_port, node.port))
    try:
        eventually(lambda: _accepts(zap_port), message=gateway.output)
        yield {"gw": gateway, "zap_port": zap_port, "files": files, "node": node}
    finally:
        gateway.stop()
        node.stop()


def _pyopenssl_session(port: int, ca: str, payload: bytes) -> tuple[str | None, str, bytes]:
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_verify(SSL.VERIFY_PEER, lambda _c, _x, _e, _d, ok: bool(ok))
    context.load_verify_locations(ca)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        # pyOpenSSL wants a blocking socket; the kernel's receive timeout still bounds every wait.
        sock.settimeout(None)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 10, 0))
        conn = SSL.Connection(context, sock)
        conn.set_tlsext_host_name(b"zap.test")
        conn.set_connect_state()
        conn.do_handshake()
        conn.sendall(payload)
        got = b""
        while len(got) < len(payload):
            got += conn.recv(65536)
        conn.shutdown()
        return conn.get_group_name(), conn.get_protocol_version_name(), got


def test_a_pyopenssl_client_negotiates_x25519mlkem768_and_reaches_the_node(world: dict[str, Any]) -> None:
    group, version, echoed = _pyopenssl_session(world["zap_port"], world["files"]["ca"], b"zap says hello" * 100)

    assert group == "X25519MLKEM768"
    assert version == "TLSv1.3"
    assert echoed == b"zap says hello" * 100


def test_openssl_s_client_with_classic_groups_still_connects(world: dict[str, Any]) -> None:
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{world['zap_port']}", "-servername", "zap.test"]
    args += ["-groups", "X25519:P-256", "-CAfile", world["files"]["ca"]]
    proc = subprocess.Popen(
        ["timeout", "20", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        proc.stdin.write("hello-zap\n")
        proc.stdin.flush()
        selector = selectors.DefaultSelector()
        selector.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 15
        while "hello-zap" not in lines and time.monotonic() < deadline:
            if selector.select(timeout=0.1):
                line = proc.stdout.readline()
                if not line:
                    break
                lines.append(line.strip())
        selector.close()
    finally:
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        proc.stdout.close()
    output = "\n".join(lines)
    assert "hello-zap" in lines, output  # echoed by the node through the listener
    assert "Server Temp Key: X25519" in output, output  # OpenSSL 3.0 has no ML-KEM: the classic group was chosen
    assert "TLSv1.3" in output, output
    assert "Verify return code: 0 (ok)" in output, output


def test_tls12_is_refused(world: dict[str, Any]) -> None:
    context = ssl.create_default_context(cafile=world["files"]["ca"])
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with (
        socket.create_connection(("127.0.0.1", world["zap_port"]), timeout=10) as sock,
        pytest.raises(ssl.SSLError, match=r"PROTOCOL_VERSION|protocol version"),
    ):
        context.wrap_socket(sock, server_hostname="zap.test")


def test_a_missing_certificate_is_logged_and_http_keeps_serving(tmp_path: Path) -> None:
    files = _files(tmp_path)
    missing = str(tmp_path / "absent" / "tls.crt")
    zap_port = free_port()
    env = {**_zap_env(files, zap_port, free_port()), "ZAP_TLS_CERT": missing}
    gateway: Gateway = start_gateway(tmp_path, {"endpoints": []}, env)
    try:
        assert http_request(gateway.port, "GET", "/__health").status == 200
        eventually(lambda: "ZAP listener not started" in gateway.output(), message=gateway.output)
        line = next(line for line in gateway.output().splitlines() if "ZAP listener not started" in line)
        assert " ERR " in line
        assert missing in line
        assert "No such file" in line
        with pytest.raises(OSError):  # nothing listens on the ZAP port
            _accepts(zap_port)
        assert http_request(gateway.port, "GET", "/__health").status == 200
    finally:
        gateway.stop()


# -- concurrency --------------------------------------------------------------------------------------------------
class _Check:
    """What one session must get back: its own 16-byte header, then the shared body (hashed as it arrives)."""

    def __init__(self, header: bytes) -> None:
        self.header = header
        self.head = b""
        self.digest = hashlib.sha256()
        self.count = 0

    def __call__(self, data: bytes) -> None:
        self.count += len(data)
        if len(self.head) < len(self.header):
            need = len(self.header) - len(self.head)
            self.head += data[:need]
            data = data[need:]
        if data:
            self.digest.update(data)


async def _pipe_sessions(port: int, ca: str, sessions: int, mib: int) -> list[tuple[str | None, bool, int]]:
    block = os.urandom(1 << 20)
    expected = hashlib.sha256(block * mib).hexdigest()
    chunk = 256 * 1024
    context = client_context(ca)

    async def session(index: int) -> tuple[str | None, bool, int]:
        header = f"zap-session-{index:04d}".encode().ljust(16, b".")
        check = _Check(header)
        client = await open_zap("127.0.0.1", port, context, server_name="zap.test", on_data=check)
        await client.send(header)
        view = memoryview(block)
        for _ in range(mib):
            for offset in range(0, len(block), chunk):
                await client.send(view[offset : offset + chunk])
        client.close_write()
        await client.ended
        client.close()
        intact = check.head == header and check.digest.hexdigest() == expected
        return client.group, intact, check.count

    return await asyncio.gather(*(session(i) for i in range(sessions)))


def test_concurrent_pq_sessions_pipe_mebibytes_through_a_real_echo_node(world: dict[str, Any]) -> None:
    started = time.monotonic()
    results = asyncio.run(asyncio.wait_for(_pipe_sessions(world["zap_port"], world["files"]["ca"], SESSIONS, MIB), 120))
    elapsed = time.monotonic() - started

    assert len(results) == SESSIONS
    assert [group for group, _, _ in results] == ["X25519MLKEM768"] * SESSIONS
    assert all(intact for _, intact, _ in results), [count for _, _, count in results]
    assert {count for _, _, count in results} == {16 + MIB * (1 << 20)}
    print(f"{SESSIONS} sessions x {MIB} MiB echoed in {elapsed:.1f}s")


def test_sigterm_stops_accepting_and_drains_an_open_stream(tmp_path: Path) -> None:
    files = _files(tmp_path)
    node = EchoNode()
    zap_port = free_port()
    gateway = start_gateway(tmp_path, {"endpoints": []}, _zap_env(files, zap_port, node.port))
    try:
        eventually(lambda: _accepts(zap_port), message=gateway.output)
        context = SSL.Context(SSL.TLS_CLIENT_METHOD)
        with socket.create_connection(("127.0.0.1", zap_port), timeout=10) as sock:
            sock.settimeout(None)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 10, 0))
            conn = SSL.Connection(context, sock)
            conn.set_connect_state()
            conn.do_handshake()
            conn.sendall(b"before")
            assert conn.recv(100) == b"before"

            gateway.proc.send_signal(signal.SIGTERM)
            eventually(lambda: not _listening(zap_port), message=gateway.output)  # no new ZAP connections
            assert gateway.proc.poll() is None  # ... while the open stream is drained

            conn.sendall(b"during the drain")
            got = b""
            while len(got) < len(b"during the drain"):
                got += conn.recv(100)
            assert got == b"during the drain"
            conn.shutdown()  # close_notify: the node's FIN comes back, the stream ends
            with pytest.raises(SSL.ZeroReturnError):  # the node's answering FIN arrives as close_notify
                conn.recv(100)
        assert gateway.proc.wait(10) == 0
    finally:
        gateway.stop()
        node.stop()


def _listening(port: int) -> bool:
    try:
        return _accepts(port)
    except OSError:
        return False
