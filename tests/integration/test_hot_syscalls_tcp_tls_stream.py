"""A large TCP stream through both TLS read paths of a TCP router: TLS terminated from the client, TLS to the server.

Both legs decrypt into the shared read buffer (``http/tls_buffered_reads.py``); this proves that, under
backpressure both ways (an 8 MiB echo that the client reads while it sends), every byte still crosses in order.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from edge_harness import free_port
from l4_backends import L4Loop, TCPEcho

pytestmark = pytest.mark.integration


@pytest.fixture
def l4() -> Iterator[L4Loop]:
    loop = L4Loop()
    yield loop
    loop.close()


async def echo_through(port: int, client: ssl.SSLContext, payload: bytes) -> bytes:
    """Send ``payload`` over TLS while reading the echo back (so both legs pause and resume); return what came."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client, server_hostname="front.test")

    async def send() -> None:
        writer.write(payload)
        await writer.drain()

    sender = asyncio.create_task(send())
    received = bytearray()
    while len(received) < len(payload):
        data = await reader.read(1 << 20)
        if not data:
            break
        received += data
    await sender
    writer.close()
    return bytes(received)


def test_large_stream_crosses_tls_termination_and_tls_to_the_server(
    ingress: Callable[..., Any], l4: L4Loop, tmp_path: Path
) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("backend.test").configure_cert(server_ctx)
    echo = TCPEcho(l4, tls=server_ctx).start()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    front = ca.issue_cert("front.test")
    cert_file, key_file = tmp_path / "front.crt", tmp_path / "front.key"
    front.cert_chain_pems[0].write_to_path(str(cert_file))
    front.private_key_pem.write_to_path(str(key_file))
    port = free_port()
    ingress(
        {
            "tls": {"certificates": [{"certFile": str(cert_file), "keyFile": str(key_file)}]},
            "tcp": {
                "routers": {
                    "big": {"rule": "HostSNI(`front.test`)", "service": "big", "entryPoints": ["tcp"], "tls": {}}
                },
                "services": {
                    "big": {
                        "loadBalancer": {"servers": [{"address": echo.address, "tls": True}], "serversTransport": "t"}
                    }
                },
                "serversTransports": {
                    "t": {"tls": {"rootCAs": [str(ca_file)], "serverName": "backend.test"}, "terminationDelay": "10s"}
                },
            },
        },
        f"--entrypoints.tcp.address=127.0.0.1:{port}",
    )
    client = ssl.create_default_context()
    ca.configure_trust(client)
    payload = bytes(range(256)) * (32 * 1024)  # 8 MiB: far more than the socket buffers on either leg
    received = asyncio.run(asyncio.wait_for(echo_through(port, client, payload), 60))
    assert len(received) == len(payload)
    assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()
    assert echo.handshakes == 1
