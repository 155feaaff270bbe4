"""The ``kubernetes`` provider in process: static options, what it watches, readiness, errors, a live change."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from hanzo_edge.config.errors import ConfigError
from hanzo_edge.config.loader import load_static
from hanzo_edge.providers.base import ProviderHooks
from hanzo_edge.providers.factory import create_providers
from hanzo_edge.providers.kubernetes.ingress_provider import (
    IngressProviderSettings,
    KubernetesIngressProvider,
    from_static,
)
from hanzo_edge.providers.kubernetes.ingress_translate import IngressOptions
from hanzo_edge.providers.kubernetes.kubeconfig import KubeConfigError, from_flags
from hanzo_edge.providers.kubernetes.resources import INGRESSES
from hanzo_edge.providers.kubernetes.watch import BackoffPolicy
from kube_apiserver import FakeApiServer

TOKEN = "provider-token"


def static(*flags: str) -> Any:
    return load_static(["--entrypoints.web.address=:1", *flags], {}, search=False)


def test_from_static_reads_every_option():
    assert from_static(static(), ProviderHooks()) is None
    provider = from_static(
        static(
            "--providers.kubernetesingress=true",
            "--providers.kubernetesingress.endpoint=http://127.0.0.1:1",
            "--providers.kubernetesingress.token=t",
            "--providers.kubernetesingress.namespaces=a,b",
            "--providers.kubernetesingress.labelSelector=app=x",
            "--providers.kubernetesingress.ingressClass=hanzo-ingress",
            "--providers.kubernetesingress.throttleDuration=2s",
            "--providers.kubernetesingress.allowEmptyServices=true",
            "--providers.kubernetesingress.allowExternalNameServices=true",
            "--providers.kubernetesingress.nativeLBByDefault=true",
            "--providers.kubernetesingress.strictPrefixMatching=true",
            "--providers.kubernetesingress.ingressEndpoint.publishedService=hanzo/hanzo-ingress",
        ),
        ProviderHooks(),
    )
    assert provider is not None
    assert provider.name == "kubernetes"
    settings = provider.settings
    assert (settings.endpoint, settings.token, settings.namespaces) == ("http://127.0.0.1:1", "t", ("a", "b"))
    assert (settings.label_selector, settings.throttle) == ("app=x", 2.0)
    options = settings.options
    assert options.ingress_class == "hanzo-ingress"
    assert options.allow_empty_services
    assert options.allow_external_name_services
    assert options.native_lb_by_default
    assert options.strict_prefix_matching
    assert settings.ingress_endpoint is not None
    assert settings.ingress_endpoint.published_service == "hanzo/hanzo-ingress"
    assert [p.name for p in create_providers(static("--providers.kubernetesingress=true"), ProviderHooks())] == [
        "kubernetes"
    ]


def test_what_is_watched():
    def watched(*flags: str) -> dict[str, str | None]:
        provider = from_static(static("--providers.kubernetesingress=true", *flags), ProviderHooks())
        assert provider is not None
        return {t.resource.plural: t.label_selector for t in provider.settings.targets()}

    assert watched("--providers.kubernetesingress.labelSelector=team=a") == {
        "ingresses": "team=a",
        "services": None,
        "endpointslices": None,
        "secrets": "owner!=helm",
        "ingressclasses": None,
    }
    assert "ingressclasses" not in watched("--providers.kubernetesingress.disableClusterScopeResources=true")
    assert "nodes" in watched("--providers.kubernetesingress.ingressEndpoint.publishedService=a/b")
    assert "nodes" not in watched("--providers.kubernetesingress.ingressEndpoint.ip=10.0.0.1")


def first_config(provider: KubernetesIngressProvider) -> Any:
    async def run() -> Any:
        stream = provider.watch()
        try:
            return await asyncio.wait_for(anext(stream), 10)
        finally:
            await stream.aclose()

    return asyncio.run(run())


def test_bad_label_selector_and_bad_connection_are_config_errors():
    with pytest.raises(ConfigError, match="invalid ingress label selector"):
        first_config(KubernetesIngressProvider(IngressProviderSettings(endpoint="http://x", label_selector="a in (")))
    with pytest.raises(ConfigError, match="endpoint missing"):
        first_config(KubernetesIngressProvider(IngressProviderSettings()))

    def refuse(_settings: IngressProviderSettings) -> Any:
        raise KubeConfigError("KUBECONFIG /nope: cannot read")

    with pytest.raises(ConfigError, match="KUBECONFIG /nope"):
        first_config(KubernetesIngressProvider(IngressProviderSettings(), connect=refuse))


def _path(path: str, service: str) -> dict[str, Any]:
    return {"path": path, "pathType": "Prefix", "backend": {"service": {"name": service, "port": {"number": 80}}}}


def _objects(api: FakeApiServer) -> None:
    api.apply(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {"name": "hanzo-ingress"},
            "spec": {"controller": "traefik.io/ingress-controller"},
        }
    )
    api.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "app", "namespace": "hanzo"},
            "spec": {"ports": [{"name": "http", "port": 80}]},
        }
    )
    api.apply(
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": "app-1", "namespace": "hanzo", "labels": {"kubernetes.io/service-name": "app"}},
            "endpoints": [{"addresses": ["127.0.1.9"], "conditions": {"ready": True}}],
            "ports": [{"name": "http", "port": 8080}],
        }
    )
    api.apply(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "app", "namespace": "hanzo"},
            "spec": {
                "ingressClassName": "hanzo-ingress",
                "rules": [
                    {
                        "host": "app.test",
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": "app", "port": {"number": 80}}},
                                },
                                {
                                    "path": "/x",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": "nope", "port": {"number": 80}}},
                                },
                            ]
                        },
                    }
                ],
            },
        }
    )


def test_snapshots_from_the_api_server_and_errors_logged_once(caplog: pytest.LogCaptureFixture):
    with FakeApiServer(token=TOKEN) as api:
        _objects(api)
        settings = IngressProviderSettings(
            endpoint=api.url, token=TOKEN, options=IngressOptions(ingress_class="hanzo-ingress")
        )
        provider = KubernetesIngressProvider(
            settings, connect=lambda s: from_flags(s.endpoint, s.token), policy=BackoffPolicy(initial=0.01)
        )

        async def run() -> tuple[Any, Any]:
            stream = provider.watch()
            try:
                first = await asyncio.wait_for(anext(stream), 10)
                api.apply(
                    {
                        "apiVersion": "discovery.k8s.io/v1",
                        "kind": "EndpointSlice",
                        "metadata": {
                            "name": "app-1",
                            "namespace": "hanzo",
                            "labels": {"kubernetes.io/service-name": "app"},
                        },
                        "endpoints": [{"addresses": ["127.0.1.10"], "conditions": {"ready": True}}],
                        "ports": [{"name": "http", "port": 8080}],
                    }
                )
                second = await asyncio.wait_for(anext(stream), 10)
                return first, second
            finally:
                await stream.aclose()

        with caplog.at_level(logging.ERROR, logger="hanzo_edge.providers.kubernetes"):
            first, second = asyncio.run(run())
        assert api.get(INGRESSES, "hanzo", "app") is not None
    routers = first.http.routers
    assert routers["hanzo-app-app-test"].rule == 'Host(`app.test`) && PathPrefix("/")'
    assert routers["hanzo-app-app-test-x"].service == "hanzo-nope-80"
    servers = [s.url for s in first.http.services["hanzo-app-80"].load_balancer.servers]
    assert servers == ["http://127.0.1.9:8080"]
    assert [s.url for s in second.http.services["hanzo-app-80"].load_balancer.servers] == ["http://127.0.1.10:8080"]
    messages = [r.getMessage() for r in caplog.records if "cannot create service hanzo-nope-80" in r.getMessage()]
    assert messages == [
        "kubernetes: Ingress hanzo/app: path app.test/x: cannot create service hanzo-nope-80: service not found"
    ]
    assert provider.last_translation is not None
    assert provider.rebuild_seconds > 0


def test_token_may_be_a_file_path(tmp_path: Any, monkeypatch: pytest.MonkeyPatch):
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(name, raising=False)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    with FakeApiServer(token=TOKEN) as api:
        _objects(api)
        settings = IngressProviderSettings(
            endpoint=api.url, token=str(token_file), options=IngressOptions(ingress_class="hanzo-ingress")
        )
        config = first_config(KubernetesIngressProvider(settings, policy=BackoffPolicy(initial=0.01)))
    assert "hanzo-app-app-test" in config.http.routers


def test_a_translation_bug_keeps_the_provider_running(caplog: pytest.LogCaptureFixture):
    with FakeApiServer(token=TOKEN) as api:
        _objects(api)
        settings = IngressProviderSettings(
            endpoint=api.url, token=TOKEN, options=IngressOptions(ingress_class="hanzo-ingress")
        )
        provider = KubernetesIngressProvider(
            settings, connect=lambda s: from_flags(s.endpoint, s.token), policy=BackoffPolicy(initial=0.01)
        )
        real = provider._translator.translate
        calls: list[int] = []

        def flaky(objects: Any) -> Any:
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("boom")
            return real(objects)

        provider._translator.translate = flaky  # type: ignore[method-assign]

        async def run() -> tuple[Any, Any]:
            stream = provider.watch()
            try:
                # The first snapshot fails: an empty configuration comes at once (the process starts only once
                # every provider gave one), not only after the next change in the cluster.
                first = await asyncio.wait_for(anext(stream), 5)
                api.apply(
                    {
                        "apiVersion": "v1",
                        "kind": "Service",
                        "metadata": {"name": "extra", "namespace": "hanzo"},
                        "spec": {"ports": [{"name": "http", "port": 80}]},
                    }
                )
                return first, await asyncio.wait_for(anext(stream), 10)
            finally:
                await stream.aclose()

        with caplog.at_level(logging.ERROR, logger="hanzo_edge.providers.kubernetes"):
            first, second = asyncio.run(asyncio.wait_for(run(), 20))
    assert calls == [1, 1]
    assert first.http.routers == {}
    assert "hanzo-app-app-test" in second.http.routers
    assert "cannot translate the cluster snapshot" in caplog.text


# The fake API server (not the product) may leave the server side of a connection accepted while it stops unclosed
# (Python 3.11's asyncio.Server cannot close its clients); that warning is about the test double only.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_unreachable_api_server_yields_an_empty_configuration_then_the_cluster(
    caplog: pytest.LogCaptureFixture,
):
    # The process starts once every provider yielded a configuration: an API server that refuses connections must
    # not keep ping, the API and the other providers from serving. After the bound an empty configuration comes,
    # then the whole cluster as soon as the lists succeed.
    with FakeApiServer(token=TOKEN) as api:
        _objects(api)
        api.refuse(None)
        settings = IngressProviderSettings(
            endpoint=api.url,
            token=TOKEN,
            options=IngressOptions(ingress_class="hanzo-ingress"),
            initial_sync_timeout=0.3,
        )
        provider = KubernetesIngressProvider(
            settings,
            connect=lambda s: from_flags(s.endpoint, s.token),
            policy=BackoffPolicy(initial=0.01, maximum=0.05),
        )

        async def run() -> tuple[Any, Any]:
            stream = provider.watch()
            try:
                first = await asyncio.wait_for(anext(stream), 5)
                api.resume()
                second = await asyncio.wait_for(anext(stream), 10)
                return first, second
            finally:
                await stream.aclose()

        with caplog.at_level(logging.WARNING, logger="hanzo_edge.providers.kubernetes"):
            first, second = asyncio.run(run())
    assert first.http.routers == {}
    assert first.http.services == {}
    assert "hanzo-app-app-test" in second.http.routers
    warnings = [r.getMessage() for r in caplog.records if "not listed within 0.3s" in r.getMessage()]
    assert len(warnings) == 1
    assert "ingresses.networking.k8s.io" in warnings[0]
