"""Routers Traefik's ``internal`` provider adds: entrypoint redirection and ``ping``.

Entrypoint redirection (``entryPoints.<ep>.http.redirections.entryPoint``) is the internal router
``<ep>-to-<target>@internal`` with rule ``HostRegexp(`^.+$`)`` (plus ``!PathPrefix(`/.well-known/acme-challenge/`)``
with ``allowACMEByPass``) at priority ``MaxInt-1`` by default, whose middleware is a ``redirectScheme`` to the target
entrypoint's port (omitted when it is the scheme's default port).
"""

from __future__ import annotations

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.http.status import status_text
from hanzo_edge.routing.table import Route

__all__ = ["PingHandler", "RedirectSchemeHandler", "entrypoint_redirect_route"]

_DEFAULT_PORTS = {"http": "80", "https": "443"}


class RedirectSchemeHandler:
    """Traefik's ``redirectScheme``: 302/307 (temporary) or 301/308 (permanent), by request method."""

    __slots__ = ("permanent", "port", "scheme")

    def __init__(self, scheme: str = "https", port: str = "", permanent: bool = False) -> None:
        self.scheme = scheme
        self.permanent = permanent
        self.port = "" if _DEFAULT_PORTS.get(scheme) == port else port

    def location(self, req: Request) -> str:
        """Return the ``Location`` for ``req``."""
        host = req.host
        if ":" in host:
            host = f"[{host}]"  # an IPv6 literal
        port = f":{self.port}" if self.port else ""
        return f"{self.scheme}://{host}{port}{req.url_path}"

    async def __call__(self, req: Request) -> Response:
        """Answer with the redirect (body: the status text, as Traefik writes it)."""
        get = req.method == "GET"
        status = (301 if get else 308) if self.permanent else (302 if get else 307)
        headers = Headers([(b"Location", self.location(req).encode("latin-1"))])
        return Response(status, headers, status_text(status).encode("latin-1"))


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
    handler = RedirectSchemeHandler(scheme, target_port, permanent)
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
