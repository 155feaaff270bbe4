"""The distributed ``rateLimit`` store: one atomic Lua token bucket per key in Redis (Traefik v3.4+ compatible).

Keys, hash fields and script arguments are Traefik's (``pkg/middlewares/ratelimiter/{redis_limiter,lua}.go``), so
Hanzo Edge and Traefik instances pointed at the same Redis share their buckets:

* key ``rate:<middleware>:<source>`` (e.g. ``rate:api-limit@file:10.0.0.1``), a hash with fields ``last``
  (microseconds of the wall clock) and ``tokens`` (a float), expiring ``ttl`` seconds after its last use;
* ``ARGV`` = rate in tokens per microsecond, burst, ttl (s), now (µs since the epoch), maxDelay (µs);
* the script answers ``{"true", wait_µs, tokens}``; a wait above maxDelay gives the token back (the reservation is
  cancelled) and the middleware answers 429.

The script is sent with EVALSHA; a ``NOSCRIPT`` answer (first use, or Redis restarted) falls back to EVAL, which also
caches it server-side. The wall clock matters here (buckets are shared by processes on several machines), so the
bucket time is ``time.time()`` (injectable), not the monotonic clock.

Failures (connection refused, timeouts, protocol or script errors) raise :class:`RedisUnavailable`. After a failure
the limiter does not touch Redis for a short, growing back-off (0.25s doubling up to 2s) so a dead Redis costs no
connection attempt per request; the first call after the back-off probes again, and success resets it. That is the
automatic reconnection: redis-py's pool opens fresh connections once the server answers again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import ssl
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["LUA_TOKEN_BUCKET", "RedisLimiter", "RedisSettings", "RedisUnavailable"]

log = logging.getLogger("hanzo_edge.middlewares.rate_limit")

LUA_TOKEN_BUCKET = """
local key = KEYS[1]
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local max_delay = tonumber(ARGV[5])

local last = 0
local tokens = 0
local fields = redis.call('HGETALL', key)
for i = 1, #fields, 2 do
    if fields[i] == 'last' then
        last = tonumber(fields[i + 1])
    elseif fields[i] == 'tokens' then
        tokens = tonumber(fields[i + 1])
    end
end

if now < last then
    last = now
end
tokens = math.min(tokens + rate * (now - last), burst) - 1

local wait = 0
if tokens < 0 then
    wait = -tokens / rate
    if wait > max_delay then
        tokens = math.min(tokens + 1, burst)
    end
end

redis.call('HSET', key, 'last', now, 'tokens', tokens)
redis.call('EXPIRE', key, ttl)
return {tostring(true), tostring(wait), tostring(tokens)}
"""
"""The token-bucket script (same algorithm, fields and arguments as Traefik's ``AllowTokenBucketRaw``)."""

LUA_SHA = hashlib.sha1(LUA_TOKEN_BUCKET.encode()).hexdigest()

KEY_PREFIX = "rate:"
"""Traefik's key prefix: keys are ``rate:<middleware>:<source>``."""

_MIN_BACKOFF = 0.25
_MAX_BACKOFF = 2.0


class RedisUnavailable(Exception):
    """Redis could not answer (down, timed out, or the script failed). ``args[0]`` says why."""


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """Connection settings of a ``rateLimit.redis`` block, validated. Equal settings share one client per loop."""

    endpoints: tuple[tuple[str, int], ...]
    username: str
    password: str
    db: int
    tls: tuple[str, str, str, bool] | None  # (ca, cert, key, insecureSkipVerify)
    max_connections: int
    read_timeout: float | None
    dial_timeout: float | None

    @classmethod
    def from_config(cls, config: Any) -> RedisSettings:
        """Validate a ``RedisRateLimit`` model. Raises ValueError for a bad endpoint, TLS files, db or pool size."""
        endpoints = tuple(_parse_endpoint(e) for e in (getattr(config, "endpoints", ()) or ("localhost:6379",)))
        if not endpoints:
            raise ValueError("redis: at least one endpoint is required")
        db = int(getattr(config, "db", 0) or 0)
        if db < 0:
            raise ValueError(f"redis: invalid db {db}")
        tls_config = getattr(config, "tls", None)
        tls: tuple[str, str, str, bool] | None = None
        if tls_config is not None:
            ca = str(getattr(tls_config, "ca", "") or "")
            cert = str(getattr(tls_config, "cert", "") or "")
            key = str(getattr(tls_config, "key", "") or "")
            if bool(cert) != bool(key):
                raise ValueError("redis: tls.cert and tls.key must be set together")
            for label, path in (("ca", ca), ("cert", cert), ("key", key)):
                if path and not os.path.isfile(path):
                    raise ValueError(f"redis: tls.{label} {path!r} is not a readable file")
            tls = (ca, cert, key, bool(getattr(tls_config, "insecure_skip_verify", False)))
        pool_size = int(getattr(config, "pool_size", 0) or 0)
        max_active = int(getattr(config, "max_active_conns", 0) or 0)
        if pool_size < 0 or max_active < 0:
            raise ValueError("redis: poolSize and maxActiveConns cannot be negative")
        # go-redis: poolSize 0 means 10 connections per CPU; maxActiveConns (0: no limit) caps it.
        size = pool_size or 10 * (os.cpu_count() or 1)
        if max_active:
            size = min(size, max_active)
        read = float(getattr(config, "read_timeout", 3.0) or 0.0)
        write = float(getattr(config, "write_timeout", 3.0) or 0.0)
        dial = float(getattr(config, "dial_timeout", 5.0) or 0.0)
        socket_timeout = max(read, write)
        return cls(
            endpoints=endpoints,
            username=str(getattr(config, "username", "") or ""),
            password=str(getattr(config, "password", "") or ""),
            db=db,
            tls=tls,
            max_connections=size,
            read_timeout=socket_timeout if socket_timeout > 0 else None,
            dial_timeout=dial if dial > 0 else None,
        )

    def connect(self) -> Any:
        """Create a redis-py asyncio client (one endpoint: a plain client; several: Redis Cluster, as go-redis)."""
        from redis.asyncio import BlockingConnectionPool, Redis
        from redis.asyncio.connection import Connection, SSLConnection
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        common: dict[str, Any] = {
            "username": self.username or None,
            "password": self.password or None,
            "socket_timeout": self.read_timeout,
            "socket_connect_timeout": self.dial_timeout,
            # One immediate retry heals a pooled connection that died with a restarted server.
            "retry": Retry(NoBackoff(), 1),
        }
        tls: dict[str, Any] = {}
        if self.tls is not None:
            ca, cert, key, insecure = self.tls
            tls = {
                "ssl_ca_certs": ca or None,
                "ssl_certfile": cert or None,
                "ssl_keyfile": key or None,
                "ssl_cert_reqs": ssl.CERT_NONE if insecure else ssl.CERT_REQUIRED,
                "ssl_check_hostname": not insecure,
            }
        if len(self.endpoints) > 1:
            from redis.asyncio.cluster import ClusterNode, RedisCluster

            nodes = [ClusterNode(host, port) for host, port in self.endpoints]
            return RedisCluster(
                startup_nodes=nodes, max_connections=self.max_connections, ssl=bool(tls), **common, **tls
            )
        host, port = self.endpoints[0]
        pool = BlockingConnectionPool(
            max_connections=self.max_connections,
            timeout=self.dial_timeout,
            connection_class=SSLConnection if tls else Connection,
            host=host,
            port=port,
            db=self.db,
            **common,
            **tls,
        )
        return Redis(connection_pool=pool)


def _parse_endpoint(endpoint: str) -> tuple[str, int]:
    text = endpoint.strip()
    if "://" in text:
        raise ValueError(f"redis: endpoint {endpoint!r} must be host:port")
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"redis: invalid endpoint {endpoint!r}")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if not host:
        raise ValueError(f"redis: invalid endpoint {endpoint!r}")
    try:
        port = int(port_text) if port_text else 6379
    except ValueError:
        raise ValueError(f"redis: invalid port in endpoint {endpoint!r}") from None
    if not 0 < port < 65536:
        raise ValueError(f"redis: invalid port in endpoint {endpoint!r}")
    return host, port


# One client per (event loop, settings): connections belong to the loop that opened them.
_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[RedisSettings, Any]] = weakref.WeakKeyDictionary()


def _shared_client(settings: RedisSettings) -> Any:
    loop = asyncio.get_running_loop()
    per_loop = _CLIENTS.get(loop)
    if per_loop is None:
        per_loop = _CLIENTS[loop] = {}
    client = per_loop.get(settings)
    if client is None:
        client = per_loop[settings] = settings.connect()
    return client


class RedisLimiter:
    """Reserves tokens in Redis. ``client_factory`` (tests) replaces the shared redis-py client."""

    __slots__ = (
        "_backoff",
        "_client",
        "_client_factory",
        "_down",
        "_down_until",
        "_max_delay_us",
        "_rate_us",
        "burst",
        "clock",
        "settings",
        "ttl",
        "wall_clock",
    )

    def __init__(
        self,
        settings: RedisSettings,
        rate: float,
        burst: int,
        max_delay_ns: int,
        ttl: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        client_factory: Callable[[RedisSettings], Any] | None = None,
    ) -> None:
        self.settings = settings
        self._rate_us = repr(rate / 1_000_000)
        self.burst = burst
        self.ttl = ttl
        self._max_delay_us = max_delay_ns // 1000
        self.clock = clock
        self.wall_clock = wall_clock
        self._client_factory = client_factory
        self._client: Any = None
        self._down = False
        self._down_until = 0.0
        self._backoff = _MIN_BACKOFF

    @property
    def down(self) -> bool:
        """True while the last attempt failed (requests get the failure policy)."""
        return self._down

    def _get_client(self) -> Any:
        if self._client_factory is None:
            return _shared_client(self.settings)
        if self._client is None:
            self._client = self._client_factory(self.settings)
        return self._client

    async def reserve(self, key: str) -> int:
        """Reserve one token of bucket ``key`` (full key, ``rate:`` included); return the wait in ns.

        Raises :class:`RedisUnavailable` when Redis fails or is in its back-off after a failure.
        """
        if self._down and self.clock() < self._down_until:
            raise RedisUnavailable("redis is unavailable (waiting before the next attempt)")
        now_us = int(self.wall_clock() * 1_000_000)
        args = (self._rate_us, self.burst, self.ttl, now_us, self._max_delay_us)
        try:
            client = self._get_client()
            try:
                result = await client.evalsha(LUA_SHA, 1, key, *args)
            except Exception as exc:
                if not _is_noscript(exc):
                    raise
                result = await client.eval(LUA_TOKEN_BUCKET, 1, key, *args)
            wait_us = float(_text(result[1]))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed(exc)
            raise RedisUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if self._down:
            self._down = False
            self._backoff = _MIN_BACKOFF
            log.warning("rateLimit: redis %s answers again", self._where())
        return int(wait_us * 1000)

    def _failed(self, exc: BaseException) -> None:
        if not self._down:
            log.error("rateLimit: redis %s failed: %s: %s", self._where(), type(exc).__name__, exc)
            self._backoff = _MIN_BACKOFF
        else:
            self._backoff = min(self._backoff * 2, _MAX_BACKOFF)
        self._down = True
        self._down_until = self.clock() + self._backoff

    def _where(self) -> str:
        return ",".join(f"{h}:{p}" for h, p in self.settings.endpoints)


def _is_noscript(exc: Exception) -> bool:
    from redis.exceptions import NoScriptError

    return isinstance(exc, NoScriptError)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
