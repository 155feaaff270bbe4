"""The gateway entrypoint's routing table: the builder's routes dispatched with gin's rules (:mod:`.gin_router`).

It is a :class:`~hanzo_edge.routing.table.RoutingTable` (so the switch, ``/api``, metrics and ``check`` read it as
any other) whose :meth:`lookup` asks the gin router instead of scanning rules. Besides the endpoints it answers what
KrakenD's engine answers itself: ``GET /__health`` (``router.health_path``), gin's redirects, and the 404/405 with
KrakenD's bodies and ``X-Krakend`` headers. A router the builder disabled (a broken middleware) is absent from the
table, so its endpoint answers 404 while the others serve.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import cast

from hanzo_edge.gateway.gin_router import FOUND, METHOD_NOT_ALLOWED, REDIRECT, GinRouter
from hanzo_edge.gateway.merge_service import krakend_headers
from hanzo_edge.gateway.translate import GatewayRoute, GinOptions
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.routing.table import Route, RoutingTable

__all__ = ["GinRoutingTable", "go_time"]

_Entry = tuple[Handler, Route | None]


def go_time(now: datetime) -> str:
    """Go's ``time.Time.String()`` for a UTC time: ``2006-01-02 15:04:05.999999999 +0000 UTC``."""
    fraction = f".{now.microsecond:06d}000".rstrip("0").rstrip(".") if now.microsecond else ""
    return now.strftime("%Y-%m-%d %H:%M:%S") + fraction + " +0000 UTC"


# Go's time.Now() carries a monotonic reading counted from process start, which String() prints as " m=+S.NNNNNNNNN"
# (KrakenD's /__health shows it: "now":"2022-01-19 18:38:38.084402465 +0100 CET m=+30.674738658").
_PROCESS_START = time.monotonic()


def _health_body(clock: Callable[[], datetime]) -> bytes:
    now = f"{go_time(clock())} m=+{time.monotonic() - _PROCESS_START:.9f}"
    return b'{"agents":{},"now":"' + now.encode() + b'","status":"ok"}'


class GinRoutingTable(RoutingTable):
    """See the module docstring. ``routes`` are the builder's routes of the gateway entrypoint."""

    __slots__ = ("_exact", "_gin", "_not_allowed_body", "_not_found_body", "_outer", "_outer_idle", "_version")

    def __init__(
        self,
        routes: Sequence[Route],
        endpoints: Sequence[GatewayRoute],
        options: GinOptions,
        *,
        outer: Callable[[Handler], Handler] | None = None,
        outer_idle: Callable[[Request], bool] | None = None,
        generation: int = 0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        now = clock or (lambda: datetime.now(UTC))
        self._version = krakend_headers(options.hide_version_header)[1]
        self._not_found_body = options.error_body_404
        self._not_allowed_body = options.error_body_405
        super().__init__(routes, self._not_found, generation)
        by_name = {route.name: route for route in routes}
        entries: list[tuple[str, str, _Entry]] = []
        for endpoint in endpoints:
            route = by_name.get(endpoint.router)
            if route is not None:
                entries.append((endpoint.method, endpoint.endpoint, (route.handler, route)))
        if options.auto_options:
            entries += _options_entries(
                endpoints, {e.endpoint for e in endpoints if e.router in by_name}, self._version
            )
        if not options.disable_health:

            async def health(req: Request) -> Response:
                headers = Headers([(b"Content-Type", b"application/json; charset=utf-8")])
                return Response(200, headers, _health_body(now))

            entries.append(("GET", options.health_path, (health, None)))
        self._gin: GinRouter[_Entry] = GinRouter(
            entries,
            redirect_trailing_slash=options.redirect_trailing_slash,
            redirect_fixed_path=options.redirect_fixed_path,
            handle_method_not_allowed=options.handle_method_not_allowed,
        )
        # Endpoints on a fully static path: gin finds them by one probe (its own first step), done here inline.
        self._exact: dict[tuple[str, str], _Entry] = {
            (method, path): entry for method, path, entry in entries if "{" not in path and "/:" not in path
        }
        # Middlewares that wrap the whole router (CORS, the Hanzo chain) are built once, around one dispatching
        # handler; ``outer_idle`` says, in one cheap check, that they would only pass a request on.
        self._outer: Handler | None = None if outer is None else outer(self._dispatch)
        self._outer_idle = outer_idle if outer is not None else None

    def lookup(self, req: Request) -> Handler:
        """The handler for ``req``: the whole-router middlewares when they have work, else gin's decision."""
        outer = self._outer
        if outer is not None:
            idle = self._outer_idle
            if idle is None or not idle(req):
                return outer
        entry = self._exact.get((req.method, req.routing_path))
        if entry is not None:
            route = entry[1]
            if route is not None:
                req.route = route
            return entry[0]
        return self.decide(req)

    async def _dispatch(self, req: Request) -> Response:
        return await self.decide(req)(req)

    def decide(self, req: Request) -> Handler:
        """gin's decision for ``req`` as a handler (an endpoint's chain, the health check, a redirect, 405, 404)."""
        kind, value = self._gin.lookup(req.method, req.routing_path, req.query)
        if kind == FOUND:
            handler, route = cast(_Entry, value)
            if route is not None:
                req.route = route
            return handler
        if kind == REDIRECT:
            location, status = cast(tuple[str, int], value)
            return _redirect(location, status)
        if kind == METHOD_NOT_ALLOWED:
            return self._method_not_allowed(str(value))
        return self.not_found

    async def _not_found(self, req: Request) -> Response:
        return self._error(404, b"404 page not found", self._not_found_body)

    def _method_not_allowed(self, allow: str) -> Handler:
        async def answer(req: Request) -> Response:
            response = self._error(405, b"405 method not allowed", self._not_allowed_body)
            response.headers.raw.append((b"Allow", allow.encode("latin-1")))
            return response

        return answer

    def _error(self, status: int, text: bytes, custom: bytes | None) -> Response:
        content_type = b"application/json; charset=utf-8" if custom is not None else b"text/plain"
        raw = [
            (b"Content-Type", content_type),
            (b"X-Krakend", self._version),
            (b"X-Krakend-Completed", b"false"),
        ]
        return Response(status, Headers(raw), custom if custom is not None else text)

    def methods(self) -> list[str]:
        """The methods the gin router has routes for."""
        return self._gin.methods()


def _options_entries(
    endpoints: Sequence[GatewayRoute], served: set[str], version: bytes
) -> list[tuple[str, str, _Entry]]:
    """``router.auto_options``: an OPTIONS route per path answering ``Allow: <its methods, sorted>`` (Lura's
    ``registerOptionEndpoints``), unless the path declares OPTIONS itself."""
    methods: dict[str, list[str]] = {}
    for endpoint in endpoints:
        if endpoint.endpoint in served:
            methods.setdefault(endpoint.endpoint, []).append(endpoint.method)
    entries: list[tuple[str, str, _Entry]] = []
    for path, listed in methods.items():
        if "OPTIONS" in listed:
            continue
        allow = ", ".join(sorted(listed)).encode("latin-1")

        async def answer(req: Request, allow: bytes = allow) -> Response:
            return Response(200, Headers([(b"Allow", allow), (b"X-Krakend", version)]))

        entries.append(("OPTIONS", path, (answer, None)))
    return entries


def _redirect(location: str, status: int) -> Handler:
    async def answer(req: Request) -> Response:
        headers = Headers([(b"Location", location.encode("latin-1"))])
        body = b""
        if req.method in ("GET", "HEAD"):
            # Go's http.Redirect writes a short HTML body for GET and HEAD.
            headers.raw.insert(0, (b"Content-Type", b"text/html; charset=utf-8"))
            reason = "Moved Permanently" if status == 301 else "Temporary Redirect"
            # The location carries the client's query: escaped as Go's htmlEscape does, never reflected as markup.
            body = f'<a href="{_html_escape(location)}">{reason}</a>.\n\n'.encode()
        return Response(status, headers, body)

    return answer


_GO_HTML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"})


def _html_escape(text: str) -> str:
    """Go's ``net/http`` ``htmlEscape`` (what ``http.Redirect`` applies to the URL in its body)."""
    return text.translate(_GO_HTML_ESCAPES)
