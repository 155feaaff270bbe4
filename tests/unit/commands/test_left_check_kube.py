"""``ingress check`` with Kubernetes providers: read from the cluster when it answers, reported plainly when not."""

from __future__ import annotations

import gc
import hashlib
import socket

import pytest

from hanzo_edge.commands import Outcome
from hanzo_edge.commands.check import run_check
from hanzo_edge.commands.check_kube import check_kubernetes
from hanzo_edge.config.loader import load_static
from kube_apiserver import FakeApiServer

# `ingress check` stops its watches while the fake API server may be accepting one more connection; the server's
# thread then closes its loop with that accepted socket unclaimed, a teardown race of the test double (the product's
# one-shot check leaves nothing behind). Collected here, inside the tests, with the warning ignored.
pytestmark = pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")


@pytest.fixture(autouse=True)
def _collect_unclaimed_sockets() -> object:
    yield None
    gc.collect()


TOKEN = "check-token"


@pytest.fixture(autouse=True)
def _no_ambient_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    # The connection must come from the flags, never from the machine running the test.
    for name in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "KUBECONFIG"):
        monkeypatch.delenv(name, raising=False)


def _route(name: str, host: str, service: str) -> dict[str, object]:
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "IngressRoute",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"entryPoints": ["web"], "routes": [{"match": f"Host(`{host}`)", "services": [{"name": service}]}]},
    }


def _cluster(api: FakeApiServer) -> None:
    api.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "app", "namespace": "default"},
            "spec": {"ports": [{"name": "http", "port": 80}]},
        }
    )
    api.apply(
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": "app-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "app"}},
            "endpoints": [{"addresses": ["127.0.1.9"], "conditions": {"ready": True}}],
            "ports": [{"name": "http", "port": 8080}],
        }
    )
    api.apply(_route("fine", "fine.test", "app"))


def _key(name: str, host: str) -> str:
    return f"default-{name}-{hashlib.sha256(f'Host(`{host}`)'.encode()).hexdigest()[:20]}@kubernetescrd"


def _crd_args(endpoint: str, *extra: str) -> list[str]:
    return [
        "--entrypoints.web.address=:1",
        "--providers.kubernetescrd=true",
        f"--providers.kubernetescrd.endpoint={endpoint}",
        f"--providers.kubernetescrd.token={TOKEN}",
        *extra,
    ]


def test_a_reachable_cluster_is_read_and_its_routers_checked() -> None:
    with FakeApiServer(token=TOKEN) as api:
        _cluster(api)
        clean = run_check(_crd_args(api.url), {})
        api.apply(_route("gone", "gone.test", "nothere"))
        broken = run_check(_crd_args(api.url), {})
    assert clean.outcome is Outcome.CLEAN, clean.stdout
    (summary,) = clean.stderr
    assert "check: OK (" in summary
    assert not summary.startswith("check: OK (0 routers")
    assert broken.outcome is Outcome.PROBLEMS
    gone = _key("gone", "gone.test")
    assert any(
        line.startswith(f"ERROR router {gone}:") and "kubernetes service not found: default/nothere" in line
        for line in broken.stdout
    ), broken.stdout
    assert any(line.startswith("ERROR kubernetescrd: IngressRoute default/gone:") for line in broken.stdout)
    assert not any(_key("fine", "fine.test") in line for line in broken.stdout)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_cluster_is_reported_as_not_checked() -> None:
    static = load_static(_crd_args(f"http://127.0.0.1:{_closed_port()}"), {})
    result = check_kubernetes(static, timeout=0.3)
    assert result.snapshots == {}
    (line,) = result.lines
    assert line.startswith("WARNING providers.kubernetesCRD: not checked: the cluster did not answer")
    assert "kubernetes providers are checked only when their cluster can be reached" in line


def test_unusable_connection_settings_are_reported_as_not_checked() -> None:
    static = load_static(["--entrypoints.web.address=:1", "--providers.kubernetesingress=true"], {})
    (line,) = check_kubernetes(static, timeout=0.3).lines
    assert line.startswith("WARNING providers.kubernetesIngress: not checked: ")


def test_an_invalid_label_selector_is_an_error_without_asking_the_cluster() -> None:
    static = load_static(_crd_args("http://127.0.0.1:1", "--providers.kubernetescrd.labelSelector=a in (b"), {})
    (line,) = check_kubernetes(static, timeout=0.3).lines
    assert line.startswith("ERROR providers.kubernetesCRD.labelSelector: invalid label selector")


def test_without_kubernetes_providers_nothing_is_asked() -> None:
    result = check_kubernetes(load_static(["--entrypoints.web.address=:1"], {}))
    assert (result.snapshots, result.lines) == ({}, [])
