"""Part 2's namespaces through the real ``gateway run`` with real backends: qos (circuit breaker, proxy rate limit,
HTTP cache), proxy (sequential, static, shadow), validation/json-schema, modifier/martian, and the refused CEL
namespace (endpoint disabled, named in the log). One gateway process serves every endpoint (a fast suite)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from edge_harness import eventually, http_request
from gateway_fixtures import Gateway, JsonBackend, start_gateway

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def backend() -> Iterator[JsonBackend]:
    server = JsonBackend().start()
    yield server
    server.stop()


def _backend_hits(backend: JsonBackend, prefix: str) -> int:
    return sum(1 for _, target, _ in backend.requests if target.startswith(prefix))


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, backend: JsonBackend) -> Iterator[Gateway]:
    schema = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
    martian = {
        "fifo.Group": {
            "scope": ["request"],
            "modifiers": [
                {"header.Modifier": {"scope": ["request"], "name": "X-Martian", "value": "yes"}},
                {"querystring.Modifier": {"scope": ["request"], "name": "added", "value": "1"}},
            ],
        }
    }
    endpoints: list[dict[str, Any]] = [
        {
            "endpoint": "/cb",
            "backend": [
                {
                    "url_pattern": "/status/500",
                    "extra_config": {"qos/circuit-breaker": {"interval": 60, "timeout": 60, "max_errors": 1}},
                }
            ],
        },
        {
            "endpoint": "/limited",
            "backend": [
                {
                    "url_pattern": "/user/limited",
                    "extra_config": {"qos/ratelimit/proxy": {"max_rate": 1, "capacity": 1, "every": "1m"}},
                }
            ],
        },
        {
            "endpoint": "/seq/{id}",
            "extra_config": {"proxy": {"sequential": True}},
            "backend": [
                {"url_pattern": "/user/{id}", "allow": ["id", "name"]},
                {"url_pattern": "/echo/seq/{resp0_id}", "allow": ["path"]},
            ],
        },
        {
            "endpoint": "/static",
            "extra_config": {"proxy": {"static": {"strategy": "errored", "data": {"fallback": True}}}},
            "backend": [{"url_pattern": "/status/503"}],
        },
        {
            "endpoint": "/shadow",
            "backend": [
                {"url_pattern": "/user/main", "allow": ["id"]},
                {"url_pattern": "/echo/shadowed", "extra_config": {"proxy": {"shadow": True}}},
            ],
        },
        {
            "endpoint": "/schema",
            "method": "POST",
            "extra_config": {"validation/json-schema": schema},
            "backend": [{"url_pattern": "/echo/schema", "allow": ["body"]}],
        },
        {
            "endpoint": "/martian",
            "input_query_strings": ["q"],
            "backend": [
                {
                    "url_pattern": "/echo/martian",
                    "allow": ["headers", "query"],
                    "extra_config": {"modifier/martian": martian},
                }
            ],
        },
        {
            "endpoint": "/cel",
            "extra_config": {"validation/cel": [{"check_expr": "'x' in req_headers"}]},
            "backend": [{"url_pattern": "/user/cel"}],
        },
    ]
    gw = start_gateway(tmp_path_factory.mktemp("gw2"), {"host": [backend.url], "endpoints": endpoints})
    yield gw
    assert gw.stop() == 0, gw.output()


def test_circuit_breaker_opens_after_more_than_max_errors(gateway: Gateway, backend: JsonBackend) -> None:
    statuses = [http_request(gateway.port, "GET", "/cb").status for _ in range(4)]
    assert statuses == [500, 500, 500, 500]
    # max_errors 1: the second consecutive failure trips it; the next calls never reach the backend.
    assert _backend_hits(backend, "/status/500") == 2


def test_proxy_rate_limit_fails_the_backend_call(gateway: Gateway, backend: JsonBackend) -> None:
    first = http_request(gateway.port, "GET", "/limited")
    second = http_request(gateway.port, "GET", "/limited")
    assert (first.status, second.status) == (200, 500)
    assert _backend_hits(backend, "/user/limited") == 1


def test_sequential_fills_resp0_placeholders(gateway: Gateway, backend: JsonBackend) -> None:
    response = http_request(gateway.port, "GET", "/seq/7")
    assert response.status == 200, response.body
    assert json.loads(response.body) == {"id": "7", "name": "user 7", "path": "/echo/seq/7"}
    assert response.header("X-Krakend-Completed") == "true"


def test_static_errored_strategy_answers_with_its_data(gateway: Gateway) -> None:
    response = http_request(gateway.port, "GET", "/static")
    assert response.status == 200
    assert json.loads(response.body) == {"fallback": True}
    assert response.header("X-Krakend-Completed") == "false"


def test_shadow_backend_is_called_and_ignored(gateway: Gateway, backend: JsonBackend) -> None:
    response = http_request(gateway.port, "GET", "/shadow")
    assert response.status == 200
    assert json.loads(response.body) == {"id": "main"}
    eventually(lambda: _backend_hits(backend, "/echo/shadowed") == 1, timeout=5, message="shadow never called")


def test_json_schema_refuses_invalid_bodies_with_400(gateway: Gateway) -> None:
    headers = {"Content-Type": "application/json"}
    bad = http_request(gateway.port, "POST", "/schema", headers=headers, body=b'{"name": 3}')
    assert bad.status == 400
    assert bad.body == b""
    not_json = http_request(gateway.port, "POST", "/schema", headers=headers, body=b"nope")
    assert not_json.status == 400
    good = http_request(gateway.port, "POST", "/schema", headers=headers, body=b'{"name": "ann"}')
    assert good.status == 200
    assert json.loads(good.body) == {"body": '{"name": "ann"}'}


def test_martian_modifies_the_backend_request(gateway: Gateway) -> None:
    response = http_request(gateway.port, "GET", "/martian?q=v")
    assert response.status == 200
    data = json.loads(response.body)
    assert data["headers"]["x-martian"] == ["yes"]
    assert data["query"] == {"added": ["1"], "q": ["v"]}


def test_cel_endpoint_is_disabled_and_named(gateway: Gateway) -> None:
    assert http_request(gateway.port, "GET", "/cel").status == 404
    output = gateway.output()
    assert "validation/cel" in output
    assert "GET /cel" in output


def test_http_cache_serves_a_fresh_answer_without_the_backend(tmp_path: Path) -> None:
    cached = _CachingBackend()
    try:
        endpoint = {
            "endpoint": "/cached",
            "backend": [{"host": [cached.url], "url_pattern": "/c", "extra_config": {"qos/http-cache": {}}}],
        }
        gw = start_gateway(tmp_path, {"endpoints": [endpoint]})
        try:
            bodies = [json.loads(http_request(gw.port, "GET", "/cached").body) for _ in range(3)]
        finally:
            assert gw.stop() == 0, gw.output()
        assert bodies == [{"n": 1}] * 3
        assert cached.hits == 1
    finally:
        cached.stop()


class _CachingBackend:
    """Answers ``{"n": <hit count>}`` with ``Cache-Control: public, max-age=60``."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                outer.hits += 1
                data = json.dumps({"n": outer.hits}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "public, max-age=60")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
