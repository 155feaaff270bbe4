"""Power of two random choices (Traefik's ``p2c`` strategy).

Pick two distinct healthy children at random and send the request to the one with fewer requests in flight (the
first of the two on a tie). Weights are ignored, as in Traefik (whose p2c balancer takes every server, even those of
weight ≤ 0).

In-flight accounting: a request counts against its child from the moment it is sent until the child's response
**head** arrives (or the child raises). Traefik counts until the whole response body has been copied; we stop at the
head because the body streams behind the returned :class:`~hanzo_edge.http.messages.Response` and no balancer
frame stays on the stack while it does. For typical request/response APIs the two are close; long streaming
responses (SSE, downloads) are not counted once their head is out.

Fenced children (terminating Kubernetes endpoints) are never picked, but as in Traefik's status map they keep a
health of their own (a sticky client of a fenced child that is down gets a new pick) and an up one keeps the
balancer up for its parents.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from functools import partial

from hanzo_edge.http.errors import NoAvailableServer
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.services.status import StatusPropagator
from hanzo_edge.services.sticky import StickyCookie

__all__ = ["PowerOfTwoChoices"]


class _Entry:
    __slots__ = ("handler", "inflight", "name", "up")

    def __init__(self, name: str, handler: Handler) -> None:
        self.name = name
        self.handler = handler
        self.inflight = 0
        self.up = True


class PowerOfTwoChoices(StatusPropagator):
    """A load-balancing handler choosing the less loaded of two random healthy children.

    ``children`` are ``(name, weight, handler)`` like :class:`~hanzo_edge.services.wrr.WeightedRoundRobin`'s (the
    weight is ignored). ``rand(n)`` returns an int in ``[0, n)`` (inject a deterministic one in tests).

    Calling raises :class:`~hanzo_edge.http.errors.NoAvailableServer` when every child is down (or there are none).
    """

    __slots__ = ("_by_name", "_entries", "_fenced", "_healthy", "_rand", "_sticky")

    def __init__(
        self,
        children: Sequence[tuple[str, float, Handler]],
        name: str = "",
        *,
        sticky: StickyCookie | None = None,
        health_check_enabled: bool = False,
        rand: Callable[[int], int] = random.randrange,
    ) -> None:
        super().__init__(name, health_check_enabled)
        self._entries: list[_Entry] = []
        self._healthy: list[_Entry] = []
        """The unfenced children that are up: what a pick chooses from."""
        self._fenced: list[_Entry] = []
        """Fenced children: reached only through a sticky cookie, but their health is kept like the others'."""
        self._by_name: dict[str, _Entry] = {}
        self._sticky = sticky
        self._rand = rand
        for child_name, weight, handler in children:
            self.add(child_name, weight, handler)

    def add(self, name: str, weight: float, handler: Handler, fenced: bool = False) -> None:
        """Add a child (``weight`` is accepted for symmetry with WRR and ignored); it starts up.

        A ``fenced`` child is never picked; only a request whose sticky cookie names it still reaches it.
        """
        entry = _Entry(name, handler)
        if fenced:
            self._fenced.append(entry)
        else:
            self._entries.append(entry)
            self._healthy.append(entry)
        self._by_name.setdefault(name, entry)
        if self._sticky is not None:
            self._sticky.add(name)

    def _next(self) -> _Entry:
        healthy = self._healthy
        count = len(healthy)
        if count == 0:
            raise NoAvailableServer(self.name)
        if count == 1:
            return healthy[0]
        rand = self._rand
        first = rand(count)
        second = rand(count - 1)
        if second >= first:
            second += 1
        a = healthy[first]
        b = healthy[second]
        return b if b.inflight < a.inflight else a

    def pick(self) -> Handler:
        """Return a handler for the next pick that keeps its in-flight count. Raises NoAvailableServer."""
        return partial(self._serve, self._next())

    def __call__(self, req: Request) -> Awaitable[Response]:
        if self._sticky is None:
            return self._serve(self._next(), req)
        return self._call_sticky(self._sticky, req)

    async def _serve(self, entry: _Entry, req: Request) -> Response:
        entry.inflight += 1
        try:
            return await entry.handler(req)
        finally:
            entry.inflight -= 1

    async def _call_sticky(self, sticky: StickyCookie, req: Request) -> Response:
        child, rewrite = sticky.lookup(req)
        if child is not None:
            entry = self._by_name.get(child)
            if entry is not None and entry.up:
                resp = await self._serve(entry, req)
                if rewrite:
                    sticky.write(resp, child)
                return resp
        entry = self._next()
        resp = await self._serve(entry, req)
        sticky.write(resp, entry.name)
        return resp

    def set_status(self, name: str, up: bool) -> None:
        """Mark child ``name`` up or down; runs the status updaters when the aggregate status flips.

        A fenced child keeps its status too, as in Traefik: down, its sticky clients get a new pick; up, it keeps the
        balancer up for its parents. Unknown names are ignored."""
        was_up = self.any_up
        changed = False
        for entry in (*self._entries, *self._fenced):
            if entry.name == name and entry.up != up:
                entry.up = up
                changed = True
        if changed:
            self._healthy = [e for e in self._entries if e.up]
        if self.any_up != was_up:
            self._propagate(not was_up)

    def inflight(self, name: str) -> int:
        """Return the number of requests in flight to child ``name`` (0 for an unknown name)."""
        return sum(e.inflight for e in (*self._entries, *self._fenced) if e.name == name)

    def status(self, name: str) -> bool | None:
        """Return whether child ``name`` is up, or None when there is no such child."""
        entry = self._by_name.get(name)
        return None if entry is None else entry.up

    @property
    def any_up(self) -> bool:
        """True when some child is up, a fenced one included (as in Traefik), though only unfenced ones are picked."""
        return bool(self._healthy) or any(e.up for e in self._fenced)

    def __repr__(self) -> str:
        fenced = [(e.name, e.inflight, e.up) for e in self._fenced]
        return f"<PowerOfTwoChoices {self.name} {[(e.name, e.inflight, e.up) for e in self._entries]} {fenced=}>"
