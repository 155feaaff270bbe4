"""Least time: the server answering fastest, loaded least (Traefik v3.6's ``leasttime`` strategy).

Each server keeps its last 100 response times (time to the response head, in whole milliseconds as Go's
``Duration.Milliseconds`` truncates them) and a count of requests in flight. A pick scores every healthy server
``average * (1 + in flight) / weight`` and takes the lowest; servers with equal scores (every server before its first
answer, or all of them under a millisecond: an average of 0) are broken by weighted round robin (earliest deadline
first, each pick moving the winner's deadline by ``1/weight``), so a cold or uniformly fast service is balanced by
weight. Servers with weight ≤ 0 are ignored, as in Traefik.

What Traefik measures is the time from handing the request to the server's proxy to the first response byte
(``httptrace.GotFirstResponseByte``); here it is the time until the server's handler returns the response head,
which follows the head's last byte. A request that gets no answer (refused, reset, timed out) adds no sample.

In flight counts from the pick until the response head (Traefik: until the body is copied); see ``p2c.py`` for why.
As in Traefik, a request that a sticky cookie sends to its server is neither counted nor timed: it bypasses the
scoring entirely. Fenced servers (terminating Kubernetes endpoints) take only sticky requests.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from hanzo_edge.http.errors import NoAvailableServer
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.services.status import StatusPropagator
from hanzo_edge.services.sticky import StickyCookie

__all__ = ["SAMPLE_SIZE", "LeastTime"]

SAMPLE_SIZE = 100
"""Response times remembered per server (Traefik's ``sampleSize``): the average is over the last 100 answers."""

# Go truncates a Duration to whole milliseconds; float seconds from a monotonic clock carry an error far below a
# nanosecond, so one nanosecond of slack keeps an exact 50 ms (1000.05 - 1000.0 = 0.04999999999995) at 50.
_NANOSECOND_MS = 1e-6


class _Server:
    __slots__ = (
        "average",
        "deadline",
        "fenced",
        "handler",
        "inflight",
        "name",
        "next_slot",
        "samples",
        "total",
        "up",
        "weight",
    )

    def __init__(self, name: str, weight: float, handler: Handler, deadline: float, fenced: bool) -> None:
        self.name = name
        self.weight = weight
        self.handler = handler
        self.deadline = deadline
        self.fenced = fenced
        self.up = True
        self.inflight = 0
        self.samples: list[int] = []
        self.next_slot = 0
        self.total = 0
        self.average = 0.0
        """The mean of the remembered response times in milliseconds (0 before the first answer): kept up to date by
        :meth:`record`, as every pick reads it for every server."""

    def record(self, seconds: float) -> None:
        """Add one response time to the ring of the last :data:`SAMPLE_SIZE`."""
        ms = int(seconds * 1000.0 + _NANOSECOND_MS) if seconds > 0 else 0
        samples = self.samples
        if len(samples) < SAMPLE_SIZE:
            samples.append(ms)
        else:
            self.total -= samples[self.next_slot]
            samples[self.next_slot] = ms
        self.total += ms
        self.next_slot = (self.next_slot + 1) % SAMPLE_SIZE
        self.average = self.total / len(samples)  # Go's responseTimeSum / float64(sampleCount)


class LeastTime(StatusPropagator):
    """A load-balancing handler sending each request to the healthy server with the lowest least-time score.

    ``clock`` returns monotonic seconds (inject a fake one in tests). Calling raises
    :class:`~hanzo_edge.http.errors.NoAvailableServer` (503 ``no available server``) when no server can be picked.
    """

    __slots__ = ("_by_name", "_clock", "_current", "_healthy", "_servers", "_sticky")

    def __init__(
        self,
        name: str = "",
        *,
        sticky: StickyCookie | None = None,
        health_check_enabled: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name, health_check_enabled)
        self._servers: list[_Server] = []
        self._healthy: list[_Server] = []
        self._by_name: dict[str, _Server] = {}
        self._current = 0.0
        self._sticky = sticky
        self._clock = clock

    def add(self, name: str, weight: float, handler: Handler, fenced: bool = False) -> None:
        """Add a server that starts up (ignored when ``weight`` ≤ 0).

        Each new server's deadline is one step of its weight after the previous one's, as Traefik staggers them, so
        the first ties do not all go to the first server. A ``fenced`` server is never picked; only a request whose
        sticky cookie names it still reaches it.
        """
        if weight <= 0:
            return
        deadline = self._current + 1.0 / weight
        self._current = deadline
        server = _Server(name, weight, handler, deadline, fenced)
        self._servers.append(server)
        self._by_name.setdefault(name, server)
        if not fenced:
            self._healthy.append(server)
        if self._sticky is not None:
            self._sticky.add(name)

    def _next(self) -> _Server:
        healthy = self._healthy
        if not healthy:
            raise NoAvailableServer(self.name)
        if len(healthy) == 1:
            return healthy[0]
        best = healthy[0]
        best_score = best.average * (1 + best.inflight) / best.weight
        tied: list[_Server] | None = None
        for server in healthy[1:]:
            score = server.average * (1 + server.inflight) / server.weight
            if score < best_score:
                best, best_score, tied = server, score, None
            elif score == best_score:
                if tied is None:
                    tied = [best]
                tied.append(server)
        if tied is None:
            return best
        return self._earliest_deadline(tied)

    def _earliest_deadline(self, candidates: list[_Server]) -> _Server:
        # Weighted round robin among equal scores: the earliest deadline wins (the first one on a tie), then moves
        # on by 1/weight from where it was; new servers start after the latest deadline handed out.
        chosen = candidates[0]
        for server in candidates[1:]:
            if server.deadline < chosen.deadline:
                chosen = server
        chosen.deadline += 1.0 / chosen.weight
        if chosen.deadline > self._current:
            self._current = chosen.deadline
        return chosen

    async def _serve(self, server: _Server, req: Request) -> Response:
        server.inflight += 1
        clock = self._clock
        start = clock()
        try:
            resp = await server.handler(req)
        finally:
            server.inflight -= 1
        server.record(clock() - start)
        return resp

    def __call__(self, req: Request) -> Awaitable[Response]:
        if self._sticky is None:
            return self._serve(self._next(), req)
        return self._call_sticky(self._sticky, req)

    async def _call_sticky(self, sticky: StickyCookie, req: Request) -> Response:
        child, rewrite = sticky.lookup(req)
        if child is not None:
            server = self._by_name.get(child)
            if server is not None and server.up:
                resp = await server.handler(req)
                if rewrite:
                    sticky.write(resp, child)
                return resp
        server = self._next()
        resp = await self._serve(server, req)
        sticky.write(resp, server.name)
        return resp

    def set_status(self, name: str, up: bool) -> None:
        """Mark server ``name`` up or down; runs the status updaters when the aggregate status flips.

        A server that comes back keeps its deadline and response times, as in Traefik. Unknown names are ignored."""
        was_up = self.any_up
        changed = False
        for server in self._servers:
            if server.name == name and server.up != up:
                server.up = up
                changed = True
        if changed:
            self._healthy = [s for s in self._servers if s.up and not s.fenced]
        if self.any_up != was_up:
            self._propagate(not was_up)

    def status(self, name: str) -> bool | None:
        """Return whether server ``name`` is up, or None when there is no such server."""
        server = self._by_name.get(name)
        return None if server is None else server.up

    def inflight(self, name: str) -> int:
        """Return the number of requests in flight to server ``name`` (0 for an unknown name)."""
        return sum(s.inflight for s in self._servers if s.name == name)

    def average_ms(self, name: str) -> float:
        """Return the mean response time of server ``name`` in milliseconds (0 before its first answer)."""
        server = self._by_name.get(name)
        return 0.0 if server is None else server.average

    @property
    def any_up(self) -> bool:
        """True when some server is up (a fenced one counts, as in Traefik: it still serves sticky clients)."""
        return any(s.up for s in self._servers)

    def __repr__(self) -> str:
        servers = [(s.name, s.weight, s.up, s.inflight, s.average) for s in self._servers]
        return f"<LeastTime {self.name} {servers}>"
