"""Build service handlers from Traefik's service models, memoised across configuration generations.

Every kind is a handler, so composites wrap children: ``weighted``/``failover``/``mirroring`` reference other services
by name (resolved in the referencing provider unless qualified). Kinds are found by the type of their model in
``hanzo_edge.services.registry``, which also says what each references (Traefik's are registered at the end of this
module); this builder memoises, breaks reference cycles and records errors for all of them alike.
``highestRandomWeight`` hashes the client IP over its children (``hanzo_edge.services.hrw``).

A service's *identity* is its configuration, its servers transport and its children's identities; the next
generation reuses a handler whose identity is unchanged, and so keeps its state (balancer position, health, sticky
cookies, running health checks).

Each built service that runs background work (active health checks, passive recovery timers, mirrored requests)
owns a :class:`~hanzo_edge.services.generation.TaskScope`. Checks start only when the generation is activated
(:meth:`ServiceBuilder.activate`), so ``ingress check``/``explain`` can build without an event loop; a service that
the next generation drops has its scope cancelled (:func:`retire`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hanzo_edge.config._schema import struct_spec
from hanzo_edge.config.runtime import qualify
from hanzo_edge.config.services import (
    ExtensionService,
    Failover,
    HighestRandomWeight,
    LoadBalancer,
    Mirroring,
    Service,
    Sticky,
    WeightedRoundRobin,
)
from hanzo_edge.http.messages import Handler
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.http.proxy import server_target
from hanzo_edge.services.failover import Failover as FailoverHandler
from hanzo_edge.services.generation import TaskScope
from hanzo_edge.services.health import Probe
from hanzo_edge.services.health_probe import transport_probe
from hanzo_edge.services.hrw import HighestRandomWeight as HighestRandomWeightHandler
from hanzo_edge.services.loadbalancer import BuiltLoadBalancer, HealthCheckOptions, PassiveOptions, build_load_balancer
from hanzo_edge.services.mirroring import Mirroring as MirroringHandler
from hanzo_edge.services.registry import ServiceContext, ServiceKind, register_service, service_kind_of
from hanzo_edge.services.sticky import StickyCookie
from hanzo_edge.services.weighted import Weighted

__all__ = ["Identity", "ServiceBuilder", "retire", "service_of"]

Identity = tuple[Service, TransportOptions | None, tuple[object, ...]]
"""What a built service is memoised under: its model, its servers transport, its children's identities."""


class ServiceBuilder:
    """Builds (or reuses) the services of one generation on demand; see the module docstring."""

    def __init__(
        self,
        service_defs: Mapping[str, tuple[str, Service]],
        pools: PoolRegistry,
        transports: Mapping[str, TransportOptions],
        default_transport: TransportOptions,
        previous: Mapping[str, tuple[Identity, Handler, TaskScope | None]] | None,
        add_error: Callable[[str, str], None],
        *,
        on_server_status: Callable[[str, str, bool], None] | None = None,
    ) -> None:
        self.defs = service_defs
        self.pools = pools
        self.transports = transports
        self.default_transport = default_transport
        self.previous = previous or {}
        self.add_error = add_error
        self.on_server_status = on_server_status
        self.built: dict[str, tuple[Identity, Handler, TaskScope | None]] = {}
        self.failed: set[str] = set()
        self.reused = 0
        self._starts: list[Callable[[], None]] = []
        self._building: list[str] = []

    def get(self, qname: str) -> Handler | None:
        """Return the handler of service ``qname`` (None when missing or broken; the error is recorded)."""
        done = self.built.get(qname)
        if done is not None:
            return done[1]
        if qname in self.failed or qname not in self.defs:
            return None
        if qname in self._building:
            self._fail(qname, f"service reference cycle: {' -> '.join([*self._building, qname])}")
            return None
        self._building.append(qname)
        try:
            return self._get(qname)
        finally:
            self._building.pop()

    def identity(self, qname: str) -> Identity | None:
        """Return the identity a built service was memoised under (None if it was not built)."""
        done = self.built.get(qname)
        return None if done is None else done[0]

    def seal(self) -> None:
        """Drop the build's error callback once the generation is built (every ``get`` happens during the build).

        The callback is a method of the build, whose result holds this builder: left in place, that cycle keeps each
        retired generation (10,000 routers: ~130,000 objects) alive until a full collection, and the frozen-heap
        policy (``routing/heap.py``) then pays that collection on every other reload."""
        self.add_error = _sealed

    def activate(self) -> None:
        """Start the background work (health checks) of the services built new in this generation."""
        starts, self._starts = self._starts, []
        for start in starts:
            start()

    # -- internals ---------------------------------------------------------------------------------------------------
    def _fail(self, qname: str, message: str) -> None:
        self.failed.add(qname)
        self.add_error(qname, message)

    def _get(self, qname: str) -> Handler | None:
        provider, service = self.defs[qname]
        children = self._children(service, provider)
        child_ids = []
        for child in children:
            if self.get(child) is None:
                self._fail(qname, f'the service "{child}" does not exist or could not be built')
                return None
            child_ids.append(self.identity(child))
        identity = (service, self._transport(service, provider), tuple(child_ids))
        old = self.previous.get(qname)
        if old is not None and old[0] == identity:
            self.built[qname] = old
            self.reused += 1
            return old[1]
        scope = TaskScope(qname)
        try:
            handler = self._build(qname, provider, service, scope)
        except ValueError as exc:
            self._fail(qname, str(exc))
            return None
        self.built[qname] = (identity, handler, scope)
        return handler

    def _children(self, service: Service, provider: str) -> list[str]:
        kind = service_kind_of(service.config)
        return [] if kind is None else [qualify(name, provider) for name in kind.children(service.config)]

    def _transport(self, service: Service, provider: str) -> TransportOptions | None:
        kind = service_kind_of(service.config)
        name = None if kind is None else kind.servers_transport(service.config)
        if name is None:
            return None
        if not name:
            return self.default_transport
        return self.transports.get(qualify(name, provider))

    def _build(self, qname: str, provider: str, service: Service, scope: TaskScope) -> Handler:
        kind = service_kind_of(service.config)
        if kind is None:
            raise ValueError(f"{service.kind} services are not supported yet")

        def child(name: str) -> Handler:
            return self._handler(qualify(name, provider))

        def transport(name: str) -> TransportOptions:
            if not name:
                return self.default_transport
            options = self.transports.get(qualify(name, provider))
            if options is None:
                raise ValueError(f'serversTransport "{qualify(name, provider)}" does not exist')
            return options

        ctx = ServiceContext(
            qname,
            provider,
            scope,
            self.pools,
            service=child,
            transport=transport,
            on_activate=self._starts.append,
            on_server_status=self.on_server_status,
        )
        return kind.build(service.config, ctx)

    def _handler(self, qname: str) -> Handler:
        handler = self.get(qname)
        if handler is None:
            raise ValueError(f'the service "{qname}" does not exist or could not be built')
        return handler


def _sealed(qname: str, message: str) -> None:
    # Unreachable today (services are resolved during the build only); logged rather than lost if that changes.
    logging.getLogger("hanzo_edge.routing").error("%s: %s (after its generation was built)", qname, message)


def retire(
    previous: Mapping[str, tuple[Identity, Handler, TaskScope | None]],
    current: Mapping[str, tuple[Identity, Handler, TaskScope | None]],
) -> int:
    """Cancel the background work of services the new generation no longer uses. Returns how many were retired."""
    retired = 0
    for qname, (_, handler, scope) in previous.items():
        now = current.get(qname)
        if now is not None and now[1] is handler:
            continue
        if scope is not None:
            scope.cancel()
            retired += 1
    return retired


# -- Traefik's kinds ---------------------------------------------------------------------------------------------------
def _sticky(qname: str, sticky: Sticky | None) -> StickyCookie | None:
    cookie = sticky.cookie if sticky is not None else None
    if cookie is None:
        return None
    return StickyCookie(
        qname,
        name=cookie.name,
        secure=cookie.secure,
        http_only=cookie.http_only,
        same_site=cookie.same_site,
        max_age=cookie.max_age,
        path=cookie.path,
        domain=cookie.domain,
    )


def _load_balancer(lb: LoadBalancer, ctx: ServiceContext) -> Handler:
    options = ctx.transport(lb.servers_transport)
    servers: list[tuple[str, float, Handler]] = []
    for server in lb.servers:
        target = server_target(
            server.url,
            ctx.pools,
            options,
            pass_host_header=lb.pass_host_header,
            preserve_path=server.preserve_path,
        )
        servers.append((server.url, float(server.weight), target))
    hc = lb.health_check
    phc = lb.passive_health_check
    spawn = ctx.scope.spawn
    built: BuiltLoadBalancer = build_load_balancer(
        ctx.name,
        servers,
        spawn=spawn,
        strategy=lb.strategy,
        sticky=_sticky(ctx.name, lb.sticky),
        fenced=frozenset(server.url for server in lb.servers if server.fenced),
        health_check=None
        if hc is None
        else HealthCheckOptions(
            path=hc.path,
            scheme=hc.scheme,
            mode=hc.mode,
            method=hc.method,
            status=hc.status,
            port=hc.port,
            interval=hc.interval,
            unhealthy_interval=hc.unhealthy_interval,
            timeout=hc.timeout,
            hostname=hc.hostname,
            follow_redirects=hc.follow_redirects,
            headers=dict(hc.headers),
        ),
        passive=None
        if phc is None
        else PassiveOptions(failure_window=phc.failure_window, max_failed_attempts=phc.max_failed_attempts),
        # Probes go through the service's transport, as Traefik's health checker does: https servers are checked
        # with the serversTransport's TLS, so UP means the proxy itself could reach the server.
        probe=None if hc is None else _probe(hc.mode, options),
        on_server_status=ctx.on_server_status,
    )
    if built.checker is not None:
        ctx.on_activate(lambda: built.start(spawn))
    return built.balancer


def _probe(mode: str, options: TransportOptions) -> Probe:
    if mode.lower() == "grpc":
        # Imported here: only services with gRPC health checks load the HTTP/2 client.
        from hanzo_edge.services.grpc_health import grpc_probe

        return grpc_probe(options)
    return transport_probe(options)


def _weighted(w: WeightedRoundRobin, ctx: ServiceContext) -> Handler:
    children = [(s.name, float(s.weight), ctx.service(s.name)) for s in w.services]
    return Weighted(
        children, ctx.name, sticky=_sticky(ctx.name, w.sticky), health_check_enabled=w.health_check is not None
    )


def _highest_random_weight(h: HighestRandomWeight, ctx: ServiceContext) -> Handler:
    children = [(s.name, float(s.weight), ctx.service(s.name)) for s in h.services]
    return HighestRandomWeightHandler(children, ctx.name, health_check_enabled=h.health_check is not None)


def _failover(f: Failover, ctx: ServiceContext) -> Handler:
    return FailoverHandler(
        ctx.service(f.service),
        ctx.service(f.fallback),
        ctx.name,
        health_check_enabled=f.health_check is not None,
        service_name=f.service,
        fallback_name=f.fallback,
    )


def _mirroring(m: Mirroring, ctx: ServiceContext) -> Handler:
    mirrors = [(x.name, ctx.service(x.name), x.percent) for x in m.mirrors]
    return MirroringHandler(
        ctx.service(m.service),
        mirrors,
        ctx.scope.spawn,
        ctx.name,
        mirror_body=m.mirror_body,
        max_body_size=m.max_body_size,
        health_check_enabled=m.health_check is not None,
    )


def _weighted_children(w: WeightedRoundRobin | HighestRandomWeight) -> Sequence[str]:
    return [s.name for s in w.services]


def _failover_children(f: Failover) -> Sequence[str]:
    return (f.service, f.fallback)


def _mirroring_children(m: Mirroring) -> Sequence[str]:
    return [m.service, *(x.name for x in m.mirrors)]


def _lb_transport(lb: LoadBalancer) -> str:
    return lb.servers_transport


register_service(ServiceKind("loadBalancer", LoadBalancer, _load_balancer, servers_transport=_lb_transport))
register_service(ServiceKind("weighted", WeightedRoundRobin, _weighted, children=_weighted_children))
register_service(ServiceKind("failover", Failover, _failover, children=_failover_children))
register_service(
    ServiceKind("highestRandomWeight", HighestRandomWeight, _highest_random_weight, children=_weighted_children)
)
register_service(ServiceKind("mirroring", Mirroring, _mirroring, children=_mirroring_children))


def service_of(config: object) -> Service:
    """Return the dynamic-configuration ``Service`` for a registered kind's model (what a provider stores).

    Raises ValueError when no kind is registered for ``type(config)``.
    """
    kind = service_kind_of(config)
    if kind is None:
        raise ValueError(f"no service kind is registered for {type(config).__name__}")
    attr = next((f.attr for f in struct_spec(Service).fields if f.type.cls is kind.model), None)
    if attr is None:
        return ExtensionService(extension_kind=kind.name, extension=config)
    member: dict[str, Any] = {attr: config}
    return Service(**member)
