"""The routing table of an entrypoint's TLS connections, with Traefik's domain-fronting check (421).

A TLS connection's options were chosen from its SNI; a request on it whose ``Host`` maps to other TLS options (a
client that handshook for ``a.example`` with weak options and then asks for ``b.example``, which requires client
certificates) is answered ``421 Misdirected Request`` before any router sees it, as Traefik does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.routing.table import Route, RoutingTable

__all__ = ["SecureRoutingTable", "misdirected"]


async def misdirected(req: Request) -> Response:
    """Go's ``http.Error(rw, "Misdirected Request", 421)``."""
    return Response.text(421, "Misdirected Request\n")


class SecureRoutingTable(RoutingTable):
    """A :class:`RoutingTable` of TLS routers; ``options_for_host(entry_point, host)`` names a host's options."""

    __slots__ = ("_options_by_host", "entry_point", "options_for_host")

    def __init__(
        self,
        routes: Sequence[Route],
        not_found: Handler,
        generation: int = 0,
        *,
        entry_point: str = "",
        options_for_host: Callable[[str, str], str] | None = None,
    ) -> None:
        super().__init__(routes, not_found, generation)
        self.entry_point = entry_point
        self.options_for_host = options_for_host
        # Host → its options name, filled as hosts are seen: this generation's answer never changes, and a
        # keep-alive connection asks it for the same host at every request (one dict probe instead of the
        # exact/wildcard resolution). Bounded: hosts come from clients.
        self._options_by_host: dict[str, str] = {}

    def lookup(self, req: Request) -> Handler:
        """421 when the request's host needs other TLS options than its connection's, else the usual lookup."""
        connection_options = req.tls_options
        if connection_options and self.options_for_host is not None:
            wanted = self._options_by_host.get(req.host)
            if wanted is None:
                wanted = self._resolve(req.host)
            if wanted != connection_options:
                return misdirected
        return RoutingTable.lookup(self, req)

    def _resolve(self, host: str) -> str:
        options_for_host = self.options_for_host
        wanted = options_for_host(self.entry_point, host) if options_for_host is not None else ""
        memo = self._options_by_host
        if len(memo) >= 4096:
            memo.clear()
        memo[host] = wanted
        return wanted
