"""``passTLSClientCert`` through the real CLI over real mutual TLS: the backend sees the client's certificate.

A per-test ``trustme`` CA signs the server certificate, another signs the client certificates; the client is Python's
``ssl`` module.
"""

from __future__ import annotations

import base64
import socket
import ssl
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from edge_harness import lb_service

pytestmark = pytest.mark.integration


def _request(port: int, host: str, ctx: ssl.SSLContext, extra: str = "") -> int:
    """One GET over a new TLS connection with ``extra`` header lines; the response status."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with raw, ctx.wrap_socket(raw, server_hostname=host) as sock:
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1])


def test_backend_sees_the_client_certificate_and_never_a_forged_one(backend, ingress, tmp_path: Path) -> None:
    app = backend("app")
    servers, clients = trustme.CA(), trustme.CA()
    server = servers.issue_cert("req.test", "opt.test", key_type=trustme.KeyType.RSA)
    server.cert_chain_pems[0].write_to_path(str(tmp_path / "s.crt"))
    server.private_key_pem.write_to_path(str(tmp_path / "s.key"))
    clients.cert_pem.write_to_path(str(tmp_path / "clients.pem"))
    client = clients.issue_cert("client.test", "client@test", common_name="client one")
    client_cert = x509.load_pem_x509_certificate(client.cert_chain_pems[0].bytes())
    client_ca = x509.load_pem_x509_certificate(clients.cert_pem.bytes())
    ca_files = [str(tmp_path / "clients.pem")]
    proxy = ingress(
        {
            "http": {
                "routers": {
                    "req": {
                        "rule": "Host(`req.test`)",
                        "service": "app",
                        "middlewares": ["cert"],
                        "tls": {"options": "req"},
                    },
                    "opt": {
                        "rule": "Host(`opt.test`)",
                        "service": "app",
                        "middlewares": ["cert"],
                        "tls": {"options": "opt"},
                    },
                },
                "middlewares": {
                    "cert": {
                        "passTLSClientCert": {
                            "pem": True,
                            "info": {
                                "notAfter": True,
                                "sans": True,
                                "serialNumber": True,
                                "subject": {"commonName": True},
                                "issuer": {"organization": True},
                            },
                        }
                    }
                },
                "services": {"app": lb_service(app.url)},
            },
            "tls": {
                "certificates": [{"certFile": str(tmp_path / "s.crt"), "keyFile": str(tmp_path / "s.key")}],
                "options": {
                    "req": {"clientAuth": {"caFiles": ca_files, "clientAuthType": "RequireAndVerifyClientCert"}},
                    "opt": {"clientAuth": {"caFiles": ca_files, "clientAuthType": "VerifyClientCertIfGiven"}},
                },
            },
        }
    )
    with_cert = ssl.create_default_context(cadata=servers.cert_pem.bytes().decode())
    client.configure_cert(with_cert)
    forged = "X-Forwarded-Tls-Client-Cert: forged\r\nX-Forwarded-Tls-Client-Cert-Info: Subject%3D%22CN%3Dadmin%22\r\n"

    assert _request(proxy.port, "req.test", with_cert, forged) == 200
    seen = app.last()
    der = client_cert.public_bytes(Encoding.DER)
    assert seen.header_all("X-Forwarded-Tls-Client-Cert") == [base64.b64encode(der).decode()]
    (info,) = seen.header_all("X-Forwarded-Tls-Client-Cert-Info")
    (issuer_org,) = client_ca.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    assert unquote_plus(info) == (
        f'Subject="CN=client one";Issuer="O={issuer_org.value}";SerialNumber="{client_cert.serial_number}";'
        f'NA="{int(client_cert.not_valid_after_utc.timestamp())}";SAN="client.test,client@test"'
    )

    # Without a client certificate (allowed by VerifyClientCertIfGiven) the forged headers are removed, none added.
    assert (
        _request(proxy.port, "opt.test", ssl.create_default_context(cadata=servers.cert_pem.bytes().decode()), forged)
        == 200
    )
    seen = app.last()
    assert seen.header_all("X-Forwarded-Tls-Client-Cert") == []
    assert seen.header_all("X-Forwarded-Tls-Client-Cert-Info") == []
