"""Build one routing table per entrypoint from the merged runtime configuration.

The input is a :class:`~hanzo_edge.config.runtime.RuntimeConfig` (names qualified, default entrypoints and
priorities applied, used-by known); this module only builds, and writes what goes wrong into the same records.
Errors stay local, as in Traefik: a router whose rule does not compile, whose service is missing or broken, or whose
middleware cannot be built is *disabled* with every error it has (a bad rule does not hide a missing service); one
that cannot serve on some of its entrypoints serves on the others with a *warning*. Services are built once per
generation and shared by the routers that use them; upstream pools come from the process-wide
:class:`~hanzo_edge.http.pool.PoolRegistry` and so outlive generations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import msgspec

from hanzo_edge.config.dynamic import Configuration, Router, RouterTLS, ServersTransport
from hanzo_edge.config.refusal import ProviderRefusal
from hanzo_edge.config.runtime import DISABLED, RouterInfo, RuntimeConfig, merge, qualify
from hanzo_edge.config.services import Service
from hanzo_edge.config.static import StaticServersTransport
from hanzo_edge.config.static import TCPServersTransport as StaticTCPServersTransport
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.routing.middleware_builder import MiddlewareBuilder, MiddlewareError
from hanzo_edge.routing.reuse import (
    BuiltRouter,
    Environment,
    RouterMemory,
    ServedRoute,
    referenced_middlewares,
    remember,
)
from hanzo_edge.routing.secure_table import SecureRoutingTable
from hanzo_edge.routing.service_builder import ServiceBuilder
from hanzo_edge.routing.slices import Steps, slice_spent, sync
from hanzo_edge.routing.table import Route, RoutingTable
from hanzo_edge.routing.tcp_build import Layer4Build, build_layer4
from hanzo_edge.rules.compile import compile_rule
from hanzo_edge.services.generation import TaskScope
from hanzo_edge.tls.catalog import DEFAULT_OPTIONS, TLSCatalog, build_catalog, options_name

__all__ = [
    "BuildResult",
    "build_runtime",
    "build_runtime_steps",
    "build_tables",
    "not_found",
    "qualify",
    "transport_options",
]

log = logging.getLogger("hanzo_edge.routing")

_DEFS_PER_CHECK = 64
"""Service definitions gathered between two reads of the clock (each is a fraction of a microsecond)."""


async def not_found(req: Request) -> Response:
    """Go's ``NotFoundHandler``: 404 with ``404 page not found``."""
    return Response.text(404, "404 page not found\n")


@dataclass(slots=True)
class BuildResult:
    """The tables of one generation, the runtime configuration they were built from, and what went wrong.

    ``runtime`` holds every router, service and middleware with the status and errors this build gave it: what the
    API, ``check``, ``explain`` and the metrics read. ``errors`` lists each error by name in the order the build met
    it (what the server logs). ``built`` maps each service to ``(identity, handler, task scope)``; the next
    generation passes this result as ``previous`` so unchanged services keep their instances. Call :meth:`activate`
    once the tables are live.
    """

    tables: dict[str, RoutingTable]
    secure_tables: dict[str, RoutingTable] = field(default_factory=dict)
    """The TLS routers of each entrypoint (served on its TLS connections only)."""
    tls: TLSCatalog | None = None
    """Certificates, options and per-host options of this generation (None when built without TLS)."""
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    errors: dict[str, list[str]] = field(default_factory=dict)
    built: dict[str, tuple[Any, Handler, TaskScope | None]] = field(default_factory=dict)
    reused_services: int = 0
    builder: ServiceBuilder | None = None
    layers: dict[Any, Handler] = field(default_factory=dict)
    reused_middlewares: int = 0
    routers: RouterMemory = field(default_factory=RouterMemory)
    """The routers that built cleanly, which the next generation replays when their inputs are unchanged."""
    layer4: Layer4Build = field(default_factory=Layer4Build)
    """The TCP tables and UDP services of this generation (``routing/tcp_build.py``)."""

    @property
    def services(self) -> dict[str, Handler]:
        """Service name → handler."""
        return {name: entry[1] for name, entry in self.built.items()}

    @property
    def router_errors(self) -> dict[str, list[str]]:
        """Router name → its errors (routers without errors left out)."""
        return {name: list(info.errors) for name, info in self.runtime.routers.items() if info.errors}

    @property
    def service_errors(self) -> dict[str, list[str]]:
        """Service name → its errors (services without errors left out)."""
        return {name: list(info.errors) for name, info in self.runtime.services.items() if info.errors}

    @property
    def middleware_errors(self) -> dict[str, list[str]]:
        """Middleware name → its errors (a middleware that does not exist is reported on its routers only)."""
        return {name: list(info.errors) for name, info in self.runtime.middlewares.items() if info.errors}

    def add_error(self, name: str, message: str) -> None:
        """Note an error of ``name`` (qualified) in the build's log, in the order met."""
        self.errors.setdefault(name, []).append(message)

    def activate(self) -> None:
        """Start background work (health checks) of the services built new in this generation."""
        if self.builder is not None:
            self.builder.activate()
        self.layer4.activate()


def transport_options(transport: ServersTransport | StaticServersTransport) -> TransportOptions:
    """Map a (static or dynamic) servers transport model to the pool's :class:`TransportOptions`."""
    timeouts = transport.forwarding_timeouts
    return TransportOptions(
        # 0 means Go's http.DefaultMaxIdleConnsPerHost (2), as in Traefik's dynamic serversTransports.
        max_idle_conns_per_host=int(transport.max_idle_conns_per_host) or 2,
        dial_timeout=float(timeouts.dial_timeout),
        response_header_timeout=float(timeouts.response_header_timeout),
        idle_conn_timeout=float(timeouts.idle_conn_timeout),
        insecure_skip_verify=bool(transport.insecure_skip_verify),
        root_cas=tuple(transport.root_cas),
        **_dynamic_tls_options(transport),
    )


def _dynamic_tls_options(transport: ServersTransport | StaticServersTransport) -> dict[str, Any]:
    """The TLS options only a dynamic serversTransport has (the static one has no serverName, client certificates
    or peerCertURI in Traefik either)."""
    if not isinstance(transport, ServersTransport):
        return {}
    return {
        "server_name": transport.server_name,
        "certificates": tuple((c.cert_file, c.key_file) for c in transport.certificates),
        "peer_cert_uri": transport.peer_cert_uri,
        # HTTP/2 to the servers (dynamic serversTransports only, as in Traefik's static model).
        "disable_http2": transport.disable_http2,
        "read_idle_timeout": float(transport.forwarding_timeouts.read_idle_timeout),
        "ping_timeout": float(transport.forwarding_timeouts.ping_timeout),
    }


def build_tables(
    providers: Mapping[str, Configuration],
    entry_points: Sequence[str],
    default_entry_points: Sequence[str],
    pools: PoolRegistry,
    default_transport: TransportOptions,
    *,
    internal_routes: Mapping[str, Sequence[Route]] | None = None,
    entry_point_middlewares: Mapping[str, Sequence[str]] | None = None,
    internal_services: Mapping[str, Handler] | None = None,
    tls_entry_points: EntryPointTLS = (),
    tls: TLSCatalog | None = None,
    generation: int = 0,
    previous: BuildResult | None = None,
    on_server_status: Callable[[str, str, bool], None] | None = None,
    wrap_service: Callable[[str, Handler], Handler] | None = None,
    udp_entry_points: Sequence[str] = (),
) -> BuildResult:
    """Merge ``{provider: Configuration}`` (routers without entrypoints get ``default_entry_points``) and build it
    with :func:`build_runtime`, whose keyword arguments these are."""
    return build_runtime(
        merge(providers, entry_point_defaults=default_entry_points, udp_entry_point_defaults=udp_entry_points),
        entry_points,
        pools,
        default_transport,
        internal_routes=internal_routes,
        entry_point_middlewares=entry_point_middlewares,
        internal_services=internal_services,
        tls_entry_points=tls_entry_points,
        tls=tls if tls is not None else build_catalog(providers),
        generation=generation,
        previous=previous,
        on_server_status=on_server_status,
        wrap_service=wrap_service,
        udp_entry_points=udp_entry_points,
    )


def build_runtime_steps(
    runtime: RuntimeConfig,
    entry_points: Sequence[str],
    pools: PoolRegistry,
    default_transport: TransportOptions,
    *,
    internal_routes: Mapping[str, Sequence[Route]] | None = None,
    entry_point_middlewares: Mapping[str, Sequence[str]] | None = None,
    internal_services: Mapping[str, Handler] | None = None,
    tls_entry_points: EntryPointTLS = (),
    tls: TLSCatalog | None = None,
    generation: int = 0,
    previous: BuildResult | None = None,
    on_server_status: Callable[[str, str, bool], None] | None = None,
    wrap_service: Callable[[str, Handler], Handler] | None = None,
    udp_entry_points: Sequence[str] = (),
    tcp_servers_transport: StaticTCPServersTransport | None = None,
) -> Steps[BuildResult]:
    """Build a :class:`RoutingTable` per entrypoint from ``runtime``, recording errors in its records.

    ``internal_routes`` (by entrypoint) are served as they are and added to ``runtime`` as the internal provider's
    routers. ``tls_entry_points``: entrypoints whose ``http.tls`` makes their routers TLS routers (a mapping gives
    each one's ``http.tls``, or only its ``options``); a router on exactly one of them and without ``tls`` of its own
    shows that ``tls`` in its record, as Traefik's ``applyModel`` copies it. ``tls``: the generation's certificates
    and options; a TLS router whose options are unknown or cannot be honoured is disabled with that error, and
    ``tls.hosts`` is filled with the options of each host (``default`` where routers disagree, as Traefik).

    With ``previous`` (the last generation), a service whose configuration (and servers transport) is unchanged keeps
    its handler instance. Never raises for a bad router or service: it is disabled and its error recorded.
    ``on_server_status(service, url, up)`` hears every health-check result of ``loadBalancer`` servers built new.
    ``wrap_service(name, handler)`` wraps each router's service handler inside its middleware chain (tracing).
    TCP routers (on ``entry_points``) and UDP routers (on ``udp_entry_points``) are built after the HTTP ones into
    ``layer4`` (``routing/tcp_build.py``; services naming no transport use ``tcp_servers_transport``).

    A generator that yields between slices of the work (``routing/slices.py``); :func:`build_runtime` runs it at
    once, ``run_steps_async`` gives the event loop back between slices (the garbage collector is paused in each).
    """
    result = yield from _Build(
        runtime,
        entry_points,
        pools,
        default_transport,
        entry_point_middlewares or {},
        internal_services or {},
        tls_entry_points,
        tls,
        previous,
        on_server_status,
        wrap_service,
    ).steps(internal_routes or {}, generation)
    # TCP and UDP routers after HTTP: on a TLS connection, HTTPS routers naming the server come first.
    layer4 = build_layer4(
        runtime,
        entry_points,
        udp_entry_points,
        tls=result.tls,
        secure_tables=result.secure_tables,
        default_transport=tcp_servers_transport,
        previous=previous.layer4 if previous is not None else None,
    )
    result.layer4 = layer4
    for name, messages in layer4.errors.items():
        for message in messages:
            result.add_error(name, message)
    return result


build_runtime = sync(build_runtime_steps)
"""Build at once (see :func:`build_runtime_steps`); what ``ingress check``, ``explain`` and the first build use."""


EntryPointTLS = Mapping[str, str | RouterTLS] | Collection[str]
"""Entrypoints with ``http.tls``: their ``tls`` (or only its options name) by name, or just the names."""


def _entry_point_tls(entry_points: EntryPointTLS) -> dict[str, RouterTLS]:
    if not isinstance(entry_points, Mapping):
        return {ep: RouterTLS() for ep in entry_points}
    return {ep: tls if isinstance(tls, RouterTLS) else RouterTLS(options=tls) for ep, tls in entry_points.items()}


class _Build:
    """One build: the services and middleware chains of one generation, and the routes of every router."""

    def __init__(
        self,
        runtime: RuntimeConfig,
        entry_points: Sequence[str],
        pools: PoolRegistry,
        default_transport: TransportOptions,
        entry_point_middlewares: Mapping[str, Sequence[str]],
        internal_services: Mapping[str, Handler],
        tls_entry_points: EntryPointTLS,
        tls: TLSCatalog | None,
        previous: BuildResult | None,
        on_server_status: Callable[[str, str, bool], None] | None,
        wrap_service: Callable[[str, Handler], Handler] | None,
    ) -> None:
        self.runtime = runtime
        self.result = BuildResult(tables={}, runtime=runtime, tls=tls)
        self.routes: dict[str, list[Route]] = {ep: [] for ep in entry_points}
        self.secure_routes: dict[str, list[Route]] = {ep: [] for ep in entry_points}
        self.tls = tls
        # host -> options name per entrypoint, and the hosts whose TLS routers disagree (they get the default).
        self.tls_hosts: dict[str, dict[str, str]] = {ep: {} for ep in entry_points}
        self.tls_conflicts: dict[str, set[str]] = {ep: set() for ep in entry_points}
        self.entry_point_middlewares = entry_point_middlewares
        self.internal_services = internal_services
        self.tls_entry_points = _entry_point_tls(tls_entry_points)
        self.wrap_service = wrap_service
        transports = {name: transport_options(t) for name, t in runtime.servers_transports.items()}
        # Filled by :meth:`steps` with check points (10,000 services held the loop ~1.8 ms here in one block); the
        # service builder reads this same dict, only once the routers are built.
        self.service_defs: dict[str, tuple[str, Service]] = {}
        self.services = ServiceBuilder(
            self.service_defs,
            pools,
            transports,
            default_transport,
            previous.built if previous else None,
            self._service_error,
            on_server_status=on_server_status,
        )
        middleware_defs = {
            name: (info.provider, info.model) for name, info in runtime.middlewares.items() if info.model is not None
        }
        self.chains = MiddlewareBuilder(
            middleware_defs, previous.layers if previous else None, service=self.services.get
        )
        self.environment = Environment.of(
            entry_points,
            entry_point_middlewares,
            self.tls_entry_points,
            tls.options if tls is not None else None,
            tls.broken if tls is not None else {},
            wrap_service,
        )
        self.previous_routers = previous.routers if previous is not None else RouterMemory()
        self.memory = RouterMemory(environment=self.environment)
        self._served: list[ServedRoute] | None = None  # the routes of the router being built (for the memory)

    def steps(self, internal_routes: Mapping[str, Sequence[Route]], generation: int) -> Steps[BuildResult]:
        """Build everything, yielding once a slice has used its time (``slices.slice_spent``) and around each table
        compile."""
        service_defs = self.service_defs
        for count, (name, service_info) in enumerate(self.runtime.services.items(), 1):
            if service_info.model is not None:
                service_defs[name] = (service_info.provider, service_info.model)
            if count % _DEFS_PER_CHECK == 0 and slice_spent():
                yield
        for ep, ep_routes in self.routes.items():
            for route in internal_routes.get(ep, ()):
                # Traefik: on an entrypoint with http.tls the internal routers (API, ping...) are TLS routers too.
                (self.secure_routes[ep] if ep in self.tls_entry_points else ep_routes).append(route)
                self._add_internal_router(route, ep)
        for info in self.runtime.routers.values():
            if not info.internal:
                self._build_router(info)
            if slice_spent():
                yield
        result = self.result
        for ep, ep_routes in self.routes.items():
            yield
            result.tables[ep] = yield from RoutingTable.compile_steps(ep_routes, not_found, generation)
        yield
        self._finish_tls(result, generation)
        result.built = self.services.built
        result.reused_services = self.services.reused
        result.builder = self.services
        result.layers = self.chains.layers
        result.reused_middlewares = self.chains.reused
        result.routers = self.memory
        self.services.seal()  # no reference back to this build: a retired generation is freed by refcounting
        return result

    # -- errors: into the records (what readers see) and the build's log -------------------------------------------
    def _service_error(self, name: str, message: str) -> None:
        self.runtime.services[name].add_error(message, critical=True)
        self.result.add_error(name, message)

    def _middleware_error(self, exc: MiddlewareError) -> None:
        # A middleware that does not exist has no record: its routers carry the error.
        info = self.runtime.middlewares.get(exc.middleware)
        if info is not None:
            info.add_error(str(exc), critical=True)
        self.result.add_error(exc.middleware, str(exc))

    def _router_error(self, info: RouterInfo[Router], message: str, critical: bool) -> None:
        info.add_error(message, critical)
        self.result.add_error(info.name, message)

    # -- routers ----------------------------------------------------------------------------------------------------
    def _add_internal_router(self, route: Route, ep: str) -> None:
        """Record a route of the internal provider (ping, metrics, API, redirections) as a router of ``runtime``."""
        runtime = self.runtime
        info = runtime.routers.get(route.name)
        if info is None:
            model = Router(
                rule=route.rule, service=route.service, priority=route.priority, middlewares=route.middlewares
            )
            info = RouterInfo(
                route.name,
                route.name.partition("@")[2],
                model,
                priority=route.priority,
                service=route.service,
                internal=True,
            )
            runtime.routers[route.name] = info
            if route.service:
                runtime.use_service(route.service, route.name)
            for middleware in route.middlewares:
                runtime.use_middleware(middleware, route.name)
        info.using.append(ep)

    def _build_router(self, info: RouterInfo[Router]) -> None:
        # Incremental rebuilds (routing/reuse.py): a router whose inputs are all unchanged is replayed.
        built = self.previous_routers.candidate(
            info, self.environment, self._service_handler, self.chains.definitions.get
        )
        if built is not None:
            self._replay(info, built)
            return
        model = info.model
        self._served = []
        self._serve_router(info)
        self._apply_entry_point_tls(info)
        served, self._served = self._served, None
        service_handler = self._service_handler(info.service) if info.service else None
        if info.errors or service_handler is None:
            return  # only clean routers are replayed: their errors and log lines are the build's to repeat
        # Its own names (qualified in its provider) and every entrypoint's (qualified already), chains included.
        groups: list[tuple[Sequence[str], str]] = [(model.middlewares, info.provider)]
        groups += [(names, "") for names in self.entry_point_middlewares.values()]
        middlewares = referenced_middlewares(groups, self.chains.definitions)
        remember(self.memory, info, model, service_handler, middlewares, served)

    def _service_handler(self, name: str) -> Handler | None:
        """The service handler a router named ``name`` gets in this generation (built or reused)."""
        internal = self.internal_services.get(name)
        return internal if internal is not None else self.services.get(name)

    def _replay(self, info: RouterInfo[Router], built: BuiltRouter) -> None:
        """Serve the previous generation's routes of ``info``, with their middleware layers (see reuse.py)."""
        chains = self.chains
        for served in built.served:
            if served.secure:
                self.secure_routes[served.ep].append(served.route)
                self._note_tls_hosts(info, served.route, served.ep)  # reads the model as merged, as a build does
            else:
                self.routes[served.ep].append(served.route)
            info.using.append(served.ep)
            for key in served.layers:
                chains.layers[key] = chains.previous[key]
            chains.reused += len(served.layers)
        info.model = built.shown
        self.memory.routers[info.name] = built
        self.memory.replayed += 1

    def _apply_entry_point_tls(self, info: RouterInfo[Router]) -> None:
        """Show the entrypoint's ``http.tls`` as the router's ``tls`` in its record (``/api``), after the build
        served it with it. Traefik's ``applyModel`` copies it into a router without ``tls`` for each entrypoint it
        is on; on several entrypoints the copies become routers of their own (``<ep>-<router>``), which the records
        here are not, so only a router on exactly one such entrypoint gets it."""
        if info.model.tls is not None or len(info.entry_points) != 1:
            return
        ep_tls = self.tls_entry_points.get(info.entry_points[0])
        if ep_tls is not None:
            info.model = msgspec.structs.replace(info.model, tls=ep_tls)

    def _serve_router(self, info: RouterInfo[Router]) -> None:
        router = info.model
        provider = info.provider
        errors: list[str] = []
        route = self._route(info, errors)
        try:
            self.chains.resolve(router.middlewares, provider)
        except MiddlewareError as exc:
            errors.append(str(exc))
            self._middleware_error(exc)
        if router.tls is not None:
            errors.extend(self._tls_options_errors(options_name(router.tls.options, provider)))
            if router.tls.cert_resolver:
                # Certificate resolvers (ACME) are not served yet: say so loudly, serve with the store's certificate.
                message = (
                    f'certResolver "{router.tls.cert_resolver}" is not supported yet: the certificate comes from the'
                    " TLS store"
                )
                log.warning("router %s: %s", info.name, message)
                self._router_error(info, message, critical=False)
        if errors or route is None:
            if route is None:
                # The chain is never built for a router without a route, so a provider's refusal (a Kubernetes
                # route whose service it refused) would show only "service does not exist": say why.
                errors[:0] = self._refusals(router.middlewares, provider)
            for message in errors:
                self._router_error(info, message, critical=True)
            return
        for ep in info.entry_points:
            self._serve_on(info, route, ep)
        if info.errors and not info.using:
            info.status = DISABLED  # every entrypoint refused it: it serves nowhere (Traefik: no valid entrypoint)

    def _refusals(self, names: Sequence[str], provider: str) -> list[str]:
        """The router errors of the provider refusals (``config/refusal.py``) among ``names``, as a build shows them."""
        reasons = []
        for name in names:
            qname = qualify(name, provider)
            definition = self.chains.definitions.get(qname)
            config = None if definition is None else definition[1].config
            if isinstance(config, ProviderRefusal):
                message = f'middleware "{qname}": {config.reason}'
                reasons.append(message)
                self._middleware_error(MiddlewareError(qname, message))
        return reasons

    def _serve_on(self, info: RouterInfo[Router], route: Route, ep: str) -> None:
        ep_routes = self.routes.get(ep)
        if ep_routes is None:
            self._router_error(info, 'entryPoint "' + ep + "\" doesn't exist", critical=False)
            return
        secure = info.model.tls is not None or ep in self.tls_entry_points
        if secure and info.model.tls is None:
            # The entrypoint's http.tls makes the router a TLS router here, with the entrypoint's options.
            problems = self._tls_options_errors(options_name(self.tls_entry_points[ep].options, ""))
            if problems:
                for message in problems:
                    self._router_error(info, message, critical=False)
                return
        chains = self.chains
        ep_middlewares = tuple(self.entry_point_middlewares.get(ep, ()))
        try:
            # Entrypoint middlewares must be qualified already; the router's resolve in its provider.
            names = chains.resolve(ep_middlewares, "") + chains.resolve(route.middlewares, info.provider)
            # Traefik splits a router per entrypoint when the entrypoint adds middlewares (<ep>-<router>).
            instance = f"{ep}-{info.name}" if ep_middlewares else info.name
            service_handler = route.handler
            if self.wrap_service is not None:
                # Tracing: the Service span opens after the router's middlewares.
                service_handler = self.wrap_service(route.service, service_handler)
            layers: list[Any] = []
            handler = chains.wrap(instance, info.provider, names, service_handler, layers)
        except MiddlewareError as exc:
            self._router_error(info, str(exc), critical=False)
            self._middleware_error(exc)
            return
        built = replace(route, handler=handler, middlewares=tuple(names), body_limit=chains.body_limit(names))
        if secure:
            self.secure_routes[ep].append(built)
            self._note_tls_hosts(info, route, ep)
        else:
            ep_routes.append(built)
        info.using.append(ep)
        if self._served is not None:
            self._served.append(ServedRoute(ep, secure, built, tuple(layers)))

    def _route(self, info: RouterInfo[Router], errors: list[str]) -> Route | None:
        """Return the router's route, or None with every error of its rule and its service in ``errors``."""
        router = info.model
        rule_text = router.rule
        compiled = None
        try:
            compiled = compile_rule(rule_text, router.rule_syntax or "v3")
        except ValueError as exc:
            errors.append(f"invalid rule {rule_text!r}: {exc}")
        service_name = info.service
        handler: Handler | None = None
        if not service_name:
            errors.append("the service is missing on the router")
        elif service_name in self.internal_services:
            handler = self.internal_services[service_name]
        elif service_name.endswith("@internal"):
            errors.append(f'the service "{service_name}" does not exist (@internal is reserved)')
        elif service_name not in self.service_defs:
            errors.append(f'the service "{service_name}" does not exist')
        else:
            handler = self.services.get(service_name)
            if handler is None:
                errors.append(f'the service "{service_name}" could not be built')
        if errors or compiled is None or handler is None:
            return None
        observability = router.observability
        overrides = None
        if observability is not None:
            flags = (observability.access_logs, observability.metrics, observability.tracing)
            overrides = None if flags == (None, None, None) else flags
        return Route(
            name=info.name,
            priority=info.priority,
            matches=compiled.matches,
            handler=handler,
            hosts=compiled.hosts,
            host_only=compiled.host_only,
            path_rule=compiled.path_rule,
            rule=rule_text,
            service=service_name,
            middlewares=router.middlewares,  # resolved per entrypoint
            observability=overrides,
        )

    # -- TLS --------------------------------------------------------------------------------------------------------
    def _tls_options_errors(self, name: str) -> list[str]:
        """Why the TLS options ``name`` cannot serve a router ([] when they can)."""
        tls = self.tls
        if tls is None or name in tls.options:
            return []
        broken = tls.broken.get(name)
        return [broken] if broken is not None else [f"unknown TLS options: {name}"]

    def _router_options(self, info: RouterInfo[Router], ep: str) -> str:
        tls = info.model.tls
        if tls is not None:  # its own tls (even {}): Traefik's applyModel copies the entrypoint's only when absent
            return options_name(tls.options, info.provider)
        ep_tls = self.tls_entry_points.get(ep)
        return options_name(ep_tls.options if ep_tls is not None else "", "")

    def _note_tls_hosts(self, info: RouterInfo[Router], route: Route, ep: str) -> None:
        """File the router's ``Host`` names under its TLS options; hosts whose routers disagree get ``default``."""
        if route.hosts is None:
            return
        wanted = self._router_options(info, ep)
        hosts = self.tls_hosts[ep]
        conflicts = self.tls_conflicts[ep]
        for host in route.hosts:
            known = hosts.get(host)
            if known is None and host not in conflicts:
                hosts[host] = wanted
            elif known is not None and known != wanted:
                conflicts.add(host)
                hosts[host] = DEFAULT_OPTIONS
                log.warning(
                    "Found different TLS options for routers on the same host %s, so using the default TLS options"
                    " instead (entryPoint %s)",
                    host,
                    ep,
                )

    def _finish_tls(self, result: BuildResult, generation: int) -> None:
        tls = self.tls
        for ep, ep_routes in self.secure_routes.items():
            hosts = self.tls_hosts[ep]
            if tls is not None:
                tls.hosts[ep] = hosts
                if ep_routes:
                    tls.tls_entry_points.add(ep)
            options_for_host = tls.options_for_host if tls is not None else None
            result.secure_tables[ep] = SecureRoutingTable(
                ep_routes, not_found, generation, entry_point=ep, options_for_host=options_for_host
            )
