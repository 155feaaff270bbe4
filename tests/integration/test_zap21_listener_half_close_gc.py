"""Issue 21's hazard against the ZAP listener itself: a half-close issued while the client leg is paused, then a full
garbage collection before libuv completes it, on uvloop as the gateway runs.

uvloop holds a transport while it reads, while a write is in flight and while it closes, but not while a
``write_eof()`` (``uv_shutdown``) is pending: a transport in that state that is reachable only through its cycle with
its protocol is freed by the next collection under libuv (the benchmark's echo node died of it, see
``test_zap21_half_close_gc.py``). The listener writes the client's FIN (after ``close_notify``) when the node ends its
output, and the riskiest moment for it is a client leg whose reading is paused (the node's socket is full). The
connection stays reachable then through the node's writes in flight (uvloop's write request holds the node
transport, which holds the connection, which holds the client transport) and through the listener's set of open
connections (``ConnectionContext.connections``). A probe with that set emptied still passed: the writes in flight
alone keep it alive on this path, so the set is a second guard here, not the only one.

The scenario, deterministic: the test is the internal node and never reads, so the listener pauses the client;
the listener process is stopped (SIGSTOP), the node sends its FIN and a collector connection in the same process
gets a byte, the process resumes (SIGCONT): in one epoll batch the listener half-closes the paused client, then the
collector runs ``gc.collect()``. The client must get ``close_notify`` and the FIN, and the process must live on.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from hanzo_edge.gateway.zap.client import ZapClient, open_zap
from hanzo_edge.gateway.zap.contexts import PQ_GROUP, client_context

# The listener as the gateway starts it (start_zap_listener on uvloop), beside a connection that collects on demand.
LISTENER = """
import asyncio, gc, sys, types
import uvloop
from hanzo_edge.gateway.zap import start_zap_listener

class Collector(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
    def data_received(self, data):
        gc.collect()
        self.transport.write(b"collected")

async def main():
    cert, key, node_port = sys.argv[1:4]
    env = {"ZAP_LISTENER_ENABLED": "true", "ZAP_LISTENER_PORT": "0", "ZAP_TLS_CERT": cert, "ZAP_TLS_KEY": key,
           "ZAP_INTERNAL_ADDR": f"127.0.0.1:{node_port}"}
    app = types.SimpleNamespace(contexts={}, listeners={})
    listener = await start_zap_listener(app, env, "127.0.0.1")
    collector = await asyncio.get_running_loop().create_server(Collector, "127.0.0.1", 0)
    print(listener.port, collector.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()

uvloop.run(main())
"""

CHUNK = b"z" * (256 * 1024)
MOST_SENT = 256 * 1024 * 1024  # far past every socket buffer on the way: the listener must have paused by then


@pytest.fixture
def pems(tmp_path: Path) -> dict[str, str]:
    ca = trustme.CA()
    leaf = ca.issue_cert("zap.test")
    leaf.cert_chain_pems[0].write_to_path(tmp_path / "tls.crt")
    leaf.private_key_pem.write_to_path(tmp_path / "tls.key")
    ca.cert_pem.write_to_path(tmp_path / "ca.pem")
    return {name: str(tmp_path / name) for name in ("tls.crt", "tls.key", "ca.pem")}


@pytest.fixture
def node_socket() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    sock.setblocking(False)
    yield sock
    sock.close()


def _start_listener(pems: dict[str, str], node_port: int) -> tuple[subprocess.Popen[str], int, int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", LISTENER, pems["tls.crt"], pems["tls.key"], str(node_port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the listener's ports, or EOF if it died (then stderr says why)
    if not line:
        _, err = proc.communicate(timeout=10)
        pytest.fail(f"the listener did not start: {err[-1000:]}")
    zap_port, collector_port = map(int, line.split())
    return proc, zap_port, collector_port


async def _fill_until_paused(client: ZapClient) -> int:
    """Send until a send stalls (the listener stopped reading us); the stalled send is left to finish later."""
    sent = 0
    while sent < MOST_SENT:
        sending = asyncio.ensure_future(client.send(CHUNK))
        done, _ = await asyncio.wait({sending}, timeout=1.0)
        if not done:
            sending.add_done_callback(lambda task: task.cancelled() or task.exception())
            return sent
        sending.result()
        sent += len(CHUNK)
    pytest.fail(f"{sent} bytes sent and the listener never paused the client")


@pytest.mark.integration
def test_listener_half_closes_a_paused_client_and_survives_a_collection_in_the_same_batch(
    pems: dict[str, str], node_socket: socket.socket
) -> None:
    proc, zap_port, collector_port = _start_listener(pems, node_socket.getsockname()[1])
    try:

        async def scenario() -> None:
            loop = asyncio.get_running_loop()
            context = client_context(pems["ca.pem"])
            client = await open_zap("127.0.0.1", zap_port, context, server_name="zap.test")
            assert client.group == PQ_GROUP
            node, _ = await asyncio.wait_for(loop.sock_accept(node_socket), 10)  # dialled after the handshake
            collector = socket.create_connection(("127.0.0.1", collector_port), timeout=10)
            try:
                assert await _fill_until_paused(client) > 0
                os.kill(proc.pid, signal.SIGSTOP)
                try:
                    node.shutdown(socket.SHUT_WR)  # the node's FIN, then the collector's byte: one batch, in order
                    collector.sendall(b"!")
                finally:
                    os.kill(proc.pid, signal.SIGCONT)
                await asyncio.wait_for(client.ended, 10)
                assert client.peer_closed  # close_notify from the listener, written while the client was paused
                collector.settimeout(10)
                assert collector.recv(64) == b"collected"  # the collection ran, and the process lived through it
            finally:
                collector.close()
                node.close()
                if client.transport is not None:
                    client.transport.abort()  # what it still buffers for the paused listener is dropped
                    await asyncio.sleep(0)  # connection_lost runs before the loop closes

        asyncio.run(asyncio.wait_for(scenario(), 60))
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate(timeout=10)
        assert "Fatal Python error" not in err, err[-2000:]
        assert "double free" not in err, err[-2000:]
