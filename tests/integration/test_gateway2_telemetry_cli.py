"""Through ``gateway run``: ``debug_endpoint``/``echo_endpoint`` (KrakenD's bodies), ``telemetry/logging`` (level and
prefix) and ``telemetry/metrics`` (Prometheus on its ``listen_address``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from edge_harness import eventually, free_port, http_request
from gateway_fixtures import JsonBackend, start_gateway

pytestmark = pytest.mark.integration


@pytest.fixture
def backend() -> Iterator[JsonBackend]:
    server = JsonBackend().start()
    yield server
    server.stop()


def test_debug_echo_logging_and_metrics(tmp_path: Path, backend: JsonBackend) -> None:
    metrics_port = free_port()
    config = {
        "host": [backend.url],
        "debug_endpoint": True,
        "echo_endpoint": True,
        "extra_config": {
            "telemetry/logging": {"level": "DEBUG", "prefix": "[KRAKEND-TEST]", "stdout": True},
            "telemetry/metrics": {"listen_address": f"127.0.0.1:{metrics_port}"},
        },
        "endpoints": [{"endpoint": "/u", "backend": [{"url_pattern": "/user/1", "allow": ["id"]}]}],
    }
    gateway = start_gateway(tmp_path, config)
    try:
        pong = http_request(gateway.port, "POST", "/__debug/anything", body=b"hello")
        assert (pong.status, pong.body) == (200, b'{"message":"pong"}')
        assert pong.header("Content-Type") == "application/json; charset=utf-8"
        echo = http_request(gateway.port, "PUT", "/__echo/a/b?x=1&x=2", headers={"X-Thing": "v"}, body=b"payload")
        assert echo.status == 200
        data = json.loads(echo.body)
        assert data["req_uri"] == "/__echo/a/b?x=1&x=2"
        assert data["req_uri_details"]["path"] == "/__echo/a/b"
        assert data["req_method"] == "PUT"
        assert data["req_querystring"] == {"x": ["1", "2"]}
        assert data["req_body"] == "payload"
        assert data["req_headers"]["X-Thing"] == ["v"]
        assert "Host" not in data["req_headers"]
        assert http_request(gateway.port, "GET", "/u").status == 200
        metrics = http_request(metrics_port, "GET", "/metrics")
        assert metrics.status == 200
        assert b"_requests_total" in metrics.body
        eventually(lambda: "[KRAKEND-TEST]" in gateway.output(), timeout=5, message=gateway.output)
        assert "debug endpoint: POST /__debug/anything" in gateway.output()
    finally:
        assert gateway.stop() == 0, gateway.output()


def test_without_the_flags_debug_and_echo_are_404(tmp_path: Path, backend: JsonBackend) -> None:
    config = {"host": [backend.url], "endpoints": [{"endpoint": "/u", "backend": [{"url_pattern": "/user/1"}]}]}
    gateway = start_gateway(tmp_path, config)
    try:
        assert http_request(gateway.port, "GET", "/__debug/x").status == 404
        assert http_request(gateway.port, "GET", "/__echo/x").status == 404
    finally:
        assert gateway.stop() == 0, gateway.output()


def test_run_d_serves_debug_across_reloads(tmp_path: Path, backend: JsonBackend) -> None:
    from edge_harness import clean_env
    from gateway_fixtures import Gateway, write_gateway

    port = free_port()

    def config(path: str) -> dict[str, object]:
        endpoint = {"endpoint": path, "backend": [{"url_pattern": "/user/1", "allow": ["id"]}]}
        return {"version": 3, "listen_ip": "127.0.0.1", "port": port, "host": [backend.url], "endpoints": [endpoint]}

    path = write_gateway(tmp_path / "gateway.json", config("/one"))
    env = {**clean_env(), "AUTH_ENABLED": "false", "HANZO_GATEWAY_WATCH_INTERVAL": "0.05"}
    gateway = Gateway(path, port, env, extra_args=["-d"]).ready()
    try:
        assert http_request(port, "GET", "/__debug/x").body == b'{"message":"pong"}'
        write_gateway(path, config("/two"))
        eventually(lambda: http_request(port, "GET", "/two").status == 200, timeout=10, message=gateway.output)
        assert http_request(port, "GET", "/__debug/x").body == b'{"message":"pong"}'
    finally:
        assert gateway.stop() == 0, gateway.output()
