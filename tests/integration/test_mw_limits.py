"""rateLimit (in memory; Redis shared by two processes; Redis killed), inFlightReq and circuitBreaker via the CLI."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from edge_harness import RawConn, eventually, http_request, lb_service, request_bytes
from redis_server import RedisServer

from hanzo_edge.middlewares._redis_limiter import LUA_TOKEN_BUCKET
from hanzo_edge.middlewares._token_bucket import RateParams, TokenBucket

pytestmark = pytest.mark.integration


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


def _dynamic(backend_url: str, middlewares: dict[str, Any], routers: dict[str, list[str]]) -> dict[str, Any]:
    """One router per host ``<name>.test`` with the given middlewares, all to the backend."""
    return {
        "http": {
            "routers": {
                name: {"rule": f"Host(`{name}.test`)", "service": "app", "middlewares": chain}
                for name, chain in routers.items()
            },
            "middlewares": middlewares,
            "services": {"app": lb_service(backend_url)},
        }
    }


def _get(port: int, host: str, path: str = "/") -> Any:
    return http_request(port, path=path, headers={"Host": host})


# -- rateLimit ---------------------------------------------------------------------------------------------------------
def test_rate_limit_in_memory_burst_then_429_with_retry_headers(backend, ingress):
    app = backend("app")
    proxy = ingress(
        _dynamic(
            app.url,
            {"rl": {"rateLimit": {"average": 1, "period": "1m", "burst": 3}}},
            {"api": ["rl"]},
        )
    )
    statuses = [_get(proxy.port, "api.test").status for _ in range(3)]
    assert statuses == [200, 200, 200]
    limited = _get(proxy.port, "api.test")
    assert limited.status == 429
    assert limited.body == b"Too Many Requests"
    # One token every 60s: the next one is just under a minute away.
    assert limited.header("Retry-After") == "60"
    assert re.fullmatch(r"5\d\.\d+s|1m0s", limited.header("X-Retry-In") or ""), limited.header("X-Retry-In")
    assert limited.header("Content-Type") is None
    assert len(app.requests_to("/")) == 3


def test_redis_script_matches_the_in_memory_bucket(redis_server):
    params = RateParams.from_config(10, 1.0, 3)
    bucket = TokenBucket(params.burst, 0)
    steps_ms = [0, 0, 0, 0, 10, 50, 100, 100, 160, 400, 400, 400, 400, 5000]
    with redis.Redis(host="127.0.0.1", port=redis_server.port) as client:
        for ms in steps_ms:
            now_us = 1_700_000_000_000_000 + ms * 1000
            got = client.eval(
                LUA_TOKEN_BUCKET,
                1,
                "rate:t@file:src",
                repr(params.rate / 1e6),
                3,
                2,
                now_us,
                params.max_delay_ns // 1000,
            )
            expected = bucket.reserve(ms * 1_000_000, params.rate, params.burst, params.max_delay_ns)
            assert got[0] == b"true"
            assert float(got[1]) * 1000 == pytest.approx(expected, abs=1000), f"at {ms}ms"
        assert client.ttl("rate:t@file:src") == 2
        assert set(client.hgetall("rate:t@file:src")) == {b"last", b"tokens"}


def test_redis_limit_is_shared_by_two_ingress_processes(backend, ingress, redis_server):
    app = backend("app")
    dynamic = _dynamic(
        app.url,
        {
            "rl": {
                "rateLimit": {"average": 1, "period": "1m", "burst": 5, "redis": {"endpoints": [redis_server.endpoint]}}
            }
        },
        {"api": ["rl"]},
    )
    first = ingress(dynamic)
    second = ingress(dynamic)
    statuses = [_get(proxy.port, "api.test").status for _ in range(6) for proxy in (first, second)]
    assert statuses.count(200) == 5, statuses
    assert statuses.count(429) == 7, statuses
    assert len(app.requests_to("/")) == 5
    with redis.Redis(host="127.0.0.1", port=redis_server.port) as client:
        key = "rate:rl@file:127.0.0.1"  # Traefik's key: rate:<middleware>:<source>
        assert client.exists(key)
        assert 0 < client.ttl(key) <= 61  # 1 + 1/rate seconds
        assert float(client.hget(key, "tokens") or b"nan") < 1


def test_redis_down_follows_each_failure_policy_and_reconnects(backend, ingress, redis_server):
    app = backend("app")

    def limit(policy: str) -> dict[str, Any]:
        redis_block = {"endpoints": [redis_server.endpoint], "failurePolicy": policy, "dialTimeout": "500ms"}
        return {"rateLimit": {"average": 1, "period": "1m", "burst": 2, "redis": redis_block}}

    proxy = ingress(
        _dynamic(
            app.url,
            {"closed": limit("closed"), "open": limit("open"), "local": limit("local")},
            {"closed": ["closed"], "open": ["open"], "local": ["local"]},
        )
    )
    for host in ("closed.test", "open.test", "local.test"):
        assert _get(proxy.port, host).status == 200

    redis_server.kill()

    down = _get(proxy.port, "closed.test")
    assert (down.status, down.body) == (500, b"Could not insert/update bucket\n")
    assert [_get(proxy.port, "open.test").status for _ in range(4)] == [200] * 4
    # local: this process' own bucket (fresh, burst 2) takes over.
    assert [_get(proxy.port, "local.test").status for _ in range(3)] == [200, 200, 429]
    assert _get(proxy.port, "closed.test").status == 500

    redis_server.restart()  # same port, empty data

    eventually(lambda: _get(proxy.port, "closed.test").status == 200, timeout=10, message=proxy.describe)
    assert _get(proxy.port, "closed.test").status == 200  # the second token of the fresh Redis bucket
    assert _get(proxy.port, "closed.test").status == 429  # and the limit is enforced through Redis again
    assert f"rateLimit: redis {redis_server.endpoint} failed: ConnectionError" in proxy.stderr()


# -- inFlightReq -------------------------------------------------------------------------------------------------------
def test_in_flight_req_rejects_while_a_slow_request_is_in_flight(backend, ingress):
    app = backend("app")
    proxy = ingress(_dynamic(app.url, {"one": {"inFlightReq": {"amount": 1}}}, {"api": ["one"]}))
    results: list[Any] = []
    slow = threading.Thread(target=lambda: results.append(_get(proxy.port, "api.test", "/slow?ms=600")))
    slow.start()
    try:
        eventually(lambda: app.requests_to("/slow"), timeout=5)
        rejected = _get(proxy.port, "api.test")
        assert (rejected.status, rejected.body) == (429, b"max connections reached: 1")
    finally:
        slow.join(10)
    assert results[0].status == 200
    assert results[0].body == b"slow done"
    assert _get(proxy.port, "api.test").status == 200


def test_in_flight_req_counts_a_streaming_response_until_its_body_ends(backend, ingress):
    app = backend("app")
    proxy = ingress(_dynamic(app.url, {"one": {"inFlightReq": {"amount": 1}}}, {"api": ["one"]}))
    with RawConn(proxy.port) as conn:
        conn.send(request_bytes("GET", "/sse", "api.test"))
        status, _, _ = conn.read_head()
        assert status == 200
        assert conn.read_chunk()  # the first event: the head is out, the body is not finished
        assert _get(proxy.port, "api.test").status == 429
        app.release_sse()
        while conn.read_chunk():
            pass
    eventually(lambda: _get(proxy.port, "api.test").status == 200, timeout=5)


# -- circuitBreaker ----------------------------------------------------------------------------------------------------
def test_circuit_breaker_trips_on_5xx_and_recovers(backend, ingress):
    app = backend("app")
    breaker = {
        "circuitBreaker": {
            "expression": "ResponseCodeRatio(500, 600, 0, 600) > 0.5",
            "checkPeriod": "50ms",
            "fallbackDuration": "500ms",
            "recoveryDuration": "500ms",
        }
    }
    proxy = ingress(_dynamic(app.url, {"cb": breaker}, {"api": ["cb"]}))
    assert _get(proxy.port, "api.test", "/status/200").status == 200
    assert _get(proxy.port, "api.test", "/status/500").status == 500  # a ratio of 1/2 is not above 0.5
    eventually(lambda: _get(proxy.port, "api.test", "/status/500").status == 503, timeout=5)
    tripped = _get(proxy.port, "api.test", "/status/200")
    assert (tripped.status, tripped.body) == (503, b"Service Unavailable")
    calls = len(app.requests_to("/status/200"))

    # After fallbackDuration the breaker lets a growing share through, then closes again.
    def closed_again() -> bool:
        return all(_get(proxy.port, "api.test", "/status/200").status == 200 for _ in range(5))

    eventually(closed_again, timeout=10, interval=0.05)
    assert len(app.requests_to("/status/200")) > calls


def test_circuit_breaker_fallback_service_answers_while_open(backend, ingress):
    app = backend("app")
    maintenance = backend("maintenance")
    dynamic = _dynamic(
        app.url,
        {
            "cb": {
                "circuitBreaker": {
                    "expression": "NetworkErrorRatio() > 0.5",
                    "fallbackDuration": "10s",
                    "fallbackService": "maintenance",
                }
            }
        },
        {"api": ["cb"]},
    )
    dynamic["http"]["services"]["app"] = lb_service("http://127.0.0.1:1")  # nothing listens: 502
    dynamic["http"]["services"]["maintenance"] = lb_service(maintenance.url)
    proxy = ingress(dynamic)
    assert _get(proxy.port, "api.test", "/x").status == 502
    fallback = _get(proxy.port, "api.test", "/x")
    assert (fallback.status, fallback.body) == (200, b"maintenance /x")
    assert app.requests_to("/x") == []
