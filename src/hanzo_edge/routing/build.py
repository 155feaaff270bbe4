"""Build one routing table per entrypoint from the merged dynamic configuration.

Errors stay local, as in Traefik: a router whose rule does not compile, whose service is missing or broken, or whose
middleware cannot be built is *disabled* and reported in :attr:`BuildResult.errors`; every other router serves. A
router gets every error it has (a bad rule does not hide a missing service), and errors are also kept by kind
(:attr:`BuildResult.router_errors`, ``service_errors``, ``middleware_errors``) since one name may be a router and a
service at once.
Services are built once per generation and shared by the routers that use them; upstream pools come from the
process-wide :class:`~hanzo_edge.http.pool.PoolRegistry` and so outlive generations.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.routing.middleware_builder import MiddlewareBuilder, MiddlewareError
from hanzo_edge.routing.service_builder import ServiceBuilder
from hanzo_edge.routing.table import Route, RoutingTable
from hanzo_edge.rules.compile import compile_rule
from hanzo_edge.services.generation import TaskScope

__all__ = ["BuildResult", "build_tables", "not_found", "qualify"]


async def not_found(req: Request) -> Response:
    """Go's ``NotFoundHandler``: 404 with ``404 page not found``."""
    return Response.text(404, "404 page not found\n")


@dataclass(slots=True)
class BuildResult:
    """The tables of one generation and what went wrong while building them.

    ``built`` maps each service to ``(identity, handler, task scope)``; the next generation passes this result as
    ``previous`` so unchanged services keep their instances. Call :meth:`activate` once the tables are live.
    """

    tables: dict[str, RoutingTable]
    errors: dict[str, list[str]] = field(default_factory=dict)
    router_errors: dict[str, list[str]] = field(default_factory=dict)
    service_errors: dict[str, list[str]] = field(default_factory=dict)
    middleware_errors: dict[str, list[str]] = field(default_factory=dict)
    built: dict[str, tuple[Any, Handler, TaskScope | None]] = field(default_factory=dict)
    reused_services: int = 0
    builder: ServiceBuilder | None = None
    layers: dict[Any, Handler] = field(default_factory=dict)
    reused_middlewares: int = 0

    @property
    def services(self) -> dict[str, Handler]:
        """Service name → handler."""
        return {name: entry[1] for name, entry in self.built.items()}

    def add_error(self, name: str, message: str) -> None:
        """Record an error against a router, service or middleware (qualified name) without saying which."""
        self.errors.setdefault(name, []).append(message)

    def add_router_error(self, name: str, message: str) -> None:
        """Record an error against router ``name`` (qualified)."""
        self.router_errors.setdefault(name, []).append(message)
        self.add_error(name, message)

    def add_service_error(self, name: str, message: str) -> None:
        """Record an error against service ``name`` (qualified)."""
        self.service_errors.setdefault(name, []).append(message)
        self.add_error(name, message)

    def add_middleware_error(self, name: str, message: str) -> None:
        """Record an error against middleware ``name`` (qualified)."""
        self.middleware_errors.setdefault(name, []).append(message)
        self.add_error(name, message)

    def activate(self) -> None:
        """Start background work (health checks) of the services built new in this generation."""
        if self.builder is not None:
            self.builder.activate()


def qualify(name: str, provider: str) -> str:
    """Return ``name@provider`` unless ``name`` is already qualified."""
    return name if "@" in name else f"{name}@{provider}"


def transport_options(transport: Any) -> TransportOptions:
    """Map a (static or dynamic) servers transport model to the pool's :class:`TransportOptions`."""
    timeouts = getattr(transport, "forwarding_timeouts", None)
    max_idle = getattr(transport, "max_idle_conns_per_host", 200)
    return TransportOptions(
        # 0 means Go's http.DefaultMaxIdleConnsPerHost (2), as in Traefik's dynamic serversTransports.
        max_idle_conns_per_host=200 if max_idle is None else (int(max_idle) or 2),
        dial_timeout=float(getattr(timeouts, "dial_timeout", 30.0)),
        response_header_timeout=float(getattr(timeouts, "response_header_timeout", 0.0)),
        idle_conn_timeout=float(getattr(timeouts, "idle_conn_timeout", 90.0)),
        insecure_skip_verify=bool(getattr(transport, "insecure_skip_verify", False)),
        server_name=str(getattr(transport, "server_name", "") or ""),
    )


def build_tables(
    providers: Mapping[str, Any],
    entry_points: Sequence[str],
    default_entry_points: Sequence[str],
    pools: PoolRegistry,
    default_transport: TransportOptions,
    *,
    internal_routes: Mapping[str, Sequence[Route]] | None = None,
    entry_point_middlewares: Mapping[str, Sequence[str]] | None = None,
    internal_services: Mapping[str, Handler] | None = None,
    tls_entry_points: Collection[str] = (),
    generation: int = 0,
    previous: BuildResult | None = None,
    on_server_status: Callable[[str, str, bool], None] | None = None,
    wrap_service: Callable[[str, Handler], Handler] | None = None,
) -> BuildResult:
    """Build a :class:`RoutingTable` per entrypoint from ``{provider: Configuration}``.

    ``tls_entry_points``: entrypoints whose ``http.tls`` makes their routers TLS routers; until TLS is served, a
    router is disabled there (with an error naming it and the entrypoint) and serves on its other entrypoints.

    With ``previous`` (the last generation), a service whose configuration (and servers transport) is unchanged keeps
    its handler instance. Never raises for a bad router or service: it is disabled and its error recorded.
    ``on_server_status(service, url, up)`` hears every health-check result of ``loadBalancer`` servers built new.
    ``wrap_service(name, handler)`` wraps each router's service handler inside its middleware chain (tracing).
    """
    # A build allocates a few objects per router; with the cyclic GC running, gen-2 passes rescan the whole
    # configuration again and again (40% of a 10,000-router build). Nothing built here is garbage yet.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _build_tables(
            providers,
            entry_points,
            default_entry_points,
            pools,
            default_transport,
            internal_routes=internal_routes,
            entry_point_middlewares=entry_point_middlewares,
            internal_services=internal_services,
            tls_entry_points=tls_entry_points,
            generation=generation,
            previous=previous,
            on_server_status=on_server_status,
            wrap_service=wrap_service,
        )
    finally:
        if enabled:
            gc.enable()


def _build_tables(
    providers: Mapping[str, Any],
    entry_points: Sequence[str],
    default_entry_points: Sequence[str],
    pools: PoolRegistry,
    default_transport: TransportOptions,
    *,
    internal_routes: Mapping[str, Sequence[Route]] | None,
    entry_point_middlewares: Mapping[str, Sequence[str]] | None,
    internal_services: Mapping[str, Handler] | None,
    tls_entry_points: Collection[str],
    generation: int,
    previous: BuildResult | None,
    on_server_status: Callable[[str, str, bool], None] | None = None,
    wrap_service: Callable[[str, Handler], Handler] | None = None,
) -> BuildResult:
    result = BuildResult(tables={})
    routes: dict[str, list[Route]] = {ep: list((internal_routes or {}).get(ep, ())) for ep in entry_points}
    transports: dict[str, TransportOptions] = {}
    for provider, config in providers.items():
        http = getattr(config, "http", None)
        if http is None:
            continue
        for name, transport in (getattr(http, "servers_transports", None) or {}).items():
            transports[qualify(name, provider)] = transport_options(transport)
    service_defs: dict[str, tuple[str, Any]] = {}
    for provider, config in providers.items():
        http = getattr(config, "http", None)
        for name, service in ((getattr(http, "services", None) or {}) if http is not None else {}).items():
            service_defs[qualify(name, provider)] = (provider, service)

    builder = ServiceBuilder(
        service_defs,
        pools,
        transports,
        default_transport,
        previous.built if previous else None,
        result.add_service_error,
        on_server_status=on_server_status,
    )
    result.builder = builder
    get_service = builder.get

    middleware_defs: dict[str, tuple[str, Any]] = {}
    for provider, config in providers.items():
        http = getattr(config, "http", None)
        for name, middleware in ((getattr(http, "middlewares", None) or {}) if http is not None else {}).items():
            middleware_defs[qualify(name, provider)] = (provider, middleware)
    chains = MiddlewareBuilder(middleware_defs, previous.layers if previous else None, service=get_service)
    internal = internal_services or {}

    for provider, config in providers.items():
        http = getattr(config, "http", None)
        for name, router in ((getattr(http, "routers", None) or {}) if http is not None else {}).items():
            qname = qualify(name, provider)
            route_or_error = _build_route(qname, provider, router, get_service, service_defs, internal)
            errors = route_or_error if isinstance(route_or_error, list) else []
            try:
                chains.resolve(tuple(getattr(router, "middlewares", ()) or ()), provider)
            except MiddlewareError as exc:
                errors.append(str(exc))
                result.add_middleware_error(exc.middleware, str(exc))
            if getattr(router, "tls", None) is not None:
                # TLS routers serve only TLS requests; TLS entrypoints arrive with the TLS work.
                errors.append("TLS routers are not served yet (no TLS entrypoint)")
            if errors or isinstance(route_or_error, list):
                for message in errors:
                    result.add_router_error(qname, message)
                continue
            eps = tuple(getattr(router, "entry_points", ()) or ()) or tuple(default_entry_points)
            for ep in eps:
                if ep not in routes:
                    result.add_router_error(qname, 'entryPoint "' + ep + "\" doesn't exist")
                    continue
                if ep in tls_entry_points:
                    # Traefik makes every router of this entrypoint a TLS router; serving it in clear text on the
                    # "secure" port would silently drop the protection the configuration asks for.
                    result.add_router_error(
                        qname,
                        f'entryPoint "{ep}" makes it a TLS router (entryPoints.{ep}.http.tls): '
                        "TLS routers are not served yet",
                    )
                    continue
                ep_middlewares = tuple((entry_point_middlewares or {}).get(ep, ()))
                try:
                    # Entrypoint middlewares must be qualified already; the router's resolve in its provider.
                    names = chains.resolve(ep_middlewares, "") + chains.resolve(route_or_error.middlewares, provider)
                    # Traefik splits a router per entrypoint when the entrypoint adds middlewares (<ep>-<router>).
                    instance = f"{ep}-{qname}" if ep_middlewares else qname
                    service_handler = route_or_error.handler
                    if wrap_service is not None:
                        # Tracing: the Service span opens after the router's middlewares.
                        service_handler = wrap_service(route_or_error.service, service_handler)
                    handler = chains.wrap(instance, provider, names, service_handler)
                except MiddlewareError as exc:
                    result.add_router_error(qname, str(exc))
                    result.add_middleware_error(exc.middleware, str(exc))
                    continue
                routes[ep].append(
                    replace(
                        route_or_error, handler=handler, middlewares=tuple(names), body_limit=chains.body_limit(names)
                    )
                )
    for ep, ep_routes in routes.items():
        result.tables[ep] = RoutingTable(ep_routes, not_found, generation)
    result.built = builder.built
    result.reused_services = builder.reused
    result.layers = chains.layers
    result.reused_middlewares = chains.reused
    return result


def _build_route(
    qname: str,
    provider: str,
    router: Any,
    get_service: Callable[[str], Handler | None],
    service_defs: Mapping[str, Any],
    internal_services: Mapping[str, Handler],
) -> Route | list[str]:
    """Return the router's route, or every error of its rule and its service (a bad rule hides nothing)."""
    errors: list[str] = []
    rule_text = getattr(router, "rule", "") or ""
    compiled = None
    try:
        compiled = compile_rule(rule_text, getattr(router, "rule_syntax", "") or "v3")
    except ValueError as exc:
        errors.append(f"invalid rule {rule_text!r}: {exc}")
    service_name = qualify(getattr(router, "service", "") or "", provider)
    handler: Handler | None = None
    if not getattr(router, "service", ""):
        errors.append("the service is missing on the router")
    elif service_name in internal_services:
        handler = internal_services[service_name]
    elif service_name.endswith("@internal"):
        errors.append(f'the service "{service_name}" does not exist (@internal is reserved)')
    elif service_name not in service_defs:
        errors.append(f'the service "{service_name}" does not exist')
    else:
        handler = get_service(service_name)
        if handler is None:
            errors.append(f'the service "{service_name}" could not be built')
    if errors or compiled is None or handler is None:
        return errors
    middlewares = tuple(getattr(router, "middlewares", ()) or ())  # resolved per entrypoint by the caller
    priority = int(getattr(router, "priority", 0) or 0) or len(rule_text.encode("utf-8"))
    hosts = compiled.hosts
    observability = getattr(router, "observability", None)
    overrides = None
    if observability is not None:
        flags = (observability.access_logs, observability.metrics, observability.tracing)
        overrides = None if flags == (None, None, None) else flags
    return Route(
        name=qname,
        priority=priority,
        matches=compiled.matches,
        handler=handler,
        hosts=hosts,
        host_only=bool(getattr(compiled, "host_only", False)),
        rule=rule_text,
        service=service_name,
        middlewares=middlewares,
        observability=overrides,
    )
