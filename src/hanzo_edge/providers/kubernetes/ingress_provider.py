"""The ``kubernetes`` provider (``providers.kubernetesIngress``): Ingresses to routers, as Traefik v3.6.

It connects as Traefik does (in cluster, ``KUBECONFIG``, or the ``endpoint``/``token``/``certAuthFilePath`` flags:
``kubeconfig.py``), lists then watches what the translation reads (``watch.py``: Ingresses with the
``labelSelector``, IngressClasses unless cluster-scoped lookups are off, Services, EndpointSlices, Secrets not
owned by Helm, and Nodes only when ``ingressEndpoint.publishedService`` may need them), and yields one whole
`Configuration` per cluster snapshot (``ingress_translate.py``), the first once every initial list is done.

Object errors (an Ingress that does not decode, a missing Service...) are logged at ERROR once each while they
last (every snapshot would otherwise repeat them). With ``ingressEndpoint`` set, the status of the Ingresses
served is written in the background (``status.py``), never holding up a snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hanzo_edge.config.static import KubernetesIngress, StaticConfig
from hanzo_edge.providers.base import ProviderHooks
from hanzo_edge.providers.kubernetes.client import KubeClient
from hanzo_edge.providers.kubernetes.ingress_translate import IngressOptions, IngressTranslator, Snapshot, Translation
from hanzo_edge.providers.kubernetes.kubeconfig import KubeConnection, TokenSource, resolve_connection
from hanzo_edge.providers.kubernetes.provider_common import (
    SECRETS_SELECTOR,
    ConnectionSettings,
    KubeProvider,
    connection_fields,
)
from hanzo_edge.providers.kubernetes.resources import (
    ENDPOINT_SLICES,
    INGRESS_CLASSES,
    INGRESSES,
    NODES,
    SECRETS,
    SERVICES,
)
from hanzo_edge.providers.kubernetes.status import EndpointOptions, StatusError, StatusWriter, desired_status
from hanzo_edge.providers.kubernetes.watch import WatchTarget

__all__ = ["PROVIDER_NAME", "SECRETS_SELECTOR", "IngressProviderSettings", "KubernetesIngressProvider", "from_static"]

logger = logging.getLogger("hanzo_edge.providers.kubernetes")

PROVIDER_NAME = "kubernetes"


@dataclass(frozen=True, slots=True)
class IngressProviderSettings(ConnectionSettings):
    """``providers.kubernetesIngress`` as the provider uses it."""

    options: IngressOptions = field(default_factory=IngressOptions)
    ingress_endpoint: EndpointOptions | None = None

    @classmethod
    def from_config(cls, config: KubernetesIngress) -> IngressProviderSettings:
        endpoint = config.ingress_endpoint
        return cls(
            **connection_fields(config),
            options=IngressOptions(
                ingress_class=config.ingress_class,
                allow_empty_services=config.allow_empty_services,
                allow_external_name_services=config.allow_external_name_services,
                native_lb_by_default=config.native_lb_by_default,
                disable_ingress_class_lookup=config.disable_ingress_class_lookup,
                disable_cluster_scope_resources=config.disable_cluster_scope_resources,
                strict_prefix_matching=config.strict_prefix_matching,
            ),
            ingress_endpoint=None
            if endpoint is None
            else EndpointOptions(endpoint.ip, endpoint.hostname, endpoint.published_service),
        )

    def targets(self) -> list[WatchTarget]:
        """What to watch (see the module docstring)."""
        options = self.options
        targets = [
            WatchTarget(INGRESSES, self.label_selector or None),
            WatchTarget(SERVICES),
            WatchTarget(ENDPOINT_SLICES),
            WatchTarget(SECRETS, SECRETS_SELECTOR),
        ]
        if not (options.disable_ingress_class_lookup or options.disable_cluster_scope_resources):
            targets.append(WatchTarget(INGRESS_CLASSES))
        endpoint = self.ingress_endpoint
        if endpoint is not None and endpoint.published_service and not options.disable_cluster_scope_resources:
            targets.append(WatchTarget(NODES))
        return targets


class KubernetesIngressProvider(KubeProvider[IngressProviderSettings]):
    """A `Provider` for ``providers.kubernetesIngress`` (see the module docstring and ``provider_common.py``)."""

    name = PROVIDER_NAME
    config_path = "providers.kubernetesIngress"
    selector_problem = "invalid ingress label selector"
    label = "ingress provider"
    log_prefix = "kubernetes"

    _status: _StatusLoop | None = None

    def _new_translator(self, settings: IngressProviderSettings) -> IngressTranslator:
        return IngressTranslator(settings.options)

    def _default_connect(self, settings: IngressProviderSettings) -> KubeConnection:
        return _connect(settings)

    def _serving(self, client: KubeClient) -> None:
        endpoint = self.settings.ingress_endpoint
        self._status = _StatusLoop(client, endpoint) if endpoint is not None else None

    def _accept(self, translation: Translation, objects: Snapshot, seconds: float) -> None:
        self._record(translation, seconds)
        if self._status is not None:
            self._status.submit(translation, objects)

    async def _stopped(self) -> None:
        status, self._status = self._status, None
        if status is not None:
            await status.close()


class _StatusLoop:
    """Writes Ingress statuses in the background, always for the newest snapshot submitted."""

    def __init__(self, client: KubeClient, endpoint: EndpointOptions) -> None:
        self._endpoint = endpoint
        self._writer = StatusWriter(lambda ns, name, obj: client.replace_status(INGRESSES, ns, name, obj))
        self._pending: tuple[Translation, Mapping[str, Mapping[tuple[str, str], Any]]] | None = None
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="kube-ingress-status")
        self._last_error = ""

    def submit(self, translation: Translation, objects: Mapping[str, Mapping[tuple[str, str], Any]]) -> None:
        self._pending = (translation, objects)
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            pending, self._pending = self._pending, None
            if pending is None:
                continue
            translation, objects = pending
            try:
                await self._write(translation, objects)
            except Exception:
                # Never let one bad snapshot end the status writes for good.
                logger.exception("kubernetes: error while updating ingress status")

    async def _write(self, translation: Translation, objects: Mapping[str, Mapping[tuple[str, str], Any]]) -> None:
        try:
            desired = desired_status(self._endpoint, objects.get("services", {}), objects.get("nodes"))
        except StatusError as exc:
            if str(exc) != self._last_error:
                logger.error("kubernetes: error while updating ingress status: %s", exc)
                self._last_error = str(exc)
            return
        self._last_error = ""
        if desired is not None:
            await self._writer.update(translation.status_targets, objects.get("ingresses", {}), desired)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def _connect(settings: IngressProviderSettings) -> KubeConnection:
    connection = resolve_connection(settings.endpoint, settings.token, settings.cert_auth_file_path)
    if connection.source == "flags" and settings.token and os.path.isfile(settings.token):
        # Traefik's token is a FileOrContent: a path to an existing file means the token is read from it (and
        # re-read as it rotates, like a service account token).
        connection = dataclasses.replace(connection, token=TokenSource(path=settings.token))
    return connection


def from_static(static: StaticConfig, hooks: ProviderHooks) -> KubernetesIngressProvider | None:
    """Return the provider ``providers.kubernetesIngress`` asks for, or None when it is not set."""
    config = static.providers.kubernetes_ingress
    if config is None:
        return None
    return KubernetesIngressProvider(IngressProviderSettings.from_config(config))
