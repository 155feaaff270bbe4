"""IngressRouteTCP and IngressRouteUDP to the dynamic configuration's ``tcp`` and ``udp`` sections (Traefik v3.6).

Names are not normalised (``<ns>-<name>-<20 hex of sha256(match)>`` for TCP, ``<ns>-<name>-<index>`` for UDP); a route
with several services gets a ``weighted`` service named like the router, children ``<router>-<svc>-<port>``. A route
whose references fail (a service, a MiddlewareTCP, a TLSOption or TLS Secret) is logged with an error naming it and
kept as a refused router (``config/refusal.py``), which the build disables with the reason, so ``/api/tcp/routers``
and ``/api/udp/routers`` say why, as ``/api/http/routers`` does for an IngressRoute.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import msgspec

from hanzo_edge.config.dynamic import RouterTLS
from hanzo_edge.config.refusal import RefusedTCPRouter, RefusedUDPRouter
from hanzo_edge.config.tcp import (
    TCPLoadBalancer,
    TCPRouter,
    TCPRouterTLS,
    TCPServer,
    TCPService,
    TCPWeighted,
    TCPWeightedService,
    UDPLoadBalancer,
    UDPRouter,
    UDPServer,
    UDPService,
    UDPWeighted,
)
from hanzo_edge.config.tls import TLSDomain
from hanzo_edge.providers.kubernetes.crd_cluster import OBJECT_ERRORS, RefError
from hanzo_edge.providers.kubernetes.crd_objects import IngressRouteTCP, IngressRouteUDP, ServiceTCP, ServiceUDP
from hanzo_edge.providers.kubernetes.names import hash_suffix, make_id

if TYPE_CHECKING:
    from hanzo_edge.providers.kubernetes.crd_translate import CRDRun

__all__ = ["translate_tcp_routes", "translate_udp_routes"]

_Service = TypeVar("_Service", TCPService, UDPService)


def translate_tcp_routes(run: CRDRun) -> None:
    """Add every IngressRouteTCP's routers and services to ``run`` (names not normalised, as Traefik)."""
    for namespace, name, obj in run.objects("ingressroutetcps", IngressRouteTCP):
        if not run.wanted(obj.metadata.annotations):
            continue
        spec = obj.spec
        tls: TCPRouterTLS | None = None
        tls_problems: list[str] = []
        if spec.tls is not None:
            router_tls, tls_problems = run.route_tls(namespace, name, spec.tls)
            base = router_tls or RouterTLS()
            tls = TCPRouterTLS(
                passthrough=spec.tls.passthrough,
                options=base.options,
                cert_resolver=base.cert_resolver,
                domains=tuple(TLSDomain(main=d.main, sans=d.sans) for d in base.domains),
            )
        for route in spec.routes:
            key = make_id(namespace, hash_suffix(name, route.match))
            problems = list(tls_problems)
            middlewares = run.cluster.middleware_keys(namespace, route.middlewares, problems)
            service = key
            try:
                service = _tcp_service(run, namespace, key, route.services)
            except OBJECT_ERRORS as exc:
                problems.append(str(exc))
            router = TCPRouter(
                entry_points=spec.entry_points,
                middlewares=middlewares,
                service=service,
                rule=route.match,
                rule_syntax=route.syntax,
                priority=route.priority,
                tls=tls,
            )
            if problems:
                for problem in problems:
                    run.error("IngressRouteTCP", namespace, name, f"route {route.match!r} refused: {problem}")
                router = RefusedTCPRouter(**msgspec.structs.asdict(router), refusals=tuple(problems))
            run.build.tcp_routers[key] = router


def _tcp_service(run: CRDRun, namespace: str, key: str, services: tuple[ServiceTCP, ...]) -> str:
    if not services:
        raise RefError("a TCP route needs at least one service")
    built: list[tuple[str, int, TCPService]] = []
    for svc in services:
        target = svc.namespace or namespace
        run.cluster.check_namespace(namespace, target, f"service {target}/{svc.name}")
        servers = run.cluster.servers(target, svc.name, svc.port, "", svc.native_lb, svc.node_port_lb)
        transport = ""
        if svc.servers_transport:
            transport = run.cluster.object_key(namespace, svc.servers_transport, "", "serversTransport")
        lb = TCPLoadBalancer(
            servers=tuple(TCPServer(address=s.address, tls=svc.tls) for s in servers),
            servers_transport=transport,
            proxy_protocol=None,
            termination_delay=svc.termination_delay,
        )
        weight = 1 if svc.weight is None else svc.weight
        built.append((f"{key}-{svc.name}-{svc.port}", weight, TCPService(load_balancer=lb)))
    return _store(
        run.build.tcp_services, key, built, lambda children: TCPService(weighted=TCPWeighted(services=children))
    )


def translate_udp_routes(run: CRDRun) -> None:
    """Add every IngressRouteUDP's routers (``<ns>-<name>-<index>``) and services to ``run``."""
    for namespace, name, obj in run.objects("ingressrouteudps", IngressRouteUDP):
        if not run.wanted(obj.metadata.annotations):
            continue
        for index, route in enumerate(obj.spec.routes):
            key = make_id(namespace, f"{name}-{index}")
            try:
                service = _udp_service(run, namespace, key, route.services)
            except OBJECT_ERRORS as exc:
                run.error("IngressRouteUDP", namespace, name, f"route {index} refused: {exc}")
                run.build.udp_routers[key] = RefusedUDPRouter(
                    entry_points=obj.spec.entry_points, service=key, refusals=(str(exc),)
                )
                continue
            run.build.udp_routers[key] = UDPRouter(entry_points=obj.spec.entry_points, service=service)


def _udp_service(run: CRDRun, namespace: str, key: str, services: tuple[ServiceUDP, ...]) -> str:
    if not services:
        raise RefError("a UDP route needs at least one service")
    built: list[tuple[str, int, UDPService]] = []
    for svc in services:
        target = svc.namespace or namespace
        run.cluster.check_namespace(namespace, target, f"service {target}/{svc.name}")
        servers = run.cluster.servers(target, svc.name, svc.port, "", svc.native_lb, svc.node_port_lb)
        lb = UDPLoadBalancer(servers=tuple(UDPServer(address=s.address) for s in servers))
        built.append(
            (f"{key}-{svc.name}-{svc.port}", 1 if svc.weight is None else svc.weight, UDPService(load_balancer=lb))
        )
    return _store(
        run.build.udp_services, key, built, lambda children: UDPService(weighted=UDPWeighted(services=children))
    )


def _store(
    services: dict[str, _Service],
    key: str,
    built: list[tuple[str, int, _Service]],
    weighted: Callable[[tuple[TCPWeightedService, ...]], _Service],
) -> str:
    """Store a route's services under ``key``: one service as it is, several as children of a weighted one."""
    if len(built) == 1:
        services[key] = built[0][2]
        return key
    for child, _weight, service in built:
        services[child] = service
    services[key] = weighted(tuple(TCPWeightedService(name=c, weight=w) for c, w, _ in built))
    return key
