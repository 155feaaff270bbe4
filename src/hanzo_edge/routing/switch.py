"""``HandlerSwitch``: the one mutable reference between the control plane and the data plane.

A reload builds a whole new :class:`~hanzo_edge.routing.table.RoutingTable` and assigns it here. On one event loop
an attribute assignment is atomic, so a request sees either the old table or the new one, never a mix, and
in-flight requests keep the handlers they already looked up.
"""

from __future__ import annotations

from hanzo_edge.http.messages import Handler, Request
from hanzo_edge.routing.table import RoutingTable

__all__ = ["HandlerSwitch"]


class HandlerSwitch:
    """Holds the current routing table of one entrypoint."""

    __slots__ = ("current",)

    def __init__(self, table: RoutingTable) -> None:
        self.current = table

    def swap(self, table: RoutingTable) -> RoutingTable:
        """Make ``table`` live; return the previous one."""
        previous = self.current
        self.current = table
        return previous

    def lookup(self, req: Request) -> Handler:
        """Return the handler the current table picks for ``req``."""
        return self.current.lookup(req)
