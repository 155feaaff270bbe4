"""The runtime configuration: every provider's snapshot merged once per generation, as Traefik's ``runtime``.

Why one stage: the table builder, ``/api/*``, ``ingress check``/``explain`` and the metrics bookkeeping all need the
same facts about the dynamic configuration: qualified names (``name@provider``), a router's entrypoints once the
defaults apply, its priority once the default (the rule's length) applies, which routers use a service or a
middleware, and each object's status and errors. :func:`merge` derives what depends on the configuration alone, in
one pass over the snapshots; the builders then record what went wrong in the same records
(:meth:`Info.add_error`, Traefik's ``runtime.RouterInfo.AddError``); everything else only reads them.

A :class:`RuntimeConfig` belongs to one build: its records collect that build's errors, so each build merges anew
(a merge is a dict of records, far cheaper than the build itself).

TCP and UDP objects are merged the same way (their priorities with Traefik's TCP rule: ``HostSNI(`*`)`` alone
gets -1); ``routing/tcp_build.py`` builds them.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from hanzo_edge.config.dynamic import Configuration, Router, ServersTransport
from hanzo_edge.config.middlewares import Middleware
from hanzo_edge.config.services import Service
from hanzo_edge.config.static import StaticConfig
from hanzo_edge.config.tcp import TCPMiddleware, TCPRouter, TCPServersTransport, TCPService, UDPRouter, UDPService

__all__ = [
    "DISABLED",
    "ENABLED",
    "INTERNAL",
    "WARNING",
    "Info",
    "MiddlewareInfo",
    "RouterInfo",
    "RuntimeConfig",
    "ServiceInfo",
    "default_entry_points",
    "default_priority",
    "merge",
    "qualify",
    "tcp_default_priority",
    "udp_entry_points",
]

#: Statuses as Traefik's API shows them (``runtime.StatusEnabled``...).
ENABLED = "enabled"
WARNING = "warning"
DISABLED = "disabled"

#: The provider of what the static configuration implies (ping, metrics, API, entrypoint redirections).
INTERNAL = "internal"

ModelT = TypeVar("ModelT")


def qualify(name: str, provider: str) -> str:
    """Return ``name@provider`` unless ``name`` is already qualified."""
    return name if "@" in name else f"{name}@{provider}"


def default_entry_points(static: StaticConfig) -> list[str]:
    """Entrypoints a router without ``entryPoints`` attaches to (``asDefault`` ones, else all but ``traefik``)."""
    eps = {name: ep for name, ep in static.entry_points.items() if not ep.is_udp}
    chosen = [name for name, ep in eps.items() if ep.as_default]
    return chosen or [name for name in eps if name != "traefik"]


def udp_entry_points(static: StaticConfig) -> list[str]:
    """The ``/udp`` entrypoints: where a UDP router without ``entryPoints`` attaches (Traefik: all of them)."""
    return [name for name, ep in static.entry_points.items() if ep.is_udp]


def default_priority(rule: str) -> int:
    """Traefik's default router priority: the length of the rule in bytes."""
    return len(rule.encode("utf-8", "surrogatepass"))


def tcp_default_priority(rule: str) -> int:
    """Traefik's ``GetRulePriority`` for TCP routers: -1 for exactly ``HostSNI(`*`)``, else the rule's length."""
    return -1 if rule == "HostSNI(`*`)" else default_priority(rule)


@dataclass(slots=True, eq=False)
class Info(Generic[ModelT]):
    """One object of the runtime configuration: its typed model, provider, status, errors and users.

    ``model`` is None only for a placeholder: an ``@internal`` service or middleware that routers use but no
    snapshot defines. ``used_by`` lists the routers naming it, in configuration order (readers sort).
    """

    name: str
    provider: str
    model: ModelT
    status: str = ENABLED
    errors: list[str] = field(default_factory=list)
    used_by: list[str] = field(default_factory=list)

    def add_error(self, message: str, critical: bool) -> None:
        """Record an error once (Traefik's ``AddError``): a critical one disables, another one warns."""
        if message in self.errors:
            return
        self.errors.append(message)
        if critical:
            self.status = DISABLED
        elif self.status != DISABLED:
            self.status = WARNING


@dataclass(slots=True, eq=False)
class RouterInfo(Info[ModelT]):
    """A router with what merging settled: ``entry_points`` (defaults applied), ``priority`` (default applied) and
    ``service`` (qualified, "" when the router names none). ``using`` is filled by the build: the entrypoints it
    serves on. ``internal``: added by the build for the internal provider, not by a snapshot."""

    entry_points: tuple[str, ...] = ()
    priority: int = 0
    service: str = ""
    using: list[str] = field(default_factory=list)
    internal: bool = False


ServiceInfo = Info[Service | None]
MiddlewareInfo = Info[Middleware | None]


@dataclass(slots=True, eq=False)
class RuntimeConfig:
    """Every object of every provider by qualified name (see the module docstring)."""

    routers: dict[str, RouterInfo[Router]] = field(default_factory=dict)
    services: dict[str, ServiceInfo] = field(default_factory=dict)
    middlewares: dict[str, MiddlewareInfo] = field(default_factory=dict)
    servers_transports: dict[str, ServersTransport] = field(default_factory=dict)
    tcp_routers: dict[str, RouterInfo[TCPRouter]] = field(default_factory=dict)
    tcp_services: dict[str, Info[TCPService]] = field(default_factory=dict)
    tcp_middlewares: dict[str, Info[TCPMiddleware]] = field(default_factory=dict)
    udp_routers: dict[str, RouterInfo[UDPRouter]] = field(default_factory=dict)
    udp_services: dict[str, Info[UDPService]] = field(default_factory=dict)
    tcp_servers_transports: dict[str, TCPServersTransport] = field(default_factory=dict)

    def use_service(self, name: str, router: str) -> None:
        """Note that ``router`` uses service ``name`` (qualified); an ``@internal`` one gets a placeholder."""
        info = self.services.get(name)
        if info is None:
            if not name.endswith("@internal"):
                return
            info = self.services[name] = Info(name, INTERNAL, None)
        info.used_by.append(router)

    def use_middleware(self, name: str, router: str) -> None:
        """Note that ``router`` uses middleware ``name`` (qualified); an ``@internal`` one gets a placeholder."""
        info = self.middlewares.get(name)
        if info is None:
            if not name.endswith("@internal"):
                return
            info = self.middlewares[name] = Info(name, INTERNAL, None)
        info.used_by.append(router)

    def server_urls(self) -> dict[str, list[str]]:
        """The server URLs of every ``loadBalancer`` service (what the metrics keep series for), by service."""
        urls = self.server_urls_steps(_never_spent)
        while True:
            try:
                next(urls)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    def server_urls_steps(self, spent: Callable[[], bool]) -> Generator[None, None, dict[str, list[str]]]:
        """:meth:`server_urls` yielding whenever ``spent()`` says so (read every :data:`MERGE_CHECK_EVERY` services):
        10,000 services were a 2-5 ms block of a reload's last slices when metrics are on."""
        urls: dict[str, list[str]] = {}
        for count, (name, info) in enumerate(self.services.items(), 1):
            if info.model is not None and info.model.load_balancer is not None:
                urls[name] = [server.url for server in info.model.load_balancer.servers]
            if count % MERGE_CHECK_EVERY == 0 and spent():
                yield
        return urls


def merge(
    snapshots: Mapping[str, Configuration],
    static: StaticConfig | None = None,
    *,
    entry_point_defaults: Sequence[str] | None = None,
    udp_entry_point_defaults: Sequence[str] | None = None,
) -> RuntimeConfig:
    """Merge ``{provider: Configuration}`` into one :class:`RuntimeConfig` (see the module docstring).

    A router without ``entryPoints`` gets ``entry_point_defaults``, else :func:`default_entry_points` of ``static``
    (no static configuration: none). A UDP router without ``entryPoints`` gets ``udp_entry_point_defaults``, else
    every ``/udp`` entrypoint of ``static``. A later provider's object replaces an earlier one of the same name.
    """
    # A few records per router: with the cyclic GC running, its full passes would rescan the whole configuration
    # again and again while nothing made here is garbage yet (as in the table build).
    enabled = gc.isenabled()
    gc.disable()
    try:
        steps = merge_steps(
            snapshots,
            static,
            entry_point_defaults=entry_point_defaults,
            udp_entry_point_defaults=udp_entry_point_defaults,
        )
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
    finally:
        if enabled:
            gc.enable()


MERGE_CHECK_EVERY = 64
"""Objects :func:`merge_steps` merges between two calls of its ``spent`` check (a few microseconds each)."""


def _never_spent() -> bool:
    return False


def merge_steps(
    snapshots: Mapping[str, Configuration],
    static: StaticConfig | None = None,
    *,
    entry_point_defaults: Sequence[str] | None = None,
    udp_entry_point_defaults: Sequence[str] | None = None,
    spent: Callable[[], bool] = _never_spent,
) -> Generator[None, None, RuntimeConfig]:
    """:func:`merge` as a generator that yields whenever ``spent()`` says the slice has used its time (checked every
    :data:`MERGE_CHECK_EVERY` objects), so a reload can merge on the event loop in slices (``routing/slices.py``
    passes its ``slice_spent``; config may not import routing); its result is the same."""
    if entry_point_defaults is not None:
        defaults = tuple(entry_point_defaults)
    else:
        defaults = tuple(default_entry_points(static)) if static is not None else ()
    if udp_entry_point_defaults is not None:
        udp_defaults = tuple(udp_entry_point_defaults)
    else:
        udp_defaults = tuple(udp_entry_points(static)) if static is not None else ()
    runtime = yield from _merge(snapshots, defaults, spent)
    _merge_layer4(snapshots, runtime, defaults, udp_defaults)
    return runtime


def _merge(
    snapshots: Mapping[str, Configuration], defaults: tuple[str, ...], spent: Callable[[], bool]
) -> Generator[None, None, RuntimeConfig]:
    runtime = RuntimeConfig()
    services = runtime.services
    middlewares = runtime.middlewares
    # Services and middlewares first: a router of any provider may use those of another.
    for provider, config in snapshots.items():
        http = config.http
        for name, transport in http.servers_transports.items():
            runtime.servers_transports[qualify(name, provider)] = transport
        for count, (name, service) in enumerate(http.services.items(), 1):
            qname = qualify(name, provider)
            services[qname] = Info(qname, provider, service)
            if count % MERGE_CHECK_EVERY == 0 and spent():
                yield
        for name, middleware in http.middlewares.items():
            qname = qualify(name, provider)
            middlewares[qname] = Info(qname, provider, middleware)
    routers = runtime.routers
    for provider, config in snapshots.items():
        for count, (name, router) in enumerate(config.http.routers.items(), 1):
            if count % MERGE_CHECK_EVERY == 0 and spent():
                yield
            qname = qualify(name, provider)
            # Interned: many routers name one service, and each record keeps the qualified name (one string, not
            # one per router: 10,000 routers sharing a service held 10,000 copies).
            service_name = sys.intern(qualify(router.service, provider)) if router.service else ""
            routers[qname] = RouterInfo(
                qname,
                provider,
                router,
                ENABLED,
                [],
                [],
                router.entry_points or defaults,
                router.priority or default_priority(router.rule),
                service_name,
            )
            if service_name:
                runtime.use_service(service_name, qname)
            for middleware_name in router.middlewares:
                runtime.use_middleware(qualify(middleware_name, provider), qname)
    return runtime


def _merge_layer4(
    snapshots: Mapping[str, Configuration],
    runtime: RuntimeConfig,
    defaults: tuple[str, ...],
    udp_defaults: tuple[str, ...],
) -> None:
    """TCP and UDP objects: qualified, default entrypoints and priorities applied, used-by filled."""
    for provider, config in snapshots.items():
        tcp = config.tcp
        if tcp is not None:
            for name, tcp_service in tcp.services.items():
                qname = qualify(name, provider)
                runtime.tcp_services[qname] = Info(qname, provider, tcp_service)
            for name, tcp_middleware in tcp.middlewares.items():
                qname = qualify(name, provider)
                runtime.tcp_middlewares[qname] = Info(qname, provider, tcp_middleware)
            for name, transport in tcp.servers_transports.items():
                runtime.tcp_servers_transports[qualify(name, provider)] = transport
        udp = config.udp
        if udp is not None:
            for name, udp_service in udp.services.items():
                qname = qualify(name, provider)
                runtime.udp_services[qname] = Info(qname, provider, udp_service)
    for provider, config in snapshots.items():
        tcp = config.tcp
        if tcp is not None:
            for name, tcp_router in tcp.routers.items():
                qname = qualify(name, provider)
                service = qualify(tcp_router.service, provider) if tcp_router.service else ""
                runtime.tcp_routers[qname] = RouterInfo(
                    qname,
                    provider,
                    tcp_router,
                    entry_points=tcp_router.entry_points or defaults,
                    priority=tcp_router.priority or tcp_default_priority(tcp_router.rule),
                    service=service,
                )
                tcp_service_info = runtime.tcp_services.get(service)
                if tcp_service_info is not None:
                    tcp_service_info.used_by.append(qname)
                for middleware in tcp_router.middlewares:
                    tcp_middleware_info = runtime.tcp_middlewares.get(qualify(middleware, provider))
                    if tcp_middleware_info is not None:
                        tcp_middleware_info.used_by.append(qname)
        udp = config.udp
        if udp is not None:
            for name, udp_router in udp.routers.items():
                qname = qualify(name, provider)
                service = qualify(udp_router.service, provider) if udp_router.service else ""
                runtime.udp_routers[qname] = RouterInfo(
                    qname, provider, udp_router, entry_points=udp_router.entry_points or udp_defaults, service=service
                )
                udp_service_info = runtime.udp_services.get(service)
                if udp_service_info is not None:
                    udp_service_info.used_by.append(qname)
