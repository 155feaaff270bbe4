"""Routers are wired through the middleware registry: order, chains, precise errors, state kept across reloads."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.routing.build import build_tables


def _build(http: dict[str, Any], previous: Any = None, ep_middlewares: Any = None) -> Any:
    http = {"services": {"s": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}}}, **http}
    config, _ = decode_dynamic({"http": http})
    return build_tables(
        {"file": config},
        ["web"],
        ["web"],
        PoolRegistry(),
        TransportOptions(),
        previous=previous,
        entry_point_middlewares=ep_middlewares,
    )


def _router(*middlewares: str) -> dict[str, Any]:
    return {"r": {"rule": "Host(`a.test`)", "service": "s", "middlewares": list(middlewares)}}


@pytest.mark.parametrize(
    ("middlewares", "defs", "error"),
    [
        pytest.param(["nope"], {}, 'middleware "nope@file" does not exist', id="missing"),
        pytest.param(
            ["gw"],
            {"gw": {"plugin": {"demo": {}}}},
            'middleware "gw@file": kind "plugin" is not implemented yet',
            id="not-implemented",
        ),
        pytest.param(
            ["c1"],
            {"c1": {"chain": {"middlewares": ["c2"]}}, "c2": {"chain": {"middlewares": ["c1"]}}},
            "middleware chain cycle: c1@file -> c2@file -> c1@file",
            id="chain-cycle",
        ),
        pytest.param(
            ["p"], {"p": {"addPrefix": {"prefix": ""}}}, 'middleware "p@file": prefix cannot be empty', id="bad"
        ),
    ],
)
def test_router_with_a_broken_middleware_is_disabled_with_an_error_naming_it(
    middlewares: list[str], defs: dict[str, Any], error: str
) -> None:
    result = _build({"routers": _router(*middlewares), "middlewares": defs})
    assert result.tables["web"].routes == ()
    assert result.errors["r@file"] == [error]


def test_chain_expands_in_place_and_entrypoint_middlewares_come_first() -> None:
    defs = {
        "strip": {"stripPrefix": {"prefixes": ["/api"]}},
        "add": {"addPrefix": {"prefix": "/v2"}},
        "both": {"chain": {"middlewares": ["strip", "add"]}},
        "outer": {"addPrefix": {"prefix": "/outer"}},
    }
    result = _build({"routers": _router("both"), "middlewares": defs}, ep_middlewares={"web": ["outer@file"]})
    (route,) = result.tables["web"].routes
    assert route.middlewares == ("outer@file", "strip@file", "add@file")
    # outer adds /outer, strip removes nothing (path no longer starts with /api), add prepends /v2.
    seen: list[str] = []
    inner = route.handler
    while hasattr(inner, "next"):
        seen.append(type(inner).__name__)
        inner = inner.next
    assert seen == ["AddPrefix", "StripPrefix", "AddPrefix"]


def test_unchanged_router_keeps_its_middleware_instances_across_reloads() -> None:
    http = {"routers": _router("strip"), "middlewares": {"strip": {"stripPrefix": {"prefixes": ["/api"]}}}}
    first = _build(http)
    second = _build(http, previous=first)
    assert second.tables["web"].routes[0].handler is first.tables["web"].routes[0].handler
    assert second.reused_middlewares == 1
    changed = {**http, "middlewares": {"strip": {"stripPrefix": {"prefixes": ["/web"]}}}}
    third = _build(changed, previous=second)
    assert third.tables["web"].routes[0].handler is not second.tables["web"].routes[0].handler


def test_strip_prefix_then_add_prefix_rewrite_the_forwarded_path() -> None:
    seen: list[tuple[str, str | None]] = []

    class Capture:
        async def __call__(self, req: Request) -> Any:
            seen.append((req.path, req.headers.get("X-Forwarded-Prefix")))
            return None

    from hanzo_edge.middlewares.add_prefix import AddPrefix
    from hanzo_edge.middlewares.base import BuildContext
    from hanzo_edge.middlewares.strip_prefix import StripPrefix

    cfg_strip = type("C", (), {"prefixes": ("/api", "/a")})()
    cfg_add = type("C", (), {"prefix": "/v2"})()
    chain = StripPrefix(
        AddPrefix(Capture(), cfg_add, name="a", ctx=BuildContext()), cfg_strip, name="s", ctx=BuildContext()
    )
    for path in ("/api/users", "/api", "/apix", "/other"):
        asyncio.run(chain(Request("GET", path, Headers(), path=path)))  # type: ignore[arg-type]
    assert seen == [
        ("/v2/users", "/api"),
        ("/v2", "/api"),  # "/api" stripped to "", then the prefix is added
        ("/v2/x", "/api"),  # the first listed prefix wins, even mid-segment (Traefik's string prefix)
        ("/v2/other", None),
    ]
