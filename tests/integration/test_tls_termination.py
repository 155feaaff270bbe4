"""TLS termination through the real CLI with real TLS clients (``ssl``, ``openssl s_client``).

Certificates come from a per-test ``trustme`` CA: RSA leaves for ``a.test``, ``b.test`` and ``*.wild.test``, and
client certificates for mTLS.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from edge_harness import RawConn, eventually, lb_service

pytestmark = pytest.mark.integration


class Certs:
    """A CA and RSA leaf certificates written to ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca = trustme.CA()
        self.ca_file = root / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))

    def leaf(self, name: str, *hosts: str) -> dict[str, str]:
        cert = self.ca.issue_cert(*hosts, common_name=hosts[0], key_type=trustme.KeyType.RSA)
        cert_file, key_file = self.root / f"{name}.crt", self.root / f"{name}.key"
        cert.cert_chain_pems[0].write_to_path(str(cert_file))
        cert.private_key_pem.write_to_path(str(key_file))
        return {"certFile": str(cert_file), "keyFile": str(key_file)}

    def client_context(self, client: trustme.CA | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        if client is not None:
            client.issue_cert("client@test", common_name="client").configure_cert(ctx)
        return ctx


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    return Certs(tmp_path)


def tls_exchange(
    port: int, server_name: str, host: str | None = None, ctx: ssl.SSLContext | None = None, path: str = "/"
) -> tuple[int, bytes, dict[str, Any], bytes]:
    """One request over a new TLS connection: (status, body, server certificate, raw head)."""
    if ctx is None:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with raw, ctx.wrap_socket(raw, server_hostname=server_name or None) as sock:
        der = sock.getpeercert(binary_form=True)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host or server_name}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    cert = x509.load_der_x509_certificate(der or b"")
    cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return status, body, {"cn": cn[0].value if cn else "", "serial": cert.serial_number}, head


def plain_status(port: int, host: str) -> int:
    with RawConn(port) as conn:
        conn.send(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        return conn.read_response().status


def s_client(port: int, *args: str, server_name: str = "a.test") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", server_name, *args],
        input="",
        capture_output=True,
        text=True,
        timeout=20,
    )


def handshake_ok(result: subprocess.CompletedProcess[str]) -> bool:
    return result.returncode == 0 and "Cipher is (NONE)" not in result.stdout


@pytest.fixture
def app_backend(backend) -> Iterator[Any]:
    return backend("app")


def test_sni_picks_exact_then_wildcard_then_the_generated_default(certs, app_backend, ingress) -> None:
    dynamic = {
        "http": {
            "routers": {
                "a": {"rule": "Host(`a.test`)", "service": "app", "tls": {}},
                "wild": {"rule": "Host(`x.wild.test`)", "service": "app", "tls": {}},
            },
            "services": {"app": lb_service(app_backend.url)},
        },
        "tls": {"certificates": [certs.leaf("a", "a.test"), certs.leaf("wild", "*.wild.test")]},
    }
    proxy = ingress(dynamic)

    status, _, cert, _ = tls_exchange(proxy.port, "a.test", ctx=certs.client_context())
    assert (status, cert["cn"]) == (200, "a.test")
    seen = app_backend.last()
    assert seen.header("X-Forwarded-Proto") == "https"
    assert seen.header("X-Forwarded-Port") == "443"
    assert tls_exchange(proxy.port, "x.wild.test", ctx=certs.client_context())[2]["cn"] == "*.wild.test"
    # One label only: deeper names and unknown names get the default certificate (and no router: 404).
    assert tls_exchange(proxy.port, "y.x.wild.test")[2]["cn"] == "TRAEFIK DEFAULT CERT"
    status, _, cert, _ = tls_exchange(proxy.port, "other.test")
    assert (status, cert["cn"]) == (404, "TRAEFIK DEFAULT CERT")
    # A TLS router is not served on a plain connection of the same port.
    assert plain_status(proxy.port, "a.test") == 404


def test_store_default_certificate_and_sni_strict(certs, app_backend, ingress) -> None:
    dynamic = {
        "http": {
            "routers": {"a": {"rule": "Host(`a.test`)", "service": "app", "tls": {}}},
            "services": {"app": lb_service(app_backend.url)},
        },
        "tls": {
            "certificates": [certs.leaf("a", "a.test")],
            "stores": {"default": {"defaultCertificate": certs.leaf("fallback", "fallback.test")}},
        },
    }
    proxy = ingress(dynamic)
    assert tls_exchange(proxy.port, "unknown.test")[2]["cn"] == "fallback.test"

    strict = dict(dynamic, tls=dict(dynamic["tls"], options={"default": {"sniStrict": True}}))
    strict_proxy = ingress(strict)
    assert tls_exchange(strict_proxy.port, "a.test", ctx=certs.client_context())[0] == 200
    with pytest.raises((ssl.SSLError, ConnectionError)):
        tls_exchange(strict_proxy.port, "unknown.test")


def test_entrypoint_http_tls_makes_every_router_a_tls_router(certs, app_backend, ingress) -> None:
    dynamic = {
        "http": {
            "routers": {"a": {"rule": "Host(`a.test`)", "service": "app"}},
            "services": {"app": lb_service(app_backend.url)},
        },
        "tls": {"certificates": [certs.leaf("a", "a.test")]},
    }
    proxy = ingress(dynamic, "--entrypoints.web.http.tls=true")

    assert tls_exchange(proxy.port, "a.test", ctx=certs.client_context())[0] == 200
    assert plain_status(proxy.port, "a.test") == 404


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl s_client")
def test_versions_and_cipher_suites_as_openssl_sees_them(certs, app_backend, ingress) -> None:
    dynamic = {
        "http": {
            "routers": {
                "a": {"rule": "Host(`a.test`)", "service": "app", "tls": {}},
                "b": {"rule": "Host(`b.test`)", "service": "app", "tls": {"options": "tls12"}},
            },
            "services": {"app": lb_service(app_backend.url)},
        },
        "tls": {
            "certificates": [certs.leaf("a", "a.test"), certs.leaf("b", "b.test")],
            "options": {
                "tls12": {
                    "maxVersion": "VersionTLS12",
                    "cipherSuites": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
                }
            },
        },
    }
    proxy = ingress(dynamic)

    # default options: minVersion TLS 1.2
    assert not handshake_ok(s_client(proxy.port, "-tls1_1"))
    assert handshake_ok(s_client(proxy.port, "-tls1_3"))
    # tls12 options for b.test: no TLS 1.3, one cipher suite
    assert not handshake_ok(s_client(proxy.port, "-tls1_3", server_name="b.test"))
    ok = s_client(proxy.port, "-tls1_2", server_name="b.test")
    assert handshake_ok(ok)
    assert "ECDHE-RSA-AES128-GCM-SHA256" in ok.stdout
    refused = s_client(proxy.port, "-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384", server_name="b.test")
    assert not handshake_ok(refused)


def test_a_host_needing_other_options_than_the_connection_gets_421(certs, app_backend, ingress) -> None:
    dynamic = {
        "http": {
            "routers": {
                "a": {"rule": "Host(`a.test`)", "service": "app", "tls": {}},
                "b": {"rule": "Host(`b.test`)", "service": "app", "tls": {"options": "tls12"}},
            },
            "services": {"app": lb_service(app_backend.url)},
        },
        "tls": {
            "certificates": [certs.leaf("ab", "a.test", "b.test")],
            "options": {"tls12": {"maxVersion": "VersionTLS12"}},
        },
    }
    proxy = ingress(dynamic)

    status, body, _, _ = tls_exchange(proxy.port, "a.test", host="b.test", ctx=certs.client_context())
    assert (status, body) == (421, b"Misdirected Request\n")
    assert tls_exchange(proxy.port, "b.test", ctx=certs.client_context())[0] == 200


def test_mutual_tls_by_client_auth_type_and_refused_types(certs, app_backend, ingress, tmp_path) -> None:
    clients = trustme.CA()
    client_ca = tmp_path / "client-ca.pem"
    clients.cert_pem.write_to_path(str(client_ca))
    dynamic = {
        "http": {
            "routers": {
                "req": {"rule": "Host(`req.test`)", "service": "app", "tls": {"options": "require"}},
                "opt": {"rule": "Host(`opt.test`)", "service": "app", "tls": {"options": "optional"}},
                "any": {"rule": "Host(`any.test`)", "service": "app", "tls": {"options": "any"}},
            },
            "services": {"app": lb_service(app_backend.url)},
        },
        "tls": {
            "certificates": [certs.leaf("m", "req.test", "opt.test", "any.test")],
            "options": {
                "require": {
                    "clientAuth": {"caFiles": [str(client_ca)], "clientAuthType": "RequireAndVerifyClientCert"}
                },
                "optional": {"clientAuth": {"caFiles": [str(client_ca)], "clientAuthType": "VerifyClientCertIfGiven"}},
                "any": {"clientAuth": {"clientAuthType": "RequireAnyClientCert"}},
            },
        },
    }
    proxy = ingress(dynamic)

    assert tls_exchange(proxy.port, "req.test", ctx=certs.client_context(clients))[0] == 200
    with pytest.raises((ssl.SSLError, ConnectionError, IndexError, ValueError)):
        tls_exchange(proxy.port, "req.test", ctx=certs.client_context())
    assert tls_exchange(proxy.port, "opt.test", ctx=certs.client_context())[0] == 200
    assert tls_exchange(proxy.port, "opt.test", ctx=certs.client_context(clients))[0] == 200
    # RequireAnyClientCert cannot be enforced by Python's ssl: the options are refused, the router disabled.
    assert tls_exchange(proxy.port, "any.test", ctx=certs.client_context())[0] == 404
    assert 'TLS options "any@file": clientAuth.clientAuthType RequireAnyClientCert is not supported' in proxy.stderr()


def test_certificate_files_reload_while_connections_keep_working(certs, app_backend, ingress) -> None:
    leaf = certs.leaf("a", "a.test")
    dynamic = {
        "http": {
            "routers": {"a": {"rule": "Host(`a.test`)", "service": "app", "tls": {}}},
            "services": {"app": lb_service(app_backend.url)},
        },
        "tls": {"certificates": [leaf]},
    }
    proxy = ingress(dynamic)
    first = tls_exchange(proxy.port, "a.test", ctx=certs.client_context())[2]["serial"]

    ctx = certs.client_context()
    with ctx.wrap_socket(
        socket.create_connection(("127.0.0.1", proxy.port), timeout=10), server_hostname="a.test"
    ) as kept:
        certs.leaf("a", "a.test")  # rewrites the same files with a new certificate

        def new_serial() -> bool:
            return tls_exchange(proxy.port, "a.test", ctx=certs.client_context())[2]["serial"] != first

        eventually(new_serial, timeout=15)
        kept.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        assert kept.recv(64).startswith(b"HTTP/1.1 200")


def test_bad_client_hellos_close_quietly_and_others_are_served(certs, app_backend, ingress, tmp_path) -> None:
    dynamic = {
        "http": {
            "routers": {"a": {"rule": "Host(`a.test`)", "service": "app", "tls": {}}},
            "services": {"app": lb_service(app_backend.url)},
        },
        "tls": {"certificates": [certs.leaf("a", "a.test")]},
    }
    proxy = ingress(dynamic, "--entrypoints.web.transport.respondingTimeouts.readTimeout=1s")

    with RawConn(proxy.port) as garbage, RawConn(proxy.port) as truncated:
        garbage.send(b"\x16\x03\x01\x00\x08\x02\x00\x00\x04garbage!")
        truncated.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 20)  # then nothing: a stall
        assert garbage.wait_closed() == b""
        # Served meanwhile: neither blocks the accept loop.
        assert tls_exchange(proxy.port, "a.test", ctx=certs.client_context())[0] == 200
        started = time.monotonic()
        assert truncated.wait_closed(timeout=5) == b""
        assert time.monotonic() - started < 4
    half = RawConn(proxy.port)
    half.send(b"\x16\x03\x01\x02\x00\x01\x00")
    half.close()
    assert tls_exchange(proxy.port, "a.test", ctx=certs.client_context())[0] == 200
    output = proxy.stderr()
    assert "Traceback" not in output
    assert "ERR" not in output


def test_hsts_is_sent_on_https_responses_only(certs, app_backend, ingress) -> None:
    sts = {"headers": {"stsSeconds": 31536000, "stsIncludeSubdomains": True, "stsPreload": True}}
    dynamic = {
        "http": {
            "routers": {
                "secure": {"rule": "Host(`a.test`)", "service": "app", "tls": {}, "middlewares": ["sts"]},
                "plain": {"rule": "Host(`a.test`)", "service": "app", "middlewares": ["sts"]},
            },
            "middlewares": {"sts": sts},
            "services": {"app": lb_service(app_backend.url)},
        },
        "tls": {"certificates": [certs.leaf("a", "a.test")]},
    }
    proxy = ingress(dynamic)

    head = tls_exchange(proxy.port, "a.test", ctx=certs.client_context())[3].decode().lower()
    assert "strict-transport-security: max-age=31536000; includesubdomains; preload" in head
    with RawConn(proxy.port) as conn:
        conn.send(b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        response = conn.read_response()
    assert response.status == 200
    assert response.header("Strict-Transport-Security") is None
