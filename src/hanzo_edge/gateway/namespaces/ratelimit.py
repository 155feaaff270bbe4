"""``qos/ratelimit/router`` (krakend-ratelimit v3) → the ``krakendRateLimit`` middleware.

**Endpoint level** (KrakenD's): the block limits its endpoint.

**Service level** (Hanzo's, gateway-interface.md item 9; KrakenD CE ignores it): the same block in the service's
``extra_config`` limits every endpoint *in addition to* the endpoint's own block — both must pass, same statuses.
How it is applied: the translation puts this handler's one middleware in every endpoint's chain (service-scope
middlewares come before the endpoint's own). Each chain builds its own instance, but the instances share their
buckets because their options are equal — ``bucket_id`` is this block's JSON path, the same for every endpoint — so
there is *one* global bucket and *one* bucket per client across all endpoints (``middlewares/krakend_ratelimit.py``).

Values are KrakenD's: ``max_rate``/``client_max_rate`` per ``every`` (a Go duration, at least 1 s, default 1 s;
rates are normalised to per second); ``capacity``/``client_capacity`` default to the configured rates, the budget of
one ``every`` period (krakend-ratelimit's quirk kept: ``client_capacity`` defaults to 1 whenever ``max_rate`` < 1,
named in a warning); ``strategy`` ``ip``/``header`` (case-insensitive) with ``key``. Beyond KrakenD, ``redis`` (the
rateLimit middleware's options, snake_case: ``endpoints``, ``username``, ``password``, ``db``, ``tls``,
``pool_size``, ``max_active_conns``, ``read_timeout``, ``write_timeout``, ``dial_timeout``, ``failure_policy``)
shares the buckets between processes and replicas.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hanzo_edge.gateway.errors import GatewayConfigError, JsonPath, format_path
from hanzo_edge.gateway.extra_config import NamespaceMiddleware, NamespaceResult, namespace
from hanzo_edge.gateway.namespaces._values import Block
from hanzo_edge.middlewares._redis_limiter import RedisSettings
from hanzo_edge.middlewares.krakend_ratelimit import KrakendRateLimitConfig, KrakendRedisConfig, KrakendRedisTLS
from hanzo_edge.middlewares.rate_limit import FAILURE_POLICIES

__all__ = ["ratelimit"]

_NO_EFFECT = {
    "num_shards": "buckets live in one bounded table (65536 clients, least recently used forgotten first)",
    "cleanup_period": "idle buckets are forgotten once they would be full again",
    "cleanup_threads": "idle buckets are forgotten once they would be full again",
}


def _every(block: Block) -> float:
    raw = block.config.get("every")
    if raw is None:
        return 1.0
    try:
        every = block.duration("every", 1.0)
    except GatewayConfigError:
        block.warn("every", f"every {raw!r} is not a Go duration: 1s is used, as KrakenD")
        return 1.0
    if every < 1.0:
        block.warn("every", "every is below 1s: 1s is used, as KrakenD")
        return 1.0
    return every


def _redis(block: Block) -> KrakendRedisConfig | None:
    raw = block.config.get("redis")
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise block.error("redis", "want an object")
    redis = Block(raw, block.at("redis"))
    tls = None
    tls_raw = raw.get("tls")
    if tls_raw is not None:
        if not isinstance(tls_raw, Mapping):
            raise redis.error("tls", "want an object")
        tls_block = Block(tls_raw, redis.at("tls"))
        tls = KrakendRedisTLS(
            ca=tls_block.string("ca"),
            cert=tls_block.string("cert"),
            key=tls_block.string("key"),
            insecure_skip_verify=tls_block.boolean("insecure_skip_verify"),
        )
    policy = redis.string("failure_policy", "closed") or "closed"
    if policy not in FAILURE_POLICIES:
        raise redis.error("failure_policy", f'want "closed", "open" or "local", not {policy!r}')
    config = KrakendRedisConfig(
        endpoints=redis.strings("endpoints") or ("localhost:6379",),
        username=redis.string("username"),
        password=redis.string("password"),
        db=redis.integer("db"),
        tls=tls,
        pool_size=redis.integer("pool_size"),
        max_active_conns=redis.integer("max_active_conns"),
        read_timeout=redis.duration("read_timeout", 3.0),
        write_timeout=redis.duration("write_timeout", 3.0),
        dial_timeout=redis.duration("dial_timeout", 5.0),
        failure_policy=policy,
    )
    try:
        RedisSettings.from_config(config)
    except ValueError as exc:
        raise block.error("redis", str(exc)) from None
    return config


@namespace("qos/ratelimit/router", scopes={"endpoint", "service"})
def ratelimit(config: Mapping[str, Any], where: JsonPath) -> NamespaceResult:
    """Validate a ``qos/ratelimit/router`` block and return its ``krakendRateLimit`` middleware (none when neither
    rate is set). See the module docstring for the service-level block."""
    block = Block(config, where)
    every = _every(block)
    # Capacities default to the rates as configured, one ``every`` period's budget ("5 every 10m" allows 5 at once).
    # krakend-ratelimit takes them from the per-second rates, which gives every per-minute budget a burst of 1: a
    # deliberate difference, in docs/compat.md.
    configured_max_rate = block.number("max_rate")
    configured_client_rate = block.number("client_max_rate")
    capacity = block.integer("capacity")
    client_capacity = block.integer("client_capacity")
    if capacity == 0:
        capacity = 1 if configured_max_rate < 1 else int(configured_max_rate)
    if client_capacity == 0 and configured_client_rate > 0:
        # krakend-ratelimit tests max_rate (not client_max_rate) here; reproduced, and said.
        client_capacity = 1 if configured_max_rate < 1 else int(configured_client_rate)
        if configured_max_rate < 1 and int(configured_client_rate) > 1:
            block.warn(
                "client_capacity",
                "client_capacity defaults to 1 because max_rate is below 1 (as krakend-ratelimit); "
                "set client_capacity for a larger burst",
            )
    max_rate = configured_max_rate / every
    client_max_rate = configured_client_rate / every
    strategy = block.string("strategy").lower()
    key = block.string("key")
    if client_max_rate > 0:
        if strategy == "param":
            block.warn("strategy", "strategy param is not supported: the client limit is disabled")
            strategy = ""
        elif strategy not in ("ip", "header"):
            block.warn("strategy", f"unknown strategy {strategy!r}: the client limit is disabled, as KrakenD")
            strategy = ""
        elif strategy == "header" and not key:
            block.warn("key", "strategy header without a key: every request has an empty client key (429)")
    block.unsupported(_NO_EFFECT)
    redis = _redis(block)
    if max_rate <= 0 and (client_max_rate <= 0 or not strategy):
        return NamespaceResult(warnings=tuple(block.warnings))
    options = KrakendRateLimitConfig(
        bucket_id=format_path(where),
        max_rate=max_rate,
        capacity=capacity,
        client_max_rate=client_max_rate,
        client_capacity=client_capacity,
        strategy=strategy,
        key=key,
        redis=redis,
    )
    # The service-level block's middleware sits in the same chains as the endpoint's own: distinct names.
    name = "service-ratelimit" if where[:1] == ("extra_config",) else "ratelimit"
    middleware = NamespaceMiddleware(name, "krakendRateLimit", options)
    return NamespaceResult(middlewares=(middleware,), warnings=tuple(block.warnings))
