"""The composition root of ``ingress``: static config in, listeners, providers and routing tables out.

Lifecycle on SIGTERM/SIGINT (Traefik's ``server.Stop``): ``/ping`` starts answering ``terminatingStatusCode``; the
entrypoints keep accepting for ``requestAcceptGraceTimeout``; then they stop accepting, close idle keep-alive
connections, let in-flight requests finish (their responses carry ``Connection: close``) for up to ``graceTimeOut``,
and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import signal
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from hanzo_edge.api.handlers import ApiHandler
from hanzo_edge.api.runtime import ViewCache
from hanzo_edge.config.runtime import default_entry_points, merge_steps
from hanzo_edge.config.static import EntryPoint, StaticConfig
from hanzo_edge.config.support import warn_unsupported
from hanzo_edge.http.forwarded import ForwardedHeaders
from hanzo_edge.http.h2.limits import H2Limits
from hanzo_edge.http.messages import Handler, Request
from hanzo_edge.http.paths import denied_escapes
from hanzo_edge.http.pool import PoolRegistry
from hanzo_edge.http.server import HttpProtocol
from hanzo_edge.http.settings import ConnectionContext, EntrypointSettings, RequestObserver
from hanzo_edge.observability.accesslog import AccessLog
from hanzo_edge.observability.fan_out import FanOut, PerRouterObservers
from hanzo_edge.observability.metrics import Metrics
from hanzo_edge.providers.base import ProviderFactory, ProviderHooks
from hanzo_edge.providers.factory import PROVIDER_FACTORIES, create_providers
from hanzo_edge.providers.watcher import SnapshotWatcher
from hanzo_edge.routing.build import BuildResult, build_runtime_steps, transport_options
from hanzo_edge.routing.equal_steps import equal_in_steps
from hanzo_edge.routing.heap import FrozenHeap
from hanzo_edge.routing.internal import (
    InternalHandlers,
    PingHandler,
    internal_routes,
    internal_services,
    tls_entry_points,
)
from hanzo_edge.routing.service_builder import retire
from hanzo_edge.routing.slices import Steps, release_steps, run_steps, run_steps_async, slice_spent
from hanzo_edge.routing.switch import HandlerSwitch
from hanzo_edge.routing.table import RoutingTable
from hanzo_edge.routing.tcp_build import Layer4Build
from hanzo_edge.routing.tcp_table import TCPTable
from hanzo_edge.rules.goregexp import compile_go_regexp
from hanzo_edge.server.entrypoint import ConnectionStage, connection_pipeline
from hanzo_edge.server.listener import Listener
from hanzo_edge.server.proxy_protocol import ProxyProtocolStage, TrustedPeers
from hanzo_edge.server.tls_stage import TLSStage
from hanzo_edge.server.udp_proxy import UDPEntrypoint
from hanzo_edge.tls.catalog import TLSCatalog, build_catalog

if TYPE_CHECKING:
    from hanzo_edge.observability.tracing import Tracer

__all__ = ["IngressApp", "entrypoint_settings"]

log = logging.getLogger("hanzo_edge")


def entrypoint_settings(name: str, ep: EntryPoint) -> EntrypointSettings:
    """Translate a static ``entryPoints.<name>`` model into the protocol's settings."""
    transport = ep.transport
    http = ep.http
    enc = http.encoded_characters
    return EntrypointSettings(
        name=name,
        max_header_bytes=http.max_header_bytes,
        max_request_body_bytes=http.max_request_body_bytes,
        read_timeout=transport.responding_timeouts.read_timeout,
        write_timeout=transport.responding_timeouts.write_timeout,
        idle_timeout=transport.responding_timeouts.idle_timeout,
        keep_alive_max_requests=transport.keep_alive_max_requests,
        keep_alive_max_time=transport.keep_alive_max_time,
        sanitize_path=http.sanitize_path,
        denied_escapes=denied_escapes(
            allow_encoded_slash=enc.allow_encoded_slash,
            allow_encoded_back_slash=enc.allow_encoded_back_slash,
            allow_encoded_null_character=enc.allow_encoded_null_character,
            allow_encoded_semicolon=enc.allow_encoded_semicolon,
            allow_encoded_percent=enc.allow_encoded_percent,
            allow_encoded_question_mark=enc.allow_encoded_question_mark,
            allow_encoded_hash=enc.allow_encoded_hash,
        ),
        encode_query_semicolons=http.encode_query_semicolons,
        http2=H2Limits(
            # Go's http2.Server: 0 concurrent streams means its default (250).
            max_concurrent_streams=ep.http2.max_concurrent_streams or 250,
            header_table_size=ep.http2.max_decoder_header_table_size,
            encoder_table_size=ep.http2.max_encoder_header_table_size,
            max_header_list_size=http.max_header_bytes,  # the same head bound as HTTP/1.1
        ),
        tls=False,
        forwarded=ForwardedHeaders(
            ep.forwarded_headers.insecure,
            tuple(ep.forwarded_headers.trusted_ips),
            connection=tuple(ep.forwarded_headers.connection),
        ),
    )


def _open_connections(ctx: ConnectionContext) -> int:
    return len(ctx.connections)


def _go_matcher(pattern: str) -> Callable[[str], bool]:
    """The regexp engine lent to providers (ProviderHooks.compile_regexp): RE2 with Go's syntax and errors."""
    return compile_go_regexp(pattern).is_match


def _has_overrides(*tables: RoutingTable | None) -> bool:
    """True when a router of these tables (an entrypoint's plain and TLS ones) sets its own ``observability``."""
    return any(route.observability is not None for table in tables if table is not None for route in table.routes)


class IngressApp:
    """One ingress process (or one worker of several)."""

    def __init__(
        self,
        static: StaticConfig,
        *,
        reuse_port: bool = False,
        provider_factories: Mapping[str, ProviderFactory] = PROVIDER_FACTORIES,
    ) -> None:
        self.static = static
        self.reuse_port = reuse_port
        self.provider_factories = provider_factories
        # apply_snapshot is looked up per application, so a test (or a subclass) may replace it on the instance.
        self.watcher: SnapshotWatcher[Any] = SnapshotWatcher(
            lambda provider, config: self._apply_from_watcher(provider, config),
            static.providers.providers_throttle_duration,
            on_failure=self._reload_failed,
        )
        self.pools = PoolRegistry()
        self.default_transport = transport_options(static.servers_transport)
        self.ping = PingHandler(static.ping.terminating_status_code if static.ping is not None else 503)
        self.switches: dict[str, HandlerSwitch] = {}
        self.contexts: dict[str, ConnectionContext] = {}
        self.listeners: dict[str, Listener] = {}
        self.udp_listeners: dict[str, UDPEntrypoint] = {}
        self.snapshots: dict[str, Any] = {}
        self.last_build: BuildResult | None = None
        self.generation = 0
        # Each generation of tables is frozen out of the cyclic GC: gen-2 passes over 10,000 routers stall the loop.
        self.heap = FrozenHeap()
        self._rebuilding = asyncio.Lock()  # sliced rebuilds one at a time: each builds on the last one's result
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._sweeper: asyncio.TimerHandle | None = None
        self.running = False  # set once the event loop serves; health checks start only then
        self.access_log: AccessLog | None = None
        self.metrics: Metrics | None = None
        if static.metrics is not None and static.metrics.prometheus is not None:
            worker = int(os.environ.get("HANZO_EDGE_WORKER", "0") or 0)
            self.metrics = Metrics(static.metrics.prometheus, worker, add_internals=static.metrics.add_internals)
        self.tracer: Tracer | None = None
        if static.tracing is not None:
            # Imported only here: with tracing off, nothing of the OpenTelemetry SDK is loaded.
            from hanzo_edge.observability.tracing import Tracer

            self.tracer = Tracer(static.tracing)
        self.api: ApiHandler | None = None
        if static.api is not None:
            views = ViewCache(
                static, lambda: (self.snapshots, self.last_build), entry_point_defaults=self.default_entry_points()
            )
            self.api = ApiHandler(views, static.api.base_path, dashboard=static.api.dashboard)

    # -- routing -------------------------------------------------------------------------------------------------------
    def internal_handlers(self) -> InternalHandlers:
        """The handlers of this process's ``@internal`` services (which exist is decided by the static config)."""
        return InternalHandlers(
            ping=self.ping,
            prometheus=self.metrics.handler if self.metrics is not None else None,
            api=self.api,
        )

    def entry_point_middlewares(self) -> dict[str, tuple[str, ...]]:
        """Return ``entryPoints.<ep>.http.middlewares`` per entrypoint (prepended to each of its routers)."""
        eps = self.static.entry_points
        return {name: tuple(ep.http.middlewares) for name, ep in eps.items() if ep.http.middlewares}

    def default_entry_points(self) -> list[str]:
        """Entrypoints a router without ``entryPoints`` attaches to (Traefik's ``asDefault`` rule)."""
        return default_entry_points(self.static)

    def build(
        self, snapshots: Mapping[str, Any], *, previous: BuildResult | None = None, generation: int = 0
    ) -> BuildResult:
        """Build every entrypoint's table from ``snapshots`` without swapping anything in.

        The one builder behind both the server (:meth:`rebuild`) and ``ingress check``/``explain``, so they build the
        same tables: the same internal routers and services, default entrypoints and entrypoint middlewares.
        """
        return run_steps(self.build_steps(snapshots, previous=previous, generation=generation))

    def build_steps(
        self, snapshots: Mapping[str, Any], *, previous: BuildResult | None = None, generation: int = 0
    ) -> Steps[BuildResult]:
        """:meth:`build` as slices (``routing/slices.py``): what :meth:`rebuild_in_slices` runs."""
        handlers = self.internal_handlers()
        internal = internal_routes(self.static, handlers)
        for diagnostic in internal.diagnostics:
            log.error("%s", diagnostic)  # check lists what the build logs at ERROR
        tcp_entry_points = [name for name, ep in self.static.entry_points.items() if not ep.is_udp]
        snapshots = dict(snapshots)  # a snapshot applied while this build yields is the next build's
        runtime = yield from merge_steps(snapshots, self.static, spent=slice_spent)
        result = yield from build_runtime_steps(
            runtime,
            tcp_entry_points,
            self.pools,
            self.default_transport,
            internal_routes=internal.routes,
            entry_point_middlewares=self.entry_point_middlewares(),
            internal_services=internal_services(self.static, handlers),
            tls_entry_points=tls_entry_points(self.static),
            tls=build_catalog(snapshots, previous.tls if previous is not None else None),  # keeps session caches
            generation=generation,
            previous=previous,
            on_server_status=self.metrics.server_up if self.metrics is not None else None,
            wrap_service=self.tracer.wrap_service if self.tracer is not None else None,
            udp_entry_points=[name for name, ep in self.static.entry_points.items() if ep.is_udp],
            tcp_servers_transport=self.static.tcp_servers_transport,
        )
        return result

    def layer4(self) -> Layer4Build | None:
        """The current generation's TCP tables and UDP services (None before the first build)."""
        return self.last_build.layer4 if self.last_build is not None else None

    def rebuild(self) -> BuildResult:
        """Build tables from the current provider snapshots and swap them in (one assignment per entrypoint)."""
        self.generation += 1
        result = self.build(self.snapshots, previous=self.last_build, generation=self.generation)
        self._swap_in(result)
        self._settle(result)
        return result

    async def rebuild_in_slices(self, slices: list[float] | None = None) -> BuildResult:
        """:meth:`rebuild`, giving the event loop back between slices of the build, so a reload of 10,000 routers
        holds no request up for the whole build (a thread would not: the GIL). ``slices`` gets each slice's seconds.

        Sliced rebuilds run one at a time. An application whose :meth:`build` is overridden (the gateway's
        post-processes the tables) builds at once, as its override expects."""
        async with self._rebuilding:
            return await self._rebuild_in_slices(slices)

    async def _rebuild_in_slices(self, slices: list[float] | None) -> BuildResult:
        # The cyclic collector stays paused from the first slice to the freeze after the swap: the build's ~100,000
        # new objects are live tables, not garbage, and collections between slices examined them all on the loop
        # (gen-1/gen-2 passes of 15-45 ms, measured with gc.callbacks). The heap freeze puts them out of its way.
        enabled = gc.isenabled()
        gc.disable()
        try:
            return await self._rebuild_paused(slices)
        finally:
            if enabled:
                gc.enable()

    async def _rebuild_paused(self, slices: list[float] | None) -> BuildResult:
        self.generation += 1
        generation = self.generation
        if type(self).build is IngressApp.build:
            steps = self.build_steps(self.snapshots, previous=self.last_build, generation=generation)
            result = await run_steps_async(steps, slices)
        else:
            result = self.build(self.snapshots, previous=self.last_build, generation=generation)
        self._swap_in(result)
        await asyncio.sleep(0)  # the new tables serve; retiring the old generation is sliced too
        await run_steps_async(self._settle_steps(result), slices)
        return result

    def _swap_in(self, result: BuildResult) -> None:
        """Make ``result``'s tables live: one reference assignment per entrypoint."""
        for name, table in result.tables.items():
            switch = self.switches.get(name)
            if switch is None:
                self.switches[name] = HandlerSwitch(table, result.secure_tables.get(name))
            else:
                switch.swap(table, result.secure_tables.get(name))
            ctx = self.contexts.get(name)
            if ctx is not None:
                # Routers may have started or stopped overriding observability in this generation.
                overridden = _has_overrides(table, result.secure_tables.get(name))
                ctx.observer = self._observer_for(self.static.entry_points[name], overridden)

    def _settle(self, result: BuildResult) -> None:
        """After the swap: start the new services, retire the previous generation, log, update metrics, freeze."""
        run_steps(self._settle_steps(result))

    def _settle_steps(self, result: BuildResult) -> Steps[None]:
        """:meth:`_settle` as slices (metrics and the heap freeze each walk every router or object once)."""
        if self.running:
            result.activate()
        if self.tracer is not None:
            self.tracer.forget_services(result.services.values())
        if self.last_build is not None:
            retire(self.last_build.built, result.built)
            self.last_build.layer4.retire()  # its TCP health checks: the new generation runs its own
            yield
        for name, errors in result.errors.items():
            for message in errors:
                log.error("%s: %s", name, message)
        if result.tls is not None:
            for message in result.tls.errors:
                log.error("%s", message)
        # The retired generation is freed piece by piece below, not in one cascade here (routing/slices.py).
        retired = release_steps(self.last_build) if self.last_build is not None else None
        self.last_build = result
        yield
        if self.metrics is not None:
            self.metrics.config_reload(True)
            # Which entrypoints, routers and server URLs exist now: series of the ones gone are dropped.
            routers = {
                route.name
                for tables in (result.tables, result.secure_tables)
                for table in tables.values()
                for route in table.routes
            }
            yield
            server_urls = yield from result.runtime.server_urls_steps(slice_spent)
            self.metrics.on_configuration(self.static.entry_points, routers, server_urls)
            yield
            # tls_certs_not_after follows every build, so a reloaded certificate replaces its series.
            certificates = result.tls.certificates() if result.tls is not None else []
            self.metrics.set_tls_certs((c.cn, c.serial, c.sans, c.not_after) for c in certificates)
        if retired is not None:
            yield from retired
        yield
        self.heap.after_swap()

    def apply_snapshot(self, provider: str, config: Any) -> None:
        """Replace one provider's snapshot and rebuild (an unchanged snapshot is dropped)."""
        if self.snapshots.get(provider) == config:
            return
        previous = self.snapshots.get(provider)
        self.snapshots[provider] = config
        started = time.perf_counter()
        try:
            self.rebuild()
        except Exception:
            # Keep the last good snapshot, so later rebuilds (another provider, a certificate change) don't carry
            # the one that failed; the caller logs and counts the failure.
            if previous is None:
                del self.snapshots[provider]
            else:
                self.snapshots[provider] = previous
            raise
        # The rebuild's duration is the time the event loop was held (benchmarks/reload_stall.py reads it).
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.info("configuration generation %d applied (provider %s) in %.1f ms", self.generation, provider, elapsed_ms)

    def _apply_from_watcher(self, provider: str, config: Any) -> Awaitable[None] | None:
        """What the provider watcher calls: :meth:`apply_snapshot_in_slices`, unless ``apply_snapshot`` was replaced
        (on the instance by a test, or by a subclass), which is then called as it is."""
        if "apply_snapshot" in vars(self) or type(self).apply_snapshot is not IngressApp.apply_snapshot:
            self.apply_snapshot(provider, config)
            return None
        return self.apply_snapshot_in_slices(provider, config)

    async def apply_snapshot_in_slices(self, provider: str, config: Any) -> None:
        """:meth:`apply_snapshot` with the build in slices (:meth:`rebuild_in_slices`)."""
        async with self._rebuilding:
            started = time.perf_counter()
            slices: list[float] = []
            # Compared in slices: a 10,000-router snapshot's == held the loop 2-3.5 ms in one block (equal_steps).
            if await run_steps_async(equal_in_steps(self.snapshots.get(provider), config), slices):
                return
            self.heap.freeze_arrival()  # the new snapshot, before a young collection on the loop walks it
            previous = self.snapshots.get(provider)
            self.snapshots[provider] = config
            try:
                await self._rebuild_in_slices(slices)
            except Exception:
                if previous is None:  # keep the last good snapshot, as apply_snapshot does
                    del self.snapshots[provider]
                else:
                    self.snapshots[provider] = previous
                raise
            # The replaced snapshot (10,000 routers' parsed YAML) is freed piece by piece, not in one cascade.
            replaced = release_steps(previous)
            del previous
            await run_steps_async(replaced, slices)
        # Wall time, and the longest time the event loop was held (benchmarks/reload_stall.py reads both).
        elapsed_ms = (time.perf_counter() - started) * 1000
        longest_ms = max(slices, default=0.0) * 1000
        log.info(
            "configuration generation %d applied (provider %s) in %.1f ms (longest slice %.1f ms)",
            self.generation,
            provider,
            elapsed_ms,
            longest_ms,
        )

    # -- lifecycle -----------------------------------------------------------------------------------------------------
    async def start(self, initial: Mapping[str, Any] | None = None) -> None:
        """Load the initial configuration, bind every entrypoint and start watching providers.

        Raises OSError when an address cannot be bound, ConfigError for a static mistake (e.g. both
        ``providers.file.filename`` and ``directory``). A dynamic file that does not load never stops the start:
        it is reported and left out (see :mod:`hanzo_edge.providers.file`). Options that are set but not supported
        yet are logged as warnings first, whatever the log level.
        """
        loop = asyncio.get_running_loop()
        warn_unsupported(self.static)
        self.snapshots.update(initial or {})
        hooks = ProviderHooks(on_failure=self._reload_failed, compile_regexp=_go_matcher)
        for provider in create_providers(self.static, hooks, self.provider_factories):
            snapshots = provider.watch()
            self.snapshots[provider.name] = await self.watcher.first(provider.name, snapshots)
            self._tasks.append(loop.create_task(self._follow(provider.name, snapshots)))
        self.running = True
        if self.static.access_log is not None:
            self.access_log = AccessLog.from_config(self.static.access_log)
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signal.SIGUSR1, self.access_log.reopen)
        self.rebuild()
        for name, ep in self.static.entry_points.items():
            host, port = ep.parsed_address()
            if ep.is_udp:
                await self._start_udp(name, ep, host, port)
                continue
            settings = entrypoint_settings(name, ep)
            switch = self.switches[name]
            lookup: Callable[[Request], Handler] = switch.lookup
            if self.tracer is not None:
                lookup = self.tracer.traced_lookup(lookup, name, ep.observability.tracing)
            ctx = ConnectionContext(settings, lookup, loop)
            ctx.observer = self._observer_for(ep, _has_overrides(switch.current, switch.secure))
            self.contexts[name] = ctx
            if self.metrics is not None:
                self.metrics.watch_open_connections(name, functools.partial(_open_connections, ctx))
            stages: list[ConnectionStage] = []
            if ep.proxy_protocol is not None:  # first: the header precedes everything, a ClientHello included
                proxy = ep.proxy_protocol
                stages.append(ProxyProtocolStage(ctx, TrustedPeers(proxy.insecure, tuple(proxy.trusted_ips))))
            # Then TLS (looked for only while a TLS router serves here): PROXY -> TLS -> HTTP.
            stages.append(
                TLSStage(
                    ctx,
                    _EntrypointTLS(self, name),
                    functools.partial(HttpProtocol, ctx),
                    tcp=_EntrypointTCP(self, name),
                )
            )
            factory = connection_pipeline(ctx, stages).factory()
            listener = Listener(ctx, host, port, protocol_factory=factory, reuse_port=ep.reuse_port or self.reuse_port)
            await listener.start()
            self.listeners[name] = listener
        self._schedule_sweep()
        self._tasks.append(loop.create_task(self._watch_certificate_files()))
        if self.metrics is not None and os.environ.get("HANZO_EDGE_METRICS_DIR"):
            # --workers: every worker publishes its counters so one scrape shows the sum over workers.
            self._tasks.append(loop.create_task(self.metrics.run_publisher()))

    async def _start_udp(self, name: str, ep: EntryPoint, host: str, port: int) -> None:
        """Bind a ``/udp`` entrypoint: its UDP router's service gets one session per client address."""
        loop = asyncio.get_running_loop()

        def service() -> Any:
            layer4 = self.layer4()
            return layer4.udp.get(name) if layer4 is not None else None

        protocol = UDPEntrypoint(name, loop, service, float(ep.udp.timeout))
        reuse_port = ep.reuse_port or self.reuse_port or None
        # No host: every interface, dual-stack where IPv6 exists (Go's ":port"), else IPv4 only.
        for bind_host in (host,) if host else ("::", "0.0.0.0"):
            try:
                await loop.create_datagram_endpoint(
                    lambda: protocol, local_addr=(bind_host, port), reuse_port=reuse_port
                )
                break
            except OSError:
                if bind_host != "::":
                    raise
        self.udp_listeners[name] = protocol
        log.info("entryPoint %s listening on %s:%d/udp", name, host or "*", port)

    def _observer_for(self, ep: EntryPoint, overridden: bool = False) -> RequestObserver | None:
        """Return the per-request hook of an entrypoint: None (nothing on the hot path) when nothing observes.

        ``overridden``: some router of this entrypoint sets ``observability`` itself; the hook then decides per
        request from ``req.route.observability`` (a router's explicit setting wins over the entrypoint's).
        """
        observability = ep.observability
        # (hook, index in Route.observability, entrypoint default); tracing last: it ends spans others may read.
        features: list[tuple[RequestObserver, int, bool]] = []
        if self.access_log is not None:
            features.append((self.access_log.observer, 0, observability.access_logs))
        if self.metrics is not None:
            features.append((self.metrics.observer, 1, observability.metrics))
        if self.tracer is not None:
            features.append((self.tracer.observer, 2, observability.tracing))
        hooks = tuple(hook for hook, _, default in features if default)
        # Compiled callables (observability/fan_out.py), not closures: no interpreted frame per request (issue 22).
        if overridden and features:
            return PerRouterObservers(tuple(features), hooks)
        if not hooks:
            return None
        if len(hooks) == 1:
            return hooks[0]
        return FanOut(hooks)

    async def _follow(self, provider: str, snapshots: AsyncIterator[Any]) -> None:
        """Apply a provider's snapshots through :attr:`watcher` (deduplicated, newest first, throttled)."""
        await self.watcher.follow(provider, snapshots)

    @property
    def tls(self) -> TLSCatalog | None:
        """The current generation's certificates and TLS options (None before the first build)."""
        return self.last_build.tls if self.last_build is not None else None

    async def _watch_certificate_files(self, interval: float = 1.0) -> None:
        """Rebuild when a certificate, key or CA file of the current configuration changes (a stat poll).

        The file provider reloads the dynamic configuration when *it* changes; the files it names are read here.
        """
        while True:
            await asyncio.sleep(interval)
            catalog = self.tls
            if catalog is not None and catalog.files_changed():
                log.info("TLS certificate files changed: reloading")
                try:
                    await self.rebuild_in_slices()
                except Exception:
                    log.exception("reloading after a certificate file change failed; the previous one keeps serving")
                    self._reload_failed()

    def _reload_failed(self) -> None:
        """Count a configuration that could not be applied (a provider's load or a build failed)."""
        if self.metrics is not None:
            self.metrics.config_reload(False)

    def _schedule_sweep(self) -> None:
        self.pools.sweep()
        self._sweeper = asyncio.get_running_loop().call_later(1.0, self._schedule_sweep)

    def request_stop(self) -> None:
        """Begin a graceful shutdown (what SIGTERM does)."""
        self._stop.set()

    def install_signal_handlers(self) -> None:
        """Make SIGTERM and SIGINT start a graceful shutdown."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)

    async def serve_until_stopped(self) -> int:
        """Serve until :meth:`request_stop`, then drain gracefully. Returns the exit code (0)."""
        await self._stop.wait()
        await self.shutdown()
        return 0

    async def shutdown(self) -> None:
        """Stop gracefully: terminate ping, accept for the grace period, then drain up to ``graceTimeOut``."""
        self.ping.terminating = True
        loop = asyncio.get_running_loop()
        eps = self.static.entry_points
        accept_grace = max((ep.transport.life_cycle.request_accept_grace_timeout for ep in eps.values()), default=0)
        if accept_grace > 0:
            log.info("shutting down: still accepting for %.3gs", accept_grace)
            await asyncio.sleep(accept_grace)
        for listener in self.listeners.values():
            listener.stop_accepting()
        for udp in self.udp_listeners.values():
            udp.close()
        for ctx in self.contexts.values():
            ctx.draining = True
            ctx.close_idle()
        grace = max((ep.transport.life_cycle.grace_time_out for ep in eps.values()), default=10.0)
        deadline = loop.time() + grace
        while loop.time() < deadline and any(ctx.connections for ctx in self.contexts.values()):
            for ctx in self.contexts.values():
                ctx.close_idle()
            await asyncio.sleep(0.02)
        for ctx in self.contexts.values():
            ctx.stop()
        if self.last_build is not None:
            retire(self.last_build.built, {})
            self.last_build.layer4.retire()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self.access_log is not None:
            await self.access_log.aclose()
        if self.tracer is not None:
            # Flushing queued spans blocks on the collector: in its own thread, and waited for at most 5 s.
            await asyncio.to_thread(self.tracer.shutdown, 5.0)
        self.pools.close()
        for listener in self.listeners.values():
            if listener.server is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(listener.server.wait_closed(), 1.0)
        log.info("stopped")


class _EntrypointTLS:
    """One entrypoint's view of the current TLS catalog, for its TLS stage (follows every reload)."""

    __slots__ = ("app", "name")

    def __init__(self, app: IngressApp, name: str) -> None:
        self.app = app
        self.name = name

    def active(self) -> bool:
        catalog = self.app.tls
        return catalog is not None and self.name in catalog.tls_entry_points

    def context_for(self, server_name: str) -> ssl.SSLContext | None:
        catalog = self.app.tls
        return catalog.context_for(self.name, server_name) if catalog is not None else None


class _EntrypointTCP:
    """One entrypoint's view of the current TCP routers, for its TLS stage (follows every reload)."""

    __slots__ = ("app", "name")

    def __init__(self, app: IngressApp, name: str) -> None:
        self.app = app
        self.name = name

    def table(self) -> TCPTable | None:
        layer4 = self.app.layer4()
        return layer4.tcp_tables.get(self.name) if layer4 is not None else None

    def termination_context(self, options: str, server_name: str) -> ssl.SSLContext | None:
        catalog = self.app.tls
        return catalog.context_with_options(options, server_name) if catalog is not None else None
