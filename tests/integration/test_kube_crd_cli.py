"""The KubernetesCRD provider through the real CLI, against the fake API server, with real pods.

``ingress`` runs with the flags of ``../shared/spec/kubernetes-interface.md`` (both Kubernetes providers on endpoint +
token, api insecure on ``traefik``) plus ``websecure``, a ``tcp`` and a ``udp`` entrypoint. Every CRD kind is
applied and checked by its effect on traffic, HIP-68's examples verbatim where the seed has one. Tested against a
fake API server validated with kubectl, not against Kubernetes.

One API server and one ``ingress`` serve the module; each test works in its own namespace and hosts.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme
from edge_harness import Ingress, clean_env, eventually, free_port
from l4_backends import L4Loop, UDPEcho

from hanzo_edge.providers.kubernetes.resources import SECRETS
from kube_apiserver import FakeApiServer

pytestmark = pytest.mark.integration

TOKEN = "hanzo-conformance-token"


class _PodHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path.startswith("/slow"):
            time.sleep(1.5)
        body = self.server.pod_name.encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Server", "pod")
        self.send_header("X-Powered-By", "pod")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def _free_port_on(address: str) -> int:
    for _ in range(50):
        port = free_port()
        try:
            with socket.socket() as sock:
                sock.bind((address, port))
        except OSError:
            continue
        return port
    raise RuntimeError(f"no free port on {address}")


class Pods:
    """HTTP servers on 127.0.1.N:port answering with their address (``/slow`` after 1.5 s)."""

    def __init__(self) -> None:
        self.port = _free_port_on("127.0.1.1")
        self._servers: list[ThreadingHTTPServer] = []

    def start(self, address: str) -> None:
        server = ThreadingHTTPServer((address, self.port), _PodHandler)
        server.pod_name = address  # type: ignore[attr-defined]
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True, name=f"pod-{address}").start()
        self._servers.append(server)

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()


def _tls_secret(namespace: str, name: str, cert: trustme.LeafCert) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": namespace},
        "data": {
            "tls.crt": base64.b64encode(cert.cert_chain_pems[0].bytes()).decode(),
            "tls.key": base64.b64encode(cert.private_key_pem.bytes()).decode(),
        },
    }


def crd(kind: str, namespace: str, name: str, spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, **meta},
        "spec": spec,
    }


class Cluster:
    def __init__(self, api: FakeApiServer, pods: Pods, proc: Ingress, ports: dict[str, int]) -> None:
        self.api = api
        self.pods = pods
        self.proc = proc
        self.ports = ports

    def request(
        self, host: str, path: str = "/", port: str = "web", headers: dict[str, str] | None = None
    ) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection("127.0.0.1", self.ports[port], timeout=5)
        conn.request("GET", path, headers={"Host": host, **(headers or {})})
        response = conn.getresponse()
        response.read()
        conn.close()
        return response

    def get(self, host: str, path: str = "/", port: str = "web") -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.ports[port], timeout=5)
        try:
            conn.request("GET", path, headers={"Host": host})
            response = conn.getresponse()
            return response.status, response.read().decode(errors="replace")
        finally:
            conn.close()

    def api_json(self, path: str) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.ports["traefik"], timeout=5)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise AssertionError(f"{path}: {response.status} {body[:200]!r}")
            return json.loads(body)
        finally:
            conn.close()

    def service(self, namespace: str, name: str, addresses: list[str], port: int = 8080, pod_port: int = 0) -> None:
        self.api.apply(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"type": "ClusterIP", "ports": [{"name": "http", "port": port, "protocol": "TCP"}]},
            }
        )
        self.api.apply(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": f"{name}-abcde",
                    "namespace": namespace,
                    "labels": {"kubernetes.io/service-name": name},
                },
                "addressType": "IPv4",
                "endpoints": [{"addresses": [a], "conditions": {"ready": True}} for a in addresses],
                "ports": [{"name": "http", "port": pod_port or self.pods.port, "protocol": "TCP"}],
            }
        )

    def route(self, namespace: str, name: str, match: str, services: list[dict[str, Any]], **spec: Any) -> None:
        extra_route = spec.pop("route", {})
        self.api.apply(
            crd(
                "IngressRoute",
                namespace,
                name,
                {"routes": [{"match": match, "kind": "Rule", "services": services, **extra_route}], **spec},
            )
        )

    def routed(self, host: str, port: str = "web") -> str:
        status, body = self.get(host, port=port)
        return body if status == 200 else ""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    api = FakeApiServer(token=TOKEN).start()
    pods = Pods()
    for n in range(1, 5):
        pods.start(f"127.0.1.{n}")
    ports = {name: free_port() for name in ("web", "traefik", "websecure", "tcp")}
    udp = _free_udp_port()
    args = [
        f"--entrypoints.web.address=127.0.0.1:{ports['web']}",
        # As in the deploy manifests: without trusting the hop in front, X-Forwarded-For is not the client's and
        # a per-IP rate limit would count every client as one.
        "--entrypoints.web.forwardedHeaders.trustedIPs=127.0.0.1/32",
        f"--entrypoints.traefik.address=127.0.0.1:{ports['traefik']}",
        f"--entrypoints.websecure.address=127.0.0.1:{ports['websecure']}",
        f"--entrypoints.tcp.address=127.0.0.1:{ports['tcp']}",
        f"--entrypoints.udp.address=127.0.0.1:{udp}/udp",
        "--providers.kubernetesingress=true",
        f"--providers.kubernetesingress.endpoint={api.url}",
        f"--providers.kubernetesingress.token={TOKEN}",
        "--providers.kubernetescrd=true",
        f"--providers.kubernetescrd.endpoint={api.url}",
        f"--providers.kubernetescrd.token={TOKEN}",
        "--api=true",
        "--api.insecure=true",
        "--ping=true",
        "--log.level=INFO",
    ]
    ports["udp"] = udp
    workdir: Path = tmp_path_factory.mktemp("kube-crd")
    proc = Ingress(args, ports["web"], workdir, clean_env())
    try:
        proc.wait_ready(timeout=20)
        yield Cluster(api, pods, proc, ports)
    finally:
        proc.stop()
        pods.stop()
        api.stop()


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SEED_PLATFORM_ROUTE = "Host(`platform.hanzo.test`)"


def test_the_seed_ingress_route_with_rate_limit_and_security_headers(cluster: Cluster) -> None:
    """HIP-68's IngressRoute, ``rate-limit`` and ``security-headers`` Middlewares, verbatim but for the host."""
    cluster.service("hanzo", "dokploy", ["127.0.1.1"], port=3000)
    cluster.api.apply(
        crd(
            "Middleware",
            "hanzo",
            "rate-limit",
            {
                "rateLimit": {
                    "average": 100,
                    "burst": 200,
                    "period": "1m",
                    "sourceCriterion": {"ipStrategy": {"depth": 1}},
                }
            },
        )
    )
    cluster.api.apply(
        crd(
            "Middleware",
            "hanzo",
            "security-headers",
            {
                "headers": {
                    "frameDeny": True,
                    "sslRedirect": True,
                    "browserXssFilter": True,
                    "contentTypeNosniff": True,
                    "stsIncludeSubdomains": True,
                    "stsPreload": True,
                    "stsSeconds": 31536000,
                    "customResponseHeaders": {"X-Powered-By": "", "Server": ""},
                }
            },
        )
    )
    cluster.api.apply(
        crd(
            "IngressRoute",
            "hanzo",
            "platform-route",
            {
                "entryPoints": ["web"],
                "routes": [
                    {
                        "match": SEED_PLATFORM_ROUTE,
                        "kind": "Rule",
                        "services": [{"name": "dokploy", "port": 3000}],
                        "middlewares": [{"name": "rate-limit"}, {"name": "security-headers"}],
                    }
                ],
            },
        )
    )
    assert eventually(lambda: cluster.routed("platform.hanzo.test"), message=cluster.proc.describe) == "127.0.1.1"
    # security-headers: set on the response, the backend's Server/X-Powered-By removed, and sslRedirect never
    # redirects plain HTTP (Cloudflare Flexible SSL would loop).
    response = cluster.request("platform.hanzo.test", headers={"X-Forwarded-For": "203.0.113.1"})
    assert response.status == 200
    assert response.getheader("X-Frame-Options") == "DENY"
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert response.getheader("X-XSS-Protection") == "1; mode=block"
    assert response.getheader("Server") is None
    assert response.getheader("X-Powered-By") is None
    assert "spec.headers.sslRedirect: removed in Traefik v3, has no effect" in cluster.proc.stderr()
    # rate-limit: burst 200 per client IP (X-Forwarded-For depth 1), then 429; another client IP is not limited.
    conn = http.client.HTTPConnection("127.0.0.1", cluster.ports["web"], timeout=5)
    statuses: list[int] = []
    while 429 not in statuses and len(statuses) < 400:
        conn.request("GET", "/", headers={"Host": "platform.hanzo.test", "X-Forwarded-For": "198.51.100.7"})
        reply = conn.getresponse()
        reply.read()
        statuses.append(reply.status)
    conn.close()
    # The bucket refills at 100/min while the requests run, so the first 429 comes a little after 200.
    assert statuses[:200] == [200] * 200
    assert statuses[-1] == 429
    other = cluster.request("platform.hanzo.test", headers={"X-Forwarded-For": "198.51.100.8"})
    assert other.status == 200
    key = "hanzo-platform-route-" + hashlib.sha256(SEED_PLATFORM_ROUTE.encode()).hexdigest()[:20]
    router = cluster.api_json(f"/api/http/routers/{key}@kubernetescrd")
    assert [name.removesuffix("@kubernetescrd") for name in router["middlewares"]] == [
        "hanzo-rate-limit",
        "hanzo-security-headers",
    ]
    assert router["status"] == "enabled"


def test_retry_circuit_breaker_and_admin_whitelist(cluster: Cluster) -> None:
    """HIP-68's ``retry``, ``circuit-breaker`` and ``admin-whitelist`` Middlewares, checked on traffic."""
    cluster.api.apply(crd("Middleware", "mw", "retry", {"retry": {"attempts": 3, "initialInterval": "100ms"}}))
    cluster.api.apply(
        crd(
            "Middleware",
            "mw",
            "circuit-breaker",
            {"circuitBreaker": {"expression": "LatencyAtQuantileMS(50.0) > 1000 || NetworkErrorRatio() > 0.30"}},
        )
    )
    cluster.api.apply(
        crd("Middleware", "mw", "admin-whitelist", {"ipAllowList": {"sourceRange": ["10.0.0.0/8", "172.16.0.0/12"]}})
    )
    # One live pod, one dead endpoint (connection refused): with retry every request succeeds.
    cluster.service("mw", "flaky", ["127.0.1.2", "127.0.2.1"])
    cluster.route(
        "mw",
        "retry",
        "Host(`retry.test`)",
        [{"name": "flaky", "port": 8080}],
        route={"middlewares": [{"name": "retry"}]},
    )
    eventually(lambda: cluster.routed("retry.test"), message=cluster.proc.describe)
    assert {cluster.get("retry.test") for _ in range(10)} == {(200, "127.0.1.2")}
    # Only dead endpoints: network errors trip the breaker, which answers 503 instead of trying.
    cluster.service("mw", "dead", ["127.0.2.2"])
    cluster.route(
        "mw",
        "cb",
        "Host(`cb.test`)",
        [{"name": "dead", "port": 8080}],
        route={"middlewares": [{"name": "circuit-breaker"}]},
    )
    eventually(lambda: cluster.get("cb.test")[0] == 502, message=cluster.proc.describe)
    assert eventually(lambda: cluster.get("cb.test")[0] == 503, timeout=10)
    # admin-whitelist: our client (127.0.0.1) is outside the private ranges.
    cluster.route(
        "mw",
        "admin",
        "Host(`admin.test`)",
        [{"name": "flaky", "port": 8080}],
        route={"middlewares": [{"name": "admin-whitelist"}]},
    )
    eventually(lambda: cluster.get("admin.test")[0] == 403, message=cluster.proc.describe)


def test_sticky_cookie_and_weighted_traefik_service(cluster: Cluster) -> None:
    """HIP-68's ``stateful-service`` IngressRoute: a ``hanzo_affinity`` cookie pins a client to one pod."""
    cluster.service("sticky", "stateful-backend", ["127.0.1.1", "127.0.1.2", "127.0.1.3"])
    cluster.api.apply(
        crd(
            "IngressRoute",
            "sticky",
            "stateful-service",
            {
                "routes": [
                    {
                        "match": "Host(`app.hanzo.test`)",
                        "services": [
                            {
                                "name": "stateful-backend",
                                "port": 8080,
                                "sticky": {"cookie": {"name": "hanzo_affinity", "secure": True, "httpOnly": True}},
                            }
                        ],
                    }
                ]
            },
        )
    )
    first = eventually(
        lambda: (r := cluster.request("app.hanzo.test")).status == 200 and r, message=cluster.proc.describe
    )
    cookie = first.getheader("Set-Cookie")
    assert cookie is not None
    assert cookie.startswith("hanzo_affinity=")
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    pinned = cookie.split(";")[0]
    bodies = set()
    for _ in range(8):
        conn = http.client.HTTPConnection("127.0.0.1", cluster.ports["web"], timeout=5)
        conn.request("GET", "/", headers={"Host": "app.hanzo.test", "Cookie": pinned})
        bodies.add(conn.getresponse().read())
        conn.close()
    assert len(bodies) == 1
    # A weighted TraefikService: weight 0 for one side sends everything to the other.
    cluster.service("sticky", "blue", ["127.0.1.1"])
    cluster.service("sticky", "green", ["127.0.1.4"])
    cluster.api.apply(
        crd(
            "TraefikService",
            "sticky",
            "canary",
            {
                "weighted": {
                    "services": [
                        {"name": "blue", "port": 8080, "weight": 0},
                        {"name": "green", "port": 8080, "weight": 1},
                    ]
                }
            },
        )
    )
    cluster.route("sticky", "canary", "Host(`canary.test`)", [{"name": "canary", "kind": "TraefikService"}])
    eventually(lambda: cluster.routed("canary.test"), message=cluster.proc.describe)
    assert {cluster.routed("canary.test") for _ in range(6)} == {"127.0.1.4"}


def _fetch_tls(port: int, host: str, context: ssl.SSLContext) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname=host)
        conn.request("GET", "/", headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def test_tls_option_and_secret_rotation_without_dropping_connections(cluster: Cluster) -> None:
    """HIP-68's ``default`` TLSOption, an IngressRoute with ``tls.secretName``, and a CertManager-style renewal."""
    # RSA: the seed's TLS 1.2 suites are all ECDHE_RSA.
    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    cluster.api.apply(
        _tls_secret("tlsns", "kms-tls-secret", ca.issue_cert("kms.hanzo.test", key_type=trustme.KeyType.RSA))
    )
    cluster.api.apply(
        crd(
            "TLSOption",
            "tlsns",
            "default",
            {
                "minVersion": "VersionTLS12",
                "preferServerCipherSuites": True,
                "cipherSuites": [
                    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                    "TLS_AES_256_GCM_SHA384",
                    "TLS_AES_128_GCM_SHA256",
                    "TLS_CHACHA20_POLY1305_SHA256",
                ],
            },
        )
    )
    cluster.service("tlsns", "kms", ["127.0.1.3"])
    cluster.route(
        "tlsns",
        "kms",
        "Host(`kms.hanzo.test`)",
        [{"name": "kms", "port": 8080}],
        entryPoints=["websecure"],
        tls={"secretName": "kms-tls-secret"},
    )
    context = ssl.create_default_context()
    ca.configure_trust(context)
    port = cluster.ports["websecure"]
    assert eventually(
        lambda: _fetch_tls(port, "kms.hanzo.test", context) == (200, "127.0.1.3"), message=cluster.proc.describe
    )
    # The TLSOption's cipher list: a TLS 1.2 client offering only CHACHA20 (not listed for TLS 1.2) is refused,
    # one offering a listed suite gets in.
    refused = ssl.create_default_context()
    ca.configure_trust(refused)
    refused.maximum_version = ssl.TLSVersion.TLSv1_2
    refused.set_ciphers("ECDHE-RSA-CHACHA20-POLY1305")
    with pytest.raises(ssl.SSLError):
        _fetch_tls(port, "kms.hanzo.test", refused)
    allowed = ssl.create_default_context()
    ca.configure_trust(allowed)
    allowed.maximum_version = ssl.TLSVersion.TLSv1_2
    allowed.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256")
    assert _fetch_tls(port, "kms.hanzo.test", allowed)[0] == 200

    # Rotation: a keep-alive TLS connection stays open across the Secret's change; new handshakes get the new cert.
    kept = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    kept.sock = context.wrap_socket(
        socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname="kms.hanzo.test"
    )
    kept.request("GET", "/", headers={"Host": "kms.hanzo.test"})
    assert kept.getresponse().read() == b"127.0.1.3"
    old_serial = kept.sock.getpeercert()["serialNumber"]  # type: ignore[union-attr]
    new_ca = trustme.CA(key_type=trustme.KeyType.RSA)
    cluster.api.apply(
        _tls_secret("tlsns", "kms-tls-secret", new_ca.issue_cert("kms.hanzo.test", key_type=trustme.KeyType.RSA))
    )
    renewed = ssl.create_default_context()
    new_ca.configure_trust(renewed)
    assert eventually(lambda: _fetch_tls(port, "kms.hanzo.test", renewed)[0] == 200, message=cluster.proc.describe)
    kept.request("GET", "/", headers={"Host": "kms.hanzo.test"})
    assert kept.getresponse().read() == b"127.0.1.3"
    assert kept.sock.getpeercert()["serialNumber"] == old_serial  # type: ignore[union-attr]
    kept.close()


def test_servers_transport(cluster: Cluster) -> None:
    """HIP-68's ``default`` ServersTransport serves; a transport's responseHeaderTimeout is enforced (504)."""
    cluster.api.apply(
        crd(
            "ServersTransport",
            "st",
            "default",
            {
                "serverName": "",
                "insecureSkipVerify": False,
                "maxIdleConnsPerHost": 200,
                "forwardingTimeouts": {"dialTimeout": "5s", "responseHeaderTimeout": "30s", "idleConnTimeout": "90s"},
            },
        )
    )
    cluster.api.apply(
        crd("ServersTransport", "st", "quick", {"forwardingTimeouts": {"responseHeaderTimeout": "300ms"}})
    )
    cluster.service("st", "app", ["127.0.1.2"])
    cluster.route("st", "seed", "Host(`st.test`)", [{"name": "app", "port": 8080, "serversTransport": "default"}])
    cluster.route("st", "quick", "Host(`quick.test`)", [{"name": "app", "port": 8080, "serversTransport": "quick"}])
    assert eventually(lambda: cluster.routed("st.test"), message=cluster.proc.describe) == "127.0.1.2"
    eventually(lambda: cluster.routed("quick.test"))
    assert cluster.get("st.test", "/slow") == (200, "127.0.1.2")
    assert cluster.get("quick.test", "/slow")[0] == 504
    services = cluster.api_json("/api/http/services?per_page=1000")
    transports = {s["name"]: s["loadBalancer"].get("serversTransport") for s in services if "loadBalancer" in s}
    assert "st-default@kubernetescrd" in transports.values() or "st-default" in transports.values()


def test_forbidden_namespace_and_missing_secret_disable_only_their_route(cluster: Cluster) -> None:
    cluster.service("bad", "app", ["127.0.1.1"])
    cluster.api.apply(crd("Middleware", "elsewhere", "strip", {"stripPrefix": {"prefixes": ["/x"]}}))
    cluster.api.apply(crd("Middleware", "bad", "auth", {"basicAuth": {"secret": "no-such-secret"}}))
    cluster.route(
        "bad",
        "cross",
        "Host(`cross.test`)",
        [{"name": "app", "port": 8080}],
        route={"middlewares": [{"name": "strip", "namespace": "elsewhere"}]},
    )
    cluster.route(
        "bad", "auth", "Host(`auth.test`)", [{"name": "app", "port": 8080}], route={"middlewares": [{"name": "auth"}]}
    )
    cluster.route("bad", "fine", "Host(`fine.test`)", [{"name": "app", "port": 8080}])
    eventually(lambda: cluster.routed("fine.test"), message=cluster.proc.describe)
    assert cluster.get("cross.test")[0] == 404
    assert cluster.get("auth.test")[0] == 404
    routers = {r["name"]: r for r in cluster.api_json("/api/http/routers?per_page=1000")}
    cross = next(r for n, r in routers.items() if n.startswith("bad-cross-"))
    auth = next(r for n, r in routers.items() if n.startswith("bad-auth-"))
    assert cross["status"] == "disabled"
    assert any("middleware elsewhere/strip is not in the parent resource namespace bad" in e for e in cross["error"])
    assert auth["status"] == "disabled"
    assert any("secret bad/no-such-secret does not exist" in e for e in auth["error"])
    # The refusal is an ordinary (disabled) middleware record: every API view still renders.
    middlewares = {m["name"]: m for m in cluster.api_json("/api/http/middlewares?per_page=1000")}
    refused = next(
        m for n, m in middlewares.items() if n.startswith("bad-cross-") and n.endswith("-refused@kubernetescrd")
    )
    assert refused["status"] == "disabled"
    assert "bad-auth@kubernetescrd" in cluster.api_json("/api/rawdata")["middlewares"]
    log = cluster.proc.stderr()
    assert "middleware elsewhere/strip is not in the parent resource namespace bad" in log
    assert "secret bad/no-such-secret does not exist" in log
    # The Secret appears: the route serves.
    cluster.api.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "no-such-secret", "namespace": "bad"},
            "data": {"users": base64.b64encode(b"test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/").decode()},
        }
    )
    eventually(lambda: cluster.get("auth.test")[0] == 401, message=cluster.proc.describe)
    assert cluster.api.get(SECRETS, "bad", "no-such-secret") is not None


def test_ingress_route_tcp_udp_with_middleware_tcp_and_transport(cluster: Cluster) -> None:
    """IngressRouteTCP (HostSNI(`*`) on the tcp entrypoint to an HTTP pod), MiddlewareTCP, ServersTransportTCP,
    IngressRouteUDP to a UDP echo."""
    cluster.service("l4", "web", ["127.0.1.4"])
    cluster.api.apply(crd("MiddlewareTCP", "l4", "local-only", {"ipAllowList": {"sourceRange": ["127.0.0.0/8"]}}))
    cluster.api.apply(crd("ServersTransportTCP", "l4", "fast", {"dialTimeout": "2s"}))
    cluster.api.apply(
        crd(
            "IngressRouteTCP",
            "l4",
            "raw.tcp",
            {
                "entryPoints": ["tcp"],
                "routes": [
                    {
                        "match": "HostSNI(`*`)",
                        "middlewares": [{"name": "local-only"}],
                        "services": [{"name": "web", "port": 8080, "serversTransport": "fast"}],
                    }
                ],
            },
        )
    )
    assert eventually(lambda: cluster.routed("anything", port="tcp"), message=cluster.proc.describe) == "127.0.1.4"
    tcp_routers = {r["name"]: r for r in cluster.api_json("/api/tcp/routers?per_page=1000")}
    assert any(name.startswith("l4-raw.tcp-") for name in tcp_routers)

    l4 = L4Loop()
    try:
        echo = UDPEcho(l4, "kube").start()
        cluster.service("l4", "dns", ["127.0.0.1"], port=53, pod_port=echo.port)
        cluster.api.apply(
            crd(
                "IngressRouteUDP",
                "l4",
                "dns",
                {"entryPoints": ["udp"], "routes": [{"services": [{"name": "dns", "port": 53}]}]},
            )
        )
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(1)

            def answered() -> bytes:
                sock.sendto(b"ping", ("127.0.0.1", cluster.ports["udp"]))
                try:
                    return sock.recvfrom(1024)[0]
                except TimeoutError:
                    return b""

            assert eventually(answered, message=cluster.proc.describe) == b"kube:ping"
        assert "l4-dns-0@kubernetescrd" in {r["name"] for r in cluster.api_json("/api/udp/routers?per_page=1000")}
    finally:
        l4.close()


def test_tls_store_default_certificate(cluster: Cluster) -> None:
    ca = trustme.CA()
    cluster.api.apply(_tls_secret("store", "fallback", ca.issue_cert("unknown.store.test")))
    cluster.api.apply(crd("TLSStore", "store", "default", {"defaultCertificate": {"secretName": "fallback"}}))
    cluster.service("store", "app", ["127.0.1.2"])
    cluster.route(
        "store", "r", "Host(`unknown.store.test`)", [{"name": "app", "port": 8080}], entryPoints=["websecure"], tls={}
    )
    context = ssl.create_default_context()
    ca.configure_trust(context)
    assert eventually(
        lambda: _fetch_tls(cluster.ports["websecure"], "unknown.store.test", context) == (200, "127.0.1.2"),
        message=cluster.proc.describe,
    )


def test_absent_crd_group_never_blocks_readiness(tmp_path: Path) -> None:
    with FakeApiServer(token=TOKEN, crds=False) as api:
        web, admin = free_port(), free_port()
        args = [
            f"--entrypoints.web.address=127.0.0.1:{web}",
            f"--entrypoints.traefik.address=127.0.0.1:{admin}",
            "--providers.kubernetescrd=true",
            f"--providers.kubernetescrd.endpoint={api.url}",
            f"--providers.kubernetescrd.token={TOKEN}",
            "--ping=true",
        ]
        proc = Ingress(args, web, tmp_path, clean_env())
        try:
            proc.wait_ready(timeout=20)
            conn = http.client.HTTPConnection("127.0.0.1", admin, timeout=5)
            conn.request("GET", "/ping")
            assert conn.getresponse().status == 200
            conn.close()
            eventually(lambda: any("/apis/traefik.io/v1alpha1/ingressroutes" in path for _m, path in api.requests))
        finally:
            proc.stop()


def test_an_ingress_tls_secret_rotates_too(cluster: Cluster) -> None:
    """The Ingress provider's ``spec.tls`` Secrets take the same path: a renewed Secret, new handshakes."""
    first_ca, second_ca = trustme.CA(), trustme.CA()
    cluster.api.apply(_tls_secret("ingtls", "site-cert", first_ca.issue_cert("site.ing.test")))
    cluster.service("ingtls", "site", ["127.0.1.4"])
    cluster.api.apply(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {
                "name": "site",
                "namespace": "ingtls",
                "annotations": {"traefik.ingress.kubernetes.io/router.entrypoints": "websecure"},
            },
            "spec": {
                "tls": [{"hosts": ["site.ing.test"], "secretName": "site-cert"}],
                "rules": [
                    {
                        "host": "site.ing.test",
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": "site", "port": {"number": 8080}}},
                                }
                            ]
                        },
                    }
                ],
            },
        }
    )
    port = cluster.ports["websecure"]
    first, second = ssl.create_default_context(), ssl.create_default_context()
    first_ca.configure_trust(first)
    second_ca.configure_trust(second)
    assert eventually(
        lambda: _fetch_tls(port, "site.ing.test", first) == (200, "127.0.1.4"), message=cluster.proc.describe
    )
    cluster.api.apply(_tls_secret("ingtls", "site-cert", second_ca.issue_cert("site.ing.test")))
    assert eventually(
        lambda: _fetch_tls(port, "site.ing.test", second) == (200, "127.0.1.4"), message=cluster.proc.describe
    )
