"""Through ``gateway run``: KrakenD's ``/__stats`` on ``telemetry/metrics``' listener, beside Prometheus
``/metrics``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from edge_harness import free_port, http_request
from gateway_fixtures import JsonBackend, start_gateway

pytestmark = pytest.mark.integration


@pytest.fixture
def backend() -> Iterator[JsonBackend]:
    server = JsonBackend().start()
    yield server
    server.stop()


def _config(backend: JsonBackend, metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        "host": [backend.url],
        "extra_config": {"telemetry/metrics": metrics},
        "endpoints": [
            {"endpoint": "/users/{id}", "backend": [{"url_pattern": "/user/{id}", "allow": ["id"]}]},
            {"endpoint": "/broken", "backend": [{"url_pattern": "/status/503"}]},
        ],
    }


def test_stats_count_each_endpoint_and_layer(tmp_path: Path, backend: JsonBackend) -> None:
    metrics_port = free_port()
    config = _config(backend, {"listen_address": f"127.0.0.1:{metrics_port}", "collection_time": "1h"})
    gateway = start_gateway(tmp_path, config)
    try:
        for uid in ("1", "2", "3"):
            assert http_request(gateway.port, "GET", f"/users/{uid}").status == 200
        assert http_request(gateway.port, "GET", "/broken").status == 500
        answer = http_request(metrics_port, "GET", "/__stats")
        assert answer.status == 200, answer.body
        assert answer.header("Content-Type") == "application/json; charset=utf-8"
        stats = json.loads(answer.body)
        assert isinstance(stats["cmdline"], list)
        assert stats["krakend.router.response./users/:id.status.200.count"] == 3
        assert stats["krakend.router.response./users/:id.time.count"] == 3
        assert stats["krakend.router.response./broken.status.500.count"] == 1
        assert stats["krakend.router.connected"] == 4
        assert stats["krakend.router.disconnected"] == 4
        pipe = "krakend.proxy.requests.layer.pipe.name./users/:id.complete.true.error.false"
        assert stats[pipe] == 3
        backend_ok = "krakend.proxy.requests.layer.backend.name./user/{{.Id}}.complete.true.error.false"
        assert stats[backend_ok] == 3
        assert stats["krakend.proxy.requests.layer.pipe.name./broken.complete.false.error.true"] == 1
        assert stats["krakend.proxy.requests.layer.backend.name./status/503.complete.false.error.true"] == 1
        latency = "krakend.proxy.latency.layer.pipe.name./users/:id.complete.true.error.false"
        assert stats[f"{latency}.count"] == 3
        assert stats[f"{latency}.max"] >= stats[f"{latency}.min"] > 0
        keys = list(stats)
        assert keys == sorted(keys)
        assert http_request(metrics_port, "GET", "/__stats/").status == 200
        assert http_request(metrics_port, "POST", "/__stats").status == 405
        assert http_request(metrics_port, "GET", "/metrics").status == 200
    finally:
        assert gateway.stop() == 0, gateway.output()


def test_endpoint_disabled_hides_stats_and_layers_can_be_off(tmp_path: Path, backend: JsonBackend) -> None:
    metrics_port = free_port()
    listen = f"127.0.0.1:{metrics_port}"
    gateway = start_gateway(tmp_path, _config(backend, {"listen_address": listen, "endpoint_disabled": True}))
    try:
        assert http_request(gateway.port, "GET", "/users/1").status == 200
        assert http_request(metrics_port, "GET", "/__stats").status == 404
        assert http_request(metrics_port, "GET", "/metrics").status == 200
    finally:
        assert gateway.stop() == 0, gateway.output()
    metrics_port = free_port()
    listen = f"127.0.0.1:{metrics_port}"
    switches = {"listen_address": listen, "proxy_disabled": True, "backend_disabled": True}
    gateway = start_gateway(tmp_path, _config(backend, switches))
    try:
        assert http_request(gateway.port, "GET", "/users/1").status == 200
        stats = json.loads(http_request(metrics_port, "GET", "/__stats").body)
        assert stats["krakend.router.response./users/:id.status.200.count"] == 1
        assert not [key for key in stats if key.startswith("krakend.proxy.")]
    finally:
        assert gateway.stop() == 0, gateway.output()
