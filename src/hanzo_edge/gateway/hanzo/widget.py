"""The ``hz_`` widget-key gate (hanzoai/gateway ``widget_security.go``, gateway-interface.md item 5).

Widget keys are embedded in web pages, so anyone can read them: the gate limits where they work (the page's origin
must be one of ``WIDGET_ALLOWED_ORIGINS`` or a subdomain of one) and how fast (a sliding window per client IP and
one for the whole gateway). Only Bearer tokens starting ``hz_`` are gated; everything else passes untouched.

The windows are sliding windows of timestamps (the Go code's): a request is admitted when fewer than the limit were
admitted in the last ``window`` seconds; refused requests are not recorded. The global window is checked first.
In memory (per process) by default; with ``WIDGET_RATE_LIMIT_REDIS`` the same windows live in Redis sorted sets,
checked and recorded by one Lua script so replicas share them. If Redis fails the gate falls back to the
in-memory windows of the process (and logs it) rather than refusing every widget request or admitting them all.

Hanzo's ``kube-probe``/``Wget``/``curl`` User-Agent bypass of the origin check is not reproduced (a header anyone
can send; later Hanzo versions removed it too).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["LUA_SLIDING_WINDOW", "MemoryWindows", "RedisWindows", "WidgetVerdict", "origin_allowed", "origin_host"]

log = logging.getLogger("hanzo_edge.gateway.hanzo")

NO_ORIGIN = (
    b'{"error":"forbidden","message":"Widget keys require an Origin header. '
    b'Use a Hanzo API key (hk-*) for server-to-server requests."}'
)
RATE_LIMITED = (
    b'{"error":"rate_limited","message":"Widget rate limit exceeded. '
    b'Try again shortly, or use a Hanzo API key (hk-*) for higher limits."}'
)


def origin_host(value: str) -> str:
    """The bare host of an Origin or Referer value: scheme, userinfo, path and port stripped, lower-cased."""
    rest = value.strip()
    if "://" in rest:
        rest = rest.split("://", 1)[1]
    rest = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    rest = rest.rsplit("@", 1)[-1]
    if rest.startswith("["):
        return rest[1:].split("]", 1)[0].lower()
    return rest.split(":", 1)[0].lower()


def origin_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """``host`` is an allowed domain or a subdomain of one (``evil.com.hanzo.ai`` passes, ``nothanzo.ai`` not)."""
    return any(host == domain or host.endswith("." + domain) for domain in allowed)


class WidgetVerdict:
    """Names of the decisions (plain strings keep the hot path free of enum lookups)."""

    ALLOWED = "allowed"
    LIMITED = "limited"


class MemoryWindows:
    """Per-IP and global sliding windows in this process. ``clock`` is monotonic seconds (FakeClock in tests)."""

    __slots__ = ("_calls", "_global", "_per_ip", "clock", "global_limit", "per_ip_limit", "window")

    def __init__(
        self, per_ip: int, global_limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_ip_limit = per_ip
        self.global_limit = global_limit
        self.window = window
        self.clock = clock
        self._global: deque[float] = deque()
        self._per_ip: dict[str, deque[float]] = {}
        self._calls = 0

    def admit(self, ip: str) -> bool:
        """Record and admit a request from ``ip``, or refuse it (nothing recorded) when a window is full."""
        now = self.clock()
        horizon = now - self.window
        glob = self._global
        while glob and glob[0] <= horizon:
            glob.popleft()
        if len(glob) >= self.global_limit:
            return False
        mine = self._per_ip.get(ip)
        if mine is not None:
            while mine and mine[0] <= horizon:
                mine.popleft()
            if len(mine) >= self.per_ip_limit:
                return False
        elif self.per_ip_limit <= 0:
            return False  # refused: a made-up X-Forwarded-For must not leave a window behind
        else:
            # Made only for an admitted request: at most global_limit live windows, the rest swept below.
            mine = self._per_ip[ip] = deque()
        glob.append(now)
        mine.append(now)
        self._calls += 1
        if self._calls % 1024 == 0:
            self._sweep(horizon)
        return True

    def _sweep(self, horizon: float) -> None:
        # Hanzo's cleanup goroutine, done inline: windows whose every entry is older than the window go away, so
        # a flood from many addresses cannot grow memory past what one window holds.
        stale = [ip for ip, stamps in self._per_ip.items() if not stamps or stamps[-1] <= horizon]
        for ip in stale:
            del self._per_ip[ip]

    def tracked(self) -> int:
        """How many client IPs have a window (for tests of the sweep)."""
        return len(self._per_ip)


# KEYS[1] global zset, KEYS[2] per-IP zset; ARGV: now (µs), window (µs), global limit, per-IP limit, member.
# Old entries are trimmed, both counts checked, and only an admitted request is added (refused ones do not count).
LUA_SLIDING_WINDOW = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local horizon = now - window
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', horizon)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', horizon)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('ZADD', KEYS[2], now, ARGV[5])
local ttl = math.ceil(window / 1000000) + 1
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
return 1
"""


class RedisWindows:
    """The same windows in Redis (shared by replicas); the wall clock orders entries across machines."""

    __slots__ = ("_client", "_fallback", "_script", "_seq", "wall_clock")

    def __init__(self, url: str, fallback: MemoryWindows, wall_clock: Callable[[], float] = time.time) -> None:
        import redis.asyncio as aioredis  # imported only when Redis is configured

        self._client: Any = aioredis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._script: Any = self._client.register_script(LUA_SLIDING_WINDOW)
        self._fallback = fallback
        self.wall_clock = wall_clock
        self._seq = 0

    async def admit(self, ip: str) -> bool:
        """As :meth:`MemoryWindows.admit`, in Redis; this process's windows answer while Redis fails."""
        fallback = self._fallback
        now_us = int(self.wall_clock() * 1_000_000)
        self._seq += 1
        member = f"{now_us}-{id(self)}-{self._seq}"  # unique, so two requests in one microsecond both count
        try:
            admitted = await self._script(
                keys=["hanzo:widget:global", f"hanzo:widget:ip:{ip}"],
                args=[now_us, int(fallback.window * 1_000_000), fallback.global_limit, fallback.per_ip_limit, member],
            )
        except Exception as exc:  # redis.RedisError, OSError, timeouts: fall back, never fail the request path
            log.warning("widget rate limit: Redis failed (%s); using this process's windows", exc)
            return fallback.admit(ip)
        return bool(admitted)

    async def close(self) -> None:
        """Close the Redis connections."""
        await self._client.aclose()
