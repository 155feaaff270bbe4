"""A translated ``gateway.json`` as routers of an ``ingress`` process (``providers.gateway``; see
:mod:`hanzo_edge.providers.gateway_provider` for what changes from ``gateway run``).

Here, in the gateway package (a composition root), because it names middleware and service kinds: providers only
yield configuration.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from hanzo_edge.config.dynamic import Configuration, HTTPConfiguration, Router
from hanzo_edge.config.types import FrozenDict
from hanzo_edge.gateway.translate import GatewayRoute, Translation
from hanzo_edge.middlewares.base import middleware_of

__all__ = ["DEFAULT_RULE", "hanzo_enabled", "ingress_snapshot"]

DEFAULT_RULE = "PathPrefix(`/`)"


def _specificity(route: GatewayRoute) -> tuple[tuple[int, ...], int]:
    # gin: at each segment a literal beats a {param}; then the longer path.
    segments = route.endpoint.strip("/").split("/")
    return tuple(1 if s.startswith("{") else 2 for s in segments), len(route.endpoint)


def hanzo_enabled(env: Mapping[str, str]) -> bool:
    """Whether the environment turns the Hanzo chain on under ingress: ``AUTH_ENABLED``, ``AUTH_JWKS_URL`` or
    ``GATEWAY_ROUTES_FILE`` set (to anything: ``AUTH_ENABLED=false`` still strips identity headers and serves the
    host table, as ``gateway run``). A Traefik user adding a gateway.json gets no surprise authentication."""
    return any(env.get(name) is not None for name in ("AUTH_ENABLED", "AUTH_JWKS_URL", "GATEWAY_ROUTES_FILE"))


def ingress_snapshot(
    translation: Translation,
    entry_points: tuple[str, ...],
    rule: str,
    *,
    hanzo: bool = False,
    host_table: bool = False,
) -> Configuration:
    """The translated configuration as routers of an ingress process (see the module docstring). ``hanzo`` puts
    the Hanzo chain on every router (``middlewares/krakend_hanzo_chain.py``); ``host_table`` adds the router that
    gives it every other request of ``rule``."""
    http = translation.configuration.http
    middlewares = dict(http.middlewares)
    outer: list[str] = []
    for mw in translation.outer:
        name = f"service-{mw.name}"
        middlewares[name] = middleware_of(mw.options)
        outer.append(name)
    extra_routers: dict[str, Router] = {}
    extra_services = {}
    if hanzo:
        from hanzo_edge.middlewares.krakend_hanzo_chain import HanzoChainConfig, NotFoundConfig
        from hanzo_edge.routing.service_builder import service_of

        endpoints = tuple((r.method, r.endpoint, r.public) for r in translation.routes)
        middlewares["hanzo-chain"] = middleware_of(
            HanzoChainConfig(endpoints=endpoints, health_path=translation.gin.health_path)
        )
        outer.append("hanzo-chain")
        if host_table:
            extra_services["hanzo-not-found"] = service_of(NotFoundConfig())
            extra_routers["hanzo-host-table"] = Router(
                rule=rule or DEFAULT_RULE,
                service="hanzo-not-found",
                priority=-(len(translation.routes) + 1),
                entry_points=entry_points,
                middlewares=tuple(outer),
            )
    by_name = {route.router.rsplit("@", 1)[0]: route for route in translation.routes}
    ranked = sorted(by_name, key=lambda name: _specificity(by_name[name]))
    priority = {name: -(len(ranked) - i) for i, name in enumerate(ranked)}  # most specific: -1
    routers: dict[str, Router] = {}
    for name, router in http.routers.items():
        route = by_name.get(name)
        if route is None:
            continue
        combined = f"({rule}) && {router.rule}" if rule else router.rule
        routers[f"{route.method}-{route.endpoint}"] = msgspec.structs.replace(
            router,
            rule=combined,
            priority=priority[name],
            entry_points=entry_points,
            middlewares=(*outer, *router.middlewares),
        )
    routers.update(extra_routers)
    services = FrozenDict({**http.services, **extra_services}) if extra_services else http.services
    return Configuration(
        http=HTTPConfiguration(routers=FrozenDict(routers), services=services, middlewares=FrozenDict(middlewares))
    )
