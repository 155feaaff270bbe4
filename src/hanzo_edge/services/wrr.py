"""Weighted round robin with earliest-deadline-first scheduling (Traefik's ``wrr`` balancer).

Each server has a deadline that advances by ``1/weight`` when it is picked; the smallest deadline wins. With equal
weights this is plain round robin; with weights 3:1 the first server gets three picks for every one of the second,
interleaved smoothly. Servers with weight ≤ 0 are ignored, as in Traefik. Health is set per server name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence

from hanzo_edge.http.errors import NoAvailableServer
from hanzo_edge.http.messages import Handler, Request, Response

__all__ = ["WeightedRoundRobin"]


class _Entry:
    __slots__ = ("deadline", "handler", "name", "up", "weight")

    def __init__(self, name: str, weight: float, handler: Handler, deadline: float) -> None:
        self.name = name
        self.weight = weight
        self.handler = handler
        self.deadline = deadline
        self.up = True


class WeightedRoundRobin:
    """A load-balancing handler over named child handlers. Calling it proxies to the next pick.

    Raises :class:`~hanzo_edge.http.errors.NoAvailableServer` when every child is down (or there are none).
    """

    __slots__ = ("_current", "_entries", "name")

    def __init__(self, children: Sequence[tuple[str, float, Handler]], name: str = "") -> None:
        self.name = name
        self._current = 0.0
        self._entries: list[_Entry] = []
        for child_name, weight, handler in children:
            if weight > 0:
                self._entries.append(_Entry(child_name, weight, handler, 1.0 / weight))

    def pick(self) -> Handler:
        """Return the next child's handler. Raises NoAvailableServer when none is up."""
        entries = self._entries
        if len(entries) == 1:
            only = entries[0]
            if only.up:
                return only.handler
            raise NoAvailableServer(self.name)
        best: _Entry | None = None
        for entry in entries:
            if entry.up and (best is None or entry.deadline < best.deadline):
                best = entry
        if best is None:
            raise NoAvailableServer(self.name)
        self._current = best.deadline
        best.deadline += 1.0 / best.weight
        return best.handler

    def __call__(self, req: Request) -> Awaitable[Response]:
        # Not a coroutine: return the child's awaitable directly, so balancing adds no frame to the request.
        return self.pick()(req)

    def set_status(self, name: str, up: bool) -> None:
        """Mark child ``name`` up or down (a recovered child restarts from the current deadline)."""
        for entry in self._entries:
            if entry.name == name and entry.up != up:
                entry.up = up
                if up:
                    entry.deadline = self._current + 1.0 / entry.weight

    @property
    def any_up(self) -> bool:
        """True when at least one child can take traffic."""
        return any(e.up for e in self._entries)

    def __repr__(self) -> str:
        return f"<WeightedRoundRobin {self.name} {[(e.name, e.weight, e.up) for e in self._entries]}>"
