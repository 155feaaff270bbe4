"""TLS to backends through the real CLI: ``https://`` servers and the serversTransport TLS options.

Every certificate is generated for the module (a CA, a second CA nobody trusts, server certificates with IP, DNS and
URI SANs, a client CA and a client certificate). The backends are stdlib ``ssl`` servers that answer with what
they saw (their peer port, to prove keep-alive reuse, and the client certificate's subject, to prove mTLS).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from edge_harness import Ingress, clean_env, eventually, free_port, http_request, write_dynamic


# -- certificates ----------------------------------------------------------------------------------------------------
@dataclass
class Issued:
    cert_pem: str
    key_pem: str

    def write(self, directory: Path, name: str) -> tuple[Path, Path]:
        cert, key = directory / f"{name}.crt", directory / f"{name}.key"
        cert.write_text(self.cert_pem)
        key.write_text(self.key_pem)
        return cert, key


class Authority:
    """A CA that issues leaf certificates with any SANs (trustme has no URI SANs, which peerCertURI needs)."""

    def __init__(self, name: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def issue(
        self, cn: str, *, dns: tuple[str, ...] = (), ips: tuple[str, ...] = (), uris: tuple[str, ...] = ()
    ) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        sans += [x509.UniformResourceIdentifier(u) for u in uris]
        builder = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Hanzo"),
                        x509.NameAttribute(NameOID.COMMON_NAME, cn),
                    ]
                )
            )
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return Issued(cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem)


# -- backends --------------------------------------------------------------------------------------------------------
class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so reuse of the proxy's connection is visible

    def do_GET(self) -> None:
        paths = getattr(self.server, "paths", None)
        if isinstance(paths, list):
            paths.append(self.path)  # what reached the application: proof a TLS probe got through
        peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        subject = dict(item for rdn in (peer or {}).get("subject", ()) for item in rdn)
        body = json.dumps(
            {"path": self.path, "peer_port": self.client_address[1], "client_cn": subject.get("commonName", "")}
        )
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


class TLSBackend:
    """An HTTPS server on 127.0.0.1 with ``issued`` as its certificate; ``client_ca`` makes it require mTLS."""

    def __init__(self, directory: Path, name: str, issued: Issued, client_ca: str = "") -> None:
        cert, key = issued.write(directory, name)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        if client_ca:
            ctx.load_verify_locations(cadata=client_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
        self.server.daemon_threads = True
        self.paths: list[str] = []
        self.server.paths = self.paths  # type: ignore[attr-defined]
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


# -- the served configuration ----------------------------------------------------------------------------------------
SPIFFE_ID = "spiffe://edge.test/backend"


@dataclass
class Setup:
    proxy: Ingress

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        resp = http_request(self.proxy.port, path=path)
        return resp.status, (json.loads(resp.body) if resp.status == 200 else {"body": resp.body.decode()})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("tls-backends")
    ca, stranger, client_ca = Authority("Edge Test CA"), Authority("Nobody Trusts Me"), Authority("Edge Client CA")
    (tmp / "ca.pem").write_text(ca.pem)
    (tmp / "stranger.pem").write_text(stranger.pem)
    plain = TLSBackend(tmp, "plain", ca.issue("backend", ips=("127.0.0.1",), uris=(SPIFFE_ID,)))
    named = TLSBackend(tmp, "named", ca.issue("backend.internal", dns=("backend.internal",)))
    # A SPIFFE-style certificate: its only name is the URI SAN (no DNS or IP name to check the host against).
    spiffe = TLSBackend(tmp, "spiffe", ca.issue("workload", uris=(SPIFFE_ID,)))
    mutual = TLSBackend(tmp, "mutual", ca.issue("mtls", ips=("127.0.0.1",)), client_ca=client_ca.pem)
    client = client_ca.issue("edge-client")
    client_cert, client_key = client.write(tmp, "client")
    transports: dict[str, dict[str, Any]] = {
        "trusted": {"rootCAs": [str(tmp / "ca.pem")]},
        "stranger": {"rootCAs": [str(tmp / "stranger.pem")]},
        "insecure": {"insecureSkipVerify": True},
        "named": {"rootCAs": [ca.pem], "serverName": "backend.internal"},  # inline PEM
        "client": {
            "rootCAs": [str(tmp / "ca.pem")],
            "certificates": [{"certFile": str(client_cert), "keyFile": str(client_key)}],
        },
        "client_inline": {
            "rootCAs": [ca.pem],
            "certificates": [{"certFile": client.cert_pem, "keyFile": client.key_pem}],
        },
        "uri_ok": {"rootCAs": [str(tmp / "ca.pem")], "peerCertURI": SPIFFE_ID},
        "uri_bad": {"rootCAs": [str(tmp / "ca.pem")], "peerCertURI": "spiffe://edge.test/other"},
        "uri_insecure": {"insecureSkipVerify": True, "peerCertURI": SPIFFE_ID, "rootCAs": [str(tmp / "stranger.pem")]},
    }
    routes = {
        "verified": (plain, "trusted"),
        "system": (plain, None),
        "wrongca": (plain, "stranger"),
        "insecure": (plain, "insecure"),
        "noname": (named, "trusted"),
        "named": (named, "named"),
        "mtls-none": (mutual, "trusted"),
        "mtls": (mutual, "client"),
        "mtls-inline": (mutual, "client_inline"),
        "uri-ok": (plain, "uri_ok"),
        "uri-only": (spiffe, "uri_ok"),
        "uri-bad": (plain, "uri_bad"),
        "uri-insecure": (plain, "uri_insecure"),
    }
    services: dict[str, Any] = {}
    routers: dict[str, Any] = {}
    for name, (target, transport) in routes.items():
        lb: dict[str, Any] = {"servers": [{"url": target.url}]}
        if transport:
            lb["serversTransport"] = transport
        services[name] = {"loadBalancer": lb}
        routers[name] = {"rule": f"PathPrefix(`/{name}`)", "service": name}
    dynamic = write_dynamic(
        tmp / "dynamic.yml", {"http": {"routers": routers, "services": services, "serversTransports": transports}}
    )
    port = free_port()
    proxy = Ingress(
        [f"--entrypoints.web.address=127.0.0.1:{port}", f"--providers.file.filename={dynamic}", "--log.level=DEBUG"],
        port,
        tmp,
        clean_env(),
    )
    try:
        proxy.wait_ready()
        yield Setup(proxy)
    finally:
        proxy.stop()
        for backend in (plain, named, spiffe, mutual):
            backend.stop()


# -- the tests -------------------------------------------------------------------------------------------------------
def test_a_backend_verified_against_root_cas_answers(served: Setup) -> None:
    status, body = served.get("/verified/x")
    assert status == 200
    assert body["path"] == "/verified/x"


def test_system_roots_by_default_and_a_wrong_ca_are_502_with_the_reason_logged(served: Setup) -> None:
    for path in ("/system", "/wrongca"):
        status, body = served.get(path)
        assert status == 502, path
        assert body["body"] == "Bad Gateway"
    assert "x509: certificate signed by unknown authority" in served.proxy.stderr()


def test_insecure_skip_verify_accepts_an_untrusted_certificate(served: Setup) -> None:
    assert served.get("/insecure")[0] == 200


def test_server_name_is_the_name_checked(served: Setup) -> None:
    # The certificate names only backend.internal; the URL's 127.0.0.1 does not match it, serverName does.
    assert served.get("/noname")[0] == 502
    assert served.get("/named")[0] == 200


def test_client_certificates_for_a_backend_that_requires_mtls(served: Setup) -> None:
    assert served.get("/mtls-none")[0] == 502
    for path in ("/mtls", "/mtls-inline"):
        status, body = served.get(path)
        assert status == 200, path
        assert body["client_cn"] == "edge-client"


def test_peer_cert_uri_must_be_a_san_of_the_backend_certificate(served: Setup) -> None:
    assert served.get("/uri-ok")[0] == 200
    # As Go's: peerCertURI replaces the host name check (the URI SAN is the identity), the chain still counts.
    assert served.get("/uri-only")[0] == 200
    assert served.get("/uri-bad")[0] == 502
    assert "no SAN URI in peer certificate matches spiffe://edge.test/other" in served.proxy.stderr()
    # As Go's VerifyPeerCertificate, peerCertURI still verifies the chain when insecureSkipVerify is set.
    assert served.get("/uri-insecure")[0] == 502


def test_a_tls_upstream_connection_is_kept_alive_and_reused(served: Setup) -> None:
    first = served.get("/verified/1")[1]["peer_port"]
    second = served.get("/verified/2")[1]["peer_port"]
    assert first == second


def test_health_checks_dial_https_servers_with_the_servers_transport_tls(tmp_path: Path) -> None:
    # Traefik's health checker uses the service's transport: a server only a serversTransport's rootCAs (or its
    # serverName, or peerCertURI) can verify is UP through it, and DOWN when that transport trusts another CA.
    ca, stranger = Authority("Health CA"), Authority("Health Stranger")
    (tmp_path / "ca.pem").write_text(ca.pem)
    (tmp_path / "stranger.pem").write_text(stranger.pem)
    plain = TLSBackend(tmp_path, "plain", ca.issue("backend", ips=("127.0.0.1",), uris=(SPIFFE_ID,)))
    named = TLSBackend(tmp_path, "named", ca.issue("backend.internal", dns=("backend.internal",)))
    transports = {
        "trusted": {"rootCAs": [str(tmp_path / "ca.pem")], "peerCertURI": SPIFFE_ID},
        "named": {"rootCAs": [ca.pem], "serverName": "backend.internal"},
        "stranger": {"rootCAs": [str(tmp_path / "stranger.pem")]},
    }
    routes = {"good": (plain, "trusted"), "named": (named, "named"), "wrongca": (plain, "stranger")}
    health = {"path": "/health", "interval": "100ms", "timeout": "2s"}
    services = {
        name: {"loadBalancer": {"servers": [{"url": b.url}], "serversTransport": t, "healthCheck": health}}
        for name, (b, t) in routes.items()
    }
    routers = {name: {"rule": f"PathPrefix(`/{name}`)", "service": name} for name in routes}
    dynamic = write_dynamic(
        tmp_path / "dynamic.yml",
        {"http": {"routers": routers, "services": services, "serversTransports": transports}},
    )
    port, api_port = free_port(), free_port()
    proxy = Ingress(
        [
            f"--entrypoints.web.address=127.0.0.1:{port}",
            f"--entrypoints.traefik.address=127.0.0.1:{api_port}",
            "--api.insecure=true",
            f"--providers.file.filename={dynamic}",
        ],
        port,
        tmp_path,
        clean_env(),
    )

    def status(name: str) -> str:
        resp = http_request(api_port, path=f"/api/http/services/{name}@file")
        assert resp.status == 200, resp
        return str(resp.json()["serverStatus"][routes[name][0].url])

    try:
        proxy.wait_ready()
        # Several probes got through the handshake to the application (a default context would fail each one).
        for backend in (plain, named):
            eventually(
                lambda b=backend: b.paths.count("/health") >= 2,
                timeout=10,
                message=lambda: f"no health probe reached the backend\n{proxy.describe()}",
            )
        eventually(lambda: status("wrongca") == "DOWN", timeout=10, message=proxy.describe)
        assert (status("good"), status("named")) == ("UP", "UP")
        for name in ("good", "named"):
            assert http_request(port, path=f"/{name}/x").status == 200, name
        assert http_request(port, path="/wrongca/x").status == 503  # its only server is down
    finally:
        proxy.stop()
        plain.stop()
        named.stop()
