"""The CRD provider's settings from the static configuration, what it watches, and a refused route through the build."""

from __future__ import annotations

import hashlib

from hanzo_edge.config.loader import load_static
from hanzo_edge.config.runtime import DISABLED, ENABLED
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.providers.base import ProviderHooks
from hanzo_edge.providers.factory import create_providers
from hanzo_edge.providers.kubernetes.crd_provider import SECRETS_SELECTOR, CRDProviderSettings, KubernetesCRDProvider
from hanzo_edge.providers.kubernetes.crd_translate import translate_crds
from hanzo_edge.providers.kubernetes.resources import CRD_RESOURCES, NODES, SECRETS
from hanzo_edge.routing.build import build_tables


def test_flags_make_the_provider_with_its_options() -> None:
    static = load_static(
        [
            "--entrypoints.web.address=:8080",
            "--providers.kubernetescrd=true",
            "--providers.kubernetescrd.endpoint=http://127.0.0.1:1",
            "--providers.kubernetescrd.token=t",
            "--providers.kubernetescrd.allowCrossNamespace=true",
            "--providers.kubernetescrd.allowEmptyServices=true",
            "--providers.kubernetescrd.allowExternalNameServices=true",
            "--providers.kubernetescrd.nativeLBByDefault=true",
            "--providers.kubernetescrd.ingressClass=hanzo",
            "--providers.kubernetescrd.namespaces=a,b",
            "--providers.kubernetescrd.labelSelector=team=edge",
            "--providers.kubernetescrd.throttleDuration=2s",
        ],
        {},
    )
    providers = create_providers(static, ProviderHooks())
    (provider,) = [p for p in providers if p.name == "kubernetescrd"]
    assert isinstance(provider, KubernetesCRDProvider)
    settings = provider.settings
    assert (settings.endpoint, settings.token, settings.namespaces, settings.throttle) == (
        "http://127.0.0.1:1",
        "t",
        ("a", "b"),
        2.0,
    )
    options = settings.options
    assert options.allow_cross_namespace
    assert options.allow_empty_services
    assert options.allow_external_name_services
    assert options.native_lb_by_default
    assert options.ingress_class == "hanzo"


def test_targets_every_crd_kind_with_the_label_selector() -> None:
    targets = CRDProviderSettings(label_selector="team=edge").targets()
    by_resource = {t.resource: t for t in targets}
    for resource in CRD_RESOURCES:
        assert by_resource[resource].label_selector == "team=edge"
    assert by_resource[SECRETS].label_selector == SECRETS_SELECTOR
    assert NODES in by_resource
    assert NODES not in {t.resource for t in CRDProviderSettings(disable_cluster_scope_resources=True).targets()}


def _snapshot() -> dict[str, dict[tuple[str, str], object]]:
    route = {
        "metadata": {"name": "r", "namespace": "default"},
        "spec": {
            "routes": [
                {
                    "match": "Host(`a.test`)",
                    "services": [{"name": "app", "port": 80}],
                    "middlewares": [{"name": "mw", "namespace": "other"}],
                }
            ]
        },
    }
    fine = {
        "metadata": {"name": "fine", "namespace": "default"},
        "spec": {"routes": [{"match": "Host(`b.test`)", "services": [{"name": "app", "port": 80}]}]},
    }
    service = {"metadata": {"name": "app", "namespace": "default"}, "spec": {"ports": [{"name": "http", "port": 80}]}}
    endpoint_slice = {
        "metadata": {"name": "app-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "app"}},
        "endpoints": [{"addresses": ["10.0.0.1"]}],
        "ports": [{"name": "http", "port": 8080}],
    }
    return {
        "ingressroutes": {("default", "r"): route, ("default", "fine"): fine},
        "services": {("default", "app"): service},
        "endpointslices": {("default", "app-1"): endpoint_slice},
    }


def test_a_refused_route_is_disabled_by_the_build_with_its_reason() -> None:
    config = translate_crds(_snapshot()).config
    result = build_tables({"kubernetescrd": config}, ["web"], ["web"], PoolRegistry(), TransportOptions())
    refused = "default-r-" + hashlib.sha256(b"Host(`a.test`)").hexdigest()[:20] + "@kubernetescrd"
    fine = "default-fine-" + hashlib.sha256(b"Host(`b.test`)").hexdigest()[:20] + "@kubernetescrd"
    info = result.runtime.routers[refused]
    assert info.status == DISABLED
    assert any("middleware other/mw is not in the parent resource namespace default" in e for e in info.errors)
    assert result.runtime.routers[fine].status == ENABLED
