"""``rateLimit``: token buckets per source, in memory or shared through Redis (Traefik ``pkg/middlewares/ratelimiter``).

The rate is ``average / period`` requests per second with buckets of ``burst`` tokens (``average: 0`` disables the
limit). Each source (``sourceCriterion``; default: the client IP from the socket) has its own bucket.

Like Traefik, a request over the rate is **delayed** when its turn comes soon enough: if the wait is at most
``maxDelay`` (``1s / (2 * int(rate))`` for rates of at least 1/s, else 500ms) the request sleeps that long, then
proceeds. A longer wait answers **429** ``Too Many Requests`` with ``Retry-After`` (whole seconds, rounded up) and
``X-Retry-In`` (a Go duration such as ``1.5s``), without consuming a token.

In memory, buckets live in this middleware instance (one per router, as in Traefik): at most 65536 sources, least
recently used evicted first, a bucket idle for its TTL (2s when rate >= 1/s) forgotten. With ``redis`` the buckets
are shared by every worker and replica (keys ``rate:<middleware>:<source>``, see ``_redis_limiter``). Hanzo adds
``redis.failurePolicy`` for when Redis cannot answer:

* ``closed`` (default, Traefik's behaviour): **500** ``Could not insert/update bucket``;
* ``open``: the request goes through unlimited;
* ``local``: the in-memory bucket of this process decides (per-process limit until Redis is back).

The clock (``ctx.clock``), the sleep and Redis' wall clock are injectable for tests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from hanzo_edge.config.middlewares import RateLimit as RateLimitConfig
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.middlewares._redis_limiter import KEY_PREFIX, RedisLimiter, RedisSettings, RedisUnavailable
from hanzo_edge.middlewares._source import source_extractor
from hanzo_edge.middlewares._token_bucket import BucketStore, RateParams, go_duration, retry_after
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["FAILURE_POLICIES", "RateLimit", "too_many_requests"]

FAILURE_POLICIES = ("closed", "open", "local")
"""Accepted values of ``redis.failurePolicy`` (Hanzo addition; Traefik always behaves as ``closed``)."""


def too_many_requests(delay_ns: int) -> Response:
    """Return Traefik's 429 for a wait of ``delay_ns``: ``Retry-After``, ``X-Retry-In`` and the status text."""
    headers = Headers(
        [
            (b"Retry-After", retry_after(delay_ns).encode()),
            # Go writes the UTF-8 bytes of the duration (µs appears for sub-millisecond waits).
            (b"X-Retry-In", go_duration(delay_ns).encode("utf-8")),
        ]
    )
    return Response(429, headers, b"Too Many Requests")


async def _answer(response: Response) -> Response:
    return response


@register("rateLimit")
class RateLimit:
    """Delays or rejects requests over the rate. Raises ValueError for a negative period, conflicting source
    criteria, a bad IP strategy, an unknown ``redis.failurePolicy`` or invalid Redis settings."""

    __slots__ = (
        "clock",
        "failure_policy",
        "name",
        "next",
        "params",
        "redis",
        "redis_prefix",
        "sleep",
        "source",
        "store",
    )

    def __init__(
        self,
        next: Handler,
        config: RateLimitConfig,
        *,
        name: str,
        ctx: BuildContext,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall_clock: Callable[[], float] = time.time,
        redis_client_factory: Callable[[RedisSettings], Any] | None = None,
    ) -> None:
        try:
            self.source = source_extractor(getattr(config, "source_criterion", None), default="ip")
        except ValueError as exc:
            raise ValueError(f"getting source extractor: {exc}") from None
        self.params = RateParams.from_config(
            float(getattr(config, "average", 0) or 0),
            float(getattr(config, "period", 1.0) or 0.0),
            int(getattr(config, "burst", 1) or 0),
        )
        self.next = next
        self.name = name
        self.clock = ctx.clock
        self.sleep = sleep
        self.store = BucketStore(self.params)
        self.redis: RedisLimiter | None = None
        self.failure_policy = "closed"
        self.redis_prefix = f"{KEY_PREFIX}{name}:"
        redis_config = getattr(config, "redis", None)
        if redis_config is not None:
            policy = str(getattr(redis_config, "failure_policy", "closed") or "closed")
            if policy not in FAILURE_POLICIES:
                raise ValueError(f'redis.failurePolicy must be "closed", "open" or "local", not {policy!r}')
            self.failure_policy = policy
            settings = RedisSettings.from_config(redis_config)
            if not self.params.unlimited:
                self.redis = RedisLimiter(
                    settings,
                    self.params.rate,
                    self.params.burst,
                    self.params.max_delay_ns,
                    self.params.ttl_s,
                    clock=ctx.clock,
                    wall_clock=wall_clock,
                    client_factory=redis_client_factory,
                )

    def __call__(self, req: Request) -> Awaitable[Response]:
        if self.params.unlimited:
            return self.next(req)
        source = self.source(req)
        redis = self.redis
        if redis is not None:
            return self._distributed(req, source, redis)
        return self._decide(req, self.store.reserve(source, self._now_ns()))

    def _now_ns(self) -> int:
        return round(self.clock() * 1_000_000_000)

    def _decide(self, req: Request, delay_ns: int) -> Awaitable[Response]:
        if delay_ns <= 0:
            return self.next(req)
        if delay_ns > self.params.max_delay_ns:
            return _answer(too_many_requests(delay_ns))
        return self._delayed(req, delay_ns)

    async def _delayed(self, req: Request, delay_ns: int) -> Response:
        await self.sleep(delay_ns / 1_000_000_000)
        return await self.next(req)

    async def _distributed(self, req: Request, source: str, redis: RedisLimiter) -> Response:
        try:
            delay_ns = await redis.reserve(self.redis_prefix + source)
        except RedisUnavailable:
            policy = self.failure_policy
            if policy == "open":
                return await self.next(req)
            if policy == "local":
                delay_ns = self.store.reserve(source, self._now_ns())
            else:
                return Response.text(500, "Could not insert/update bucket\n")
        return await self._decide(req, delay_ns)
