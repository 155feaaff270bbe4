"""What both Kubernetes providers share: their state, the connect preamble, the watch loop, error logging, one-shot.

The Ingress and CRD providers differ in what they watch (``settings.targets()``), how they translate and what they
do after a translation (hooks); the constructor, validating the label selector, resolving the connection, the
start-up log lines, opening the client and the watcher, running the watch loop (``provider_loop.py``) and logging
object errors once while they last are the same and live here once.
:meth:`KubeProvider.translate_once` serves ``ingress check``: one complete snapshot, translated, or None when the
cluster did not answer every initial list in time.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast

from hanzo_edge.config.dynamic import Configuration
from hanzo_edge.config.errors import ConfigError
from hanzo_edge.config.static import KubernetesCRD, KubernetesIngress
from hanzo_edge.providers.kubernetes.cache import ClusterSnapshot
from hanzo_edge.providers.kubernetes.client import KubeClient
from hanzo_edge.providers.kubernetes.ingress_translate import Snapshot, Translation
from hanzo_edge.providers.kubernetes.kubeconfig import KubeConfigError, KubeConnection
from hanzo_edge.providers.kubernetes.provider_loop import translated_configurations
from hanzo_edge.providers.kubernetes.selectors import SelectorError, parse_selector
from hanzo_edge.providers.kubernetes.watch import INITIAL_SYNC_TIMEOUT, BackoffPolicy, ClusterWatcher, WatchTarget

__all__ = ["SECRETS_SELECTOR", "ConnectionSettings", "KubeProvider", "Translator", "WatchSettings", "connection_fields"]

logger = logging.getLogger("hanzo_edge.providers.kubernetes")

SECRETS_SELECTOR = "owner!=helm"
"""Traefik never reads Helm's release Secrets (large, and never TLS certificates)."""


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """What both providers' settings hold for connecting and watching (their own options come in subclasses)."""

    endpoint: str = ""
    token: str = ""
    cert_auth_file_path: str = ""
    namespaces: tuple[str, ...] = ()
    label_selector: str = ""
    throttle: float = 0.0
    initial_sync_timeout: float = INITIAL_SYNC_TIMEOUT
    """Not a Traefik option: how long the first configuration waits for the initial lists (see watch.py)."""


def connection_fields(config: KubernetesCRD | KubernetesIngress) -> dict[str, Any]:
    """The :class:`ConnectionSettings` fields of a provider's static configuration, as keyword arguments."""
    return {
        "endpoint": config.endpoint,
        "token": config.token,
        "cert_auth_file_path": config.cert_auth_file_path,
        "namespaces": config.namespaces,
        "label_selector": config.label_selector,
        "throttle": config.throttle_duration,
    }


class _Options(Protocol):
    @property
    def allow_external_name_services(self) -> bool: ...


class Translator(Protocol):
    """``IngressTranslator``/``CRDTranslator``: one cluster snapshot to a translation."""

    def translate(self, objects: Snapshot) -> Translation: ...


class WatchSettings(Protocol):
    """The settings both providers' connect preamble reads (``IngressProviderSettings``, ``CRDProviderSettings``)."""

    @property
    def endpoint(self) -> str: ...
    @property
    def namespaces(self) -> tuple[str, ...]: ...
    @property
    def label_selector(self) -> str: ...
    @property
    def throttle(self) -> float: ...
    @property
    def initial_sync_timeout(self) -> float: ...
    @property
    def options(self) -> _Options: ...

    def targets(self) -> list[WatchTarget]: ...


_S = TypeVar("_S", bound=WatchSettings)


class KubeProvider(Generic[_S]):
    """The base of a Kubernetes provider; a subclass names itself in the class attributes below.

    ``name`` is its provider name (``kubernetescrd``, the ``@`` suffix); ``config_path`` is its static option
    (``providers.kubernetesCRD``), the location of its configuration errors; ``selector_problem`` starts the
    message of an invalid ``labelSelector``; ``label`` names it in log lines and ``log_prefix`` starts each object
    error it logs; ``snapshot_noun`` names what a failed translation was of. The hooks (``_serving``, ``_accept``,
    ``_stopped``) let a provider add its own work around the shared watch loop.
    """

    name: str
    config_path: ClassVar[str]
    selector_problem: ClassVar[str] = "invalid label selector"
    label: ClassVar[str]
    log_prefix: ClassVar[str]
    snapshot_noun: ClassVar[str] = "cluster snapshot"

    def __init__(
        self,
        settings: _S,
        *,
        connect: Callable[[_S], KubeConnection] | None = None,
        policy: BackoffPolicy | None = None,
    ) -> None:
        self.settings = settings
        self._translator = self._new_translator(settings)
        self._connect = connect or self._default_connect
        self._policy = policy
        self._logged: set[str] = set()
        self.last_translation: Translation | None = None
        self.sync_failures: tuple[str, ...] = ()
        """After :meth:`translate_once` returned None: the distinct errors of the initial lists that did not finish
        (``401 Unauthorized: ...``), each once; empty when they only timed out."""
        self.rebuild_seconds = 0.0
        """How long the last translation took (the benchmark reads it)."""

    def __repr__(self) -> str:
        settings = self.settings
        return f"<{type(self).__name__} endpoint={settings.endpoint!r} namespaces={settings.namespaces}>"

    # -- what a provider says about itself -------------------------------------------------------------------------
    def _new_translator(self, settings: _S) -> Translator:
        raise NotImplementedError

    def _default_connect(self, settings: _S) -> KubeConnection:
        raise NotImplementedError

    def _serving(self, client: KubeClient) -> None:
        """Called once connected, before the first snapshot (the Ingress provider starts its status writer)."""

    def _accept(self, translation: Translation, objects: Snapshot, seconds: float) -> None:
        """Called with each translation the watch loop accepted, before its configuration is yielded."""
        self._record(translation, seconds)

    async def _stopped(self) -> None:
        """Called when the watch ends, before the client closes."""

    # -- the shared work -------------------------------------------------------------------------------------------
    async def watch(self) -> AsyncIterator[Configuration]:
        """Yield a configuration once the initial lists are done, then one per snapshot of changes.

        Raises:
            ConfigError: the connection settings or the label selector are unusable.
        """
        client, watcher = self._open()
        self._serving(client)
        try:
            async for config in translated_configurations(
                watcher,
                self._translator.translate,
                self._accept,
                lambda: self.last_translation is not None,
                label=self.label,
                failure=f"kubernetes: cannot translate the {self.snapshot_noun}; keeping the last configuration",
                initial_timeout=self.settings.initial_sync_timeout,
            ):
                yield config
        finally:
            await self._stopped()
            await client.close()

    def _open(self) -> tuple[KubeClient, ClusterWatcher]:
        """Validate the settings, connect and return the client with a watcher of ``settings.targets()``.

        Raises:
            ConfigError: the connection settings or the label selector are unusable.
        """
        settings = self.settings
        try:
            parse_selector(settings.label_selector)
        except SelectorError as exc:
            raise ConfigError(f"{self.config_path}.labelSelector", f"{self.selector_problem}: {exc}") from None
        try:
            connection = self._connect(settings)
        except KubeConfigError as exc:
            raise ConfigError(self.config_path, str(exc)) from None
        logger.info("kubernetes: %s connecting to %s (%s)", self.label, connection.server, connection.source)
        if settings.options.allow_external_name_services:
            logger.warning(
                "kubernetes: ExternalName service loading is enabled, please ensure that this is expected "
                "(see allowExternalNameServices option)"
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
        return client, watcher

    async def translate_once(self) -> Translation | None:
        """Connect, take the first snapshot and translate it; None when it is incomplete (an initial list did not
        finish within ``initial_sync_timeout``: the cluster is unreachable or too slow). Nothing keeps watching.

        Raises:
            ConfigError: the connection settings or the label selector are unusable.
        """
        client, watcher = self._open()
        # An async generator: closing it stops every watch task it started.
        snapshots = cast(AsyncGenerator[ClusterSnapshot, None], watcher.snapshots())
        try:
            snapshot = await anext(snapshots, None)
            if snapshot is None or not snapshot.complete:
                # Why, when the cluster did answer (401, 403 from RBAC...): the watch logs that say so are quiet here.
                self.sync_failures = _grouped(w.last_error for w in watcher.watches if w.last_error)
                return None
            objects = {resource.plural: snapshot.objects(resource) for resource in snapshot.resources}
            return self._translator.translate(objects)
        finally:
            await snapshots.aclose()
            await client.close()

    def _record(self, translation: Translation, seconds: float) -> None:
        """Keep a translation the watch loop accepted, and log its object errors once while they last."""
        self.rebuild_seconds = seconds
        self.last_translation = translation
        current = {str(error) for error in translation.errors}
        for message in sorted(current - self._logged):
            if ": warning: " in message:
                logger.warning("%s: %s", self.log_prefix, message.replace(": warning: ", ": ", 1))
            else:
                logger.error("%s: %s", self.log_prefix, message)
        self._logged = current


def _grouped(errors: Iterable[str]) -> tuple[str, ...]:
    """One line per distinct error: ``list <resource>: 401 Unauthorized: ...`` of fourteen resources is
    ``401 Unauthorized: ... (list ingressroutes.traefik.io and 13 more)``."""
    by_error: dict[str, list[str]] = {}
    for error in errors:
        what, sep, rest = error.partition(": ")
        if not sep or not what.startswith(("list ", "watch ")):
            what, rest = "", error
        by_error.setdefault(rest, []).append(what)
    lines = []
    for rest, whats in by_error.items():
        named = [what for what in whats if what]
        if not named:
            lines.append(rest)
            continue
        more = f" and {len(whats) - 1} more" if len(whats) > 1 else ""
        lines.append(f"{rest} ({named[0]}{more})")
    return tuple(lines)
