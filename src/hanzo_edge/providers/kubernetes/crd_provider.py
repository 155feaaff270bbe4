"""The ``kubernetescrd`` provider (``providers.kubernetesCRD``): Traefik's ``traefik.io/v1alpha1`` CRDs to routers.

It connects as the Ingress provider does (``kubeconfig.py``), lists then watches the ten Traefik kinds (with the
``labelSelector``), Services, EndpointSlices and Secrets not owned by Helm, and Nodes only when cluster-scoped
lookups are allowed (NodePort load balancing), then yields one whole `Configuration` per cluster snapshot
(``crd_translate.py``), the first once every initial list is done. When the CRDs are not installed the
``traefik.io`` group answers 404: the watch layer counts those partitions as synced and empty, so readiness never
waits for them, and picks the kinds up once they appear.

A Secret changed (a CertManager renewal) is one more snapshot: the new certificate is in the next configuration,
new handshakes get it, connections already open keep theirs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from hanzo_edge.config.static import KubernetesCRD, StaticConfig
from hanzo_edge.providers.base import ProviderHooks
from hanzo_edge.providers.kubernetes.client import KubeClient
from hanzo_edge.providers.kubernetes.crd_cluster import PROVIDER_NAME, CRDOptions
from hanzo_edge.providers.kubernetes.crd_translate import CRDTranslator
from hanzo_edge.providers.kubernetes.kubeconfig import KubeConnection, resolve_connection
from hanzo_edge.providers.kubernetes.provider_common import (
    SECRETS_SELECTOR,
    ConnectionSettings,
    KubeProvider,
    connection_fields,
)
from hanzo_edge.providers.kubernetes.resources import CRD_RESOURCES, ENDPOINT_SLICES, NODES, SECRETS, SERVICES
from hanzo_edge.providers.kubernetes.watch import WatchTarget

__all__ = ["PROVIDER_NAME", "SECRETS_SELECTOR", "CRDProviderSettings", "KubernetesCRDProvider", "from_static"]

logger = logging.getLogger("hanzo_edge.providers.kubernetes")


@dataclass(frozen=True, slots=True)
class CRDProviderSettings(ConnectionSettings):
    """``providers.kubernetesCRD`` as the provider uses it."""

    disable_cluster_scope_resources: bool = False
    options: CRDOptions = field(default_factory=CRDOptions)

    @classmethod
    def from_config(cls, config: KubernetesCRD) -> CRDProviderSettings:
        return cls(
            **connection_fields(config),
            disable_cluster_scope_resources=config.disable_cluster_scope_resources,
            options=CRDOptions(
                allow_cross_namespace=config.allow_cross_namespace,
                allow_external_name_services=config.allow_external_name_services,
                allow_empty_services=config.allow_empty_services,
                native_lb_by_default=config.native_lb_by_default,
                ingress_class=config.ingress_class,
                cross_provider_namespaces=config.cross_provider_namespaces,
            ),
        )

    def targets(self) -> list[WatchTarget]:
        """What to watch (see the module docstring)."""
        selector = self.label_selector or None
        targets = [WatchTarget(resource, selector) for resource in CRD_RESOURCES]
        targets += [WatchTarget(SERVICES), WatchTarget(ENDPOINT_SLICES), WatchTarget(SECRETS, SECRETS_SELECTOR)]
        if not self.disable_cluster_scope_resources:
            targets.append(WatchTarget(NODES))
        return targets


class KubernetesCRDProvider(KubeProvider[CRDProviderSettings]):
    """A `Provider` for ``providers.kubernetesCRD`` (see the module docstring and ``provider_common.py``)."""

    name = PROVIDER_NAME
    config_path = "providers.kubernetesCRD"
    label = "CRD provider"
    log_prefix = "kubernetescrd"
    snapshot_noun = "CRD snapshot"

    def _new_translator(self, settings: CRDProviderSettings) -> CRDTranslator:
        return CRDTranslator(settings.options)

    def _default_connect(self, settings: CRDProviderSettings) -> KubeConnection:
        return _connect(settings)

    def _serving(self, client: KubeClient) -> None:
        if self.settings.options.allow_cross_namespace:
            logger.warning(
                "kubernetes: cross-namespace reference between IngressRoutes and resources is enabled, please "
                "ensure that this is expected (see allowCrossNamespace option)"
            )


def _connect(settings: CRDProviderSettings) -> KubeConnection:
    return resolve_connection(settings.endpoint, settings.token, settings.cert_auth_file_path)


def from_static(static: StaticConfig, hooks: ProviderHooks) -> KubernetesCRDProvider | None:
    """Return the provider ``providers.kubernetesCRD`` asks for, or None when it is not set."""
    config = static.providers.kubernetes_crd
    if config is None:
        return None
    return KubernetesCRDProvider(CRDProviderSettings.from_config(config))
