"""Incremental rebuilds (routing/reuse.py): a build given the previous generation answers exactly as a fresh build,
and really reuses the routers, services and middleware layers whose inputs did not change."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.api.runtime import RuntimeView
from hanzo_edge.config.dynamic import Configuration, decode_dynamic
from hanzo_edge.config.static import StaticConfig
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.routing.build import BuildResult, build_tables
from hanzo_edge.routing.service_builder import retire

ENTRY_POINTS = ["web", "websecure"]
RULES = [
    "Host(`a.test`)",
    "Host(`b.test`) && PathPrefix(`/x`)",
    "PathPrefix(`/y`)",
    "Host(`a.test`) || Host(`c.test`)",
    "Host(",  # does not compile: the router is disabled
]
SERVICES = ["s1", "s2", "w", "missing"]
MIDDLEWARES = ["prefix", "strip", "both", "loop", "missing"]
REQUESTS = [(host, path) for host in ("a.test", "b.test", "c.test", "d.test") for path in ("/", "/x/1", "/y")]


def _request(host: str, path: str) -> Request:
    return Request("GET", path, Headers([("host", host)]), host=host)


routers = st.dictionaries(
    st.sampled_from([f"r{i}" for i in range(6)]),
    st.fixed_dictionaries(
        {"rule": st.sampled_from(RULES), "service": st.sampled_from(SERVICES)},
        optional={
            "priority": st.integers(0, 3),
            "middlewares": st.lists(st.sampled_from(MIDDLEWARES), max_size=2),
            "entryPoints": st.lists(st.sampled_from([*ENTRY_POINTS, "nowhere"]), min_size=1, max_size=2, unique=True),
            "tls": st.sampled_from([{}, {"options": "strict"}, {"options": "unknown"}]),
        },
    ),
    max_size=5,
)
configs = st.fixed_dictionaries(
    {
        "routers": routers,
        "ports": st.tuples(st.integers(1, 3), st.integers(1, 3)),
        "prefix": st.sampled_from(["/p", "/q"]),
        "both": st.sampled_from([["prefix", "strip"], ["strip"], ["prefix"]]),
        "weights": st.tuples(st.integers(1, 2), st.integers(1, 2)),
        "tls_min": st.sampled_from(["VersionTLS12", "VersionTLS13"]),
        "strict": st.booleans(),
    }
)


@st.composite
def edits(draw: st.DrawFn, spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with a few things changed: some of the shared settings, and one router added, changed or removed."""
    other = draw(configs)
    keys = draw(st.lists(st.sampled_from(sorted(k for k in other if k != "routers")), max_size=2, unique=True))
    edited = {**spec, **{key: other[key] for key in keys}}
    router_set = dict(spec["routers"])
    name = draw(st.sampled_from([f"r{i}" for i in range(6)]))
    replacement = other["routers"].get(name)
    if replacement is None:
        router_set.pop(name, None)
    else:
        router_set[name] = replacement
    edited["routers"] = router_set
    return edited


def _configuration(spec: dict[str, Any]) -> Configuration:
    port1, port2 = spec["ports"]
    w1, w2 = spec["weights"]
    http = {
        "routers": spec["routers"],
        "services": {
            "s1": {"loadBalancer": {"servers": [{"url": f"http://127.0.0.1:{port1}"}]}},
            "s2": {"loadBalancer": {"servers": [{"url": f"http://127.0.0.1:{port2}"}]}},
            "w": {"weighted": {"services": [{"name": "s1", "weight": w1}, {"name": "s2", "weight": w2}]}},
        },
        "middlewares": {
            "prefix": {"addPrefix": {"prefix": spec["prefix"]}},
            "strip": {"stripPrefix": {"prefixes": ["/x"]}},
            "both": {"chain": {"middlewares": spec["both"]}},
            "loop": {"chain": {"middlewares": ["loop"]}},
        },
    }
    tls = {"options": {"strict": {"minVersion": spec["tls_min"]}} if spec.get("strict", True) else {}}
    config, _ = decode_dynamic({"http": http, "tls": tls})
    return config


def _build(config: Configuration, previous: BuildResult | None, pools: PoolRegistry) -> BuildResult:
    return build_tables({"file": config}, ENTRY_POINTS, ENTRY_POINTS, pools, TransportOptions(), previous=previous)


def _answers(result: BuildResult) -> list[Any]:
    """What each table answers for every generated request: the route's name, middlewares, service and limit."""
    out: list[Any] = []
    for tables in (result.tables, result.secure_tables):
        for ep in ENTRY_POINTS:
            table = tables[ep]
            for host, path in REQUESTS:
                req = _request(host, path)
                handler = table.lookup(req)
                route = req.route if handler is not table.not_found else None
                if route is None:
                    out.append(None)
                    continue
                # The configurations its middleware layers were built from (a stale layer would show here). A set:
                # a fresh build gives a router on two entrypoints a layer per entrypoint where the next generation's
                # reuse shares one (middleware_builder keys layers by what they wrap), which serves alike.
                layers = sorted({repr((key[1], key[2])) for key in result.layers if key[0].endswith(route.name)})
                out.append((ep, route.name, route.priority, route.middlewares, route.service, route.body_limit, layers))
    return out


def _api(config: Configuration, result: BuildResult) -> dict[str, Any]:
    return RuntimeView(StaticConfig(), {"file": config}, result).rawdata()


@settings(max_examples=300, deadline=None)
@given(data=st.data(), before=configs)
def test_incremental_build_answers_as_a_fresh_build(data: st.DataObject, before: dict[str, Any]) -> None:
    after = data.draw(edits(before))
    again = data.draw(edits(after))
    pools = PoolRegistry()
    first = _build(_configuration(before), None, pools)
    incremental = _build(_configuration(after), first, pools)
    fresh = _build(_configuration(after), None, PoolRegistry())
    assert _answers(incremental) == _answers(fresh)
    assert _api(_configuration(after), incremental) == _api(_configuration(after), fresh)
    assert incremental.errors == fresh.errors
    # A third generation from the incremental one: what was replayed can be replayed again.
    third = _build(_configuration(again), incremental, pools)
    assert _answers(third) == _answers(_build(_configuration(again), None, PoolRegistry()))
    assert _api(_configuration(again), third) == _api(
        _configuration(again), _build(_configuration(again), None, PoolRegistry())
    )


SPEC: dict[str, Any] = {
    "routers": {
        "plain": {"rule": "Host(`a.test`)", "service": "s1"},
        "chained": {"rule": "Host(`b.test`)", "service": "s2", "middlewares": ["both"]},
        "changing": {"rule": "Host(`c.test`)", "service": "s2"},
    },
    "ports": (1, 2),
    "prefix": "/p",
    "both": ["prefix", "strip"],
    "weights": (1, 1),
    "tls_min": "VersionTLS12",
}


def _routes(result: BuildResult) -> dict[str, Any]:
    return {route.name: route for route in result.tables["web"].routes}


def test_unchanged_routers_keep_their_routes_and_layers() -> None:
    pools = PoolRegistry()
    first = _build(_configuration(SPEC), None, pools)
    edited = {**SPEC, "routers": {**SPEC["routers"], "changing": {"rule": "Host(`d.test`)", "service": "s2"}}}
    second = _build(_configuration(edited), first, pools)
    before, after = _routes(first), _routes(second)
    assert after["plain@file"] is before["plain@file"]
    assert after["chained@file"] is before["chained@file"], "the whole chain (its layers) is the same instance"
    assert after["changing@file"] is not before["changing@file"]
    assert after["changing@file"].rule == "Host(`d.test`)"
    assert second.routers.replayed == 2
    assert set(second.layers) == set(first.layers), "the replayed router's layers stay for the next generation"
    assert all(second.layers[key] is first.layers[key] for key in first.layers)


def test_a_changed_middleware_or_service_rebuilds_its_routers_only() -> None:
    pools = PoolRegistry()
    first = _build(_configuration(SPEC), None, pools)
    second = _build(_configuration({**SPEC, "prefix": "/other"}), first, pools)
    assert _routes(second)["plain@file"] is _routes(first)["plain@file"]
    assert _routes(second)["chained@file"] is not _routes(first)["chained@file"]
    third = _build(_configuration({**SPEC, "prefix": "/other", "ports": (1, 3)}), second, pools)
    routes = _routes(third)
    assert routes["plain@file"] is _routes(second)["plain@file"], "s1 unchanged"
    assert routes["changing@file"] is not _routes(second)["changing@file"], "s2 has a new server"
    assert third.services["s2@file"] is not second.services["s2@file"]
    assert third.services["s1@file"] is second.services["s1@file"]


def test_a_chain_whose_members_change_is_rebuilt() -> None:
    pools = PoolRegistry()
    first = _build(_configuration(SPEC), None, pools)
    second = _build(_configuration({**SPEC, "both": ["strip"]}), first, pools)
    assert _routes(second)["chained@file"] is not _routes(first)["chained@file"]
    assert _routes(second)["chained@file"].middlewares == ("strip@file",)


def test_retired_services_are_cancelled_and_kept_ones_are_not() -> None:
    async def scenario() -> None:
        pools = PoolRegistry()
        first = _build(_configuration(SPEC), None, pools)
        first.activate()
        second = _build(_configuration({**SPEC, "ports": (1, 3)}), first, pools)
        second.activate()
        assert retire(first.built, second.built) >= 1
        kept, changed = first.built["s1@file"][2], first.built["s2@file"][2]
        assert kept is not None
        assert changed is not None
        assert second.built["s1@file"][2] is kept
        assert not kept._closed, "TaskScope has no public flag"
        assert changed._closed

    asyncio.run(scenario())


def test_a_retired_generation_is_freed_without_the_cycle_collector() -> None:
    """No reference cycle ties a generation together, so reference counting frees it at the swap (the frozen-heap
    policy would otherwise pay a full collection every other reload)."""
    pools = PoolRegistry()
    first = _build(_configuration(SPEC), None, pools)
    second = _build(_configuration({**SPEC, "ports": (1, 3)}), first, pools)
    gc.collect()
    gc.disable()
    try:
        third = _build(_configuration({**SPEC, "ports": (2, 3)}), second, pools)
        del first, second
        assert gc.collect() == 0, "a retired generation left cyclic garbage"
        assert third.routers.replayed == 2
    finally:
        gc.enable()
