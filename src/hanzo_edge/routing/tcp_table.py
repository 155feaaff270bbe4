"""One entrypoint's TCP routers, and the order in which a connection meets them and the HTTP routers.

Traefik's TCP router (``pkg/server/router/tcp/router.go``, ``ServeTCP``) decides per connection:

1. When the entrypoint has plain TCP routers but neither TLS TCP routers nor HTTPS routers, a plain router is
   matched at once, before the client says anything (server-first protocols work); no match goes on below.
2. Otherwise the first byte is read (bounded by ``readTimeout``). Not a TLS handshake: the first plain TCP router
   that matches takes the connection, else HTTP.
3. A ClientHello: an HTTPS router naming the server (``Host`` rule) wins first; then a TLS TCP router that is not
   the catch-all; then an HTTPS router without a host; then the TLS TCP catch-all (``HostSNI(`*`)``); else HTTPS
   (whose routers answer 404).

:class:`TCPTable` holds the routes sorted once per generation (priority descending, then name) and answers those
questions; the connection stage (``server/tls_stage.py``) asks them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hanzo_edge.middlewares.tcp_admission import Admission, Release, admit
from hanzo_edge.rules.tcp_matchers import CompiledTCPRule, TCPConnInfo
from hanzo_edge.services.tcp_balancer import Balancer, TCPServerTarget

__all__ = ["TCPRoute", "TCPTable"]


@dataclass(frozen=True, slots=True)
class TCPRoute:
    """A served TCP router on one entrypoint.

    ``tls``: None for a plain router, else the name of the TLS options its termination uses; ``passthrough``
    forwards the TLS bytes as they are instead.
    """

    name: str
    priority: int
    rule: CompiledTCPRule
    service: Balancer
    admission: tuple[Admission, ...] = ()
    tls: str | None = None
    passthrough: bool = False

    def admit(self, client_ip: str) -> list[Release] | None:
        """Run the router's middlewares for a new connection (see ``middlewares/tcp_admission.py``)."""
        return admit(self.admission, client_ip)

    def pick(self) -> TCPServerTarget | None:
        """The server of a new connection."""
        target = self.service.pick()
        return target if isinstance(target, TCPServerTarget) else None

    @property
    def catch_all(self) -> bool:
        """The rule is exactly ``HostSNI(`*`)``."""
        return self.rule.catch_all


def _ordered(routes: Sequence[TCPRoute]) -> tuple[TCPRoute, ...]:
    return tuple(sorted(routes, key=lambda route: (-route.priority, route.name)))


def _first(routes: tuple[TCPRoute, ...], conn: TCPConnInfo) -> TCPRoute | None:
    for route in routes:
        if route.rule.matches(conn):
            return route
    return None


class TCPTable:
    """See the module docstring. ``https_hosts``: the server names HTTPS routers of this entrypoint name in
    ``Host`` rules; ``https_catch_all``: some HTTPS router names no host; ``https``: HTTPS routers exist at all."""

    __slots__ = ("https", "https_catch_all", "https_hosts", "plain", "secure")

    def __init__(
        self,
        routes: Sequence[TCPRoute],
        *,
        https_hosts: frozenset[str] = frozenset(),
        https_catch_all: bool = False,
        https: bool = False,
    ) -> None:
        self.plain = _ordered([route for route in routes if route.tls is None])
        self.secure = _ordered([route for route in routes if route.tls is not None])
        self.https_hosts = https_hosts
        self.https_catch_all = https_catch_all
        self.https = https

    @property
    def active(self) -> bool:
        """Some TCP router serves here (otherwise the entrypoint is HTTP only)."""
        return bool(self.plain or self.secure)

    def early(self, client_ip: str) -> TCPRoute | None:
        """Step 1: the plain router that takes a connection before its first byte, if the entrypoint allows it."""
        if not self.plain or self.secure or self.https:
            return None
        return _first(self.plain, TCPConnInfo("", client_ip))

    def match_plain(self, client_ip: str) -> TCPRoute | None:
        """Step 2: the plain router of a connection whose first byte is no TLS handshake (None: HTTP)."""
        return _first(self.plain, TCPConnInfo("", client_ip)) if self.plain else None

    def match_tls(self, server_name: str, alpn: tuple[str, ...], client_ip: str) -> TCPRoute | None:
        """Step 3: the TLS router of a ClientHello (None: HTTPS takes the connection)."""
        if not self.secure:
            return None
        if server_name in self.https_hosts:
            return None
        found = _first(self.secure, TCPConnInfo(server_name, client_ip, alpn))
        if found is None or (found.catch_all and self.https_catch_all):
            return None
        return found
