"""Reload work in slices (round two): the routing table compiled in slices is the table compiled at once, and a
retired generation released piece by piece frees what only it held, never what the new generation shares."""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.routing import slices as slices_module
from hanzo_edge.routing import table as table_module
from hanzo_edge.routing.slices import Steps, release_steps, run_steps, run_steps_async, slice_spent
from hanzo_edge.routing.table import Route, RoutingTable
from hanzo_edge.rules.compile import compile_rule

HOSTS = ["a.test", "b.test", "c.test", "d.test"]
RULES = [
    *(f"Host(`{h}`)" for h in HOSTS),
    "Host(`a.test`) && PathPrefix(`/x`)",
    "Host(`b.test`) || Host(`c.test`)",
    "PathPrefix(`/y`)",
    "Path(`/`)",
]


async def _not_found(req: Request) -> Response:
    return Response(404)


def _route(name: str, rule: str, priority: int) -> Route:
    compiled = compile_rule(rule)

    async def handler(req: Request) -> Response:
        return Response(200)

    return Route(name, priority, compiled.matches, handler, compiled.hosts, compiled.host_only, rule=rule)


def _shape(table: RoutingTable) -> Any:
    """Everything a lookup reads, by router name."""
    by_host = {host: [(c.host_decides, c.route.name) for c in cands] for host, cands in table._by_host.items()}
    return [r.name for r in table.routes], [c.route.name for c in table._any], by_host, table.generation


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(RULES), st.integers(0, 3)), max_size=12),
    st.integers(1, 4),
)
def test_a_table_compiled_in_slices_is_the_table_compiled_at_once(spec: list[tuple[str, int]], per_slice: int) -> None:
    routes = [_route(f"r{i}", rule, priority) for i, (rule, priority) in enumerate(spec)]
    at_once = RoutingTable(routes, _not_found, 3)
    saved = table_module.ROUTES_PER_SLICE
    table_module.ROUTES_PER_SLICE = per_slice  # many check points even for a dozen routes
    saved_deadline = slices_module._deadline
    slices_module._deadline = -math.inf  # every check point finds its slice spent, so each yields
    try:
        steps = RoutingTable.compile_steps(routes, _not_found, 3)
        slices = 0
        while True:
            try:
                next(steps)
                slices += 1
            except StopIteration as done:
                in_slices: RoutingTable = done.value
                break
    finally:
        table_module.ROUTES_PER_SLICE = saved
        slices_module._deadline = saved_deadline
    assert slices >= 2 + (len(routes) // per_slice) * 2  # the fixed yields, then each check point of two loops
    assert _shape(in_slices) == _shape(at_once)
    for host in [*HOSTS, "other.test"]:
        for path in ("/", "/x/1", "/y"):
            req = Request("GET", path, Headers([("host", host)]), host=host)
            twin = Request("GET", path, Headers([("host", host)]), host=host)
            assert in_slices.lookup(req) is at_once.lookup(twin)
            assert req.route is twin.route


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["a", "b", "c", "d"])), max_size=40),
    st.integers(1, 5),
)
def test_the_compile_sort_in_runs_and_merged_is_the_stable_sort_by_priority_then_name(
    spec: list[tuple[int, str]], run: int
) -> None:
    # Duplicate names on purpose: ties must keep the routes' order, as sorted() does.
    routes = [_route(name, "Path(`/`)", priority) for priority, name in spec]
    expected = [id(r) for r in sorted(routes, key=lambda r: (-r.priority, r.name))]
    saved = table_module.ORDER_RUN, table_module.ROUTES_PER_SLICE, slices_module._deadline
    table_module.ORDER_RUN, table_module.ROUTES_PER_SLICE = run, 1  # many runs, a check point at every merged route
    slices_module._deadline = -math.inf  # every check point yields
    try:
        ordered: list[Route] = []
        pieces = sum(1 for _ in table_module._order_steps(routes, ordered))
    finally:
        table_module.ORDER_RUN, table_module.ROUTES_PER_SLICE, slices_module._deadline = saved
    assert [id(r) for r in ordered] == expected
    runs = -(-len(routes) // run)
    assert pieces == runs + (len(routes) if runs > 1 else 0)  # one yield per run sorted, one per route merged
    assert [id(r) for r in RoutingTable(routes, _not_found).routes] == expected


class _Record:
    def __init__(self, name: str, children: list[Any]) -> None:
        self.name = name
        self.children = children


def test_a_release_frees_what_only_the_garbage_held_and_keeps_what_is_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slices_module, "SLICE_SECONDS", 0.0)  # every check point yields
    shared = _Record("shared", [])
    exclusive = [_Record(f"own{i}", [_Record(f"leaf{i}", [])]) for i in range(30_000)]
    watched = [weakref.ref(exclusive[0]), weakref.ref(exclusive[0].children[0]), weakref.ref(exclusive[-1])]
    generation = {"routers": {r.name: r for r in exclusive}, "shared": shared, "list": [shared, shared]}
    del exclusive
    steps = release_steps(generation)
    del generation
    alive_at_yields: list[int] = []

    def watching() -> Steps[None]:
        for _ in steps:
            alive_at_yields.append(sum(ref() is not None for ref in watched))
            yield

    asyncio.run(run_steps_async(watching()))
    assert alive_at_yields, "the release yielded"
    assert alive_at_yields[0] > 0, "the whole tree was not freed in one slice"
    assert [ref() for ref in watched] == [None, None, None]
    assert shared.name == "shared"
    assert shared.children == []  # untouched


def test_what_the_loop_readies_between_slices_runs_before_the_next_slice() -> None:
    order: list[str] = []

    def steps() -> Steps[None]:
        loop = asyncio.get_running_loop()
        loop.call_later(0, order.append, "timer")  # due at once: readied by the next loop iteration
        order.append("slice 1")
        yield
        order.append("slice 2")

    async def scenario() -> None:
        await run_steps_async(steps())

    asyncio.run(scenario())
    assert order == ["slice 1", "timer", "slice 2"]


def test_a_slice_is_spent_only_inside_the_async_driver_once_its_time_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []

    def steps() -> Steps[None]:
        seen.append(slice_spent())  # just started: time left
        started = time.perf_counter()
        while not slice_spent() and time.perf_counter() - started < 5:  # bounded: the budget below is 1 ms
            pass
        seen.append(slice_spent())
        yield
        seen.append(slice_spent())  # a new slice: a new budget

    monkeypatch.setattr(slices_module, "SLICE_SECONDS", 0.001)
    asyncio.run(run_steps_async(steps()))
    assert seen == [False, True, False]
    assert not slice_spent(), "outside a slice nothing is spent"


def test_steps_run_at_once_never_see_their_time_spent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slices_module, "SLICE_SECONDS", 0.0)
    seen: list[bool] = []

    def steps() -> Steps[None]:
        seen.append(slice_spent())
        yield
        seen.append(slice_spent())

    run_steps(steps())
    assert seen == [False, False]
