"""``rateLimit``: request sequences in → status, ``Retry-After``/``X-Retry-In`` and delays out, with a fake clock.

The Redis store is exercised with a fake client that runs the script's algorithm in Python (the real script runs
against a real ``redis-server`` in ``tests/integration/test_mw_limits.py``).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from fakes import FakeClock
from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares._redis_limiter import LUA_SHA, LUA_TOKEN_BUCKET, RedisSettings
from hanzo_edge.middlewares.base import BuildContext, factory_for
from hanzo_edge.middlewares.rate_limit import RateLimit

NAME = "rl@file"


class Sleeper:
    """A fake sleep that records the requested delays without sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class Backend:
    """A fake ``next``: counts requests and answers 200."""

    def __init__(self) -> None:
        self.seen: list[Request] = []

    async def __call__(self, req: Request) -> Response:
        self.seen.append(req)
        return Response(200, Headers(), b"ok")


def _config(options: dict[str, Any]) -> Any:
    config, errors = decode_dynamic({"http": {"middlewares": {"rl": {"rateLimit": options}}}})
    assert not errors, errors
    return config.http.middlewares["rl"].config


def _with_policy(config: Any, policy: str) -> Any:
    """A duck-typed copy whose ``redis.failurePolicy`` may be anything (the decoder only admits the three names)."""
    redis = SimpleNamespace(**{**msgspec.structs.asdict(config.redis), "failure_policy": policy})
    return SimpleNamespace(**{**msgspec.structs.asdict(config), "redis": redis})


def _req(client_ip: str = "10.0.0.1", **headers: str) -> Request:
    raw = [(b"Host", b"app.test")] + [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return Request("GET", "/", Headers(raw), host="app.test", client_ip=client_ip)


def _build(config: Any, clock: FakeClock, sleeper: Sleeper, backend: Backend, **kwargs: Any) -> RateLimit:
    return RateLimit(backend, config, name=NAME, ctx=BuildContext(clock=clock), sleep=sleeper, **kwargs)


def _summary(resp: Response) -> tuple[int, str | None, str | None]:
    retry_in = resp.headers.get_raw(b"x-retry-in")  # UTF-8 on the wire, as Go writes "µs"
    return resp.status, resp.headers.get("Retry-After"), None if retry_in is None else retry_in.decode()


OK = (200, None, None)

# Steps: (ms since start, request kwargs) → (status, Retry-After, X-Retry-In, slept ms).
CASES = [
    pytest.param(
        {"average": 10, "burst": 1},
        [
            (0, {}, (*OK, 0)),
            (0, {}, (429, "1", "100ms", 0)),
            (50, {}, (*OK, 50)),
            (150, {}, (*OK, 50)),
            (150, {}, (429, "1", "150ms", 0)),
            (400, {}, (*OK, 0)),
        ],
        id="10/s-burst-1-delays-up-to-50ms",
    ),
    pytest.param(
        {"average": 1, "period": "1s", "burst": 2},
        [
            (0, {}, (*OK, 0)),
            (0, {}, (*OK, 0)),
            (0, {}, (429, "1", "1s", 0)),
            (500, {}, (*OK, 500)),
            (600, {}, (429, "2", "1.4s", 0)),
        ],
        id="1/s-burst-2-retry-after-rounds-up",
    ),
    pytest.param(
        {"average": 1, "period": "8s", "burst": 1},
        [
            (0, {}, (*OK, 0)),
            (7_500, {}, (*OK, 500)),
            (7_500, {}, (429, "9", "8.5s", 0)),
        ],
        id="1/8s-slow-rate-maxdelay-500ms",
    ),
    pytest.param(
        {"average": 1000, "burst": 1},
        [
            (0, {}, (*OK, 0)),
            (0.25, {}, (429, "1", "750µs", 0)),
        ],
        id="1000/s-sub-millisecond-x-retry-in",
    ),
    pytest.param(
        {"average": 1, "burst": 1},
        [
            (0, {"client_ip": "10.0.0.1"}, (*OK, 0)),
            (0, {"client_ip": "10.0.0.2"}, (*OK, 0)),
            (0, {"client_ip": "10.0.0.1"}, (429, "1", "1s", 0)),
        ],
        id="default-source-is-the-client-ip",
    ),
    pytest.param(
        {"average": 1, "burst": 1, "sourceCriterion": {"requestHeaderName": "X-User"}},
        [
            (0, {"client_ip": "10.0.0.1", "X_User": "alice"}, (*OK, 0)),
            (0, {"client_ip": "10.0.0.2", "X_User": "alice"}, (429, "1", "1s", 0)),
            (0, {"client_ip": "10.0.0.2", "X_User": "bob"}, (*OK, 0)),
        ],
        id="header-source",
    ),
    pytest.param(
        {"average": 1, "burst": 1, "sourceCriterion": {"ipStrategy": {"depth": 1}}},
        [
            (0, {"X_Forwarded_For": "1.1.1.1, 2.2.2.2"}, (*OK, 0)),
            (0, {"X_Forwarded_For": "3.3.3.3, 2.2.2.2"}, (429, "1", "1s", 0)),
            (0, {"X_Forwarded_For": "2.2.2.2, 3.3.3.3"}, (*OK, 0)),
        ],
        id="xff-depth-source",
    ),
    pytest.param(
        {"average": 0, "burst": 1},
        [(0, {}, (*OK, 0))] * 20,
        id="average-0-no-limit",
    ),
]


@pytest.mark.parametrize(("options", "steps"), CASES)
def test_in_memory_sequences(
    options: dict[str, Any], steps: list[tuple[float, dict[str, str], tuple[Any, ...]]]
) -> None:
    clock, sleeper, backend = FakeClock(), Sleeper(), Backend()
    handler = _build(_config(options), clock, sleeper, backend)
    start = clock.now

    async def run() -> list[tuple[Any, ...]]:
        out = []
        for ms, kwargs, _ in steps:
            clock.now = start + ms / 1000
            before = len(sleeper.delays)
            resp = await handler(_req(**kwargs))
            slept = round(sum(sleeper.delays[before:]) * 1000)
            out.append((*_summary(resp), slept))
        return out

    assert asyncio.run(run()) == [expected for _, _, expected in steps]
    assert len(backend.seen) == sum(1 for *_, expected in steps if expected[0] == 200)


def test_429_is_traefiks_exact_response() -> None:
    handler = _build(_config({"average": 1000, "burst": 1}), FakeClock(), Sleeper(), Backend())

    async def run() -> Response:
        await handler(_req())
        return await handler(_req())

    resp = asyncio.run(run())
    assert resp.status == 429
    assert resp.body == b"Too Many Requests"
    assert resp.headers.raw == [(b"Retry-After", b"1"), (b"X-Retry-In", b"1ms")]


def test_sub_millisecond_x_retry_in_is_utf8_like_go() -> None:
    clock = FakeClock()
    handler = _build(_config({"average": 1000, "burst": 1}), clock, Sleeper(), Backend())

    async def run() -> Response:
        await handler(_req())
        clock.now += 0.00025
        return await handler(_req())

    assert asyncio.run(run()).headers.get_raw(b"x-retry-in") == "750µs".encode()


def test_registered_under_traefik_name() -> None:
    assert factory_for("rateLimit") is RateLimit


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"average": 1, "period": -1}, "negative value not valid for period: -1s", id="negative-period"),
        pytest.param(
            {"average": 1, "sourceCriterion": {"ipStrategy": {}, "requestHost": True}},
            "getting source extractor: iPStrategy and RequestHost are mutually exclusive",
            id="two-criteria",
        ),
        pytest.param(
            {"average": 1, "sourceCriterion": {"ipStrategy": {"excludedIPs": ["x"]}}},
            "parsing CIDR trusted IPs x",
            id="bad-excluded-ip",
        ),
        pytest.param({"average": 1, "redis": {"endpoints": ["h:0"]}}, "invalid port", id="redis-bad-port"),
        pytest.param({"average": 1, "redis": {"endpoints": ["redis://h"]}}, "must be host:port", id="redis-url"),
        pytest.param(
            {"average": 1, "redis": {"tls": {"cert": "/c.pem"}}}, "cert and tls.key must be set together", id="tls"
        ),
        pytest.param(
            {"average": 1, "redis": {"tls": {"ca": "/nonexistent/ca.pem"}}}, "not a readable file", id="tls-ca"
        ),
    ],
)
def test_config_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _build(_config(options), FakeClock(), Sleeper(), Backend())


def test_unknown_failure_policy_is_a_config_error() -> None:
    config = _with_policy(_config({"average": 1, "redis": {}}), "maybe")
    with pytest.raises(ValueError, match=r'redis.failurePolicy must be "closed", "open" or "local"'):
        _build(config, FakeClock(), Sleeper(), Backend())


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        pytest.param("localhost:6379", ("localhost", 6379), id="host-port"),
        pytest.param("redis", ("redis", 6379), id="default-port"),
        pytest.param("[::1]:7000", ("::1", 7000), id="ipv6"),
        pytest.param("::1", ("::1", 6379), id="bare-ipv6"),
    ],
)
def test_redis_endpoints(endpoint: str, expected: tuple[str, int]) -> None:
    settings = RedisSettings.from_config(_config({"redis": {"endpoints": [endpoint]}}).redis)
    assert settings.endpoints == (expected,)


def test_redis_settings_follow_go_redis_defaults() -> None:
    settings = RedisSettings.from_config(
        _config({"redis": {"poolSize": 4, "readTimeout": 0, "dialTimeout": "2s"}}).redis
    )
    assert settings.max_connections == 4
    assert settings.read_timeout == 3.0  # writeTimeout still 3s: one socket timeout for both
    assert settings.dial_timeout == 2.0


# -- the Redis store, with a fake client -------------------------------------------------------------------------------
class FakeRedis:
    """Runs the token-bucket script's algorithm on a dict; can be switched down; starts without the script."""

    def __init__(self) -> None:
        self.hashes: dict[str, dict[str, float]] = {}
        self.ttls: dict[str, int] = {}
        self.down = False
        self.loaded = False
        self.calls: list[tuple[str, str, tuple[Any, ...]]] = []

    async def evalsha(self, sha: str, numkeys: int, key: str, *args: Any) -> list[bytes]:
        self.calls.append(("evalsha", key, args))
        if self.down:
            raise RedisConnectionError("Connection refused")
        assert sha == LUA_SHA
        if not self.loaded:
            raise NoScriptError("NOSCRIPT No matching script.")
        return self._run(key, args)

    async def eval(self, script: str, numkeys: int, key: str, *args: Any) -> list[bytes]:
        self.calls.append(("eval", key, args))
        if self.down:
            raise RedisConnectionError("Connection refused")
        assert script == LUA_TOKEN_BUCKET
        self.loaded = True
        return self._run(key, args)

    def _run(self, key: str, args: tuple[Any, ...]) -> list[bytes]:
        rate, burst, ttl, now, max_delay = float(args[0]), int(args[1]), int(args[2]), int(args[3]), int(args[4])
        state = self.hashes.get(key, {"last": 0, "tokens": 0})
        last = min(state["last"], now)
        tokens = min(state["tokens"] + rate * (now - last), burst) - 1
        wait = 0.0
        if tokens < 0:
            wait = -tokens / rate
            if wait > max_delay:
                tokens = min(tokens + 1, burst)
        self.hashes[key] = {"last": now, "tokens": tokens}
        self.ttls[key] = ttl
        return [b"true", repr(wait).encode(), repr(tokens).encode()]


def _redis_handler(
    fake: FakeRedis, clock: FakeClock, wall: FakeClock, policy: str = "closed", **options: Any
) -> tuple[RateLimit, Backend]:
    config = _config({"average": 1, "burst": 1, "redis": {"failurePolicy": policy}, **options})
    backend = Backend()
    handler = RateLimit(
        backend,
        config,
        name=NAME,
        ctx=BuildContext(clock=clock),
        sleep=Sleeper(),
        wall_clock=wall,
        redis_client_factory=lambda settings: fake,
    )
    return handler, backend


def test_redis_keys_args_and_noscript_fallback() -> None:
    fake, clock, wall = FakeRedis(), FakeClock(), FakeClock(1_700_000_000.25)
    handler, _ = _redis_handler(fake, clock, wall)

    async def run() -> list[int]:
        return [(await handler(_req("10.0.0.7"))).status for _ in range(3)]

    assert asyncio.run(run()) == [200, 429, 429]
    assert [c[0] for c in fake.calls] == ["evalsha", "eval", "evalsha", "evalsha"]
    _, key, args = fake.calls[0]
    assert key == "rate:rl@file:10.0.0.7"
    assert args == ("1e-06", 1, 2, 1_700_000_000_250_000, 500_000)
    assert fake.ttls[key] == 2


def test_redis_bucket_is_shared_by_instances_and_delays_like_memory() -> None:
    fake, clock, wall = FakeRedis(), FakeClock(), FakeClock(1_700_000_000.0)
    first, backend1 = _redis_handler(fake, clock, wall)
    second, backend2 = _redis_handler(fake, clock, wall)

    async def run() -> list[tuple[int, str | None, str | None]]:
        out = [_summary(await first(_req()))]
        out.append(_summary(await second(_req())))
        wall.now += 0.5
        out.append(_summary(await second(_req())))  # 0.5 token owed: a 500ms wait is within maxDelay
        wall.now += 0.25
        out.append(_summary(await first(_req())))
        return out

    assert asyncio.run(run()) == [OK, (429, "1", "1s"), OK, (429, "2", "1.25s")]
    assert (len(backend1.seen), len(backend2.seen)) == (1, 1)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        pytest.param("closed", [(500, b"Could not insert/update bucket\n")] * 3, id="closed-500-like-traefik"),
        pytest.param("open", [(200, b"ok")] * 3, id="open-lets-through"),
        pytest.param("local", [(200, b"ok"), (429, b"Too Many Requests"), (429, b"Too Many Requests")], id="local"),
    ],
)
def test_failure_policy_when_redis_is_down(policy: str, expected: list[tuple[int, bytes]]) -> None:
    fake, clock, wall = FakeRedis(), FakeClock(), FakeClock(1_700_000_000.0)
    fake.down = True
    handler, _ = _redis_handler(fake, clock, wall, policy)

    async def run() -> list[tuple[int, bytes]]:
        out = []
        for _ in range(3):
            resp = await handler(_req())
            out.append((resp.status, bytes(resp.body)))  # type: ignore[arg-type]
        return out

    assert asyncio.run(run()) == expected


def test_redis_backoff_then_reconnect() -> None:
    fake, clock, wall = FakeRedis(), FakeClock(), FakeClock(1_700_000_000.0)
    fake.loaded = True
    handler, _ = _redis_handler(fake, clock, wall, "open", average=100, burst=100)

    async def status() -> int:
        return (await handler(_req())).status

    async def run() -> None:
        fake.down = True
        assert await status() == 200
        assert len(fake.calls) == 1
        clock.now += 0.1  # inside the 0.25s back-off: Redis is not even tried
        assert await status() == 200
        assert len(fake.calls) == 1
        clock.now += 0.2  # after it: one probe, still down, back-off doubles to 0.5s
        assert await status() == 200
        assert len(fake.calls) == 2
        clock.now += 0.4
        assert await status() == 200
        assert len(fake.calls) == 2
        fake.down = False
        clock.now += 0.2
        assert await status() == 200
        assert len(fake.calls) == 3
        assert handler.redis is not None
        assert not handler.redis.down
        assert await status() == 200
        assert len(fake.calls) == 4  # healthy again: every request asks Redis

    asyncio.run(run())


def test_redis_with_average_0_never_asks_redis() -> None:
    fake = FakeRedis()
    handler, backend = _redis_handler(fake, FakeClock(), FakeClock(), average=0)

    async def run() -> None:
        for _ in range(5):
            assert (await handler(_req())).status == 200

    asyncio.run(run())
    assert fake.calls == []
    assert len(backend.seen) == 5
