"""Backend-level ``qos`` namespaces: ``qos/circuit-breaker``, ``qos/ratelimit/proxy``, ``qos/http-cache``.

Each returns one wrapper for the backend's call (:mod:`hanzo_edge.gateway.backend_chain`); values are KrakenD's:
the breaker's ``interval`` and ``timeout`` are whole seconds (numbers), ``max_errors`` a count; the proxy limit's
``max_rate`` per ``every`` (a Go duration, default 1s) with ``capacity`` (default ``int(max_rate)``); the cache's
``shared``, ``max_items`` and ``max_size`` (KrakenD wants the last two together; we bound the store by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hanzo_edge.gateway.errors import JsonPath, format_path
from hanzo_edge.gateway.extra_config import NamespaceMiddleware, NamespaceResult, namespace
from hanzo_edge.gateway.namespaces._values import Block
from hanzo_edge.middlewares.krakend_circuit_breaker import KrakendCircuitBreakerConfig
from hanzo_edge.middlewares.krakend_http_cache import DEFAULT_MAX_ITEMS, DEFAULT_MAX_SIZE, KrakendHttpCacheConfig
from hanzo_edge.middlewares.krakend_proxy_ratelimit import KrakendProxyRateLimitConfig

__all__ = ["circuit_breaker", "http_cache", "proxy_ratelimit"]


@namespace("qos/circuit-breaker", scopes={"backend"})
def circuit_breaker(config: Mapping[str, Any], where: JsonPath) -> NamespaceResult:
    """A gobreaker in front of the backend (``middlewares/krakend_circuit_breaker.py``)."""
    block = Block(config, where)
    options = KrakendCircuitBreakerConfig(
        breaker_id=format_path(where),
        interval=float(block.integer("interval")),
        timeout=float(block.integer("timeout")),
        max_errors=block.integer("max_errors"),
        name=block.string("name"),
        log_status_change=block.boolean("log_status_change"),
    )
    middleware = NamespaceMiddleware("circuit-breaker", "krakendCircuitBreaker", options)
    return NamespaceResult(middlewares=(middleware,), warnings=tuple(block.warnings))


@namespace("qos/ratelimit/proxy", scopes={"backend"})
def proxy_ratelimit(config: Mapping[str, Any], where: JsonPath) -> NamespaceResult:
    """A token bucket in front of the backend (``middlewares/krakend_proxy_ratelimit.py``); none without a rate."""
    block = Block(config, where)
    every = block.duration("every", 1.0) or 1.0
    if every < 1.0:
        block.warn("every", "every is below 1s: 1s is used, as KrakenD")
        every = 1.0
    max_rate = block.number("max_rate")
    if max_rate <= 0:
        block.warn("max_rate", "max_rate is 0: the backend is not limited (as KrakenD)")
        return NamespaceResult(warnings=tuple(block.warnings))
    capacity = block.integer("capacity") or max(int(max_rate), 1)
    options = KrakendProxyRateLimitConfig(bucket_id=format_path(where), max_rate=max_rate / every, capacity=capacity)
    middleware = NamespaceMiddleware("proxy-ratelimit", "krakendProxyRateLimit", options)
    return NamespaceResult(middlewares=(middleware,), warnings=tuple(block.warnings))


@namespace("qos/http-cache", scopes={"backend"})
def http_cache(config: Mapping[str, Any], where: JsonPath) -> NamespaceResult:
    """An in-memory HTTP cache in front of the backend (``middlewares/krakend_http_cache.py``)."""
    block = Block(config, where)
    max_items = block.integer("max_items")
    max_size = block.integer("max_size")
    if bool(max_items) != bool(max_size):
        raise block.error("max_items" if not max_items else "max_size", "max_items and max_size go together")
    shared = block.boolean("shared")
    options = KrakendHttpCacheConfig(
        store_id="shared" if shared else format_path(where),
        max_items=max_items or DEFAULT_MAX_ITEMS,
        max_size=max_size or DEFAULT_MAX_SIZE,
    )
    middleware = NamespaceMiddleware("http-cache", "krakendHttpCache", options)
    return NamespaceResult(middlewares=(middleware,), warnings=tuple(block.warnings))
