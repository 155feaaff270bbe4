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
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from hanzo_edge.config.dynamic import Configuration
from hanzo_edge.config.errors import ConfigError
from hanzo_edge.config.static import KubernetesCRD, StaticConfig
from hanzo_edge.providers.base import ProviderHooks
from hanzo_edge.providers.kubernetes.client import KubeClient
from hanzo_edge.providers.kubernetes.crd_cluster import PROVIDER_NAME, CRDOptions
from hanzo_edge.providers.kubernetes.crd_translate import CRDTranslator
from hanzo_edge.providers.kubernetes.ingress_translate import Snapshot, Translation
from hanzo_edge.providers.kubernetes.kubeconfig import KubeConfigError, KubeConnection, resolve_connection
from hanzo_edge.providers.kubernetes.provider_loop import translated_configurations
from hanzo_edge.providers.kubernetes.resources import CRD_RESOURCES, ENDPOINT_SLICES, NODES, SECRETS, SERVICES
from hanzo_edge.providers.kubernetes.selectors import SelectorError, parse_selector
from hanzo_edge.providers.kubernetes.watch import (
    INITIAL_SYNC_TIMEOUT,
    BackoffPolicy,
    ClusterWatcher,
    WatchTarget,
)

__all__ = ["PROVIDER_NAME", "CRDProviderSettings", "KubernetesCRDProvider", "from_static"]

logger = logging.getLogger("hanzo_edge.providers.kubernetes")

SECRETS_SELECTOR = "owner!=helm"
"""Traefik never reads Helm's release Secrets (large, and never TLS certificates)."""


@dataclass(frozen=True, slots=True)
class CRDProviderSettings:
    """``providers.kubernetesCRD`` as the provider uses it."""

    endpoint: str = ""
    token: str = ""
    cert_auth_file_path: str = ""
    namespaces: tuple[str, ...] = ()
    label_selector: str = ""
    throttle: float = 0.0
    initial_sync_timeout: float = INITIAL_SYNC_TIMEOUT
    """Not a Traefik option: how long the first configuration waits for the initial lists (see watch.py)."""
    disable_cluster_scope_resources: bool = False
    options: CRDOptions = field(default_factory=CRDOptions)

    @classmethod
    def from_config(cls, config: KubernetesCRD) -> CRDProviderSettings:
        return cls(
            endpoint=config.endpoint,
            token=config.token,
            cert_auth_file_path=config.cert_auth_file_path,
            namespaces=config.namespaces,
            label_selector=config.label_selector,
            throttle=config.throttle_duration,
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


class KubernetesCRDProvider:
    """A `Provider` for ``providers.kubernetesCRD`` (see the module docstring)."""

    name = PROVIDER_NAME

    def __init__(
        self,
        settings: CRDProviderSettings,
        *,
        connect: Callable[[CRDProviderSettings], KubeConnection] | None = None,
        policy: BackoffPolicy | None = None,
    ) -> None:
        self.settings = settings
        self._connect = connect or _connect
        self._policy = policy
        self._translator = CRDTranslator(settings.options)
        self._logged: set[str] = set()
        self.last_translation: Translation | None = None
        self.rebuild_seconds = 0.0
        """How long the last translation took (the benchmark reads it)."""

    def __repr__(self) -> str:
        return f"<KubernetesCRDProvider endpoint={self.settings.endpoint!r} namespaces={self.settings.namespaces}>"

    async def watch(self) -> AsyncIterator[Configuration]:
        """Yield a configuration once the initial lists are done, then one per snapshot of changes.

        Raises:
            ConfigError: the connection settings or the label selector are unusable.
        """
        settings = self.settings
        try:
            parse_selector(settings.label_selector)
        except SelectorError as exc:
            raise ConfigError("providers.kubernetesCRD.labelSelector", f"invalid label selector: {exc}") from None
        try:
            connection = self._connect(settings)
        except KubeConfigError as exc:
            raise ConfigError("providers.kubernetesCRD", str(exc)) from None
        logger.info("kubernetes: CRD provider connecting to %s (%s)", connection.server, connection.source)
        if settings.options.allow_external_name_services:
            logger.warning(
                "kubernetes: ExternalName service loading is enabled, please ensure that this is expected "
                "(see allowExternalNameServices option)"
            )
        if settings.options.allow_cross_namespace:
            logger.warning(
                "kubernetes: cross-namespace reference between IngressRoutes and resources is enabled, please "
                "ensure that this is expected (see allowCrossNamespace option)"
            )
        client = KubeClient(connection)
        watcher = ClusterWatcher(
            client,
            settings.targets(),
            settings.namespaces,
            throttle=settings.throttle,
            initial_timeout=settings.initial_sync_timeout,
            policy=self._policy,
        )
        try:
            async for config in translated_configurations(
                watcher,
                self._translator.translate,
                self._accept,
                lambda: self.last_translation is not None,
                label="CRD provider",
                failure="kubernetes: cannot translate the CRD snapshot; keeping the last configuration",
                initial_timeout=settings.initial_sync_timeout,
            ):
                yield config
        finally:
            await client.close()

    def _accept(self, translation: Translation, objects: Snapshot, seconds: float) -> None:
        self.rebuild_seconds = seconds
        self.last_translation = translation
        self._log_errors(translation)

    def _log_errors(self, translation: Translation) -> None:
        """Log each object error once while it lasts (every snapshot would otherwise repeat it)."""
        current = {str(error) for error in translation.errors}
        for message in sorted(current - self._logged):
            if ": warning: " in message:
                logger.warning("kubernetescrd: %s", message.replace(": warning: ", ": ", 1))
            else:
                logger.error("kubernetescrd: %s", message)
        self._logged = current


def _connect(settings: CRDProviderSettings) -> KubeConnection:
    return resolve_connection(settings.endpoint, settings.token, settings.cert_auth_file_path)


def from_static(static: StaticConfig, hooks: ProviderHooks) -> KubernetesCRDProvider | None:
    """Return the provider ``providers.kubernetesCRD`` asks for, or None when it is not set."""
    config = static.providers.kubernetes_crd
    if config is None:
        return None
    return KubernetesCRDProvider(CRDProviderSettings.from_config(config))
