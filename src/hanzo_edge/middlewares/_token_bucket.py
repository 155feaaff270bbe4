"""Token buckets as Traefik's ``rateLimit`` uses them (``golang.org/x/time/rate`` ``Reserve`` + ``Cancel``).

Pure state machines over integer nanoseconds: the caller passes the time, so tests drive them with a fake clock.

* :class:`RateParams` turns ``average``/``period``/``burst`` into Traefik's rate (tokens per second), bucket size,
  ``maxDelay`` and bucket TTL (``pkg/middlewares/ratelimiter/rate_limiter.go``).
* :class:`TokenBucket` is one source's bucket. A reservation always takes a token (the bucket may go negative, which
  is what makes later requests wait); the answer is how long the request must wait. When that exceeds ``maxDelay``
  the reservation is cancelled, i.e. the token is given back, and the caller answers 429.
* :class:`BucketStore` holds the per-source buckets of one middleware: at most ``max_sources`` (least recently used
  evicted first) and a bucket unused for ``ttl`` seconds is forgotten (Traefik's ttlmap), so it restarts full.
* :func:`go_duration` formats nanoseconds like Go's ``time.Duration.String`` (the ``X-Retry-In`` header).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["MAX_SOURCES", "BucketStore", "RateParams", "TokenBucket", "go_duration", "retry_after"]

MAX_SOURCES = 65536
"""Traefik's bound on the number of sources tracked by one in-memory rate limiter."""

_SECOND = 1_000_000_000


@dataclass(frozen=True, slots=True)
class RateParams:
    """Derived limiter parameters. ``rate`` is tokens per second (``math.inf``: no limit)."""

    rate: float
    burst: int
    max_delay_ns: int
    ttl_s: int

    @property
    def unlimited(self) -> bool:
        """True when ``average`` is 0 (or negative): every request passes at once."""
        return math.isinf(self.rate)

    @classmethod
    def from_config(cls, average: float, period: float, burst: int) -> RateParams:
        """Compute Traefik's parameters. ``period`` is in seconds (0 means 1s). Raises ValueError if it is negative.

        ``maxDelay`` is ``1s / (2 * int(rate))`` for rates of at least one request per second, else 500ms; the TTL is
        2s for such rates, else ``1 + int(1/rate)`` seconds.
        """
        if period < 0:
            raise ValueError(f"negative value not valid for period: {go_duration(round(period * _SECOND))}")
        if period == 0:
            period = 1.0
        burst = max(int(burst), 1)
        if average <= 0:
            return cls(math.inf, burst, 0, 1)
        # Traefik: float64(average * int64(time.Second)) / float64(period) with period in nanoseconds.
        rate = float(int(average) * _SECOND) / float(round(period * _SECOND))
        max_delay = 500_000_000 if rate < 1 else _SECOND // (int(rate) * 2)
        ttl = 2 if rate >= 1 else 1 + int(1 / rate)
        return cls(rate, burst, max_delay, ttl)


class TokenBucket:
    """One source's bucket: ``tokens`` (may be negative while reservations wait) as of ``last`` (ns)."""

    __slots__ = ("last", "tokens")

    def __init__(self, burst: int, now_ns: int) -> None:
        self.tokens = float(burst)
        self.last = now_ns

    def reserve(self, now_ns: int, rate: float, burst: int, max_delay_ns: int) -> int:
        """Reserve one token at ``now_ns``; return the wait in nanoseconds (0: go now).

        A wait longer than ``max_delay_ns`` cancels the reservation (the token is given back), as Traefik does
        before answering 429; the caller compares the returned wait with the maximum itself.
        """
        last = self.last
        if now_ns < last:
            last = now_ns
        tokens = self.tokens + (now_ns - last) * rate / _SECOND
        if tokens > burst:
            tokens = float(burst)
        tokens -= 1.0
        delay = 0
        if tokens < 0:
            delay = int(-tokens * _SECOND / rate)
            if delay > max_delay_ns:
                tokens = min(tokens + 1.0, float(burst))
        self.tokens = tokens
        self.last = now_ns
        return delay


class BucketStore:
    """Per-source buckets of one middleware instance, bounded in number and forgotten after ``ttl`` idle seconds."""

    __slots__ = ("_buckets", "max_sources", "params", "ttl_ns")

    def __init__(self, params: RateParams, max_sources: int = MAX_SOURCES) -> None:
        self.params = params
        self.max_sources = max_sources
        self.ttl_ns = params.ttl_s * _SECOND
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def __contains__(self, source: object) -> bool:
        return source in self._buckets

    def reserve(self, source: str, now_ns: int) -> int:
        """Reserve a token for ``source`` at ``now_ns``; return the wait in ns (see :meth:`TokenBucket.reserve`)."""
        params = self.params
        if params.unlimited:
            return 0
        buckets = self._buckets
        ttl = self.ttl_ns
        # Forget idle buckets from the least recently used end (a few per call keeps this O(1) amortised).
        for _ in range(4):
            if not buckets:
                break
            oldest_key = next(iter(buckets))
            if now_ns - buckets[oldest_key].last <= ttl:
                break
            del buckets[oldest_key]
        bucket = buckets.get(source)
        if bucket is None or now_ns - bucket.last > ttl:
            bucket = TokenBucket(params.burst, now_ns)
            buckets[source] = bucket
            buckets.move_to_end(source)
            while len(buckets) > self.max_sources:
                buckets.popitem(last=False)
        else:
            buckets.move_to_end(source)
        return bucket.reserve(now_ns, params.rate, params.burst, params.max_delay_ns)


def retry_after(delay_ns: int) -> str:
    """Return the ``Retry-After`` value for a wait: whole seconds, rounded up (Go's ``%.0f`` of ``math.Ceil``)."""
    return str(-(-delay_ns // _SECOND))


def _fraction(value: int, precision: int) -> str:
    whole, frac = divmod(value, 10**precision)
    digits = f"{frac:0{precision}d}".rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


def go_duration(ns: int) -> str:
    """Format ``ns`` nanoseconds as Go's ``time.Duration.String`` does: ``1.5s``, ``1m0.5s``, ``250ms``, ``0s``."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u < _SECOND:
        if u < 1_000:
            return f"{sign}{u}ns"
        if u < 1_000_000:
            return f"{sign}{_fraction(u, 3)}µs"
        return f"{sign}{_fraction(u, 6)}ms"
    seconds, frac = divmod(u, _SECOND)
    out = _fraction(seconds % 60 * _SECOND + frac, 9) + "s"
    minutes = seconds // 60
    if minutes:
        hours, minutes = divmod(minutes, 60)
        out = f"{minutes}m{out}"
        if hours:
            out = f"{hours}h{out}"
    return sign + out
