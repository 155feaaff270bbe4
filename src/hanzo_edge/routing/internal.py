"""What Traefik's ``internal`` provider adds: the ``@internal`` services and routers the static configuration implies.

:func:`internal_services` and :func:`internal_routes` are the one place that decides which exist; the server
(``IngressApp``) and the offline build of ``ingress check``/``explain`` both call them, so they always agree. They
are pure functions of the static configuration: what cannot be built is returned as a :class:`Diagnostic` for the
caller to log or list, never logged or raised here, so the same call serves a server, ``check`` and a test.

* ``noop@internal`` always exists (an empty 200, the target of the http→https catch-all);
* ``ping@internal`` with ``ping`` (router ``ping@internal``, ``PathPrefix(`/ping`)``, unless ``manualRouting``);
* ``prometheus@internal`` with ``metrics.prometheus`` (router ``prometheus@internal``, ``PathPrefix(`/metrics`)``,
  unless ``manualRouting``);
* ``api@internal`` with ``api``, and ``dashboard@internal`` when ``api.dashboard`` is also true (router
  ``api@internal`` on the ``traefik`` entrypoint only with ``api.insecure``; otherwise users route to it themselves);
* entrypoint redirections (below).

Entrypoint redirection (``entryPoints.<ep>.http.redirections.entryPoint``) is the internal router
``<ep>-to-<target>@internal`` with rule ``HostRegexp(`^.+$`)`` (plus ``!PathPrefix(`/.well-known/acme-challenge/`)``
with ``allowACMEByPass``) at priority ``MaxInt-1`` by default, whose middleware is a ``redirectScheme`` to the target
entrypoint's port (omitted when it is the scheme's default port).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hanzo_edge.config.dynamic import RouterTLS, RouterTLSDomain
from hanzo_edge.config.middlewares import RedirectScheme as RedirectSchemeConfig
from hanzo_edge.config.static import StaticConfig
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.status import status_text
from hanzo_edge.middlewares.base import BuildContext
from hanzo_edge.middlewares.redirect_scheme import RedirectScheme
from hanzo_edge.routing.table import Route

__all__ = [
    "Diagnostic",
    "InternalHandlers",
    "InternalRoutes",
    "PingHandler",
    "entrypoint_redirect_route",
    "internal_routes",
    "internal_services",
    "noop",
    "tls_entry_points",
]

_DEFAULT_PORTS = {"http": "80", "https": "443"}
MAX_PRIORITY = 2**63 - 1


async def noop(req: Request) -> Response:
    """``noop@internal``: an empty 200 (what a request the redirect passes through, or routed here, gets)."""
    return Response(200)


def entrypoint_redirect_route(
    entry_point: str,
    target_name: str,
    target_port: str,
    *,
    scheme: str = "https",
    permanent: bool = True,
    priority: int = 2**63 - 2,
    acme_bypass: bool = False,
) -> Route:
    """Return the internal route that redirects every request of ``entry_point`` to the target entrypoint."""
    # Traefik builds this router from a real redirectScheme middleware over noop@internal, so a request already on
    # the target scheme (e.g. trusted X-Forwarded-Proto: https behind a TLS-terminating balancer) passes through
    # instead of looping.
    port = "" if _DEFAULT_PORTS.get(scheme) == target_port else target_port
    config = RedirectSchemeConfig(scheme=scheme, port=port, permanent=permanent)
    name = f"redirect-{entry_point}-to-{target_name}@internal"
    handler = RedirectScheme(noop, config, name=name, ctx=BuildContext(router=f"{entry_point}-to-{target_name}"))
    if acme_bypass:

        def matches(req: Request) -> bool:
            return bool(req.host) and not req.routing_path.startswith("/.well-known/acme-challenge/")

        rule = "HostRegexp(`^.+$`) && !PathPrefix(`/.well-known/acme-challenge/`)"
    else:

        def matches(req: Request) -> bool:
            return bool(req.host)

        rule = "HostRegexp(`^.+$`)"
    return Route(
        name=f"{entry_point}-to-{target_name}@internal",
        priority=priority,
        matches=matches,
        handler=handler,
        rule=rule,
        service="noop@internal",
        middlewares=(f"redirect-{entry_point}-to-{target_name}@internal",),
    )


class PingHandler:
    """``ping@internal``: ``200 OK`` while serving, ``terminatingStatusCode`` once shutdown started."""

    __slots__ = ("terminating", "terminating_status")

    def __init__(self, terminating_status: int = 503) -> None:
        self.terminating = False
        self.terminating_status = terminating_status

    async def __call__(self, req: Request) -> Response:
        """Answer with the status and its text (Traefik's ``fmt.Fprint(w, http.StatusText(code))``)."""
        status = self.terminating_status if self.terminating else 200
        return Response(status, body=status_text(status).encode("latin-1"))


@dataclass(frozen=True, slots=True)
class InternalHandlers:
    """The handlers behind the ``@internal`` services; a service exists only when the static configuration asks
    for it, whatever is set here (None: the feature is off in this process)."""

    ping: Handler
    prometheus: Handler | None = None
    api: Handler | None = None


def internal_services(static: StaticConfig, handlers: InternalHandlers) -> dict[str, Handler]:
    """Return the ``@internal`` services that exist for ``static``, by qualified name (Traefik's internal provider)."""
    services: dict[str, Handler] = {"noop@internal": noop}
    if static.ping is not None:
        services["ping@internal"] = handlers.ping
    prometheus = static.metrics.prometheus if static.metrics is not None else None
    if prometheus is not None and handlers.prometheus is not None:
        services["prometheus@internal"] = handlers.prometheus
    if static.api is not None and handlers.api is not None:
        services["api@internal"] = handlers.api
        if static.api.dashboard:
            services["dashboard@internal"] = handlers.api
    return services


def _ping_matches(req: Request) -> bool:
    path = req.routing_path
    return path.startswith("/ping") or path == "/healthz"


def _metrics_matches(req: Request) -> bool:
    return req.routing_path.startswith("/metrics")


def _api_matcher(base: str) -> Callable[[Request], bool]:
    prefix = base + "/"

    def api_matches(req: Request) -> bool:
        return req.routing_path.startswith(prefix) or req.routing_path == base

    return api_matches


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """A static option the internal provider could not honour: its path (wire names) and what is wrong."""

    option: str
    message: str

    def __str__(self) -> str:
        """Return ``<option>: <message>`` (the line the server logs and ``ingress check`` prints)."""
        return f"{self.option}: {self.message}"


@dataclass(frozen=True, slots=True)
class InternalRoutes:
    """The routers the internal provider adds, by entrypoint, and what it had to leave out (as errors)."""

    routes: dict[str, list[Route]] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def internal_routes(static: StaticConfig, handlers: InternalHandlers) -> InternalRoutes:
    """Return the routers the internal provider adds, by entrypoint (ping, metrics, insecure API, redirections).

    A redirection to an entrypoint that does not exist is left out with an error diagnostic.
    """
    services = internal_services(static, handlers)
    routes: dict[str, list[Route]] = {}
    diagnostics: list[Diagnostic] = []
    ping = static.ping
    if ping is not None and not ping.manual_routing:
        routes.setdefault(ping.entry_point, []).append(
            Route(
                "ping@internal",
                MAX_PRIORITY,
                _ping_matches,
                services["ping@internal"],
                rule="PathPrefix(`/ping`)",
                service="ping@internal",
            )
        )
    prometheus = static.metrics.prometheus if static.metrics is not None else None
    metrics_handler = services.get("prometheus@internal")
    if prometheus is not None and metrics_handler is not None and not prometheus.manual_routing:
        routes.setdefault(prometheus.entry_point, []).append(
            Route(
                "prometheus@internal",
                MAX_PRIORITY,
                _metrics_matches,
                metrics_handler,
                rule="PathPrefix(`/metrics`)",
                service="prometheus@internal",
                path_rule=(True, "/metrics"),  # _metrics_matches, tested natively: it precedes every router
            )
        )
    api_handler = services.get("api@internal")
    if static.api is not None and static.api.insecure and api_handler is not None:
        base = static.api.base_path.rstrip("/")
        routes.setdefault("traefik", []).append(
            Route(
                "api@internal",
                MAX_PRIORITY - 1,
                _api_matcher(base),
                api_handler,
                rule=f"PathPrefix(`{base}/`)",
                service="api@internal",
            )
        )
    for name, ep in static.entry_points.items():
        redirections = ep.http.redirections
        target = redirections.entry_point if redirections is not None else None
        if target is None or not target.to:
            continue
        if target.to.startswith(":"):
            target_name, target_port = target.to, target.to[1:]
        else:
            target_ep = static.entry_points.get(target.to)
            if target_ep is None:
                option = f"entryPoints.{name}.http.redirections.entryPoint.to"
                diagnostics.append(Diagnostic(option, f"no entryPoint {target.to!r}"))
                continue
            target_name, target_port = target.to, str(target_ep.parsed_address()[1])
        routes.setdefault(name, []).append(
            entrypoint_redirect_route(
                name,
                target_name,
                target_port,
                scheme=target.scheme,
                permanent=target.permanent,
                priority=target.priority,
                acme_bypass=ep.allow_acme_by_pass,
            )
        )
    return InternalRoutes(routes, diagnostics)


def tls_entry_points(static: StaticConfig) -> dict[str, RouterTLS]:
    """Return the entrypoints whose ``http.tls`` makes every router on them a TLS router (Traefik's model), each
    with that ``http.tls`` as a router's ``tls`` (``options`` "" for the ``default`` options, ``certResolver``,
    ``domains``): what Traefik's ``applyModel`` copies into the routers."""
    return {
        name: RouterTLS(
            options=tls.options,
            cert_resolver=tls.cert_resolver,
            domains=tuple(RouterTLSDomain(main=d.main, sans=d.sans) for d in tls.domains),
        )
        for name, ep in static.entry_points.items()
        if (tls := ep.http.tls) is not None
    }
