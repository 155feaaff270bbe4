"""``krakendRateLimit``: KrakenD's ``qos/ratelimit/router`` (krakend-ratelimit v3), per process or shared through Redis.

Two token buckets, both optional: one **global** bucket (``max_rate`` tokens per second, ``capacity`` tokens) and one
bucket **per client** (``client_max_rate``/``client_capacity``; the client is its IP or a header's value). The client
check runs first, then the global one, as KrakenD: an empty bucket refuses at once, never delays. Refusals are
KrakenD's, with an empty body: **429** when the client's bucket is empty or the client key is empty, **503** when the
global bucket is.

The buckets are ``_token_bucket``'s (Traefik's ``rateLimit`` state machine) with no allowed delay: a reservation that
would have to wait gives its token back and is refused. Rates arrive normalised to tokens per second (``every`` is
applied by the namespace handler).

Buckets belong to ``bucket_id`` (the JSON path of the configuration block), not to one middleware instance: every
instance built from an equal configuration shares them. That is how a service-level block limits all endpoints with
*one* global bucket and one bucket per client although each endpoint's chain has its own instance, and how buckets
survive a reload that leaves the block unchanged. ``redis`` shares them between processes and replicas instead
(keys ``rate:krakend:<bucket_id>:global`` and ``…:client:<key>``, the rateLimit middleware's Lua script), with the
rateLimit middleware's ``failure_policy`` when Redis cannot answer: ``closed`` answers 503, ``open`` lets the request
through, ``local`` falls back to this process' buckets.
"""

from __future__ import annotations

import ipaddress
import math
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.middlewares._redis_limiter import KEY_PREFIX, RedisLimiter, RedisSettings, RedisUnavailable
from hanzo_edge.middlewares._token_bucket import BucketStore, RateParams
from hanzo_edge.middlewares.base import BuildContext, register
from hanzo_edge.middlewares.rate_limit import FAILURE_POLICIES

__all__ = ["KrakendRateLimit", "KrakendRateLimitConfig", "KrakendRedisConfig", "KrakendRedisTLS"]

_SECOND = 1_000_000_000


class KrakendRedisTLS(msgspec.Struct, frozen=True, kw_only=True):
    """TLS to Redis: CA, client certificate and key files, or no verification at all."""

    ca: str = ""
    cert: str = ""
    key: str = ""
    insecure_skip_verify: bool = False


class KrakendRedisConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Where the shared buckets live (the rateLimit middleware's ``redis`` options, snake_case as gateway.json)."""

    endpoints: tuple[str, ...] = ("localhost:6379",)
    username: str = ""
    password: str = ""
    db: int = 0
    tls: KrakendRedisTLS | None = None
    pool_size: int = 0
    max_active_conns: int = 0
    read_timeout: float = 3.0
    write_timeout: float = 3.0
    dial_timeout: float = 5.0
    failure_policy: str = "closed"


class KrakendRateLimitConfig(msgspec.Struct, frozen=True, kw_only=True):
    """One ``qos/ratelimit/router`` block, defaults applied and rates in tokens per second.

    ``strategy`` is ``ip``, ``header`` or ``""`` (no client limit); ``key`` the header it reads.
    """

    bucket_id: str
    max_rate: float = 0.0
    capacity: int = 0
    client_max_rate: float = 0.0
    client_capacity: int = 0
    strategy: str = ""
    key: str = ""
    redis: KrakendRedisConfig | None = None


def _params(rate: float, capacity: int) -> RateParams:
    burst = max(capacity, 1)
    # A bucket idle long enough to be full again is forgotten: re-creating it full changes nothing.
    ttl = math.ceil(burst / rate) + 1
    return RateParams(rate, burst, 0, ttl)


class _Buckets:
    """The state shared by every instance of one ``bucket_id`` and configuration (see the module docstring)."""

    __slots__ = ("__weakref__", "client", "client_redis", "global_", "global_redis")

    def __init__(
        self,
        config: KrakendRateLimitConfig,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        redis_client_factory: Callable[[RedisSettings], Any] | None,
    ) -> None:
        self.global_: BucketStore | None = None
        self.client: BucketStore | None = None
        self.global_redis: RedisLimiter | None = None
        self.client_redis: RedisLimiter | None = None
        settings = None if config.redis is None else RedisSettings.from_config(config.redis)
        if config.max_rate > 0:
            params = _params(config.max_rate, config.capacity)
            self.global_ = BucketStore(params, max_sources=1)
            if settings is not None:
                self.global_redis = RedisLimiter(
                    settings, params.rate, params.burst, 0, params.ttl_s,
                    clock=clock, wall_clock=wall_clock, client_factory=redis_client_factory,
                )  # fmt: skip
        if config.client_max_rate > 0 and config.strategy:
            params = _params(config.client_max_rate, config.client_capacity)
            self.client = BucketStore(params)
            if settings is not None:
                self.client_redis = RedisLimiter(
                    settings, params.rate, params.burst, 0, params.ttl_s,
                    clock=clock, wall_clock=wall_clock, client_factory=redis_client_factory,
                )  # fmt: skip


_SHARED: weakref.WeakValueDictionary[tuple[KrakendRateLimitConfig, int], _Buckets] = weakref.WeakValueDictionary()


def _valid_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _client_key(strategy: str, key: str) -> Callable[[Request], str]:
    """KrakenD's token extractors: ``header`` reads ``key``; ``ip`` reads ``key``'s first address when set and valid,
    else the client IP."""
    if strategy == "header":
        lowered = key.lower().encode("latin-1")

        def from_header(req: Request) -> str:
            value = req.headers.get_raw(lowered)
            return "" if value is None else value.decode("latin-1")

        return from_header
    if not key:
        return _remote_ip
    header = key.lower().encode("latin-1")

    def from_ip_header(req: Request) -> str:
        value = req.headers.get_raw(header)
        if value:
            first = value.split(b",", 1)[0].strip().decode("latin-1")
            # krakend-ratelimit strips a port by cutting at the first ":" (so IPv6 falls back to the client IP).
            candidate = first.split(":", 1)[0]
            if candidate and _valid_ip(candidate):
                return candidate
        return req.client_ip

    return from_ip_header


def _remote_ip(req: Request) -> str:
    return req.client_ip


def _refuse(status: int) -> Response:
    return Response(status)


async def _answer(status: int) -> Response:
    return Response(status)


@register("krakendRateLimit", KrakendRateLimitConfig)
class KrakendRateLimit:
    """Refuses requests over the client (429) or global (503) rate. Raises ValueError for invalid Redis settings or an
    unknown ``failure_policy``."""

    __slots__ = ("buckets", "client_key", "clock", "failure_policy", "next", "redis_prefix")

    def __init__(
        self,
        next: Handler,
        config: KrakendRateLimitConfig,
        *,
        name: str,
        ctx: BuildContext,
        wall_clock: Callable[[], float] = time.time,
        redis_client_factory: Callable[[RedisSettings], Any] | None = None,
    ) -> None:
        self.failure_policy = "closed"
        if config.redis is not None:
            if config.redis.failure_policy not in FAILURE_POLICIES:
                raise ValueError(
                    f'redis.failure_policy must be "closed", "open" or "local", not {config.redis.failure_policy!r}'
                )
            self.failure_policy = config.redis.failure_policy
        shared_key = (config, id(ctx.clock))
        buckets = _SHARED.get(shared_key)
        if buckets is None:
            buckets = _Buckets(config, ctx.clock, wall_clock, redis_client_factory)
            _SHARED[shared_key] = buckets
        self.buckets = buckets
        self.next = next
        self.clock = ctx.clock
        self.client_key = _client_key(config.strategy, config.key)
        self.redis_prefix = f"{KEY_PREFIX}krakend:{config.bucket_id}:"

    def __call__(self, req: Request) -> Awaitable[Response]:
        buckets = self.buckets
        if buckets.global_redis is not None or buckets.client_redis is not None:
            return self._distributed(req)
        status = self._local(req)
        if status:
            return _answer(status)
        return self.next(req)

    def _local(self, req: Request) -> int:
        """Return 0 when the request may go on, else its status (client first, then global)."""
        buckets = self.buckets
        now_ns = round(self.clock() * _SECOND)
        client = buckets.client
        if client is not None:
            key = self.client_key(req)
            if not key or client.reserve(key, now_ns) > 0:
                return 429
        global_ = buckets.global_
        if global_ is not None and global_.reserve("", now_ns) > 0:
            return 503
        return 0

    async def _distributed(self, req: Request) -> Response:
        buckets = self.buckets
        try:
            if buckets.client_redis is not None:
                key = self.client_key(req)
                if not key or await buckets.client_redis.reserve(f"{self.redis_prefix}client:{key}") > 0:
                    return _refuse(429)
            if (
                buckets.global_redis is not None
                and await buckets.global_redis.reserve(f"{self.redis_prefix}global") > 0
            ):
                return _refuse(503)
        except RedisUnavailable:
            policy = self.failure_policy
            if policy == "closed":
                return _refuse(503)
            if policy == "local":
                status = self._local(req)
                if status:
                    return _refuse(status)
        return await self.next(req)
