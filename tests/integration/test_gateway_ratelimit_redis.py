"""``krakendRateLimit`` with ``redis``: two limiters standing for two gateway replicas share one bucket in a real
``redis-server`` (the rateLimit middleware's Lua script), and a Redis that dies follows ``failure_policy``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis_server import RedisServer

from fakes import FakeClock
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares.base import BuildContext
from hanzo_edge.middlewares.krakend_ratelimit import KrakendRateLimit, KrakendRateLimitConfig, KrakendRedisConfig

pytestmark = pytest.mark.integration


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


async def ok(req: Request) -> Response:
    return Response(200, Headers(), b"ok")


def _req(client_ip: str) -> Request:
    return Request("GET", "/", Headers(), host="gw.test", client_ip=client_ip)


def _replica(config: KrakendRateLimitConfig) -> KrakendRateLimit:
    # Each replica has its own clock, so nothing is shared between them in memory: only Redis is common.
    return KrakendRateLimit(ok, config, name="rl", ctx=BuildContext(clock=FakeClock()))


def test_two_replicas_share_the_global_and_client_buckets(redis_server: RedisServer) -> None:
    redis = KrakendRedisConfig(endpoints=(redis_server.endpoint,))
    config = KrakendRateLimitConfig(
        bucket_id="$.extra_config.shared",
        max_rate=3 / 60,
        capacity=3,
        client_max_rate=2 / 60,
        client_capacity=2,
        strategy="ip",
        redis=redis,
    )
    first, second = _replica(config), _replica(config)

    async def run() -> list[int]:
        return [
            (await first(_req("10.0.0.1"))).status,
            (await second(_req("10.0.0.1"))).status,
            (await first(_req("10.0.0.1"))).status,  # this client's 2 tokens are used, whichever replica took them
            (await second(_req("10.0.0.2"))).status,  # the 3rd global token
            (await first(_req("10.0.0.3"))).status,  # the global bucket is empty for both replicas
        ]

    assert asyncio.run(run()) == [200, 200, 429, 200, 503]


def test_redis_down_follows_the_failure_policy(redis_server: RedisServer) -> None:
    def config(policy: str) -> KrakendRateLimitConfig:
        redis = KrakendRedisConfig(endpoints=(redis_server.endpoint,), failure_policy=policy, dial_timeout=0.5)
        return KrakendRateLimitConfig(bucket_id=f"$.down.{policy}", max_rate=1 / 60, capacity=1, redis=redis)

    closed, opened, local = _replica(config("closed")), _replica(config("open")), _replica(config("local"))

    async def run() -> list[int]:
        before = (await closed(_req("10.0.0.1"))).status
        redis_server.kill()
        return [
            before,
            (await closed(_req("10.0.0.1"))).status,
            (await opened(_req("10.0.0.1"))).status,
            (await opened(_req("10.0.0.1"))).status,
            (await local(_req("10.0.0.1"))).status,
            (await local(_req("10.0.0.1"))).status,
        ]

    assert asyncio.run(run()) == [200, 503, 200, 200, 200, 503]
