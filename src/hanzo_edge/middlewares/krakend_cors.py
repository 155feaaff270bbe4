"""``krakendCors``: KrakenD's ``security/cors`` (krakend-cors over ``rs/cors`` v1.11), answered before any routing.

The gateway puts this middleware outermost on every request, matched or not (gateway-interface.md item 6: CORS wraps
everything, as krakend-cors wraps the whole HTTP handler):

* **preflight** = ``OPTIONS`` with a non-empty ``Access-Control-Request-Method``: answered at once with
  ``options_success_status`` (204) and no body, whatever the path; ``Vary: Origin, Access-Control-Request-Method,
  Access-Control-Request-Headers`` always; the ``Access-Control-Allow-*`` headers only when the origin, the method and
  every requested header are allowed (else just ``Vary``, as rs/cors). ``Access-Control-Allow-Methods`` echoes the
  requested method and ``Access-Control-Allow-Headers`` the requested header list. ``options_passthrough`` sends the
  preflight on down the chain instead, with those headers added to whatever answers it;
* **actual request**: handled by the chain, then ``Vary: Origin`` is added and, for an allowed origin and method,
  ``Access-Control-Allow-Origin`` (``*`` when every origin is allowed, else the request's ``Origin``),
  ``Access-Control-Expose-Headers`` and ``Access-Control-Allow-Credentials``.

Origins compare case-insensitively; an allowed origin may hold one ``*`` (``https://*.example.com``). Methods compare
exactly (rs/cors); header names case-insensitively. Everything is precomputed here: a request does a few probes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

import msgspec

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["KrakendCors", "KrakendCorsConfig"]

log = logging.getLogger("hanzo_edge.gateway.cors")

_PREFLIGHT_VARY = b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
_PREFLIGHT_VARY_PNA = _PREFLIGHT_VARY + b", Access-Control-Request-Private-Network"


class KrakendCorsConfig(msgspec.Struct, frozen=True, kw_only=True):
    """``security/cors`` with krakend-cors' defaults already applied by the namespace handler (empty
    ``allow_origins`` means ``*``; ``allow_headers`` is the listed headers plus ``Origin``; empty ``allow_methods``
    means rs/cors' GET, POST, HEAD). The field defaults serve direct construction only. ``max_age`` is in whole
    seconds (0: no header)."""

    allow_origins: tuple[str, ...] = ("*",)
    allow_methods: tuple[str, ...] = ("GET", "POST", "HEAD")
    allow_headers: tuple[str, ...] = ("*",)
    expose_headers: tuple[str, ...] = ()
    allow_credentials: bool = False
    max_age: int = 0
    allow_private_network: bool = False
    options_passthrough: bool = False
    options_success_status: int = 204
    debug: bool = False


def _canonical(name: str) -> str:
    # Go's http.CanonicalHeaderKey for the Expose-Headers value.
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


class _OriginMatcher:
    """Exact origins (lower-cased) and one-``*`` wildcards, as rs/cors' ``isOriginAllowed``."""

    __slots__ = ("all", "exact", "wildcards")

    def __init__(self, origins: tuple[str, ...]) -> None:
        self.all = False
        self.exact: frozenset[str] = frozenset()
        self.wildcards: tuple[tuple[str, str], ...] = ()
        exact: set[str] = set()
        wildcards: list[tuple[str, str]] = []
        for origin in origins:
            lowered = origin.lower()
            if lowered == "*":
                self.all = True
                return
            star = lowered.find("*")
            if star >= 0:
                wildcards.append((lowered[:star], lowered[star + 1 :]))
            else:
                exact.add(lowered)
        self.exact = frozenset(exact)
        self.wildcards = tuple(wildcards)

    def __call__(self, origin: str) -> bool:
        if self.all:
            return True
        lowered = origin.lower()
        if lowered in self.exact:
            return True
        for prefix, suffix in self.wildcards:
            if len(lowered) >= len(prefix) + len(suffix) and lowered.startswith(prefix) and lowered.endswith(suffix):
                return True
        return False


@register("krakendCors", KrakendCorsConfig)
class KrakendCors:
    """Answers preflights and decorates actual responses. Raises ValueError for a bad ``options_success_status``."""

    __slots__ = (
        "allowed_headers",
        "allowed_headers_all",
        "allowed_methods",
        "config",
        "credentials",
        "debug",
        "expose",
        "max_age",
        "next",
        "origin_allowed",
        "preflight_vary",
    )

    def __init__(self, next: Handler, config: KrakendCorsConfig, *, name: str, ctx: BuildContext) -> None:
        if not 100 <= config.options_success_status <= 599:
            raise ValueError(f"options_success_status {config.options_success_status} is not an HTTP status")
        self.next = next
        self.config = config
        self.origin_allowed = _OriginMatcher(config.allow_origins)
        self.allowed_methods = frozenset(config.allow_methods)
        self.allowed_headers_all = "*" in config.allow_headers
        self.allowed_headers = frozenset(h.strip().lower() for h in config.allow_headers)
        self.expose = ", ".join(_canonical(h) for h in config.expose_headers).encode("latin-1")
        self.max_age = str(config.max_age).encode() if config.max_age > 0 else b""
        self.credentials = config.allow_credentials
        self.preflight_vary = _PREFLIGHT_VARY_PNA if config.allow_private_network else _PREFLIGHT_VARY
        self.debug = config.debug

    def __call__(self, req: Request) -> Awaitable[Response]:
        headers = req.headers
        if req.method == "OPTIONS":
            requested = headers.get_raw(b"access-control-request-method")
            if requested:
                return self._preflight(req, requested)
        if headers.get_raw(b"origin") is None:
            return self._vary_only(req)
        return self._actual(req)

    def _method_allowed(self, method: str) -> bool:
        if not self.allowed_methods:
            return False
        return method == "OPTIONS" or method in self.allowed_methods

    def _headers_allowed(self, values: list[bytes]) -> bool:
        if self.allowed_headers_all:
            return True
        allowed = self.allowed_headers
        for value in values:
            for name in value.split(b","):
                stripped = name.strip(b" \t").lower()
                if stripped and stripped.decode("latin-1") not in allowed:
                    return False
        return True

    def _preflight_headers(self, req: Request, requested: bytes) -> list[tuple[bytes, bytes]]:
        out: list[tuple[bytes, bytes]] = [(b"Vary", self.preflight_vary)]
        origin = req.headers.get_raw(b"origin")
        if not origin:
            self._debug("Preflight aborted: empty origin")
            return out
        origin_text = origin.decode("latin-1")
        if not self.origin_allowed(origin_text):
            self._debug("Preflight aborted: origin '%s' not allowed", origin_text)
            return out
        method = requested.decode("latin-1")
        if not self._method_allowed(method):
            self._debug("Preflight aborted: method '%s' not allowed", method)
            return out
        requested_headers = [v for k, v in req.headers.raw if k.lower() == b"access-control-request-headers"]
        if requested_headers and not self._headers_allowed(requested_headers):
            self._debug("Preflight aborted: headers '%s' not allowed", requested_headers)
            return out
        out.append((b"Access-Control-Allow-Origin", b"*" if self.origin_allowed.all else origin))
        out.append((b"Access-Control-Allow-Methods", requested))
        if requested_headers and requested_headers[0]:
            out.extend((b"Access-Control-Allow-Headers", value) for value in requested_headers)
        if self.credentials:
            out.append((b"Access-Control-Allow-Credentials", b"true"))
        if self.config.allow_private_network and req.headers.get_raw(b"access-control-request-private-network") == (
            b"true"
        ):
            out.append((b"Access-Control-Allow-Private-Network", b"true"))
        if self.max_age:
            out.append((b"Access-Control-Max-Age", self.max_age))
        return out

    def _preflight(self, req: Request, requested: bytes) -> Awaitable[Response]:
        added = self._preflight_headers(req, requested)
        if self.config.options_passthrough:
            return self._decorated(req, added)
        return _answer(Response(self.config.options_success_status, Headers(added)))

    def _actual_headers(self, req: Request) -> list[tuple[bytes, bytes]]:
        out: list[tuple[bytes, bytes]] = [(b"Vary", b"Origin")]
        origin = req.headers.get_raw(b"origin")
        if not origin:
            return out
        origin_text = origin.decode("latin-1")
        if not self.origin_allowed(origin_text):
            self._debug("Actual request no headers added: origin '%s' not allowed", origin_text)
            return out
        if not self._method_allowed(req.method):
            self._debug("Actual request no headers added: method '%s' not allowed", req.method)
            return out
        out.append((b"Access-Control-Allow-Origin", b"*" if self.origin_allowed.all else origin))
        if self.expose:
            out.append((b"Access-Control-Expose-Headers", self.expose))
        if self.credentials:
            out.append((b"Access-Control-Allow-Credentials", b"true"))
        return out

    def _actual(self, req: Request) -> Awaitable[Response]:
        return self._decorated(req, self._actual_headers(req))

    async def _vary_only(self, req: Request) -> Response:
        response = await self.next(req)
        # A new list: the handler's Headers object may be shared (a prebuilt answer), so it is never edited in place.
        response.headers = Headers([(b"Vary", b"Origin"), *response.headers.raw])
        return response

    async def _decorated(self, req: Request, added: list[tuple[bytes, bytes]]) -> Response:
        response = await self.next(req)
        replaced = {name.lower() for name, _ in added if name != b"Vary"}
        # rs/cors writes its headers before the handler runs: they come first, the handler's own Vary after; a
        # handler's own Access-Control-* of the same name gives way to ours.
        kept = [pair for pair in response.headers.raw if pair[0].lower() not in replaced] if replaced else None
        response.headers = Headers(added + (response.headers.raw if kept is None else kept))
        return response

    def _debug(self, message: str, *args: object) -> None:
        if self.debug:
            log.info("[CORS] " + message, *args)


async def _answer(response: Response) -> Response:
    return response
