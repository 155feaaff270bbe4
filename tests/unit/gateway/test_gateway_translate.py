"""gateway.json → our runtime: routers, merge services and namespace middlewares, errors and warnings located."""

from __future__ import annotations

import json
from typing import Any

from hanzo_edge.config.services import ExtensionService
from hanzo_edge.gateway.document import parse_document
from hanzo_edge.gateway.errors import format_path
from hanzo_edge.gateway.gin_table import GinRoutingTable, go_time
from hanzo_edge.gateway.merge_service import MergeConfig
from hanzo_edge.gateway.server import GatewayApp, gateway_static, listen_address
from hanzo_edge.gateway.translate import translate_document


def _translate(config: dict[str, Any]) -> Any:
    doc = parse_document(json.dumps(config), {})
    return translate_document(doc)


def _config(**extra: Any) -> dict[str, Any]:
    return {
        "version": 3,
        "host": ["http://127.0.0.1:9000"],
        "endpoints": [
            {"endpoint": "/a/{id}", "backend": [{"url_pattern": "/x/{id}"}]},
            {
                "endpoint": "/b",
                "method": "POST",
                "extra_config": {"qos/ratelimit/router": {"max_rate": 10, "client_max_rate": 1, "strategy": "ip"}},
                "backend": [{"url_pattern": "/b"}, {"url_pattern": "/c"}],
            },
        ],
        **extra,
    }


def test_each_endpoint_is_a_router_with_a_merge_service() -> None:
    translation = _translate(_config())
    assert translation.errors == []
    http = translation.configuration.http
    assert sorted(http.routers) == ["ep0-get", "ep1-post"]
    router = http.routers["ep0-get"]
    assert router.entry_points == ("gateway",)
    assert router.rule == "PathRegexp(`^/a/[^/]+$`) && Method(`GET`)"
    service = http.services["ep1-post"]
    assert isinstance(service, ExtensionService)
    assert isinstance(service.extension, MergeConfig)
    assert [b.url_pattern for b in service.extension.endpoint.backends] == ["/b", "/c"]
    assert [(r.router, r.method, r.endpoint) for r in translation.routes] == [
        ("ep0-get@gateway", "GET", "/a/{id}"),
        ("ep1-post@gateway", "POST", "/b"),
    ]


def test_service_level_namespaces_come_before_the_endpoints_own() -> None:
    config = _config(
        extra_config={"qos/ratelimit/router": {"max_rate": 5000, "client_max_rate": 100, "strategy": "ip"}}
    )
    http = _translate(config).configuration.http
    (only,) = http.routers["ep0-get"].middlewares
    assert only.startswith("ep0-get-")
    chain = http.routers["ep1-post"].middlewares
    assert len(chain) == 2
    assert all(name.startswith("ep1-post-") for name in chain)
    first, second = (http.middlewares[name].config for name in chain)
    assert (first.max_rate, second.max_rate) == (5000, 10)


def test_unknown_namespaces_are_warnings_with_paths() -> None:
    config = _config(extra_config={"telemetry/gelf": {"address": "x:12201"}})
    config["endpoints"][0]["backend"][0]["extra_config"] = {"auth/client-credentials": {"client_id": "a"}}
    translation = _translate(config)
    paths = {format_path(w.path) for w in translation.warnings}
    assert '$.extra_config["telemetry/gelf"]' in paths
    assert '$.endpoints[0].backend[0].extra_config["auth/client-credentials"]' in paths
    assert translation.errors == []


def test_a_bad_namespace_value_is_an_error_at_its_path() -> None:
    config = _config()
    config["endpoints"][0]["extra_config"] = {"qos/ratelimit/router": {"max_rate": "lots"}}
    errors = _translate(config).errors
    assert errors
    assert format_path(errors[0].path).startswith('$.endpoints[0].extra_config["qos/ratelimit/router"]')


def test_router_namespace_sets_gin_options() -> None:
    config = _config(
        extra_config={
            "router": {
                "disable_redirect_fixed_path": True,
                "hide_version_header": True,
                "return_error_msg": True,
                "health_path": "/healthz",
                "error_body": {"404": {"msg": "nope"}},
                "trusted_proxies": ["10.0.0.0/8"],
            }
        }
    )
    translation = _translate(config)
    gin = translation.gin
    assert (gin.redirect_fixed_path, gin.redirect_trailing_slash, gin.hide_version_header) == (False, True, True)
    assert (gin.health_path, gin.error_body_404) == ("/healthz", b'{"msg":"nope"}')
    assert any(format_path(w.path) == "$.extra_config.router.trusted_proxies" for w in translation.warnings)
    assert translation.configuration.http.services["ep0-get"].extension.return_error_msg is True


def test_offline_build_gives_the_gin_table_every_endpoint() -> None:
    translation = _translate(_config())
    app = GatewayApp(gateway_static("127.0.0.1", 0), translation)
    result = app.build(app.initial_snapshots())
    assert result.errors == {}
    table = result.tables["gateway"]
    assert isinstance(table, GinRoutingTable)
    assert sorted(route.name for route in table.routes) == ["ep0-get@gateway", "ep1-post@gateway"]
    assert table.methods() == ["GET", "POST"]


def test_helpers() -> None:
    from datetime import UTC, datetime

    assert listen_address("", 8080) == ":8080"
    assert listen_address("::1", 80) == "[::1]:80"
    assert go_time(datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)) == "2026-01-02 03:04:05.12 +0000 UTC"
    assert go_time(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02 03:04:05 +0000 UTC"


def test_routes_gin_refuses_are_errors_at_the_endpoint() -> None:
    config = _config(extra_config={"router": {"health_path": "/health"}})
    config["endpoints"].append({"endpoint": "/a/{other}/x", "backend": [{"url_pattern": "/x"}]})
    config["endpoints"].append({"endpoint": "/health", "backend": [{"url_pattern": "/h"}]})
    errors = {format_path(e.path): e.message for e in _translate(config).errors}
    assert "conflicts with existing wildcard" in errors["$.endpoints[2].endpoint"]
    assert "already registered" in errors["$.endpoints[3].endpoint"]


def test_auto_options_answers_allow_for_each_path() -> None:
    import asyncio

    from hanzo_edge.http.headers import Headers
    from hanzo_edge.http.messages import Request

    config = _config(extra_config={"router": {"auto_options": True}})
    config["endpoints"].append({"endpoint": "/b", "backend": [{"url_pattern": "/b"}]})
    translation = _translate(config)
    assert translation.errors == []
    app = GatewayApp(gateway_static("127.0.0.1", 0), translation)
    table = app.build(app.initial_snapshots()).tables["gateway"]
    request = Request("OPTIONS", "/b", Headers(), host="x")
    response = asyncio.run(table.lookup(request)(request))
    assert response.status == 200
    assert response.headers.get("Allow") == "GET, POST"
    assert response.headers.get("X-Krakend") == "Version 2.13.8"
