"""The ``qos/ratelimit/router`` handler: gateway.json block → ``krakendRateLimit`` options, warnings, errors."""

from __future__ import annotations

from typing import Any

import pytest

from hanzo_edge.gateway.errors import GatewayConfigError
from hanzo_edge.gateway.extra_config import NamespaceResult, handler_for
from hanzo_edge.middlewares.krakend_ratelimit import KrakendRateLimitConfig

ENDPOINT = ("endpoints", 0, "extra_config", "qos/ratelimit/router")
SERVICE = ("extra_config", "qos/ratelimit/router")


def _handle(block: dict[str, Any], where: tuple[str | int, ...] = ENDPOINT) -> NamespaceResult:
    registered = handler_for("qos/ratelimit/router", "service" if where == SERVICE else "endpoint")
    assert registered is not None
    return registered.handler(block, where)


def _options(result: NamespaceResult) -> KrakendRateLimitConfig:
    (middleware,) = result.middlewares
    assert middleware.kind == "krakendRateLimit"
    assert isinstance(middleware.options, KrakendRateLimitConfig)
    return middleware.options


def test_hanzo_service_block_per_minute_is_normalised_with_krakend_capacities() -> None:
    result = _handle({"max_rate": 5000, "client_max_rate": 100, "strategy": "ip", "every": "1m"}, SERVICE)

    options = _options(result)
    assert options.max_rate == pytest.approx(5000 / 60)
    assert options.client_max_rate == pytest.approx(100 / 60)
    # The capacities are one period's budget: 5000 and 100 requests (not 83 and 1 as the per-second rates would give).
    assert (options.capacity, options.client_capacity, options.strategy) == (5000, 100, "ip")
    assert options.bucket_id == '$.extra_config["qos/ratelimit/router"]'
    assert result.middlewares[0].name == "service-ratelimit"
    assert result.warnings == ()


def test_endpoint_block_defaults() -> None:
    options = _options(_handle({"max_rate": 10, "client_max_rate": 3, "strategy": "IP"}))

    assert (options.max_rate, options.capacity, options.client_max_rate, options.client_capacity) == (10, 10, 3, 3)
    assert options.strategy == "ip"
    assert options.bucket_id == '$.endpoints[0].extra_config["qos/ratelimit/router"]'


def test_client_capacity_quirk_is_kept_and_named() -> None:
    result = _handle({"client_max_rate": 5, "strategy": "header", "key": "X-Key"})

    assert _options(result).client_capacity == 1
    assert [w.path[-1] for w in result.warnings] == ["client_capacity"]


@pytest.mark.parametrize(
    ("block", "warned"),
    [
        ({"client_max_rate": 1, "strategy": "param", "key": "id"}, "strategy"),
        ({"client_max_rate": 1}, "strategy"),
        ({"max_rate": 1, "every": "100ms"}, "every"),
        ({"max_rate": 1, "every": "soon"}, "every"),
        ({"max_rate": 1, "num_shards": 16}, "num_shards"),
    ],
)
def test_named_warnings(block: dict[str, Any], warned: str) -> None:
    result = _handle(block)

    assert warned in [w.path[-1] for w in result.warnings]


def test_no_rate_means_no_middleware() -> None:
    assert _handle({"client_max_rate": 1, "strategy": "bogus"}).middlewares == ()


@pytest.mark.parametrize(
    ("block", "key"),
    [
        ({"max_rate": "fast"}, "max_rate"),
        ({"max_rate": -1}, "max_rate"),
        ({"max_rate": 1, "strategy": 3}, "strategy"),
        ({"max_rate": 1, "redis": {"failure_policy": "maybe"}}, "failure_policy"),
        ({"max_rate": 1, "redis": {"endpoints": ["redis://x:1"]}}, "redis"),
    ],
)
def test_bad_values_are_errors_at_their_path(block: dict[str, Any], key: str) -> None:
    with pytest.raises(GatewayConfigError) as caught:
        _handle(block)
    assert caught.value.path[-1] == key


def test_redis_block() -> None:
    block = {"max_rate": 2, "redis": {"endpoints": ["127.0.0.1:6390"], "failure_policy": "local", "dial_timeout": "1s"}}
    redis = _options(_handle(block)).redis

    assert redis is not None
    assert (redis.endpoints, redis.failure_policy, redis.dial_timeout) == (("127.0.0.1:6390",), "local", 1.0)
