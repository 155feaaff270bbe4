"""Build service handlers from Traefik's service models, memoised across configuration generations.

Every kind is a handler, so composites wrap children: ``weighted``/``failover``/``mirroring`` reference other services
by name (resolved in the referencing provider unless qualified). A service's *identity* is its configuration, its
servers transport and its children's identities; the next generation reuses a handler whose identity is unchanged,
and so keeps its state (balancer position, health, sticky cookies, running health checks).

Each built service that runs background work (active health checks, passive recovery timers, mirrored requests)
owns a :class:`~hanzo_edge.services.generation.TaskScope`. Checks start only when the generation is activated
(:meth:`ServiceBuilder.activate`), so ``ingress check``/``explain`` can build without an event loop; a service that
the next generation drops has its scope cancelled (:func:`retire`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hanzo_edge.http.messages import Handler
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.http.proxy import ServerTarget
from hanzo_edge.services.failover import Failover
from hanzo_edge.services.generation import TaskScope
from hanzo_edge.services.loadbalancer import BuiltLoadBalancer, HealthCheckOptions, PassiveOptions, build_load_balancer
from hanzo_edge.services.mirroring import Mirroring
from hanzo_edge.services.sticky import StickyCookie
from hanzo_edge.services.weighted import Weighted

__all__ = ["ServiceBuilder", "retire"]


def _qualify(name: str, provider: str) -> str:
    return name if "@" in name else f"{name}@{provider}"


class ServiceBuilder:
    """Builds (or reuses) the services of one generation on demand; see the module docstring."""

    def __init__(
        self,
        service_defs: Mapping[str, tuple[str, Any]],
        pools: PoolRegistry,
        transports: Mapping[str, TransportOptions],
        default_transport: TransportOptions,
        previous: Mapping[str, tuple[Any, Handler, TaskScope | None]] | None,
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
        self.built: dict[str, tuple[Any, Handler, TaskScope | None]] = {}
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

    def identity(self, qname: str) -> Any:
        """Return the identity a built service was memoised under (None if it was not built)."""
        done = self.built.get(qname)
        return None if done is None else done[0]

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

    def _children(self, service: Any, provider: str) -> list[str]:
        if service.weighted is not None:
            return [_qualify(s.name, provider) for s in service.weighted.services]
        if service.failover is not None:
            return [_qualify(service.failover.service, provider), _qualify(service.failover.fallback, provider)]
        if service.mirroring is not None:
            m = service.mirroring
            return [_qualify(m.service, provider), *(_qualify(x.name, provider) for x in m.mirrors)]
        return []

    def _transport(self, service: Any, provider: str) -> TransportOptions | None:
        lb = service.load_balancer
        if lb is None:
            return None
        if not lb.servers_transport:
            return self.default_transport
        return self.transports.get(_qualify(lb.servers_transport, provider))

    def _build(self, qname: str, provider: str, service: Any, scope: TaskScope) -> Handler:
        if service.load_balancer is not None:
            return self._load_balancer(qname, provider, service.load_balancer, scope)
        if service.weighted is not None:
            w = service.weighted
            children = [(s.name, float(s.weight), self._handler(_qualify(s.name, provider))) for s in w.services]
            sticky = _sticky(qname, w.sticky)
            return Weighted(children, qname, sticky=sticky, health_check_enabled=w.health_check is not None)
        if service.failover is not None:
            f = service.failover
            return Failover(
                self._handler(_qualify(f.service, provider)),
                self._handler(_qualify(f.fallback, provider)),
                qname,
                health_check_enabled=f.health_check is not None,
                service_name=f.service,
                fallback_name=f.fallback,
            )
        if service.mirroring is not None:
            m = service.mirroring
            mirrors = [(x.name, self._handler(_qualify(x.name, provider)), x.percent) for x in m.mirrors]
            return Mirroring(
                self._handler(_qualify(m.service, provider)),
                mirrors,
                scope.spawn,
                qname,
                mirror_body=m.mirror_body,
                max_body_size=m.max_body_size,
                health_check_enabled=m.health_check is not None,
            )
        raise ValueError("highestRandomWeight services are not supported yet")

    def _handler(self, qname: str) -> Handler:
        handler = self.get(qname)
        if handler is None:
            raise ValueError(f'the service "{qname}" does not exist or could not be built')
        return handler

    def _load_balancer(self, qname: str, provider: str, lb: Any, scope: TaskScope) -> Handler:
        options = self._transport_or_error(lb, provider)
        servers: list[tuple[str, float, Handler]] = []
        for server in lb.servers:
            target = ServerTarget(
                server.url,
                self.pools,
                options,
                pass_host_header=lb.pass_host_header,
                preserve_path=server.preserve_path,
            )
            servers.append((server.url, float(server.weight), target))
        hc = lb.health_check
        phc = lb.passive_health_check
        built: BuiltLoadBalancer = build_load_balancer(
            qname,
            servers,
            spawn=scope.spawn,
            strategy=lb.strategy,
            sticky=_sticky(qname, lb.sticky),
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
            on_server_status=self.on_server_status,
        )
        if built.checker is not None:
            self._starts.append(lambda: built.start(scope.spawn))
        return built.balancer

    def _transport_or_error(self, lb: Any, provider: str) -> TransportOptions:
        if not lb.servers_transport:
            return self.default_transport
        options = self.transports.get(_qualify(lb.servers_transport, provider))
        if options is None:
            raise ValueError(f'serversTransport "{_qualify(lb.servers_transport, provider)}" does not exist')
        return options


def _sticky(qname: str, sticky: Any) -> StickyCookie | None:
    cookie = getattr(sticky, "cookie", None) if sticky is not None else None
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


def retire(
    previous: Mapping[str, tuple[Any, Handler, TaskScope | None]],
    current: Mapping[str, tuple[Any, Handler, TaskScope | None]],
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
