"""What ``check`` and ``explain`` share: load the static and dynamic configuration and build the tables offline.

The tables are built by the very method the server uses (:meth:`IngressApp.build`: the same internal routers and
services, default entrypoints, entrypoint middlewares and TLS entrypoints), with a fresh
:class:`~hanzo_edge.http.pool.PoolRegistry`: pools only connect when a request is proxied, so nothing touches the
network. Tracing is left out of the offline app: it only wraps handlers, and would start an exporter process.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import msgspec

from hanzo_edge.app import IngressApp
from hanzo_edge.config.dynamic import Configuration, Router
from hanzo_edge.config.errors import ConfigError, ConfigWarning
from hanzo_edge.config.loader import load_static
from hanzo_edge.config.runtime import RouterInfo, RuntimeConfig, ServiceInfo
from hanzo_edge.config.static import StaticConfig
from hanzo_edge.providers.base import ProviderHooks
from hanzo_edge.providers.file import read_snapshot
from hanzo_edge.routing.build import BuildResult

__all__ = ["Dynamic", "Loaded", "build_offline", "load_dynamic", "load_static_config"]


def load_static_config(args: Sequence[str], env: Mapping[str, str]) -> StaticConfig:
    """Load the static configuration from ``args`` and ``env`` exactly as ``ingress`` does (raises ConfigError)."""
    return load_static(list(args), env)


@dataclass(slots=True)
class Dynamic:
    """The provider snapshots as the server would start with them (``{"file": Configuration}`` when the file
    provider is set), the configuration warnings, and the files left out because they do not load (as the server
    leaves them out at startup: ``file:line`` in each error)."""

    snapshots: dict[str, Configuration] = field(default_factory=dict)
    warnings: list[ConfigWarning] = field(default_factory=list)
    errors: list[ConfigError] = field(default_factory=list)


def load_dynamic(static: StaticConfig) -> Dynamic:
    """Read the file provider's configuration as ``ingress`` does at startup.

    Raises ConfigError only for a static mistake (both or neither of filename and directory).
    """
    file_cfg = static.providers.file
    dynamic = Dynamic()
    if file_cfg is not None and (file_cfg.filename or file_cfg.directory):
        snapshot = read_snapshot(file_cfg.filename, file_cfg.directory)
        dynamic = Dynamic({"file": snapshot.config}, list(snapshot.warnings), list(snapshot.errors))
    gateway_cfg = static.providers.gateway
    if gateway_cfg is not None and gateway_cfg.filename:
        # providers.gateway: the gateway.json as the gateway provider yields it (errors: gateway check's lines).
        from hanzo_edge.providers.gateway_provider import from_static

        provider = from_static(static, ProviderHooks())
        if provider is not None:
            config, lines = provider.read()
            if config is not None:
                dynamic.snapshots["gateway"] = config
            dynamic.errors.extend(
                ConfigError("providers.gateway", line, location=gateway_cfg.filename) for line in lines
            )
    return dynamic


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass(slots=True)
class Loaded:
    """The configuration as the server would hold it after its first build.

    ``routers`` holds the runtime records of the providers' routers (the internal provider's left out) and
    ``services`` those of every service, by qualified name, with the status and errors the build gave them;
    ``logged`` holds the ``(levelname, message)`` of what the build logged at WARNING or above (e.g. a redirection
    to a missing entrypoint).
    """

    static: StaticConfig
    snapshots: dict[str, Configuration]
    build: BuildResult
    default_entry_points: list[str]
    entry_point_middlewares: dict[str, tuple[str, ...]]
    routers: dict[str, RouterInfo[Router]] = field(default_factory=dict)
    services: dict[str, ServiceInfo] = field(default_factory=dict)
    logged: list[tuple[str, str]] = field(default_factory=list)

    @property
    def runtime(self) -> RuntimeConfig:
        """The runtime configuration of the build."""
        return self.build.runtime

    def router_entry_points(self, qualified: str) -> tuple[str, ...]:
        """Return the entrypoints router ``qualified`` asks for (its own, else the default ones)."""
        info = self.routers.get(qualified)
        return () if info is None else info.entry_points


def build_offline(static: StaticConfig, snapshots: dict[str, Configuration]) -> Loaded:
    """Build the routing tables of ``snapshots`` as :meth:`IngressApp.rebuild` would, without serving."""
    app = IngressApp(msgspec.structs.replace(static, tracing=None))
    capture = _Capture()
    logger = logging.getLogger("hanzo_edge")
    saved = logger.propagate
    logger.addHandler(capture)
    logger.propagate = False
    try:
        default_eps = app.default_entry_points()
        ep_middlewares = app.entry_point_middlewares()
        result = app.build(snapshots)
    finally:
        logger.removeHandler(capture)
        logger.propagate = saved
        app.pools.close()
    loaded = Loaded(static, snapshots, result, default_eps, ep_middlewares)
    loaded.logged = [(record.levelname, record.getMessage()) for record in capture.records]
    runtime = result.runtime
    loaded.routers = {name: info for name, info in runtime.routers.items() if not info.internal}
    loaded.services = runtime.services
    return loaded
