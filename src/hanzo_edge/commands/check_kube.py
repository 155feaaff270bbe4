"""``ingress check`` and the Kubernetes providers: checked when their cluster answers, said so plainly when not.

A Kubernetes provider's configuration lives in the cluster, not in a file, so ``check`` reads it the only way there
is: it connects as ``ingress`` would (in cluster, ``KUBECONFIG`` or the ``endpoint``/``token`` flags), lists every
resource the provider watches once, translates that snapshot and adds it to the offline build, so its routers are
checked with the rest and its object errors are reported. Nothing keeps watching and nothing is written to the
cluster (the Ingress status writer never starts).

When the cluster cannot be asked (no connection settings usable here, or an initial list did not finish within
:data:`CHECK_SYNC_TIMEOUT`), the provider is reported as not checked with the reason, never counted as zero routers
in silence. That line is a warning: a check that passes means nothing was left out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from hanzo_edge.config.dynamic import Configuration
from hanzo_edge.config.errors import ConfigError
from hanzo_edge.config.static import StaticConfig
from hanzo_edge.providers.kubernetes.crd_provider import CRDProviderSettings, KubernetesCRDProvider
from hanzo_edge.providers.kubernetes.ingress_provider import IngressProviderSettings, KubernetesIngressProvider
from hanzo_edge.providers.kubernetes.provider_common import KubeProvider

__all__ = ["CHECK_SYNC_TIMEOUT", "KubeCheck", "check_kubernetes"]

CHECK_SYNC_TIMEOUT = 3.0
"""How long ``check`` waits for a cluster's initial lists (the server waits ``INITIAL_SYNC_TIMEOUT`` at startup)."""

_KUBE_LOGGER = "hanzo_edge.providers.kubernetes"
_FAILURES_SHOWN = 3  # distinct list errors named on a "not checked" line


@dataclass(slots=True)
class KubeCheck:
    """The snapshots of the providers whose cluster answered (by provider name) and the lines to print."""

    snapshots: dict[str, Configuration] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


def _providers(static: StaticConfig, timeout: float) -> list[KubeProvider[Any]]:
    """The configured Kubernetes providers, with the check's patience for the initial lists."""
    found: list[KubeProvider[Any]] = []
    ingress = static.providers.kubernetes_ingress
    if ingress is not None:
        settings = IngressProviderSettings.from_config(ingress)
        found.append(KubernetesIngressProvider(dataclasses.replace(settings, initial_sync_timeout=timeout)))
    crd = static.providers.kubernetes_crd
    if crd is not None:
        crd_settings = CRDProviderSettings.from_config(crd)
        found.append(KubernetesCRDProvider(dataclasses.replace(crd_settings, initial_sync_timeout=timeout)))
    return found


@contextmanager
def _quiet_watch_logs() -> Iterator[None]:
    """The watch layer's retry warnings (connection refused...) would repeat on stderr what the check line says."""
    logger = logging.getLogger(_KUBE_LOGGER)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


async def _check_one(provider: KubeProvider[Any]) -> KubeCheck:
    out = KubeCheck()
    path = provider.config_path
    try:
        translation = await provider.translate_once()
    except ConfigError as exc:
        if exc.path.endswith(".labelSelector"):
            out.lines.append(f"ERROR {exc}")  # a mistake in the configuration itself, cluster or not
        else:
            out.lines.append(
                f"WARNING {path}: not checked: {exc.message} (kubernetes providers are checked only when their "
                "cluster can be reached)"
            )
        return out
    if translation is None:
        # The first errors say why (a wrong token, RBAC refusing a list): "did not answer" alone would mislead.
        failures = provider.sync_failures
        why = f": {'; '.join(failures[:_FAILURES_SHOWN])}" if failures else ""
        more = f" (and {len(failures) - _FAILURES_SHOWN} more)" if len(failures) > _FAILURES_SHOWN else ""
        out.lines.append(
            f"WARNING {path}: not checked: the cluster did not answer every initial list within "
            f"{provider.settings.initial_sync_timeout:g}s{why}{more} (kubernetes providers are checked only when "
            "their cluster can be reached)"
        )
        return out
    out.snapshots[provider.name] = translation.config
    for error in translation.errors:
        message = str(error)
        if ": warning: " in message:
            out.lines.append(f"WARNING {provider.name}: {message.replace(': warning: ', ': ', 1)}")
        else:
            out.lines.append(f"ERROR {provider.name}: {message}")
    return out


def check_kubernetes(static: StaticConfig, timeout: float = CHECK_SYNC_TIMEOUT) -> KubeCheck:
    """Read every configured Kubernetes provider's cluster once (see the module docstring)."""
    out = KubeCheck()
    providers = _providers(static, timeout)
    if not providers:
        return out

    async def run() -> list[KubeCheck]:
        return list(await asyncio.gather(*(_check_one(provider) for provider in providers)))

    with _quiet_watch_logs():
        results = asyncio.run(run())
    for result in results:  # in provider order, whichever cluster answered first
        out.snapshots.update(result.snapshots)
        out.lines.extend(result.lines)
    return out
