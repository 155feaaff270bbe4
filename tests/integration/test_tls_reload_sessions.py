"""TLS sessions across configuration reloads, through the real CLI with the ``ssl`` client.

A reload that does not touch TLS (a router added) keeps the server contexts, so a session obtained before it (a TLS
1.3 ticket, or a TLS 1.2 ticket/session id) is resumed after it. A rotated certificate is served to new handshakes
at once and the old session is not resumed against it.
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from edge_harness import eventually, lb_service, write_dynamic

pytestmark = pytest.mark.integration


def issue(ca: trustme.CA, root: Path) -> dict[str, str]:
    """Write a fresh ``a.test`` leaf to the same two files (a rotation when called again)."""
    cert = ca.issue_cert("a.test", "b.test", key_type=trustme.KeyType.ECDSA)
    cert_file, key_file = root / "a.crt", root / "a.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    return {"certFile": str(cert_file), "keyFile": str(key_file)}


def dynamic(backend_url: str, certificate: dict[str, str], hosts: tuple[str, ...]) -> dict[str, Any]:
    return {
        "http": {
            "routers": {h.split(".")[0]: {"rule": f"Host(`{h}`)", "service": "app", "tls": {}} for h in hosts},
            "services": {"app": lb_service(backend_url)},
        },
        "tls": {"certificates": [certificate]},
    }


def exchange(
    port: int, ctx: ssl.SSLContext, host: str, session: ssl.SSLSession | None = None
) -> tuple[int, bool, ssl.SSLSession | None, int]:
    """One request on a new TLS connection: (status, session resumed?, the session to resume later, cert serial)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with raw, ctx.wrap_socket(raw, server_hostname=host, session=session) as sock:
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):  # reading to the end also receives TLS 1.3's tickets
            data += chunk
        serial = x509.load_der_x509_certificate(sock.getpeercert(binary_form=True) or b"").serial_number
        return int(data.split(b" ", 2)[1]), sock.session_reused, sock.session, serial


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2], ids=["tls13", "tls12"])
def test_a_session_from_before_an_unrelated_reload_is_resumed_after_it(
    tmp_path: Path, backend, ingress, version: ssl.TLSVersion
) -> None:
    ca = trustme.CA()
    app = backend("app")
    certificate = issue(ca, tmp_path)
    proxy = ingress(dynamic(app.url, certificate, ("a.test",)))
    client = ssl.create_default_context(cafile=None)
    ca.configure_trust(client)
    client.maximum_version = version

    status, _, session, _ = exchange(proxy.port, client, "a.test")
    assert status == 200
    assert session is not None
    # Resumption works within one generation (the baseline the reload must keep).
    status, resumed, session, _ = exchange(proxy.port, client, "a.test", session)
    assert (status, resumed) == (200, True)

    write_dynamic(tmp_path / f"dynamic-{proxy.port}.yml", dynamic(app.url, certificate, ("a.test", "b.test")))
    eventually(lambda: exchange(proxy.port, client, "b.test")[0] == 200, message="the reload never applied")

    status, resumed, _, _ = exchange(proxy.port, client, "a.test", session)
    assert (status, resumed) == (200, True)


def test_a_rotated_certificate_is_served_and_the_old_session_is_not_resumed(tmp_path: Path, backend, ingress) -> None:
    ca = trustme.CA()
    app = backend("app")
    proxy = ingress(dynamic(app.url, issue(ca, tmp_path), ("a.test",)))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    _, _, session, old_serial = exchange(proxy.port, client, "a.test")

    issue(ca, tmp_path)  # same files, new certificate: the certificate poll reloads
    new_serial = eventually(
        lambda: (serial := exchange(proxy.port, client, "a.test")[3]) != old_serial and serial,
        message="the rotated certificate was never served",
    )
    status, resumed, _, serial = exchange(proxy.port, client, "a.test", session)
    assert (status, resumed, serial) == (200, False, new_serial)
