"""Weighted round robin with earliest-deadline-first scheduling (Traefik's ``wrr`` balancer).

Each server has a deadline that advances by ``1/weight`` when it is picked; the smallest deadline wins (ties go to
the child added first). With equal weights this is plain round robin; with weights 3:1 the first server gets three
picks for every one of the second, interleaved smoothly. Servers with weight ≤ 0 are ignored, as in Traefik.

Health is set per child name with :meth:`WeightedRoundRobin.set_status`; when the balancer's aggregate status flips
(some child up ⇄ none up) the registered status updaters run (see :mod:`hanzo_edge.services.status`). With a
:class:`~hanzo_edge.services.sticky.StickyCookie` the balancer honours and writes the sticky cookie.

Fenced children (Traefik's fenced servers: terminating Kubernetes endpoints) are never picked, but as in Traefik's
status map they keep a health of their own (a sticky client of a fenced child that is down gets a new pick) and an
up one keeps the balancer up for its parents.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence

from hanzo_edge.http.errors import NoAvailableServer
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.services.status import StatusPropagator
from hanzo_edge.services.sticky import StickyCookie

__all__ = ["WeightedRoundRobin"]


class _Entry:
    __slots__ = ("deadline", "handler", "name", "up", "weight")

    def __init__(self, name: str, weight: float, handler: Handler, deadline: float) -> None:
        self.name = name
        self.weight = weight
        self.handler = handler
        self.deadline = deadline
        self.up = True


class WeightedRoundRobin(StatusPropagator):
    """A load-balancing handler over named child handlers. Calling it proxies to the next pick.

    ``children`` are ``(name, weight, handler)``; more can be added with :meth:`add`. ``sticky`` enables sticky
    sessions; ``health_check_enabled`` (the service has a ``healthCheck``) lets parents register status updaters.

    Calling raises :class:`~hanzo_edge.http.errors.NoAvailableServer` when every child is down (or there are none).
    """

    __slots__ = ("_by_name", "_current", "_entries", "_fenced", "_sticky", "_up")

    def __init__(
        self,
        children: Sequence[tuple[str, float, Handler]],
        name: str = "",
        *,
        sticky: StickyCookie | None = None,
        health_check_enabled: bool = False,
    ) -> None:
        super().__init__(name, health_check_enabled)
        self._current = 0.0
        self._entries: list[_Entry] = []
        """The children a pick chooses from (never a fenced one): the per-request loop walks only these."""
        self._fenced: list[_Entry] = []
        """Fenced children: reached only through a sticky cookie, but their health is kept like the others'."""
        self._by_name: dict[str, _Entry] = {}
        self._sticky = sticky
        self._up = 0
        """Children up, fenced ones included (Traefik's status map): the balancer's own status is ``_up > 0``."""
        for child_name, weight, handler in children:
            self.add(child_name, weight, handler)

    def add(self, name: str, weight: float, handler: Handler, fenced: bool = False) -> None:
        """Add a child (ignored when ``weight`` ≤ 0); it starts up, competing from the current deadline.

        A ``fenced`` child (Traefik's fenced server: a terminating Kubernetes endpoint) is never picked; only a
        request whose sticky cookie names it still reaches it.
        """
        if weight <= 0:
            return
        entry = _Entry(name, weight, handler, self._current + 1.0 / weight)
        (self._fenced if fenced else self._entries).append(entry)
        self._by_name.setdefault(name, entry)
        self._up += 1
        if self._sticky is not None:
            self._sticky.add(name)

    def _next(self) -> _Entry:
        entries = self._entries
        if len(entries) == 1:
            only = entries[0]
            if only.up:
                return only
            raise NoAvailableServer(self.name)
        best: _Entry | None = None
        for entry in entries:
            if entry.up and (best is None or entry.deadline < best.deadline):
                best = entry
        if best is None:
            raise NoAvailableServer(self.name)
        self._current = best.deadline
        best.deadline += 1.0 / best.weight
        return best

    def pick(self) -> Handler:
        """Return the next child's handler. Raises NoAvailableServer when none is up."""
        return self._next().handler

    def __call__(self, req: Request) -> Awaitable[Response]:
        # Not a coroutine: return the child's awaitable directly, so balancing adds no frame to the request.
        if self._sticky is None:
            entries = self._entries
            if len(entries) == 1:
                # One server (the usual service): _next()'s answer without its call (a frame per request).
                only = entries[0]
                if only.up:
                    return only.handler(req)
                raise NoAvailableServer(self.name)
            return self._next().handler(req)
        return self._call_sticky(self._sticky, req)

    async def _call_sticky(self, sticky: StickyCookie, req: Request) -> Response:
        child, rewrite = sticky.lookup(req)
        if child is not None:
            entry = self._by_name.get(child)
            if entry is not None and entry.up:
                resp = await entry.handler(req)
                if rewrite:
                    sticky.write(resp, child)
                return resp
        entry = self._next()
        resp = await entry.handler(req)
        sticky.write(resp, entry.name)
        return resp

    def set_status(self, name: str, up: bool) -> None:
        """Mark child ``name`` up or down (a recovered child restarts from the current deadline).

        A fenced child keeps its status too, as in Traefik: down, its sticky clients get a new pick; up, it keeps the
        balancer up for its parents. Runs the status updaters when the balancer's aggregate status flips. Unknown
        names are ignored.
        """
        was_up = self._up > 0
        for entry in (*self._entries, *self._fenced):
            if entry.name == name and entry.up != up:
                entry.up = up
                if up:
                    self._up += 1
                    entry.deadline = self._current + 1.0 / entry.weight
                else:
                    self._up -= 1
        if (self._up > 0) != was_up:
            self._propagate(not was_up)

    def status(self, name: str) -> bool | None:
        """Return whether child ``name`` is up, or None when there is no such child."""
        entry = self._by_name.get(name)
        return None if entry is None else entry.up

    @property
    def any_up(self) -> bool:
        """True when some child is up, a fenced one included (as in Traefik), though only unfenced ones are picked."""
        return self._up > 0

    def __repr__(self) -> str:
        fenced = [(e.name, e.weight, e.up) for e in self._fenced]
        return f"<{type(self).__name__} {self.name} {[(e.name, e.weight, e.up) for e in self._entries]} {fenced=}>"
