"""A gRPC health probe that times out while its dial is still in progress leaves no connection behind.

The server accepts TCP at once (the kernel's backlog) but starts the TLS handshake only after the probe gave up; a
dial that outlived its probe would then complete into a pool nobody holds, and stay open for good (one leaked
connection per probe interval against a slow server).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path

import pytest
import trustme

from hanzo_edge.http.pool import TransportOptions
from hanzo_edge.services.grpc_health import GrpcHealthError, GrpcHealthProbe


def _serve_late(listener: socket.socket, context: ssl.SSLContext) -> str:
    """Accept the probe's connection, handshake, then report whether the client closed it ("closed") or not."""
    conn, _ = listener.accept()
    conn.settimeout(2.0)
    try:
        tls = context.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError):
        conn.close()
        return "closed"
    with tls:
        try:
            while tls.recv(65536):
                pass
        except TimeoutError:
            return "open"
        except (ssl.SSLError, OSError):
            pass
        return "closed"


def test_a_probe_that_times_out_while_dialling_leaves_no_connection_open(tmp_path: Path) -> None:
    asyncio.run(_probe_times_out_while_dialling(tmp_path))


async def _probe_times_out_while_dialling(tmp_path: Path) -> None:
    ca = trustme.CA()
    root = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(root))
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    server_context.set_alpn_protocols(["h2"])
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        probe = GrpcHealthProbe(TransportOptions(root_cas=(str(root),)))
        with pytest.raises(GrpcHealthError, match="timeout"):
            await probe(f"https://127.0.0.1:{port}/", "GET", {}, 0.2)
        assert await asyncio.to_thread(_serve_late, listener, server_context) == "closed"
