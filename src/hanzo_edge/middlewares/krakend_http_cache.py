"""``qos/http-cache`` (krakend-httpcache over gregjones/httpcache, memory store) in front of one KrakenD backend.

A backend-level wrapper around the backend call. Like httpcache's transport (a private-to-KrakenD, in-memory,
RFC 7234 subset): only ``GET`` and ``HEAD`` are looked up and stored; the key is the method-less backend URL (host,
path and query as sent; the hosts of the backend); a 200 answer is stored when its ``Cache-Control`` allows it
(no ``no-store``, a ``max-age``/``s-maxage`` or an ``Expires`` in the future) and served while fresh, with an
``Age`` header; the
request's ``Cache-Control: no-cache``/``no-store`` bypasses the cache; ``Vary`` headers must match the stored
request's. Stale entries are fetched again (no revalidation: httpcache's ETag revalidation is not done).

Beyond KrakenD: the store is bounded (``max_items``, default 1,000 entries, and ``max_size``, default 64 MiB;
least recently used forgotten first). KrakenD's unbounded default can take all the memory. ``shared: true`` uses
one store for every backend that sets it (httpcache's shared store); otherwise each backend has its own.
"""

from __future__ import annotations

import email.utils
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["CacheStore", "KrakendHttpCacheConfig", "freshness"]

DEFAULT_MAX_ITEMS = 1000
DEFAULT_MAX_SIZE = 64 * 1024 * 1024
_MAX_BODY = 8 * 1024 * 1024  # a larger answer is passed through (read whole), never stored


class KrakendHttpCacheConfig(msgspec.Struct, frozen=True, kw_only=True):
    """``store_id`` is the backend's JSON path, or ``"shared"`` with ``shared: true``."""

    store_id: str
    max_items: int = DEFAULT_MAX_ITEMS
    max_size: int = DEFAULT_MAX_SIZE


@dataclass(slots=True)
class _Entry:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    stored_at: float
    fresh_for: float
    vary: tuple[tuple[str, str], ...]


def _directives(value: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if not value:
        return out
    for part in value.split(","):
        name, _, arg = part.strip().partition("=")
        if name:
            out[name.lower()] = arg.strip().strip('"')
    return out


def freshness(headers: Headers, now_wall: float) -> float:
    """Seconds a response with ``headers`` stays fresh in a shared cache (0: do not store)."""
    cc = _directives(headers.get("cache-control"))
    if "no-store" in cc or "no-cache" in cc or "private" in cc:
        return 0.0
    for key in ("s-maxage", "max-age"):
        if key in cc:
            try:
                return max(0.0, float(int(cc[key])))
            except ValueError:
                return 0.0
    expires = headers.get("expires")
    if expires:
        try:
            when = email.utils.parsedate_to_datetime(expires).timestamp()
        except (TypeError, ValueError):
            return 0.0
        return max(0.0, when - now_wall)
    return 0.0


class CacheStore:
    """A bounded LRU of answers (by count and by body bytes)."""

    __slots__ = ("__weakref__", "entries", "max_items", "max_size", "size")

    def __init__(self, max_items: int, max_size: int) -> None:
        self.entries: OrderedDict[str, _Entry] = OrderedDict()
        self.max_items = max_items
        self.max_size = max_size
        self.size = 0

    def get(self, key: str) -> _Entry | None:
        entry = self.entries.get(key)
        if entry is not None:
            self.entries.move_to_end(key)
        return entry

    def put(self, key: str, entry: _Entry) -> None:
        self.drop(key)
        if len(entry.body) > self.max_size:
            return
        self.entries[key] = entry
        self.size += len(entry.body)
        while len(self.entries) > self.max_items or self.size > self.max_size:
            _, old = self.entries.popitem(last=False)
            self.size -= len(old.body)

    def drop(self, key: str) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self.size -= len(old.body)


_STORES: weakref.WeakValueDictionary[tuple[KrakendHttpCacheConfig, int], CacheStore] = weakref.WeakValueDictionary()


@register("krakendHttpCache", KrakendHttpCacheConfig)
class KrakendHttpCache:
    """The wrapper (see the module docstring)."""

    __slots__ = ("clock", "next", "origin", "store", "wall_clock")

    def __init__(
        self,
        next: Handler,
        config: KrakendHttpCacheConfig,
        *,
        name: str,
        ctx: BuildContext,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if config.max_items < 1 or config.max_size < 1:
            raise ValueError("max_items and max_size must be positive")
        self.next = next
        # The backend's hosts (the build context names them): a shared store keys by the whole URL.
        self.origin = ctx.router
        self.clock = ctx.clock
        self.wall_clock = wall_clock
        key = (config, id(ctx.clock))
        store = _STORES.get(key)
        if store is None:
            store = CacheStore(config.max_items, config.max_size)
            _STORES[key] = store
        self.store = store

    async def __call__(self, req: Request) -> Response:
        if req.method not in ("GET", "HEAD"):
            return await self.next(req)
        key = f"{req.method} {self.origin}{req.url_path}"
        request_cc = _directives(req.headers.get("cache-control"))
        now = self.clock()
        if "no-cache" not in request_cc and "no-store" not in request_cc:
            entry = self.store.get(key)
            if entry is not None:
                vary_ok = all((req.headers.get(name) or "") == value for name, value in entry.vary)
                age = now - entry.stored_at
                if vary_ok and age < entry.fresh_for:
                    headers = Headers([*entry.headers, (b"Age", str(int(age)).encode())])
                    return Response(entry.status, headers, entry.body)
        response = await self.next(req)
        if response.status != 200 or "no-store" in request_cc:
            return response
        fresh_for = freshness(response.headers, self.wall_clock())
        if fresh_for <= 0:
            return response
        vary_names = [v.strip() for v in (response.headers.get("vary") or "").split(",") if v.strip()]
        if "*" in vary_names:
            return response
        body = response.body
        if isinstance(body, StreamBody):
            body = await body.read(_MAX_BODY)
            response.body = body
        kept = [(n, v) for n, v in response.headers.raw if n.lower() not in (b"age", b"transfer-encoding")]
        vary = tuple((name, req.headers.get(name) or "") for name in vary_names)
        self.store.put(key, _Entry(response.status, kept, body, now, fresh_for, vary))
        return response
