"""``qos/ratelimit/router`` through the real ``gateway run``: endpoint level (503 global, 429 per client), the Hanzo
service-level block (one global bucket and one bucket per client across every endpoint, checked in addition to the
endpoint's own), and two gateway processes sharing one limit through Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from edge_harness import http_request
from gateway_fixtures import JsonBackend, start_gateway
from redis_server import RedisServer

pytestmark = pytest.mark.integration


@pytest.fixture
def backend() -> Iterator[JsonBackend]:
    server = JsonBackend().start()
    yield server
    server.stop()


def _status(port: int, path: str, client: str = "") -> int:
    headers = {"X-Client": client} if client else {}
    response = http_request(port, "GET", path, headers=headers)
    if response.status in (429, 503):
        assert response.body == b"", response.body
    return response.status


def _endpoint(path: str, limit: dict[str, Any] | None = None) -> dict[str, Any]:
    endpoint: dict[str, Any] = {"endpoint": path, "backend": [{"url_pattern": "/user/1", "allow": ["id"]}]}
    if limit is not None:
        endpoint["extra_config"] = {"qos/ratelimit/router": limit}
    return endpoint


def test_capacity_defaults_to_one_period_budget(tmp_path: Path, backend: JsonBackend) -> None:
    """``max_rate: 3, every: 1m``: 3 requests at once, then 1 every 20 s (KrakenD's documented meaning)."""
    limit = {"max_rate": 3, "client_max_rate": 2, "strategy": "ip", "every": "1m"}
    endpoints = [_endpoint("/m", limit)]
    gateway = start_gateway(tmp_path, {"host": [backend.url], "endpoints": endpoints})
    try:
        assert [_status(gateway.port, "/m") for _ in range(3)] == [200, 200, 429]
    finally:
        assert gateway.stop() == 0, gateway.output()


def test_endpoint_limits_global_503_and_per_client_429(tmp_path: Path, backend: JsonBackend) -> None:
    endpoints = [
        _endpoint("/global", {"max_rate": 2, "every": "1m"}),
        _endpoint(
            "/client",
            {"client_max_rate": 2, "client_capacity": 2, "strategy": "header", "key": "X-Client", "every": "1m"},
        ),
        _endpoint("/free"),
    ]
    gateway = start_gateway(tmp_path, {"host": [backend.url], "endpoints": endpoints})
    try:
        port = gateway.port
        assert [_status(port, "/global") for _ in range(3)] == [200, 200, 503]
        got = [_status(port, "/client", c) for c in ("a", "a", "a", "b")] + [_status(port, "/client")]
        assert got == [200, 200, 429, 200, 429]  # no X-Client at all: an empty key is refused
        assert [_status(port, "/free") for _ in range(5)] == [200] * 5
    finally:
        assert gateway.stop() == 0, gateway.output()


def test_service_level_block_is_one_limit_for_every_endpoint(tmp_path: Path, backend: JsonBackend) -> None:
    service = {
        "max_rate": 4, "capacity": 4, "client_max_rate": 2, "client_capacity": 2,
        "strategy": "header", "key": "X-Client", "every": "1m",
    }  # fmt: skip
    endpoints = [_endpoint("/a"), _endpoint("/b"), _endpoint("/tight", {"max_rate": 1, "every": "1m"})]
    config = {"host": [backend.url], "endpoints": endpoints, "extra_config": {"qos/ratelimit/router": service}}
    gateway = start_gateway(tmp_path, config)
    try:
        port = gateway.port
        assert _status(port, "/a", "alice") == 200
        assert _status(port, "/b", "alice") == 200
        assert _status(port, "/a", "alice") == 429  # alice's one bucket spans both endpoints
        assert _status(port, "/tight", "bob") == 200  # service and endpoint limits both pass
        assert _status(port, "/tight", "carol") == 503  # the endpoint's own limit
        assert _status(port, "/b", "dave") == 503  # the one global bucket: 4 tokens taken (the 503 on /tight too)
    finally:
        assert gateway.stop() == 0, gateway.output()


def test_two_gateways_share_one_limit_through_redis(tmp_path: Path, backend: JsonBackend) -> None:
    redis = RedisServer(tmp_path).start()
    limit = {"max_rate": 3, "capacity": 3, "every": "1m", "redis": {"endpoints": [redis.endpoint]}}
    config = {"host": [backend.url], "endpoints": [_endpoint("/shared", limit)]}
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first = start_gateway(tmp_path / "one", config)
    second = start_gateway(tmp_path / "two", config)
    try:
        got = [_status(first.port, "/shared"), _status(second.port, "/shared"), _status(first.port, "/shared")]
        assert got == [200, 200, 200]
        assert (_status(second.port, "/shared"), _status(first.port, "/shared")) == (503, 503)
    finally:
        assert first.stop() == 0, first.output()
        assert second.stop() == 0, second.output()
        redis.stop()
