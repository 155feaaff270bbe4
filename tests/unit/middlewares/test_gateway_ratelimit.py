"""``krakendRateLimit`` (KrakenD ``qos/ratelimit/router``): request sequences on a fake clock → statuses.

The real Lua script against a real ``redis-server`` (two limiter instances sharing one bucket, Redis down) is in
``tests/integration/test_gateway_ratelimit_redis.py``.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakes import FakeClock
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares.base import BuildContext, kind_of
from hanzo_edge.middlewares.krakend_ratelimit import KrakendRateLimit, KrakendRateLimitConfig, KrakendRedisConfig


async def ok(req: Request) -> Response:
    return Response(200, Headers(), b"ok")


def _req(client_ip: str = "10.0.0.1", **headers: str) -> Request:
    raw = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return Request("GET", "/", Headers(raw), host="gw.test", client_ip=client_ip)


def _limiter(config: KrakendRateLimitConfig, clock: FakeClock, **kwargs: Any) -> KrakendRateLimit:
    return KrakendRateLimit(ok, config, name="rl", ctx=BuildContext(clock=clock), **kwargs)


def _statuses(limiter: KrakendRateLimit, requests: list[Request]) -> list[int]:
    async def run() -> list[int]:
        return [(await limiter(req)).status for req in requests]

    return asyncio.run(run())


def test_the_kind_is_registered_with_its_model() -> None:
    assert kind_of(KrakendRateLimitConfig(bucket_id="x")).name == "krakendRateLimit"  # type: ignore[union-attr]


def test_global_bucket_allows_capacity_then_503_and_refills_at_the_rate() -> None:
    clock = FakeClock()
    limiter = _limiter(KrakendRateLimitConfig(bucket_id="g1", max_rate=2, capacity=3), clock)

    assert _statuses(limiter, [_req() for _ in range(4)]) == [200, 200, 200, 503]
    clock.advance(0.4)  # 0.8 token: still empty
    assert _statuses(limiter, [_req()]) == [503]
    clock.advance(0.1)  # one token back
    assert _statuses(limiter, [_req(), _req()]) == [200, 503]


def test_refused_requests_take_no_token() -> None:
    clock = FakeClock()
    limiter = _limiter(KrakendRateLimitConfig(bucket_id="g2", max_rate=1, capacity=1), clock)

    assert _statuses(limiter, [_req() for _ in range(5)]) == [200, 503, 503, 503, 503]
    clock.advance(1.0)
    assert _statuses(limiter, [_req()]) == [200]


def test_client_buckets_are_per_ip_and_answer_429() -> None:
    clock = FakeClock()
    config = KrakendRateLimitConfig(bucket_id="c1", client_max_rate=1, client_capacity=2, strategy="ip")
    limiter = _limiter(config, clock)

    got = _statuses(limiter, [_req("10.0.0.1"), _req("10.0.0.1"), _req("10.0.0.1"), _req("10.0.0.2")])
    assert got == [200, 200, 429, 200]


def test_client_check_runs_before_the_global_one() -> None:
    clock = FakeClock()
    config = KrakendRateLimitConfig(
        bucket_id="o1", max_rate=2, capacity=2, client_max_rate=1, client_capacity=1, strategy="ip"
    )
    limiter = _limiter(config, clock)

    # a: client ok, global 1 left; a again: client empty → 429 (no global token taken); b, c: global 1 then 503.
    got = _statuses(limiter, [_req("10.0.0.1"), _req("10.0.0.1"), _req("10.0.0.2"), _req("10.0.0.3")])
    assert got == [200, 429, 200, 503]


def test_header_strategy_keys_on_the_header_and_refuses_an_empty_key() -> None:
    clock = FakeClock()
    config = KrakendRateLimitConfig(
        bucket_id="h1", client_max_rate=1, client_capacity=1, strategy="header", key="X-Api-Key"
    )
    limiter = _limiter(config, clock)

    got = _statuses(limiter, [_req(X_Api_Key="a"), _req(X_Api_Key="a"), _req(X_Api_Key="b"), _req()])
    assert got == [200, 429, 200, 429]


def test_ip_strategy_with_key_reads_the_header_first_address_when_it_is_an_ip() -> None:
    clock = FakeClock()
    config = KrakendRateLimitConfig(
        bucket_id="k1", client_max_rate=1, client_capacity=1, strategy="ip", key="X-Forwarded-For"
    )
    limiter = _limiter(config, clock)

    got = _statuses(
        limiter,
        [
            _req("127.0.0.1", X_Forwarded_For="203.0.113.7:4321, 10.0.0.1"),
            _req("127.0.0.2", X_Forwarded_For="203.0.113.7"),  # same client through another proxy
            _req("127.0.0.1", X_Forwarded_For="not-an-ip"),  # falls back to the socket address
            _req("127.0.0.1"),  # the socket address' bucket is now empty
        ],
    )
    assert got == [200, 429, 200, 429]


def test_no_strategy_means_no_client_limit() -> None:
    clock = FakeClock()
    limiter = _limiter(KrakendRateLimitConfig(bucket_id="n1", client_max_rate=1, client_capacity=1), clock)

    assert _statuses(limiter, [_req(), _req(), _req()]) == [200, 200, 200]


def test_instances_of_one_block_share_their_buckets() -> None:
    """The service-level block: one instance per endpoint chain, one global bucket and one bucket per client."""
    clock = FakeClock()
    config = KrakendRateLimitConfig(
        bucket_id="$.extra_config", max_rate=3, capacity=3, client_max_rate=1, client_capacity=1, strategy="ip"
    )
    endpoint_a, endpoint_b = _limiter(config, clock), _limiter(config, clock)

    async def run() -> list[int]:
        return [
            (await endpoint_a(_req("10.0.0.1"))).status,
            (await endpoint_b(_req("10.0.0.1"))).status,  # same client, other endpoint: its bucket is empty
            (await endpoint_b(_req("10.0.0.2"))).status,
            (await endpoint_a(_req("10.0.0.3"))).status,
            (await endpoint_b(_req("10.0.0.4"))).status,  # the one global bucket is empty
        ]

    assert asyncio.run(run()) == [200, 429, 200, 200, 503]


def test_other_blocks_have_their_own_buckets() -> None:
    clock = FakeClock()
    first = _limiter(KrakendRateLimitConfig(bucket_id="$.endpoints[0]", max_rate=1, capacity=1), clock)
    second = _limiter(KrakendRateLimitConfig(bucket_id="$.endpoints[1]", max_rate=1, capacity=1), clock)

    assert _statuses(first, [_req(), _req()]) == [200, 503]
    assert _statuses(second, [_req()]) == [200]


def test_sub_second_rates_refill_slowly() -> None:
    """``every: 1m`` with ``max_rate: 5`` arrives as 5/60 tokens per second."""
    clock = FakeClock()
    limiter = _limiter(KrakendRateLimitConfig(bucket_id="slow", max_rate=5 / 60, capacity=5), clock)

    assert _statuses(limiter, [_req() for _ in range(6)]) == [200] * 5 + [503]
    clock.advance(11.0)
    assert _statuses(limiter, [_req()]) == [503]
    clock.advance(1.0)
    assert _statuses(limiter, [_req()]) == [200]


class DownRedis:
    """A redis-py stand-in whose every call fails as a refused connection does."""

    async def evalsha(self, *args: Any) -> Any:
        raise ConnectionError("Connection refused")


@pytest.mark.parametrize(("policy", "expected"), [("closed", [503, 503]), ("open", [200, 200]), ("local", [200, 503])])
def test_redis_failure_policy(policy: str, expected: list[int]) -> None:
    clock = FakeClock()
    config = KrakendRateLimitConfig(
        bucket_id=f"r-{policy}", max_rate=1, capacity=1, redis=KrakendRedisConfig(failure_policy=policy)
    )
    limiter = _limiter(config, clock, redis_client_factory=lambda settings: DownRedis())

    async def run() -> list[int]:
        statuses = []
        for _ in range(2):  # the second one meets the limiter's back-off after the failure: same policy
            statuses.append((await limiter(_req())).status)
        return statuses

    assert asyncio.run(run()) == expected


def test_unknown_failure_policy_is_refused_at_build() -> None:
    config = KrakendRateLimitConfig(bucket_id="bad", max_rate=1, redis=KrakendRedisConfig(failure_policy="maybe"))
    with pytest.raises(ValueError, match="failure_policy"):
        _limiter(config, FakeClock())


_EXAMPLES = itertools.count()


@given(
    steps=st.lists(st.tuples(st.floats(min_value=0, max_value=2.0), st.sampled_from(["a", "b", "c"])), max_size=60),
    rate=st.sampled_from([0.5, 1.0, 3.0]),
    capacity=st.integers(min_value=1, max_value=4),
)
@settings(max_examples=60, deadline=None)
def test_a_client_never_gets_more_than_capacity_plus_what_the_rate_refilled(
    steps: list[tuple[float, str]], rate: float, capacity: int
) -> None:
    clock = FakeClock()
    config = KrakendRateLimitConfig(
        bucket_id=f"prop-{next(_EXAMPLES)}", client_max_rate=rate, client_capacity=capacity, strategy="header", key="K"
    )
    limiter = _limiter(config, clock)
    start = clock.now
    admitted: dict[str, int] = {}

    async def run() -> None:
        for delay, client in steps:
            clock.advance(delay)
            if (await limiter(_req(K=client))).status == 200:
                admitted[client] = admitted.get(client, 0) + 1

    asyncio.run(run())
    for count in admitted.values():
        assert count <= capacity + rate * (clock.now - start) + 1e-9
