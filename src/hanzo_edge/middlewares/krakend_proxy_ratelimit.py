"""``qos/ratelimit/proxy`` (krakend-ratelimit v3, backend level): a token bucket in front of one KrakenD backend.

A backend-level wrapper around the backend call: when the bucket is empty the call fails with
``krakendrate.ErrLimited``'s text ("rate limit exceeded") without reaching the backend, so the endpoint answers 500,
or 200 with the other backends' data and ``X-Krakend-Completed: false`` (Lura's merge). One bucket per backend of
the configuration (its JSON path), shared by every instance built for it across generations, so a reload does not
refill it. ``max_rate`` per ``every`` (normalised to per second), ``capacity`` the burst.
"""

from __future__ import annotations

import math
import weakref

import msgspec

from hanzo_edge.http.errors import UpstreamError
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.middlewares._token_bucket import BucketStore, RateParams
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["KrakendProxyRateLimitConfig", "RateLimited"]

_SECOND = 1_000_000_000


class KrakendProxyRateLimitConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Per-second ``max_rate``, the burst ``capacity``, and the block's JSON path (one bucket per backend)."""

    bucket_id: str
    max_rate: float
    capacity: int


class RateLimited(UpstreamError):
    """The backend's bucket is empty."""


class _Shared:
    __slots__ = ("__weakref__", "store")

    def __init__(self, store: BucketStore) -> None:
        self.store = store


_SHARED: weakref.WeakValueDictionary[tuple[KrakendProxyRateLimitConfig, int], _Shared] = weakref.WeakValueDictionary()


@register("krakendProxyRateLimit", KrakendProxyRateLimitConfig)
class KrakendProxyRateLimit:
    """The wrapper (see the module docstring)."""

    __slots__ = ("clock", "next", "shared")

    def __init__(self, next: Handler, config: KrakendProxyRateLimitConfig, *, name: str, ctx: BuildContext) -> None:
        if config.max_rate <= 0 or not math.isfinite(config.max_rate):
            raise ValueError("max_rate must be a positive number")
        self.next = next
        self.clock = ctx.clock
        key = (config, id(ctx.clock))
        shared = _SHARED.get(key)
        if shared is None:
            burst = max(config.capacity, 1)
            params = RateParams(config.max_rate, burst, 0, math.ceil(burst / config.max_rate) + 1)
            shared = _Shared(BucketStore(params, max_sources=1))
            _SHARED[key] = shared
        self.shared = shared

    async def __call__(self, req: Request) -> Response:
        if self.shared.store.reserve("", round(self.clock() * _SECOND)) > 0:
            raise RateLimited("rate limit exceeded")
        return await self.next(req)
