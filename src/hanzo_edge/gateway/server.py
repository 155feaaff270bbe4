"""The gateway face served by the ingress machinery: one entrypoint, one provider snapshot, the gin table.

:class:`GatewayApp` is an :class:`~hanzo_edge.app.IngressApp` (listeners, connection pipeline, shared request
pipeline, pools, drain on SIGTERM, observers) whose static configuration has a single ``gateway`` entrypoint at
``listen_ip:port`` and no providers: the translated ``gateway.json`` is its initial snapshot. Its :meth:`build` runs
the ordinary merge and build, then replaces the gateway entrypoint's table with a :class:`GinRoutingTable` over the
same routes, so the endpoints' chains are the builder's.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hanzo_edge.app import IngressApp
from hanzo_edge.config.static import EntryPoint, StaticConfig
from hanzo_edge.gateway.extra_config import NamespaceMiddleware
from hanzo_edge.gateway.gin_table import GinRoutingTable
from hanzo_edge.gateway.hanzo.chain import HanzoChain
from hanzo_edge.gateway.hanzo.settings import HanzoSettings
from hanzo_edge.gateway.namespaces.telemetry import METRICS_ENTRY_POINT
from hanzo_edge.gateway.service_keys import ServiceKeys, go_duration
from hanzo_edge.gateway.stats import STATS_PATHS, GatewayStats, activate, deactivate
from hanzo_edge.gateway.translate import ENTRY_POINT, PROVIDER, Translation
from hanzo_edge.http.messages import Handler, Request
from hanzo_edge.http.pool import TransportOptions
from hanzo_edge.http.settings import RequestObserver
from hanzo_edge.middlewares.base import BuildContext, factory_for
from hanzo_edge.routing.build import BuildResult
from hanzo_edge.routing.table import Route, RoutingTable

__all__ = ["GatewayApp", "gateway_static", "listen_address"]


def listen_address(listen_ip: str, port: int) -> str:
    """The entrypoint address for KrakenD's ``listen_ip`` and ``port`` (all interfaces when no IP)."""
    if not listen_ip:
        return f":{port}"
    return f"[{listen_ip}]:{port}" if ":" in listen_ip else f"{listen_ip}:{port}"


def gateway_static(
    listen_ip: str,
    port: int,
    log_level: str = "INFO",
    extra_args: Sequence[str] = (),
    shutdown_grace: float | None = None,
) -> StaticConfig:
    """The static configuration of a gateway process: the ``gateway`` entrypoint, and ``extra_args`` (the telemetry
    namespaces' metrics listener and tracing, :mod:`hanzo_edge.gateway.namespaces.telemetry`, and the service keys'
    flags, :mod:`hanzo_edge.gateway.service_keys`; ``log_level`` wins). ``shutdown_grace`` (``max_shutdown_wait_time``)
    is the drain of every entrypoint: the process waits for the longest one, so one left at 10s would outlast it."""
    from hanzo_edge.config.loader import load_static

    args = [
        f"--entrypoints.{ENTRY_POINT}.address={listen_address(listen_ip, port)}",
        # gin trusts the client's X-Forwarded-For (ClientIP, the widget gate's per-IP key) and Go's ReverseProxy
        # appends to it (the host table); the KrakenD backends drop every X-Forwarded-* themselves (backend.py).
        f"--entrypoints.{ENTRY_POINT}.forwardedHeaders.insecure=true",
        *extra_args,
        f"--log.level={log_level}",
    ]
    if shutdown_grace is not None:
        names = {ENTRY_POINT} | {arg.split(".", 2)[1] for arg in args if arg.lower().startswith("--entrypoints.")}
        grace = go_duration(shutdown_grace)
        args += [f"--entrypoints.{name}.transport.lifeCycle.graceTimeOut={grace}" for name in sorted(names)]
    return load_static(args, {}, search=False)


class GatewayApp(IngressApp):
    """See the module docstring."""

    def __init__(
        self,
        static: StaticConfig,
        translation: Translation,
        hanzo: HanzoSettings | None = None,
        service_keys: ServiceKeys | None = None,
    ) -> None:
        # telemetry/metrics: KrakenD's /__stats collector (gateway/stats.py), active before the first build so the
        # endpoints' services count into it. Its settings are read at start (a reload keeps them, as the listener).
        self.stats: GatewayStats | None = None
        if translation.stats is not None:
            self.stats = GatewayStats(translation.stats)
            activate(self.stats)
        super().__init__(static, provider_factories={})
        # The backends' transport: the static flags' one, with KrakenD's dialer keep-alive (15 s probes unless the
        # file says otherwise) and disable_compression, which Traefik's static transport has no flag for.
        self.default_transport = (service_keys or ServiceKeys()).backend_transport(self.default_transport)
        self.translation = translation
        # The Hanzo chain (identity stripping, auth, widget gate, host table) sits inside CORS, before gin.
        self.hanzo: HanzoChain | None = None
        if hanzo is not None:
            self.hanzo = HanzoChain(hanzo, self.pools, transport=self.hanzo_transport(service_keys or ServiceKeys()))

    @staticmethod
    def hanzo_transport(keys: ServiceKeys) -> TransportOptions:
        """The transport of the Hanzo chain's own upstream calls (host table, Commerce): Go's http.DefaultTransport,
        which Lura's router replaces with KrakenD's at start, so its dialer keep-alive is dialer_keep_alive. The
        rest stays as the chain always had it (no KrakenD timeouts: Go's ReverseProxy has none)."""
        return keys.backend_transport(TransportOptions())

    async def start(self, initial: Mapping[str, Any] | None = None) -> None:
        """Start as ``ingress`` does, then follow ``routes.yaml`` when there is a host table."""
        await super().start(initial)
        if self.hanzo is not None and self.hanzo.settings.routes_file:
            self._tasks.append(asyncio.get_running_loop().create_task(self.hanzo.watch_routes()))
        if self.stats is not None:
            self._tasks.append(asyncio.get_running_loop().create_task(self.stats.run()))

    def initial_snapshots(self) -> dict[str, Any]:
        """The provider snapshots to start with: the translated ``gateway.json``."""
        return {PROVIDER: self.translation.configuration}

    async def shutdown(self) -> None:
        """Stop as ``ingress`` does, then close what the Hanzo chain holds (Redis connections)."""
        await super().shutdown()
        if self.hanzo is not None:
            await self.hanzo.close()
        if self.stats is not None:
            deactivate(self.stats)

    def build(
        self, snapshots: Mapping[str, Any], *, previous: BuildResult | None = None, generation: int = 0
    ) -> BuildResult:
        """Build as ``ingress`` does, then put the gateway entrypoint's routes behind gin's dispatch."""
        result = super().build(snapshots, previous=previous, generation=generation)
        table = result.tables.get(ENTRY_POINT)
        if table is not None:
            routes: Sequence[Route] = table.routes
            if self.stats is not None:
                routes = self._counted(routes, generation, result)
            result.tables[ENTRY_POINT] = GinRoutingTable(
                routes,
                self.translation.routes,
                self.translation.gin,
                outer=self._outer(self.translation.outer) if self.translation.outer or self.hanzo else None,
                outer_idle=self._outer_idle(),
                generation=generation,
            )
        return result

    def _counted(self, routes: Sequence[Route], generation: int, result: BuildResult) -> list[Route]:
        """/__stats: the endpoints' routes count their requests, and the metrics listener serves the map."""
        stats = self.stats
        if stats is None:
            return list(routes)
        paths = {r.router: r.endpoint for r in self.translation.routes}
        stats.bind_routes(paths)
        counted = [
            dataclasses.replace(route, handler=stats.counting(route.handler)) if route.name in paths else route
            for route in routes
        ]
        metrics = result.tables.get(METRICS_ENTRY_POINT)
        if metrics is not None and stats.config.endpoint:

            def is_stats(req: Request) -> bool:
                return req.routing_path in STATS_PATHS

            route = Route("stats@gateway", 2**63 - 1, is_stats, stats.handler, rule="Path(`/__stats`)")
            result.tables[METRICS_ENTRY_POINT] = RoutingTable([*metrics.routes, route], metrics.not_found, generation)
        return counted

    def _observer_for(self, ep: EntryPoint, overridden: bool = False) -> RequestObserver | None:
        """The gateway entrypoint's observer also feeds /__stats' router layer."""
        base = super()._observer_for(ep, overridden)
        stats = self.stats
        if stats is None or not stats.config.router or ep is not self.static.entry_points.get(ENTRY_POINT):
            return base
        if base is None:
            return stats.observe

        def both(req: Request, status: int, size: int, duration: float, aborted: bool) -> None:
            base(req, status, size, duration, aborted)
            stats.observe(req, status, size, duration, aborted)

        return both

    def _outer_idle(self) -> Callable[[Request], bool] | None:
        """When only the Hanzo chain wraps the endpoints, its check that a request gives it nothing to do: such a
        request goes to gin's decision without the chain. Whole-router namespaces (CORS) see every request."""
        if self.hanzo is None or self.translation.outer:
            return None
        return self.hanzo.idle_check()

    def _outer(self, middlewares: list[NamespaceMiddleware]) -> Any:
        def wrap(handler: Handler) -> Handler:
            if self.hanzo is not None:
                # Per build: a reloaded gateway.json brings its own "auth/public" flags.
                endpoints = [(r.method, r.endpoint, r.public) for r in self.translation.routes]
                handler = self.hanzo.wrap(handler, endpoints, self.translation.gin.health_path)
            # Innermost last: the first listed middleware sees the request first.
            for mw in reversed(middlewares):
                factory = factory_for(mw.kind)
                if factory is None:
                    raise ValueError(f"middleware kind {mw.kind!r} is not registered")
                handler = factory(
                    handler, mw.options, name=f"{mw.name}@{PROVIDER}", ctx=BuildContext(PROVIDER, PROVIDER)
                )
            return handler

        return wrap
