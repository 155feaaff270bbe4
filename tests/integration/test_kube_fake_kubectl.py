"""The fake API server, validated with real kubectl over HTTPS with a bearer token.

kubectl runs ``apply --validate=false -f`` (create, then client-side apply's strategic merge patch for built-in
kinds and JSON merge patch for the Traefik CRDs), ``get -w`` (list, then watch from the list's version),
``patch --subresource=status`` and ``delete`` (with its wait for the object to go). Every kubectl call is bounded.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hanzo_edge.providers.kubernetes.resources import (
    ENDPOINTS,
    INGRESS_CLASSES,
    INGRESS_ROUTES,
    INGRESSES,
    SERVICES,
)
from kube_apiserver import FakeApiServer

pytestmark = pytest.mark.integration

TOKEN = "kubectl-token"
KUBECTL = shutil.which("kubectl")

MANIFEST: list[dict[str, Any]] = [
    {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {
            "name": "hanzo-ingress",
            "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"},
        },
        "spec": {"controller": "traefik.io/ingress-controller"},
    },
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "hanzo"},
        "spec": {"ports": [{"name": "http", "port": 80}, {"name": "admin", "port": 9000}]},
    },
    {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "web-abc", "namespace": "hanzo", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": ["127.0.1.1"], "conditions": {"ready": True}},
            {"addresses": ["127.0.1.2"], "conditions": {"ready": False}},
        ],
    },
    {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "hanzo"},
        "spec": {
            "rules": [
                {
                    "host": "web.hanzo.test",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "web", "port": {"name": "http"}}},
                            }
                        ]
                    },
                }
            ]
        },
    },
    {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "IngressRoute",
        "metadata": {"name": "api", "namespace": "hanzo"},
        "spec": {
            "entryPoints": ["web"],
            "routes": [{"match": "Host(`api.hanzo.test`)", "kind": "Rule", "services": [{"name": "web", "port": 80}]}],
        },
    },
]


class Kubectl:
    def __init__(self, kubeconfig: Path, home: Path) -> None:
        if KUBECTL is None:
            pytest.fail("kubectl is not installed (scripts/sysdeps.sh installs it)")
        self.program = KUBECTL
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),  # kubectl's discovery cache goes under $HOME/.kube
            "KUBECONFIG": str(kubeconfig),
        }

    def command(self, *args: str) -> list[str]:
        return [self.program, "--request-timeout=10s", *args]

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self.command(*args), input=stdin, capture_output=True, text=True, timeout=60, env=self.env
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {result.returncode}: {result.stderr}")
        return result

    def apply(self, documents: list[dict[str, Any]]) -> str:
        return self.run("apply", "--validate=false", "-f", "-", stdin=yaml.safe_dump_all(documents)).stdout


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer(tls=True, token=TOKEN, bookmark_interval=1.0) as server:
        yield server


@pytest.fixture
def kubectl(api: FakeApiServer, tmp_path: Path) -> Kubectl:
    return Kubectl(Path(api.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace="hanzo")), tmp_path)


def test_apply_creates_with_the_default_class_admission_and_derived_endpoints(
    api: FakeApiServer, kubectl: Kubectl
) -> None:
    out = kubectl.apply(MANIFEST)
    assert "ingressclass.networking.k8s.io/hanzo-ingress created" in out
    assert "ingress.networking.k8s.io/web created" in out
    assert "ingressroute.traefik.io/api created" in out
    ingress = api.get(INGRESSES, "hanzo", "web")
    assert ingress is not None
    assert ingress["spec"]["ingressClassName"] == "hanzo-ingress", "filled in by the admission step"
    assert "kubectl.kubernetes.io/last-applied-configuration" in ingress["metadata"]["annotations"]
    endpoints = api.get(ENDPOINTS, "hanzo", "web")
    assert endpoints is not None
    assert endpoints["subsets"][0]["addresses"] == [{"ip": "127.0.1.1"}]
    assert endpoints["subsets"][0]["notReadyAddresses"] == [{"ip": "127.0.1.2"}]
    listed = json.loads(kubectl.run("get", "ingressclasses,ingresses,ingressroutes", "-o", "json").stdout)
    assert sorted(item["metadata"]["name"] for item in listed["items"]) == ["api", "hanzo-ingress", "web"]


def test_apply_again_patches_and_unchanged_is_unchanged(api: FakeApiServer, kubectl: Kubectl) -> None:
    kubectl.apply(MANIFEST)
    changed = json.loads(json.dumps(MANIFEST))
    changed[1]["spec"]["ports"] = [{"name": "http", "port": 8080}, {"name": "metrics", "port": 9100}]
    changed[4]["spec"]["routes"][0]["match"] = "Host(`api2.hanzo.test`)"
    out = kubectl.apply(changed)
    assert "service/web configured" in out
    assert "ingressroute.traefik.io/api configured" in out
    assert "ingress.networking.k8s.io/web unchanged" in out
    service = api.get(SERVICES, "hanzo", "web")
    assert service is not None
    assert service["spec"]["ports"] == [{"name": "http", "port": 8080}, {"name": "metrics", "port": 9100}]
    route = api.get(INGRESS_ROUTES, "hanzo", "api")
    assert route is not None
    assert route["spec"]["routes"][0]["match"] == "Host(`api2.hanzo.test`)"
    methods = {(method, target.split("?")[0]) for method, target in api.requests}
    assert ("PATCH", "/api/v1/namespaces/hanzo/services/web") in methods
    assert ("PATCH", "/apis/traefik.io/v1alpha1/namespaces/hanzo/ingressroutes/api") in methods


def test_status_subresource_through_kubectl_patch(api: FakeApiServer, kubectl: Kubectl) -> None:
    kubectl.apply(MANIFEST)
    status = {"status": {"loadBalancer": {"ingress": [{"ip": "10.20.30.40"}]}, "spec": {"rules": []}}}
    kubectl.run("patch", "ingress", "web", "--subresource=status", "--type=merge", "-p", json.dumps(status))
    ingress = api.get(INGRESSES, "hanzo", "web")
    assert ingress is not None
    assert ingress["status"]["loadBalancer"]["ingress"] == [{"ip": "10.20.30.40"}]
    assert ingress["spec"]["rules"][0]["host"] == "web.hanzo.test", "a status write never changes the spec"
    kubectl.apply(MANIFEST)  # an apply without status keeps it
    kept = api.get(INGRESSES, "hanzo", "web")
    assert kept is not None
    assert kept["status"] == ingress["status"]


class WatchProcess:
    """``kubectl get -w --output-watch-events -o json``: one JSON document per event on stdout."""

    def __init__(self, kubectl: Kubectl, *args: str) -> None:
        self.process = subprocess.Popen(
            kubectl.command("get", *args, "-w", "--output-watch-events", "-o", "json"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=kubectl.env,
        )
        self.buffer = b""
        self.decoder = json.JSONDecoder()
        self.events: list[tuple[str, str]] = []

    def wait_for(self, event: tuple[str, str], timeout: float = 20.0) -> None:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while event not in self.events:
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    raise AssertionError(f"no {event} from kubectl get -w; saw {self.events}")
                if selector.select(min(left, 0.5)):
                    chunk = os.read(self.process.stdout.fileno(), 65536)
                    self.buffer += chunk
                    self._parse()

    def _parse(self) -> None:
        text = self.buffer.decode()
        position = 0
        while True:
            while position < len(text) and text[position].isspace():
                position += 1
            try:
                document, end = self.decoder.raw_decode(text, position)
            except json.JSONDecodeError:
                break
            self.events.append((document["type"], document["object"]["metadata"]["name"]))
            position = end
        self.buffer = text[position:].encode()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def test_get_watch_sees_adds_changes_and_deletes(api: FakeApiServer, kubectl: Kubectl) -> None:
    kubectl.apply(MANIFEST[:2])
    watch = WatchProcess(kubectl, "ingressclasses")
    try:
        watch.wait_for(("ADDED", "hanzo-ingress"))
        api.create(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "IngressClass",
                "metadata": {"name": "other"},
                "spec": {"controller": "example.com/other"},
            }
        )
        watch.wait_for(("ADDED", "other"))
        kubectl.run("annotate", "ingressclass", "other", "note=seen")
        watch.wait_for(("MODIFIED", "other"))
        out = kubectl.run("delete", "ingressclass", "other").stdout
        assert 'ingressclass.networking.k8s.io "other" deleted' in out
        watch.wait_for(("DELETED", "other"))
        assert api.get(INGRESS_CLASSES, "", "other") is None
    finally:
        watch.stop()
    watches = [t for m, t in api.requests if m == "GET" and "watch=true" in t and "/ingressclasses" in t]
    assert watches, "kubectl watched after listing"
    assert "resourceVersion=" in watches[0]


def test_delete_manifest_waits_until_gone(api: FakeApiServer, kubectl: Kubectl) -> None:
    kubectl.apply(MANIFEST)
    out = kubectl.run("delete", "-f", "-", stdin=yaml.safe_dump_all(MANIFEST)).stdout
    assert 'ingress.networking.k8s.io "web" deleted' in out
    assert 'ingressroute.traefik.io "api" deleted' in out
    assert api.objects(INGRESSES) == {}
    assert api.objects(INGRESS_ROUTES) == {}
    assert api.get(ENDPOINTS, "hanzo", "web") is None, "endpoints go with their last slice"
    missing = kubectl.run("get", "ingress", "web", check=False)
    assert missing.returncode != 0
    assert 'ingresses.networking.k8s.io "web" not found' in missing.stderr


def test_a_wrong_token_is_refused(api: FakeApiServer, tmp_path: Path) -> None:
    api.token = "another-token"
    kubectl = Kubectl(Path(api.write_kubeconfig(str(tmp_path / "kubeconfig"))), tmp_path)
    api.token = TOKEN
    denied = kubectl.run("get", "ingresses", check=False)
    assert denied.returncode != 0
    assert "You must be logged in to the server" in denied.stderr
