"""Routers Traefik's ``internal`` provider adds: entrypoint redirection and ``ping``.

Entrypoint redirection (``entryPoints.<ep>.http.redirections.entryPoint``) is the internal router
``<ep>-to-<target>@internal`` with rule ``HostRegexp(`^.+$`)`` (plus ``!PathPrefix(`/.well-known/acme-challenge/`)``
with ``allowACMEByPass``) at priority ``MaxInt-1`` by default, whose middleware is a ``redirectScheme`` to the target
entrypoint's port (omitted when it is the scheme's default port).
"""

from __future__ import annotations

from hanzo_edge.config.middlewares import RedirectScheme as RedirectSchemeConfig
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.http.status import status_text
from hanzo_edge.middlewares.base import BuildContext
from hanzo_edge.middlewares.redirect_scheme import RedirectScheme
from hanzo_edge.routing.table import Route

__all__ = ["PingHandler", "entrypoint_redirect_route", "noop"]

_DEFAULT_PORTS = {"http": "80", "https": "443"}


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
