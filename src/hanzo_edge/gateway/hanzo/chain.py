"""The Hanzo chain in front of the gin router: strip → auth (+ billing) → widget gate → host table → ``next``.

Built once per process from :class:`~.settings.HanzoSettings` (the environment); :meth:`HanzoChain.wrap` puts it,
with the ``auth/public`` flags of one generation's ``gateway.json`` endpoints, around any handler (the gin table's
dispatch, inside ``security/cors``), so the same unit serves a gateway-only process or a combined one.

The host table is the one mutable piece: :meth:`HanzoChain.watch_routes` polls ``routes.yaml`` and swaps one
reference to a new :class:`_HostStage` when the file changes; a file that does not parse is logged with its location
and the last good table keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from hanzo_edge.gateway.gin_router import GinRouter
from hanzo_edge.gateway.hanzo.billing import BalanceChecker, billing_user
from hanzo_edge.gateway.hanzo.go_proxy import drop_entrypoint_forwarded
from hanzo_edge.gateway.hanzo.host_table import HostTable, HostTableError, load_host_table
from hanzo_edge.gateway.hanzo.identity import bearer_token, is_api_key, request_token, strip_identity_headers
from hanzo_edge.gateway.hanzo.settings import HanzoSettings
from hanzo_edge.gateway.hanzo.tokens import InvalidToken, JwtVerifier
from hanzo_edge.gateway.hanzo.widget import (
    NO_ORIGIN,
    RATE_LIMITED,
    MemoryWindows,
    RedisWindows,
    origin_allowed,
    origin_host,
)
from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.errors import UpstreamError
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.pipeline import body_too_large
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.http.proxy import server_target

__all__ = ["ENDPOINT_BODY_LIMIT", "METRICS_PATH", "HanzoChain"]

log = logging.getLogger("hanzo_edge.gateway.hanzo")

METRICS_PATH = "/__hanzo/metrics"
ENDPOINT_BODY_LIMIT = 10 * 1024 * 1024
"""The gateway.json endpoints' request-body limit (the entrypoint default) when the host table has none."""
AUTH_REQUIRED = b'{"error":"unauthorized","message":"Authentication required"}'
_JSON = b"application/json; charset=utf-8"
_UNSAFE = str.maketrans({"\r": " ", "\n": " ", "\x00": " "})
# The headers a request's credential can come from (request_token, the widget gate): without one, no token.
_CREDENTIAL_NAMES = frozenset({b"authorization", b"x-authorization", b"cookie"})
# The X-* names the entrypoint itself sets (its trust boundary): never identity headers, so no strip pass for them.
# Any other X-/X_ name sends the request through strip_identity_headers, which decides exactly.
_ENTRYPOINT_NAMES = frozenset(
    {
        b"x-forwarded-for",
        b"x-forwarded-host",
        b"x-forwarded-proto",
        b"x-forwarded-port",
        b"x-forwarded-server",
        b"x-forwarded-prefix",
        b"x-forwarded-uri",
        b"x-forwarded-method",
        b"x-forwarded-tls-client-cert",
        b"x-forwarded-tls-client-cert-info",
        b"x-real-ip",
    }
)


def _may_carry_credentials(raw: list[tuple[bytes, bytes]]) -> bool:
    """True when a header could be a credential or an identity header; False means none of the strip, the token
    lookup and the widget gate has anything to do."""
    for name, _ in raw:
        lname = name.lower()
        if lname in _ENTRYPOINT_NAMES:
            continue  # most X- names of a request: the entrypoint's own (the first test, one probe)
        if lname in _CREDENTIAL_NAMES or lname[:2] in (b"x-", b"x_"):
            return True
    return False


def _untouched(req: Request) -> bool:
    """True when the chain, without AUTH_REQUIRE or a host table, passes ``req`` on unchanged."""
    return req.path != METRICS_PATH and not _may_carry_credentials(req.headers.raw)


def _json(status: int, body: bytes) -> Response:
    return Response(status, Headers([(b"Content-Type", _JSON)]), body)


def _header_value(value: Any) -> bytes:
    # A claim can never split or end a header: CR, LF and NUL become spaces.
    return ("" if value is None else str(value)).translate(_UNSAFE).encode("utf-8")


class _HostStage:
    """One generation of the host table with its upstream targets (built when the table is loaded)."""

    __slots__ = ("table", "targets")

    def __init__(self, table: HostTable, pools: PoolRegistry, options: TransportOptions) -> None:
        self.table = table
        # No KrakenD timeout (Go's ReverseProxy has none); the backend's host:port is the Host header.
        self.targets: dict[str, Handler] = {
            url: server_target(url, pools, options, pass_host_header=False, preserve_path=True)
            for url in table.backends()
        }


class HanzoChain:
    """See the module docstring."""

    def __init__(
        self,
        settings: HanzoSettings,
        pools: PoolRegistry,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        verifier: JwtVerifier | None = None,
        endpoint_body_limit: int | None = None,
        transport: TransportOptions | None = None,
    ) -> None:
        self.settings = settings
        self.pools = pools
        # Hanzo's host proxies and its Commerce client are Go clients on http.DefaultTransport, which `gateway run`
        # makes KrakenD's (Lura's router calls InitHTTPDefaultTransport at start): their dials carry
        # dialer_keep_alive. None (the ingress's gateway provider): Traefik's dialer, keep-alive 30 s.
        self.transport = transport or TransportOptions()
        # With a host table, `gateway run` lifts its entrypoint's body limit (Go's ReverseProxy has none: uploads
        # to s3/registry hosts) and the chain puts KrakenD's 10 MiB back on everything else. 0: leave the
        # entrypoint's limit alone (ingress's gateway provider).
        if endpoint_body_limit is None:
            endpoint_body_limit = ENDPOINT_BODY_LIMIT if settings.routes_file else 0
        self.endpoint_body_limit = endpoint_body_limit
        self.verifier: JwtVerifier | None = None
        if settings.auth_enabled:
            self.verifier = verifier or JwtVerifier(
                settings.jwks_url, settings.issuer, settings.audience, wall_clock=wall_clock, clock=clock
            )
        self.billing: BalanceChecker | None = None
        if settings.auth_enabled and settings.billing_enabled and settings.billing_url:
            self.billing = BalanceChecker(
                settings.billing_url,
                settings.commerce_token,
                pools,
                timeout=settings.billing_timeout,
                transport=self.transport,
            )
        self.windows = MemoryWindows(settings.widget_per_ip, settings.widget_global, settings.widget_window, clock)
        self.redis_windows: RedisWindows | None = None
        if settings.widget_redis:
            self.redis_windows = RedisWindows(settings.widget_redis, self.windows, wall_clock)
        self.routes_loaded = 0  # successful loads of routes.yaml (tests poll it)
        self.routes_failed = 0
        self._host: _HostStage | None = None
        self._public: tuple[tuple[tuple[str, str, bool], ...], GinRouter[bool] | None] | None = None
        if settings.routes_file:
            # At startup a bad file is an error of the command (raised), not a silently empty table.
            self._host = _HostStage(load_host_table(settings.routes_file), pools, self.transport)
            self.routes_loaded = 1

    # -- the handler ---------------------------------------------------------------------------------------------
    def wrap(
        self, next: Handler, endpoints: Sequence[tuple[str, str, bool]] = (), health_path: str = "/__health"
    ) -> Handler:
        """Return the chain around ``next`` for one configuration generation; ``endpoints`` are its gateway.json
        endpoints as ``(method, path, "auth/public")``, ``health_path`` its router's health check (never proxied by
        the host table)."""
        public = self._public_table(tuple(endpoints))

        limit = self.endpoint_body_limit

        async def hanzo(req: Request) -> Response:
            # One pass over the header names: most requests carry no credential and no identity header, and then
            # neither the strip, the token lookup (three passes) nor the widget gate (two more) has work to do.
            credentials = _may_carry_credentials(req.headers.raw)
            if credentials:
                strip_identity_headers(req)
            if req.path == METRICS_PATH and req.method == "GET":
                return self._metrics()
            verifier = self.verifier
            # Without a credential, auth can only refuse when AUTH_REQUIRE is on: otherwise no call at all.
            if verifier is not None and (credentials or self.settings.require_auth):
                refused = await self._authenticate(req, verifier, public, credentials)
                if refused is not None:
                    return refused
            if credentials:
                refused = await self._widget_gate(req)
                if refused is not None:
                    return refused
            host = self._host
            if host is not None and req.path != health_path:
                match = host.table.match(req.host, req.path)
                if match is not None:
                    return await self._proxy(req, host, match.kind, match.url, match.path)
            body = req.body
            if limit and type(body) is StreamBody:
                # Never raises the limit (tighten): only puts back what the entrypoint left off for the host table.
                if body.length is not None and body.length > limit:
                    return body_too_large(req)
                body.tighten(limit)
            return await next(req)

        return hanzo

    def idle_check(self) -> Callable[[Request], bool] | None:
        """A check, one pass over the header names, that the chain would only pass a request on unchanged: no
        credential or identity header and not its metrics path. None when the environment gives the chain work on
        every request (``AUTH_REQUIRE``, a host table, a body limit to put back). The gin table calls it to go
        straight to the endpoint without the chain's coroutine."""
        if (self.verifier is not None and self.settings.require_auth) or self.settings.routes_file:
            return None
        if self._host is not None or self.endpoint_body_limit:
            return None
        return _untouched

    def _public_table(self, endpoints: tuple[tuple[str, str, bool], ...]) -> GinRouter[bool] | None:
        # Under `ingress --providers.gateway` each endpoint's router wraps the chain with the same endpoints: the
        # table is built once for them (the last generation's is kept), not once per router.
        cached = self._public
        if cached is not None and cached[0] == endpoints:
            return cached[1]
        public: GinRouter[bool] | None = None
        if any(flag for _, _, flag in endpoints):
            # Every endpoint goes in, so gin's precedence (a static path beats a {param} one) decides which
            # endpoint a request is, and only then whether that endpoint is public.
            public = GinRouter(list(endpoints))
        self._public = (endpoints, public)
        return public

    async def _authenticate(
        self, req: Request, verifier: JwtVerifier, public: GinRouter[bool] | None, credentials: bool = True
    ) -> Response | None:
        settings = self.settings
        if req.host in settings.public_hosts or req.path.startswith(settings.public_paths):
            return None
        if public is not None:
            found = public.find(req.method, req.routing_path)
            if found is not None and found[0]:
                return None
        token = request_token(req) if credentials else ""
        if not token:
            return _json(401, AUTH_REQUIRED) if settings.require_auth else None
        if is_api_key(token):
            return None  # validated by the backend, never billed here
        try:
            claims = await verifier.claims(token)
        except InvalidToken as exc:
            body = {"error": "unauthorized", "message": "Invalid token", "detail": str(exc)}
            return _json(401, orjson.dumps(body))
        user_id = claims.get("sub") or claims.get("preferred_username") or claims.get("name") or ""
        owner = claims.get("owner") or ""
        email = claims.get("email") or ""
        raw = req.headers.raw
        for names, value in (
            ((b"X-Hanzo-User-Id", b"X-User-Id"), user_id),
            ((b"X-Hanzo-Org-Id", b"X-Org-Id"), owner),
            ((b"X-Hanzo-User-Email", b"X-User-Email"), email),
        ):
            encoded = _header_value(value)
            raw.extend((name, encoded) for name in names)
        billing = self.billing
        if billing is not None and user_id:
            user = billing_user(str(owner), str(user_id))
            if not await billing.allowed(user):
                body = {
                    "error": "insufficient_balance",
                    "message": "Your account has insufficient balance. Please add funds at the platform billing page",
                    "user": user,
                }
                return _json(402, orjson.dumps(body))
        return None

    async def _widget_gate(self, req: Request) -> Response | None:
        header = req.headers.get("Authorization") or req.headers.get("X-Authorization")
        if not header or not bearer_token(header).startswith("hz_"):
            return None
        origin = req.headers.get("Origin") or req.headers.get("Referer") or ""
        if not origin.strip():
            return _json(403, NO_ORIGIN)
        host = origin_host(origin)
        if not origin_allowed(host, self.settings.widget_origins):
            body = {"error": "forbidden", "message": f"Widget key not authorized for origin: {host}"}
            return _json(403, orjson.dumps(body))
        forwarded = req.headers.get("X-Forwarded-For")
        ip = forwarded.split(",", 1)[0].strip() if forwarded else ""
        ip = ip or req.client_ip
        redis_windows = self.redis_windows
        admitted = await redis_windows.admit(ip) if redis_windows is not None else self.windows.admit(ip)
        return None if admitted else _json(429, RATE_LIMITED)

    async def _proxy(self, req: Request, stage: _HostStage, kind: str, url: str, path: str) -> Response:
        if kind == "redirect":
            return Response(301, Headers([(b"Location", url.encode("latin-1", "replace"))]))
        if path != req.path:
            req.path = path
            req.routing_path = path
        drop_entrypoint_forwarded(req)
        try:
            return await stage.targets[url](req)
        except UpstreamError:
            return Response(502)  # Go's ReverseProxy: 502, empty body

    # -- routes.yaml reload --------------------------------------------------------------------------------------
    def reload_routes(self) -> bool:
        """Load ``routes.yaml`` again; on an error keep the current table and log where. True when swapped."""
        path = self.settings.routes_file
        try:
            table = load_host_table(path)
        except HostTableError as exc:
            self.routes_failed += 1
            log.error("host table: %s; keeping the last good table", exc)
            return False
        self._host = _HostStage(table, self.pools, self.transport)
        self.routes_loaded += 1
        log.info("host table: %s reloaded (%d hosts, %d redirects)", path, len(table.routes), len(table.redirects))
        return True

    async def watch_routes(self, interval: float = 1.0) -> None:
        """Poll ``routes.yaml`` (stat fingerprint, as the file provider) and reload it when it changes; runs until
        cancelled."""
        from hanzo_edge.providers.file import FileProvider

        path = self.settings.routes_file
        if not path:
            return
        stat = FileProvider(filename=path).fingerprint
        stamp = stat()
        while True:
            await asyncio.sleep(interval)
            current = stat()
            if current != stamp:
                stamp = current
                self.reload_routes()

    # -- metrics -------------------------------------------------------------------------------------------------
    def _metrics(self) -> Response:
        lines = [
            "# HELP hanzo_gateway_billing_failures_total Billing checks that failed and let the request through.",
            "# TYPE hanzo_gateway_billing_failures_total counter",
        ]
        failures = self.billing.failures if self.billing is not None else {}
        for reason in sorted(set(failures) | {"timeout", "unreachable", "status", "garbage"}):
            lines.append(f'hanzo_gateway_billing_failures_total{{reason="{reason}"}} {failures.get(reason, 0)}')
        lines += [
            "# HELP hanzo_gateway_routes_reload_failures_total routes.yaml reloads refused (last table kept).",
            "# TYPE hanzo_gateway_routes_reload_failures_total counter",
            f"hanzo_gateway_routes_reload_failures_total {self.routes_failed}",
        ]
        headers = Headers([(b"Content-Type", b"text/plain; version=0.0.4; charset=utf-8")])
        return Response(200, headers, ("\n".join(lines) + "\n").encode())

    async def close(self) -> None:
        """Release what the chain holds outside the pools (Redis connections)."""
        if self.redis_windows is not None:
            await self.redis_windows.close()
