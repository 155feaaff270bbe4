"""The per-entrypoint routing table: routers sorted by priority, indexed by host, compiled once per generation.

Traefik scans every router of an entrypoint in priority order. We keep exactly that order but skip the routers that
cannot match: a router whose rule requires ``Host(x)`` on every branch is filed under each such host, and each host's
list is merged in advance with the host-independent routers. A lookup is then one dict probe plus a scan of only the
candidates, so its cost does not grow with the number of hosts.
"""

from __future__ import annotations

import heapq
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, final

from mypy_extensions import mypyc_attr

from hanzo_edge.http.fused_head import FusedHead
from hanzo_edge.http.messages import Handler, Request
from hanzo_edge.http.proxy import ServerTarget
from hanzo_edge.routing.slices import Steps, slice_spent
from hanzo_edge.services.wrr import WeightedRoundRobin

__all__ = ["ROUTES_PER_SLICE", "Route", "RoutingTable", "needs_no_task"]

ROUTES_PER_SLICE = 64
"""Routes (or hosts) compiled between two reads of the clock: a sliced compile yields at those points once its slice
has used ``slices.SLICE_SECONDS`` (a count of routes alone was 3-5 ms per slice for 2,500 routes)."""


@dataclass(frozen=True, slots=True)
class Route:
    """One enabled router on one entrypoint.

    ``matches`` is the compiled rule; ``hosts`` the canonical hosts the rule requires (None when it can match any
    host); ``host_only`` is True when the rule is nothing but those hosts, so a host hit needs no further check.
    """

    name: str
    priority: int
    matches: Callable[[Any], bool]
    handler: Handler
    hosts: frozenset[str] | None = None
    host_only: bool = False
    rule: str = ""
    service: str = ""
    middlewares: tuple[str, ...] = field(default=())
    observability: tuple[bool | None, bool | None, bool | None] | None = None
    """The router's ``observability`` overrides ``(accessLogs, metrics, tracing)``; None inherits the entrypoint's."""
    body_limit: int | None = None
    """The request-body limit its ``buffering`` middleware sets (0: none); None keeps the entrypoint's."""
    path_rule: tuple[bool, str] | None = None
    """``(is_prefix, path)`` when ``matches`` is that literal path test for every request filed under ``hosts``
    (:attr:`hanzo_edge.rules.compile.CompiledRule.path_rule`): the table then tests the path natively."""


# How a candidate decides, after the host index picked its list. Final: inlined in the compiled build (a plain
# module global is a dict lookup at every use).
_HOST_DECIDES: Final = 0  # the host alone: a hit
_PATH_PREFIX: Final = 1  # routing_path.startswith(text)
_PATH_EQUALS: Final = 2  # routing_path == text
_CALL: Final = 3  # the rule's closure


@final
class _Candidate:
    """One route of a host's list (or of the host-independent list), with how a lookup tests it.

    A literal path rule is tested here, natively in the compiled build, instead of through its interpreted closure
    (issue 22: the ``/metrics`` router sits before every router of its entrypoint and cost 0.16 us a request).
    """

    __slots__ = ("handler", "matches", "route", "task_free", "test", "text")

    def __init__(self, route: Route, host_hit: bool, task_free: bool) -> None:
        self.route = route
        self.handler = route.handler
        self.matches = route.matches
        self.task_free = task_free
        path_rule = route.path_rule
        self.text = ""
        if host_hit:
            self.test = _HOST_DECIDES
        elif path_rule is not None:
            self.test = _PATH_PREFIX if path_rule[0] else _PATH_EQUALS
            self.text = path_rule[1]
        else:
            self.test = _CALL

    @property
    def host_decides(self) -> bool:
        """True when the host index hit alone selects the route."""
        return self.test == _HOST_DECIDES


_CHAIN_DEPTH = 8  # services nest a few levels at most; deeper is treated as needing a Task
# ServerTarget dials through asyncio.wait_for, which needs a current Task from Python 3.12 on (it became
# asyncio.timeout there); 3.12 also has eager task factories to use instead.
_DIAL_NEEDS_NO_TASK = sys.version_info < (3, 12)


def needs_no_task(handler: Handler, depth: int = 0) -> bool:
    """True when serving a request through ``handler`` needs no asyncio Task (``Request.task_free``).

    ``HttpProtocol`` then drives the request's coroutine itself, which saves the Task and its loop step per request
    but leaves ``asyncio.current_task()`` None, so ``asyncio.timeout`` and anything else that needs a Task would
    fail. Only chains known to need none qualify: fused head-only middlewares (plain calls) around round-robin
    balancers of HTTP/1.1 servers (``ServerTarget``: a pooled exchange awaiting one future; its dial uses
    ``wait_for``, which needs no current task on Python 3.11). Anything else keeps its Task.
    """
    if depth > _CHAIN_DEPTH:
        return False
    if type(handler) is FusedHead:
        return needs_no_task(handler.next, depth + 1)
    if type(handler) is ServerTarget:
        return _DIAL_NEEDS_NO_TASK
    if type(handler) is WeightedRoundRobin:
        # Every child, fenced ones included (a sticky cookie still reaches them).
        return all(needs_no_task(entry.handler, depth + 1) for entry in handler._by_name.values())
    return False


ORDER_RUN = 512
"""Routes sorted in one piece of the compile's sort: 10,000 routes sorted at once held the loop 1.2-3 ms; runs of
512 are sorted in a tenth of a millisecond each and then merged with check points."""


def _order_steps(routes: Sequence[Route], ordered: list[Route]) -> Iterator[None]:
    """Fill ``ordered`` with ``routes`` highest priority first, ties by router name then by position (a stable sort:
    Traefik leaves ties undefined), yielding at check points once the slice is spent.

    The same order ``sorted(routes, key=(-priority, name))`` gives, as a merge sort in pieces: runs of
    :data:`ORDER_RUN` routes sorted on plain key tuples, then merged (the position in each key makes every key
    distinct, so neither the runs' sort nor the merge ever compares two routes or depends on stability)."""
    runs: list[list[tuple[int, str, int]]] = []
    for start in range(0, len(routes), ORDER_RUN):
        run = [(-routes[i].priority, routes[i].name, i) for i in range(start, min(start + ORDER_RUN, len(routes)))]
        run.sort()
        runs.append(run)
        if slice_spent():
            yield
    if len(runs) == 1:
        ordered.extend(routes[key[2]] for key in runs[0])
        return
    for count, key in enumerate(heapq.merge(*runs), 1):
        ordered.append(routes[key[2]])
        if count % ROUTES_PER_SLICE == 0 and slice_spent():
            yield


# Compiled build: open to interpreted subclasses (the TLS 421 table, gin's table, the sidecar's).
@mypyc_attr(allow_interpreted_subclasses=True)
class RoutingTable:
    """Immutable routing table of one entrypoint. :meth:`lookup` returns the handler for a request."""

    __slots__ = ("_any", "_by_host", "generation", "not_found", "routes")

    def __init__(self, routes: Sequence[Route], not_found: Handler, generation: int = 0) -> None:
        for _ in self._compile(routes, not_found, generation):
            pass

    @staticmethod
    def compile_steps(routes: Sequence[Route], not_found: Handler, generation: int = 0) -> Steps[RoutingTable]:
        """Compile the table as slices that yield once a slice has used its time (``slices.slice_spent``, read
        every :data:`ROUTES_PER_SLICE` routes or hosts; 10,000 routes are 15-30 ms in one block); the result is the
        same table ``RoutingTable(routes, not_found, generation)`` is. The table is only handed out complete, so the
        caller's swap stays one reference assignment."""
        # An empty table refilled in slices: the compiled build (mypyc) has no ``cls.__new__(cls)``.
        table = RoutingTable((), not_found, generation)
        yield from table._compile(routes, not_found, generation)
        return table

    def _compile(self, routes: Sequence[Route], not_found: Handler, generation: int) -> Iterator[None]:
        ordered: list[Route] = []
        yield from _order_steps(routes, ordered)
        yield
        self.routes: tuple[Route, ...] = tuple(ordered)
        self.not_found = not_found
        self.generation = generation
        task_free: dict[int, bool] = {}
        for index, route in enumerate(ordered):
            task_free[id(route)] = needs_no_task(route.handler)
            if index % ROUTES_PER_SLICE == ROUTES_PER_SLICE - 1 and slice_spent():
                yield
        self._any: tuple[_Candidate, ...] = tuple(
            _Candidate(r, False, task_free[id(r)]) for r in ordered if r.hosts is None
        )
        # One pass files each host-bound route under its hosts; then each host's list is merged with the
        # host-independent routes in priority order. Cost: O(routes + hosts x host-independent routes).
        per_host: dict[str, list[tuple[int, Route]]] = {}
        any_routes: list[tuple[int, Route]] = []
        for index, route in enumerate(ordered):
            if route.hosts is None:
                any_routes.append((index, route))
            else:
                for host in route.hosts:
                    per_host.setdefault(host, []).append((index, route))
            if index % ROUTES_PER_SLICE == ROUTES_PER_SLICE - 1 and slice_spent():
                yield
        yield
        by_host: dict[str, tuple[_Candidate, ...]] = {}
        for count, (host, own) in enumerate(per_host.items(), 1):
            cands: list[_Candidate] = []
            i = j = 0
            while i < len(own) or j < len(any_routes):
                if j >= len(any_routes) or (i < len(own) and own[i][0] < any_routes[j][0]):
                    route = own[i][1]
                    i += 1
                    if route.host_only:
                        cands.append(_Candidate(route, True, task_free[id(route)]))
                        break  # nothing below an unconditional match can win
                    cands.append(_Candidate(route, False, task_free[id(route)]))
                else:
                    route = any_routes[j][1]
                    j += 1
                    cands.append(_Candidate(route, False, task_free[id(route)]))
            by_host[host] = tuple(cands)
            if count % ROUTES_PER_SLICE == 0 and slice_spent():
                yield
        self._by_host = by_host

    def lookup(self, req: Request) -> Handler:
        """Return the handler of the highest-priority router matching ``req`` (recorded in ``req.route``), else the
        not-found handler."""
        for cand in self._by_host.get(req.host, self._any):
            test = cand.test
            if test == _HOST_DECIDES:
                pass
            elif test == _PATH_PREFIX:
                if not req.routing_path.startswith(cand.text):
                    continue
            elif test == _PATH_EQUALS:
                if req.routing_path != cand.text:
                    continue
            elif not cand.matches(req):
                continue
            req.route = cand.route
            req.task_free = cand.task_free
            return cand.handler
        return self.not_found

    def match(self, req: Request) -> Route | None:
        """Return the matching :class:`Route` itself (for ``explain`` and tests), scanning in priority order."""
        for route in self.routes:
            if route.hosts is not None and req.host not in route.hosts:
                continue
            if route.matches(req):
                return route
        return None

    def __len__(self) -> int:
        return len(self.routes)

    def __repr__(self) -> str:
        return f"<RoutingTable gen={self.generation} routes={len(self.routes)} hosts={len(self._by_host)}>"
