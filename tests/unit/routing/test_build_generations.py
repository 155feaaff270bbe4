"""Generations: an unchanged service keeps its handler (and state) across rebuilds; a changed one is rebuilt."""

from __future__ import annotations

from typing import Any

from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.routing.build import build_tables


def _config(server: str, rule: str = "Host(`a.test`)", transport_timeout: str | None = None) -> Any:
    http: dict[str, Any] = {
        "routers": {"r": {"rule": rule, "service": "s"}},
        "services": {"s": {"loadBalancer": {"servers": [{"url": server}]}}},
    }
    if transport_timeout is not None:
        http["serversTransports"] = {"t": {"forwardingTimeouts": {"responseHeaderTimeout": transport_timeout}}}
        http["services"]["s"]["loadBalancer"]["serversTransport"] = "t"
    config, _ = decode_dynamic({"http": http})
    return config


def _build(config: Any, previous: Any = None, pools: PoolRegistry | None = None) -> Any:
    return build_tables(
        {"file": config}, ["web"], ["web"], pools or PoolRegistry(), TransportOptions(), previous=previous
    )


def test_unchanged_service_keeps_its_handler_even_when_a_router_changes() -> None:
    pools = PoolRegistry()
    first = _build(_config("http://127.0.0.1:1"), pools=pools)
    second = _build(_config("http://127.0.0.1:1", rule="Host(`b.test`)"), first, pools)
    assert second.services["s@file"] is first.services["s@file"]
    assert second.reused_services == 1
    assert second.tables["web"].routes[0].rule == "Host(`b.test`)"


def test_changed_server_rebuilds_the_service() -> None:
    pools = PoolRegistry()
    first = _build(_config("http://127.0.0.1:1"), pools=pools)
    second = _build(_config("http://127.0.0.1:2"), first, pools)
    assert second.services["s@file"] is not first.services["s@file"]
    assert second.reused_services == 0


def test_changed_servers_transport_rebuilds_the_service() -> None:
    pools = PoolRegistry()
    first = _build(_config("http://127.0.0.1:1", transport_timeout="1s"), pools=pools)
    same = _build(_config("http://127.0.0.1:1", transport_timeout="1s"), first, pools)
    changed = _build(_config("http://127.0.0.1:1", transport_timeout="2s"), same, pools)
    assert same.services["s@file"] is first.services["s@file"]
    assert changed.services["s@file"] is not same.services["s@file"]


def test_pools_outlive_generations() -> None:
    pools = PoolRegistry()
    first = _build(_config("http://127.0.0.1:1"), pools=pools)
    second = _build(_config("http://127.0.0.1:1", rule="Path(`/x`)"), None, pools)
    pick_first = first.services["s@file"].pick()
    pick_second = second.services["s@file"].pick()
    assert pick_first is not pick_second
    assert pick_first.pool is pick_second.pool, "a rebuilt service must reuse the warm connection pool"
