"""``HandlerSwitch``: the one mutable reference between the control plane and the data plane.

A reload builds a whole new :class:`~hanzo_edge.routing.table.RoutingTable` and assigns it here. On one event loop
an attribute assignment is atomic, so a request sees either the old table or the new one, never a mix, and
in-flight requests keep the handlers they already looked up. An entrypoint has two tables, as Traefik has two
handlers per entrypoint: its plain routers and its TLS routers (``secure``); a request goes to the one of its
connection's kind.
"""

from __future__ import annotations

from hanzo_edge.http.messages import Handler, Request
from hanzo_edge.routing.table import RoutingTable

__all__ = ["HandlerSwitch"]


class HandlerSwitch:
    """Holds the current routing tables of one entrypoint (plain connections, TLS connections)."""

    __slots__ = ("current", "secure")

    def __init__(self, table: RoutingTable, secure: RoutingTable | None = None) -> None:
        self.current = table
        self.secure = secure if secure is not None else RoutingTable((), table.not_found, table.generation)

    def swap(self, table: RoutingTable, secure: RoutingTable | None = None) -> RoutingTable:
        """Make ``table`` (and ``secure``, when given) live; return the previous plain table."""
        previous = self.current
        self.current = table
        if secure is not None:
            self.secure = secure
        return previous

    def lookup(self, req: Request) -> Handler:
        """Return the handler the current table of the request's connection kind picks for ``req``."""
        if req.tls:
            return self.secure.lookup(req)
        return self.current.lookup(req)
