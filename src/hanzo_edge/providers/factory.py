"""Which providers run, decided by the static configuration alone.

Each provider module exposes one :data:`~hanzo_edge.providers.base.ProviderFactory` that reads its own section of
``providers`` and returns a provider, or None when that section is not set. :data:`PROVIDER_FACTORIES` lists them;
adding a provider (Kubernetes, Docker) means adding its module and one entry here, and ``IngressApp.start`` stays as
it is. A provider that is parsed but has no factory yet is reported by :mod:`hanzo_edge.config.support`, not here.
"""

from __future__ import annotations

from collections.abc import Mapping

from hanzo_edge.config.static import StaticConfig
from hanzo_edge.providers import docker, file
from hanzo_edge.providers.base import Provider, ProviderFactory, ProviderHooks

__all__ = ["PROVIDER_FACTORIES", "create_providers"]


def _kubernetes_ingress(static: StaticConfig, hooks: ProviderHooks) -> Provider | None:
    """``providers.kubernetesIngress``, imported only when configured: a process without Kubernetes never loads the
    API client, the watch loop and the object models (~30 ms of imports)."""
    if static.providers.kubernetes_ingress is None:
        return None
    from hanzo_edge.providers.kubernetes import ingress_provider

    return ingress_provider.from_static(static, hooks)


def _gateway(static: StaticConfig, hooks: ProviderHooks) -> Provider | None:
    """``providers.gateway`` (a KrakenD gateway.json), imported only when configured (the translation and its
    namespace handlers are not loaded otherwise)."""
    if static.providers.gateway is None:
        return None
    from hanzo_edge.providers import gateway_provider

    return gateway_provider.from_static(static, hooks)


def _kubernetes_crd(static: StaticConfig, hooks: ProviderHooks) -> Provider | None:
    """``providers.kubernetesCRD``, imported only when configured (as the Ingress provider)."""
    if static.providers.kubernetes_crd is None:
        return None
    from hanzo_edge.providers.kubernetes import crd_provider

    return crd_provider.from_static(static, hooks)


PROVIDER_FACTORIES: Mapping[str, ProviderFactory] = {
    "file": file.from_static,
    "kubernetes": _kubernetes_ingress,
    "kubernetescrd": _kubernetes_crd,
    "docker": docker.from_static,
    "gateway": _gateway,
}
"""Every implemented provider, by the name that qualifies its objects (``name@file``), in start order."""


def create_providers(
    static: StaticConfig, hooks: ProviderHooks, factories: Mapping[str, ProviderFactory] = PROVIDER_FACTORIES
) -> list[Provider]:
    """Return the providers ``static`` enables, in the order of ``factories``."""
    providers: list[Provider] = []
    for factory in factories.values():
        provider = factory(static, hooks)
        if provider is not None:
            providers.append(provider)
    return providers
