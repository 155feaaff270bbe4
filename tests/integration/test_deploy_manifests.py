"""deploy/kubernetes/: rendered with ``kubectl kustomize``, validated offline with ``kubernetes-validate``, the CRDs
current with ``ingress crds`` and accepting HIP-68's examples, and the overlay's args started for real.

The run test starts ``ingress`` with exactly the production overlay's container args, with two changes a test
cannot avoid, both additive or mechanical: each listen address ``:PORT`` becomes ``127.0.0.1:<free port>`` (fixed
ports may be taken here), and ``127.0.0.1/32`` is appended to ``proxyProtocol.trustedIPs`` (the LB connects from
the VPC, this test from loopback). The working directory is read-only (mode 0555) and must stay empty. The
providers reach a fake API server through ``KUBECONFIG`` (in a cluster: the service account).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from edge_harness import Ingress, clean_env, eventually, free_port

from hanzo_edge.commands.crds import render_crds
from kube_apiserver import FakeApiServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
KUBECTL = shutil.which("kubectl")
K8S_VERSION = "1.32.0"


def kustomize(path: Path) -> list[dict[str, Any]]:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed (scripts/sysdeps.sh installs it)")
    out = subprocess.run([KUBECTL, "kustomize", str(path)], capture_output=True, text=True, timeout=60, check=True)
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@pytest.fixture(scope="module")
def production() -> list[dict[str, Any]]:
    return kustomize(DEPLOY / "overlays" / "production")


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def container_args(objects: list[dict[str, Any]]) -> list[str]:
    (deployment,) = by_kind(objects, "Deployment")
    args: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    return args


def test_committed_crds_are_current() -> None:
    committed = (DEPLOY / "base" / "crds.yaml").read_text()
    assert committed == render_crds(), "run: .venv/bin/ingress crds > deploy/kubernetes/base/crds.yaml"


@pytest.mark.parametrize("overlay", ["base", "overlays/production"])
def test_rendered_objects_validate_offline(overlay: str) -> None:
    objects = kustomize(DEPLOY / overlay)
    for obj in objects:
        # Raises ValidationError naming the field; strict: unknown fields are errors too.
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    kinds = sorted({o["kind"] for o in objects})
    assert kinds == [
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "Deployment",
        "IngressClass",
        "Namespace",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
    ]
    assert len(by_kind(objects, "CustomResourceDefinition")) == 10


def test_rbac_reads_only_what_the_providers_use(production: list[dict[str, Any]]) -> None:
    (role,) = by_kind(production, "ClusterRole")
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    resources = {r for _g, r, _v in granted}
    assert "configmaps" not in resources
    assert "endpoints" not in resources
    assert ("discovery.k8s.io", "endpointslices", "watch") in granted
    assert ("networking.k8s.io", "ingresses/status", "update") in granted
    writes = {(g, r, v) for g, r, v in granted if v not in ("get", "list", "watch")}
    assert writes == {("networking.k8s.io", "ingresses/status", "update")}
    assert "extensions" not in {g for g, _r, _v in granted}
    from hanzo_edge.providers.kubernetes.resources import CRD_RESOURCES

    assert {r.plural for r in CRD_RESOURCES} <= {r for g, r, _v in granted if g == "traefik.io"}


def test_deployment_security_and_probes(production: list[dict[str, Any]]) -> None:
    (deployment,) = by_kind(production, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["image"] == "ghcr.io/hanzoai/ingress:latest"
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/ping", "port": 9100}
    args = container["args"]
    assert "--ping.entrypoint=metrics" in args
    assert "--entrypoints.metrics.address=:9100" in args
    assert any(a.startswith("--entrypoints.web.proxyProtocol.trustedIPs=") for a in args)
    assert any(a.startswith("--entrypoints.web.forwardedHeaders.trustedIPs=173.245.48.0/20") for a in args)
    (pdb,) = by_kind(production, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    (service,) = by_kind(production, "Service")
    assert (
        service["metadata"]["annotations"]["service.beta.kubernetes.io/do-loadbalancer-enable-proxy-protocol"] == "true"
    )
    (ingress_class,) = by_kind(production, "IngressClass")
    assert ingress_class["spec"]["controller"] == "traefik.io/ingress-controller"


SEED_EXAMPLES: list[tuple[str, dict[str, Any]]] = [
    (
        "IngressRoute",
        {
            "entryPoints": ["websecure"],
            "routes": [
                {
                    "match": "Host(`platform.hanzo.ai`)",
                    "kind": "Rule",
                    "services": [{"name": "dokploy", "port": 3000}],
                    "middlewares": [{"name": "rate-limit"}, {"name": "security-headers"}],
                }
            ],
        },
    ),
    (
        "TLSOption",
        {
            "minVersion": "VersionTLS12",
            "preferServerCipherSuites": True,
            "cipherSuites": ["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256"],
        },
    ),
    (
        "Middleware",
        {"rateLimit": {"average": 100, "burst": 200, "period": "1m", "sourceCriterion": {"ipStrategy": {"depth": 1}}}},
    ),
    (
        "Middleware",
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
    ),
    ("Middleware", {"retry": {"attempts": 3, "initialInterval": "100ms"}}),
    (
        "Middleware",
        {"circuitBreaker": {"expression": "LatencyAtQuantileMS(50.0) > 1000 || NetworkErrorRatio() > 0.30"}},
    ),
    ("Middleware", {"ipAllowList": {"sourceRange": ["10.0.0.0/8", "172.16.0.0/12"]}}),
    ("Middleware", {"basicAuth": {"secret": "users"}}),
    (
        "ServersTransport",
        {
            "serverName": "",
            "insecureSkipVerify": False,
            "maxIdleConnsPerHost": 200,
            "forwardingTimeouts": {"dialTimeout": "5s", "responseHeaderTimeout": "30s", "idleConnTimeout": "90s"},
        },
    ),
    (
        "IngressRoute",
        {
            "routes": [
                {
                    "match": "Host(`app.hanzo.ai`)",
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
    ),
]


@pytest.mark.parametrize(("kind", "spec"), SEED_EXAMPLES)
def test_generated_crd_schemas_accept_the_seed_examples(kind: str, spec: dict[str, Any]) -> None:
    crds = {doc["spec"]["names"]["kind"]: doc for doc in yaml.safe_load_all(render_crds()) if doc}
    schema = crds[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    jsonschema.validate(spec, schema)


def test_generated_crd_schema_rejects_a_wrong_type() -> None:
    crds = {doc["spec"]["names"]["kind"]: doc for doc in yaml.safe_load_all(render_crds()) if doc}
    schema = crds["IngressRoute"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"routes": "not a list"}, schema)


# -- the overlay's args, run -------------------------------------------------------------------------------------------


class _EchoClient(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = json.dumps({"xff": self.headers.get("X-Forwarded-For"), "real": self.headers.get("X-Real-Ip")}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def echo() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoClient)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _runnable(args: list[str]) -> tuple[list[str], dict[str, int]]:
    """The overlay's args with each ``:PORT`` listen address on a free loopback port, and loopback trusted for
    PROXY protocol (see the module docstring)."""
    ports: dict[str, int] = {}
    out = []
    for arg in args:
        name = arg.partition("=")[0]
        if name.startswith("--entrypoints.") and name.endswith(".address"):
            entrypoint = name.split(".")[1]
            ports[entrypoint] = free_port()
            arg = f"{name}=127.0.0.1:{ports[entrypoint]}"
        elif name.endswith(".proxyProtocol.trustedIPs"):
            arg = f"{arg},127.0.0.1/32"
        out.append(arg)
    return out, ports


def _proxied_get(port: int, source: str, host: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        sock.sendall(
            f"PROXY TCP4 {source} 10.0.0.5 40000 80\r\n".encode()
            + f"GET / HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n".encode()
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def test_the_production_overlay_args_serve_ping_and_proxy_protocol(
    production: list[dict[str, Any]], echo: int, tmp_path: Path
) -> None:
    args, ports = _runnable(container_args(production))
    assert set(ports) == {"web", "websecure", "metrics"}
    workdir = tmp_path / "ro"
    workdir.mkdir()
    with FakeApiServer(token="deploy-token") as api:
        kubeconfig = api.write_kubeconfig(str(tmp_path / "kubeconfig"))
        (ingress_class,) = by_kind(production, "IngressClass")
        api.apply(ingress_class)
        api.apply(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "app", "namespace": "hanzo"},
                "spec": {"ports": [{"name": "http", "port": 8080}]},
            }
        )
        api.apply(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {"name": "app-1", "namespace": "hanzo", "labels": {"kubernetes.io/service-name": "app"}},
                "addressType": "IPv4",
                "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
                "ports": [{"name": "http", "port": echo}],
            }
        )
        api.apply(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {"name": "app", "namespace": "hanzo"},
                "spec": {
                    "rules": [
                        {
                            "host": "app.hanzo.test",
                            "http": {
                                "paths": [
                                    {
                                        "path": "/",
                                        "pathType": "Prefix",
                                        "backend": {"service": {"name": "app", "port": {"number": 8080}}},
                                    }
                                ]
                            },
                        }
                    ]
                },
            }
        )
        os.chmod(workdir, 0o555)
        proc = Ingress(args, ports["metrics"], workdir, clean_env({"KUBECONFIG": kubeconfig}))
        try:
            proc.wait_ready(timeout=30)
            conn = http.client.HTTPConnection("127.0.0.1", ports["metrics"], timeout=5)
            conn.request("GET", "/ping")
            response = conn.getresponse()
            assert (response.status, response.read()) == (200, b"OK")
            conn.close()
            # Through the DigitalOcean LB (PROXY v1), no Cloudflare: the client is the PROXY source, and an
            # X-Forwarded-For it sent is not trusted.
            seen = eventually(
                lambda: _proxied_get(ports["web"], "203.0.113.50", "app.hanzo.test", {"X-Forwarded-For": "6.6.6.6"}),
                timeout=15,
                message=proc.describe,
            )
            assert seen == {"xff": "203.0.113.50", "real": "203.0.113.50"}
            # Through Cloudflare: the PROXY source is a Cloudflare edge, whose X-Forwarded-For is kept.
            via_cloudflare = _proxied_get(
                ports["web"], "173.245.48.5", "app.hanzo.test", {"X-Forwarded-For": "198.51.100.9"}
            )
            assert via_cloudflare["xff"] == "198.51.100.9, 173.245.48.5"
        finally:
            proc.stop()
            os.chmod(workdir, 0o755)
    assert [p.name for p in workdir.iterdir() if not p.name.startswith("ingress-")] == []
