"""``/api/*`` shows each object's own record: errors kept by kind and once each, as Traefik's runtime does."""

from __future__ import annotations

from typing import Any

from hanzo_edge.api.runtime import RuntimeView
from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.config.static import EntryPoint, StaticConfig
from hanzo_edge.config.types import FrozenDict
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.routing.build import build_tables

STATIC = StaticConfig(entry_points=FrozenDict({"web": EntryPoint(address=":80")}))


def _view(http: dict[str, Any]) -> RuntimeView:
    config, _ = decode_dynamic({"http": http})
    snapshots = {"file": config}
    result = build_tables(snapshots, ["web"], ["web"], PoolRegistry(), TransportOptions())
    return RuntimeView(STATIC, snapshots, result)


def test_a_router_and_a_service_of_one_name_each_show_their_own_errors() -> None:
    service = {"loadBalancer": {"serversTransport": "missing", "servers": [{"url": "http://127.0.0.1:9"}]}}
    view = _view({"routers": {"app": {"rule": "Host(`a`)", "service": "app"}}, "services": {"app": service}})

    router = view.http_router("app@file")
    built = view.http_service("app@file")
    assert router is not None
    assert built is not None
    assert router["error"] == ['the service "app@file" could not be built']
    assert (built["status"], built["error"]) == ("disabled", ['serversTransport "missing@file" does not exist'])


def test_a_middleware_failing_for_several_routers_shows_its_error_once() -> None:
    view = _view(
        {
            "routers": {
                "a": {"rule": "Path(`/a`)", "service": "s", "middlewares": ["re"]},
                "b": {"rule": "Path(`/b`)", "service": "s", "middlewares": ["re"]},
            },
            "services": {"s": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}}},
            "middlewares": {"re": {"replacePathRegex": {"regex": "(", "replacement": "/"}}},
        }
    )

    middleware = view.http_middleware("re@file")
    assert middleware is not None
    assert middleware["status"] == "disabled"
    assert len(middleware["error"]) == 1
    assert middleware["usedBy"] == ["a@file", "b@file"]
