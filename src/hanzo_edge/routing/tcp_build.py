"""Build the TCP and UDP side of a generation: one :class:`TCPTable` per TCP entrypoint, one balancer per UDP one.

Input is the merged :class:`~hanzo_edge.config.runtime.RuntimeConfig` (names qualified, default entrypoints and
priorities applied); errors go into its records with Traefik's wording where it has one, and a broken router,
service or middleware is disabled while the rest serve, as for HTTP (``routing/build.py``).

Traefik's checks: a router needs a service and a rule; a rule naming a server (``HostSNI(`x`)``) or ``ALPN`` needs
``tls`` on the router (``HostSNI(`*`)`` and ``ClientIP`` do not); its TLS options must exist; several UDP routers on
one entrypoint conflict (the first by name serves, the others get a warning: Traefik keeps one of them).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hanzo_edge.config.refusal import refusals_of
from hanzo_edge.config.runtime import DISABLED, Info, RouterInfo, RuntimeConfig, qualify
from hanzo_edge.config.static import TCPServersTransport as StaticTCPServersTransport
from hanzo_edge.config.tcp import (
    TCPClientTLS,
    TCPHealthCheck,
    TCPProxyProtocol,
    TCPRouter,
    TCPServersTransport,
    TCPWeightedService,
    UDPRouter,
)
from hanzo_edge.http.upstream_tls import ClientTLS, TLSConfigError, client_context
from hanzo_edge.middlewares.tcp_admission import Admission, build_admission
from hanzo_edge.routing.table import RoutingTable
from hanzo_edge.routing.tcp_table import TCPRoute, TCPTable
from hanzo_edge.rules.errors import RuleError
from hanzo_edge.rules.tcp_matchers import compile_tcp_rule
from hanzo_edge.services.tcp_balancer import Balancer, TCPServerTarget, UDPServerTarget, split_address
from hanzo_edge.services.tcp_health import TCPCheck, TCPHealthChecker
from hanzo_edge.tls.catalog import TLSCatalog, options_name

__all__ = ["DEFAULT_TERMINATION_DELAY", "Layer4Build", "build_layer4"]

log = logging.getLogger("hanzo_edge.routing")

DEFAULT_TERMINATION_DELAY = 0.1
"""The default transport's ``terminationDelay`` when the static one leaves it at 0 (see docs/compat.md)."""


@dataclass(slots=True)
class Layer4Build:
    """The TCP tables and UDP balancers of one generation, and what went wrong (by object name)."""

    tcp_tables: dict[str, TCPTable] = field(default_factory=dict)
    udp: dict[str, Balancer] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    admissions: dict[str, tuple[Any, Admission]] = field(default_factory=dict)
    health_checks: list[TCPHealthChecker] = field(default_factory=list)
    tcp_services: dict[str, Balancer] = field(default_factory=dict)
    """Every TCP service built, by name (the API reads their servers' status)."""
    """Each middleware with the model it was built from: the next generation keeps an unchanged one (and so the
    connections ``inFlightConn`` counts)."""

    def activate(self) -> None:
        """Start the TCP health checks of this generation (once it serves)."""
        for checker in self.health_checks:
            checker.start()

    def retire(self) -> None:
        """Stop them (the generation was replaced, or the process stops)."""
        for checker in self.health_checks:
            checker.stop()


class _ServiceError(Exception):
    pass


def build_layer4(
    runtime: RuntimeConfig,
    tcp_entry_points: Sequence[str],
    udp_entry_points: Sequence[str],
    *,
    tls: TLSCatalog | None = None,
    secure_tables: Mapping[str, RoutingTable] | None = None,
    default_transport: StaticTCPServersTransport | None = None,
    previous: Layer4Build | None = None,
) -> Layer4Build:
    """Build every TCP and UDP router of ``runtime``; never raises for a bad object (it is disabled instead).

    ``secure_tables``: the HTTPS routers of each entrypoint (their hosts come before TLS TCP routers).
    ``default_transport``: the static ``tcpServersTransport`` (used by services that name none). ``previous``: the
    last generation's build, whose unchanged middlewares are kept.
    """
    return _Layer4(runtime, tls, default_transport or StaticTCPServersTransport(), previous).run(
        tcp_entry_points, udp_entry_points, secure_tables or {}
    )


class _Layer4:
    def __init__(
        self,
        runtime: RuntimeConfig,
        tls: TLSCatalog | None,
        static: StaticTCPServersTransport,
        previous: Layer4Build | None,
    ) -> None:
        self.runtime = runtime
        self.tls = tls
        self.result = Layer4Build()
        self.static = static
        self.tcp_services: dict[str, Balancer | None] = {}
        self.udp_services: dict[str, Balancer | None] = {}
        self.admissions: dict[str, Admission | None] = {}
        self.previous_admissions = previous.admissions if previous is not None else {}
        self.previous_services = previous.tcp_services if previous is not None else {}

    def run(
        self, tcp_eps: Sequence[str], udp_eps: Sequence[str], secure_tables: Mapping[str, RoutingTable]
    ) -> Layer4Build:
        routes: dict[str, list[TCPRoute]] = {ep: [] for ep in tcp_eps}
        for info in self.runtime.tcp_routers.values():
            self._tcp_router(info, routes, set(udp_eps))
        for ep, ep_routes in routes.items():
            secure = secure_tables.get(ep)
            https_routes = secure.routes if secure is not None else ()
            hosts = frozenset(host for route in https_routes if route.hosts is not None for host in route.hosts)
            self.result.tcp_tables[ep] = TCPTable(
                ep_routes,
                https_hosts=hosts,
                https_catch_all=any(route.hosts is None for route in https_routes),
                https=bool(https_routes),
            )
        self._udp_routers(udp_eps, set(tcp_eps))
        return self.result

    # -- errors ------------------------------------------------------------------------------------------------------
    def _error(self, info: Info[Any], message: str, critical: bool) -> None:
        info.add_error(message, critical)
        self.result.errors.setdefault(info.name, []).append(message)

    # -- TCP routers ---------------------------------------------------------------------------------------------------
    def _tcp_router(self, info: RouterInfo[TCPRouter], routes: dict[str, list[TCPRoute]], udp_eps: set[str]) -> None:
        router = info.model
        if self._refused(info):
            return
        errors: list[str] = []
        compiled = None
        if not router.rule:
            errors.append("router has no rule")
        else:
            try:
                compiled = compile_tcp_rule(router.rule, router.rule_syntax or "v3")
            except RuleError as exc:
                errors.append(f"invalid rule {router.rule!r}: {exc}")
        if compiled is not None and compiled.needs_tls and router.tls is None:
            errors.append(f'invalid rule: "{router.rule}" , has HostSNI matcher, but no TLS on router')
        tls_mode: str | None = None
        if router.tls is not None:
            tls_mode = ""
            if not router.tls.passthrough:
                tls_mode = options_name(router.tls.options, info.provider)
                errors.extend(self._tls_options_errors(tls_mode))
            if router.tls.cert_resolver:
                message = (
                    f'certResolver "{router.tls.cert_resolver}" is not supported yet: the certificate comes from the'
                    " TLS store"
                )
                log.warning("TCP router %s: %s", info.name, message)
                self._error(info, message, critical=False)
        service = self._router_service(info, errors)
        admission = self._router_middlewares(info, errors)
        if errors or compiled is None or service is None or admission is None:
            for message in errors:
                self._error(info, message, critical=True)
            return
        passthrough = router.tls is not None and router.tls.passthrough
        if router.priority == 0 and compiled.catch_all:
            # Traefik's GetRulePriority reads the parsed rule: `hostsni( `*` )` is the catch-all too (-1); the merge
            # only recognised the exact spelling.
            info.priority = -1
        route = TCPRoute(info.name, info.priority, compiled, service, admission, tls_mode, passthrough)
        for ep in info.entry_points:
            ep_routes = routes.get(ep)
            if ep_routes is None:
                reason = "is a UDP entryPoint" if ep in udp_eps else "doesn't exist"
                self._error(info, f'entryPoint "{ep}" {reason}', critical=False)
                continue
            ep_routes.append(route)
            info.using.append(ep)
        if not info.using:
            self._error(info, "no valid entryPoint for this router", critical=True)
            info.status = DISABLED

    def _refused(self, info: RouterInfo[TCPRouter] | RouterInfo[UDPRouter]) -> bool:
        """Disable a router its provider refused (``config/refusal.py``) with the provider's reasons; True if so."""
        refusals = refusals_of(info.model)
        for message in refusals:
            self._error(info, message, critical=True)
        return bool(refusals)

    def _tls_options_errors(self, name: str) -> list[str]:
        tls = self.tls
        if tls is None or name in tls.options:
            return []
        broken = tls.broken.get(name)
        return [broken] if broken is not None else [f"unknown TLS options: {name}"]

    def _router_service(self, info: RouterInfo[TCPRouter], errors: list[str]) -> Balancer | None:
        if not info.service:
            errors.append("the service is missing on the router")
            return None
        if info.service not in self.runtime.tcp_services:
            errors.append(f'the service "{info.service}" does not exist')
            return None
        service = self._tcp_service(info.service, ())
        if service is None:
            errors.append(f'the service "{info.service}" could not be built')
        return service

    def _router_middlewares(self, info: RouterInfo[TCPRouter], errors: list[str]) -> tuple[Admission, ...] | None:
        chain: list[Admission] = []
        for name in info.model.middlewares:
            qname = qualify(name, info.provider)
            middleware_info = self.runtime.tcp_middlewares.get(qname)
            if middleware_info is None:
                errors.append(f'middleware "{qname}" does not exist')
                return None
            if qname not in self.admissions:
                kept = self.previous_admissions.get(qname)
                if kept is not None and kept[0] == middleware_info.model:
                    self.admissions[qname] = kept[1]  # unchanged: same counters
                else:
                    try:
                        self.admissions[qname] = build_admission(qname, middleware_info.model)
                    except ValueError as exc:
                        self.admissions[qname] = None
                        self._error(middleware_info, str(exc), critical=True)
                built_now = self.admissions[qname]
                if built_now is not None:
                    self.result.admissions[qname] = (middleware_info.model, built_now)
            built = self.admissions[qname]
            if built is None:
                errors.append(f'middleware "{qname}" could not be built')
                return None
            chain.append(built)
        return tuple(chain)

    # -- TCP services --------------------------------------------------------------------------------------------------
    def _tcp_service(self, name: str, parents: tuple[str, ...]) -> Balancer | None:
        if name in self.tcp_services:
            return self.tcp_services[name]
        info = self.runtime.tcp_services[name]
        try:
            built = self._build_tcp_service(info, (*parents, name))
        except _ServiceError as exc:
            self._error(info, str(exc), critical=True)
            built = None
        self._unsupported(info)
        self.tcp_services[name] = built
        if built is not None:
            self.result.tcp_services[name] = built
        return built

    def _unsupported(self, info: Info[Any]) -> None:
        """Options we parse but do not act on: a warning on the service, never silence."""
        lb = info.model.load_balancer
        transport_name = lb.servers_transport if lb is not None else ""
        transport = (
            self.runtime.tcp_servers_transports.get(qualify(transport_name, info.provider)) if transport_name else None
        )
        if transport is not None and transport.tls is not None and transport.tls.spiffe is not None:
            self._error(
                info, "serversTransport tls.spiffe is not supported yet: the servers are verified with rootCAs", False
            )

    def _build_tcp_service(self, info: Info[Any], chain: tuple[str, ...]) -> Balancer:
        model = self.runtime.tcp_services[info.name].model
        if model.weighted is not None:
            return _weighted(info, model.weighted.services, chain, self.runtime.tcp_services, self._tcp_service)
        lb = model.load_balancer
        if lb is None:
            raise _ServiceError("the service has no type")
        transport = self._transport(lb.servers_transport, info.provider)
        proxy = lb.proxy_protocol or transport.proxy_protocol
        delay = float(lb.termination_delay) / 1000 if lb.termination_delay is not None else transport.termination_delay
        targets: list[tuple[object, float]] = []
        for server in lb.servers:
            try:
                host, port = split_address(server.address)
            except ValueError as exc:
                raise _ServiceError(str(exc)) from None
            context = None
            if server.tls:
                context = self._client_tls(transport)
            targets.append(
                (
                    TCPServerTarget(
                        server.address,
                        host,
                        port,
                        float(transport.dial_timeout),
                        float(transport.dial_keep_alive),
                        delay,
                        _proxy_version(proxy),
                        context,
                        transport.tls.server_name if transport.tls is not None else "",
                        transport.tls.peer_cert_uri if transport.tls is not None else "",
                    ),
                    1.0,
                )
            )
        balancer = Balancer(info.name, targets)
        if lb.health_check is not None:
            servers = [target for target, _ in targets if isinstance(target, TCPServerTarget)]
            # What the last generation's checker found stays true until this one's first probe: a reload must not
            # send connections to a server known to be down.
            before = self.previous_services.get(info.name)
            if before is not None:
                for checked in servers:
                    if before.status(checked.address) is False:
                        balancer.set_status(checked.address, False)
            self.result.health_checks.append(
                TCPHealthChecker(info.name, balancer, servers, _tcp_check(info.name, lb.health_check))
            )
        return balancer

    def _transport(self, name: str, provider: str) -> TCPServersTransport:
        if not name:
            static = self.static
            tls = None
            if static.tls is not None:
                tls = TCPClientTLS(insecure_skip_verify=static.tls.insecure_skip_verify, root_cas=static.tls.root_cas)
            return TCPServersTransport(
                dial_keep_alive=static.dial_keep_alive,
                dial_timeout=static.dial_timeout,
                termination_delay=static.termination_delay or DEFAULT_TERMINATION_DELAY,
                tls=tls,
            )
        qname = qualify(name, provider)
        found = self.runtime.tcp_servers_transports.get(qname)
        if found is None:
            raise _ServiceError(f'no transport configuration found for "{qname}"')
        return found

    @staticmethod
    def _client_tls(transport: TCPServersTransport) -> ssl.SSLContext:
        tls = transport.tls
        settings = ClientTLS()
        if tls is not None:
            settings = ClientTLS(
                insecure_skip_verify=tls.insecure_skip_verify,
                root_cas=tuple(tls.root_cas),
                certificates=tuple((c.get("certFile", ""), c.get("keyFile", "")) for c in tls.certificates),
                verify_chain=bool(tls.peer_cert_uri),
            )
        try:
            return client_context(settings)
        except TLSConfigError as exc:
            raise _ServiceError(f"TLS to the servers: {exc}") from None

    # -- UDP -----------------------------------------------------------------------------------------------------------
    def _udp_routers(self, udp_eps: Sequence[str], tcp_eps: set[str]) -> None:
        by_ep: dict[str, list[RouterInfo[UDPRouter]]] = {ep: [] for ep in udp_eps}
        for info in sorted(self.runtime.udp_routers.values(), key=lambda i: i.name):
            if self._refused(info):
                continue
            service = None
            if not info.service:
                self._error(info, "the service is missing on the udp router", critical=True)  # Traefik's words
                continue
            if info.service not in self.runtime.udp_services:
                self._error(info, f'the service "{info.service}" does not exist', critical=True)
                continue
            service = self._udp_service(info.service, ())
            if service is None:
                self._error(info, f'the service "{info.service}" could not be built', critical=True)
                continue
            for ep in info.entry_points:
                if ep not in by_ep:
                    reason = "is not a UDP entryPoint" if ep in tcp_eps else "doesn't exist"
                    self._error(info, f'entryPoint "{ep}" {reason}', critical=False)
                    continue
                by_ep[ep].append(info)
                if ep in self.result.udp:
                    first = by_ep[ep][0].name
                    self._error(
                        info,
                        f'router conflicts with "{first}" on entryPoint "{ep}": one UDP router per entryPoint serves',
                        critical=False,
                    )
                    continue
                self.result.udp[ep] = service
                info.using.append(ep)
            if not info.using and info.status != DISABLED:
                info.status = DISABLED

    def _udp_service(self, name: str, parents: tuple[str, ...]) -> Balancer | None:
        if name in self.udp_services:
            return self.udp_services[name]
        info = self.runtime.udp_services[name]
        try:
            built = self._build_udp_service(info, (*parents, name))
        except _ServiceError as exc:
            self._error(info, str(exc), critical=True)
            built = None
        self.udp_services[name] = built
        return built

    def _build_udp_service(self, info: Info[Any], chain: tuple[str, ...]) -> Balancer:
        model = self.runtime.udp_services[info.name].model
        if model.weighted is not None:
            return _weighted(info, model.weighted.services, chain, self.runtime.udp_services, self._udp_service)
        if model.load_balancer is None:
            raise _ServiceError("the service has no type")
        targets: list[tuple[object, float]] = []
        for server in model.load_balancer.servers:
            try:
                host, port = split_address(server.address)
            except ValueError as exc:
                raise _ServiceError(str(exc)) from None
            targets.append((UDPServerTarget(server.address, host, port), 1.0))
        return Balancer(info.name, targets)


def _weighted(
    info: Info[Any],
    children: Sequence[TCPWeightedService],
    chain: tuple[str, ...],
    known: Mapping[str, object],
    build: Callable[[str, tuple[str, ...]], Balancer | None],
) -> Balancer:
    """A weighted TCP or UDP service: its children built through ``build``, a cycle or a missing child refused."""
    weighted: list[tuple[object, float]] = []
    for child in children:
        child_name = qualify(child.name, info.provider)
        if child_name in chain:
            raise _ServiceError(f'weighted service "{info.name}" refers to itself through "{child_name}"')
        if child_name not in known:
            raise _ServiceError(f'the service "{child_name}" does not exist')
        built = build(child_name, chain)
        if built is None:
            raise _ServiceError(f'the service "{child_name}" could not be built')
        weighted.append((built, float(child.weight)))
    return Balancer(info.name, weighted)


def _proxy_version(proxy: TCPProxyProtocol | None) -> int:
    if proxy is None:
        return 0
    if proxy.version not in (1, 2):
        raise _ServiceError(f"unknown proxyProtocol version: {proxy.version}")
    return proxy.version


_DEFAULT_HEALTH_INTERVAL = 30.0
_DEFAULT_HEALTH_TIMEOUT = 5.0


def _tcp_check(service: str, model: TCPHealthCheck) -> TCPCheck:
    """Traefik's ``NewServiceTCPHealthChecker``: a duration that is not positive takes the default, with a log line
    (a zero interval must not probe in a loop, and a zero timeout must not let a silent server hang the checker)."""
    for option, value in (
        ("interval", model.interval),
        ("unhealthyInterval", model.unhealthy_interval),
        ("timeout", model.timeout),
    ):
        if value is not None and value <= 0:
            log.warning("TCP service %s: healthCheck %s is not positive, the default value is used", service, option)
    interval = float(model.interval) if model.interval > 0 else _DEFAULT_HEALTH_INTERVAL
    unhealthy = model.unhealthy_interval
    if unhealthy is not None and unhealthy <= 0:
        unhealthy = _DEFAULT_HEALTH_INTERVAL
    return TCPCheck(
        port=model.port,
        send=model.send.encode(),
        expect=model.expect.encode(),
        interval=interval,
        unhealthy_interval=float(unhealthy) if unhealthy is not None else None,
        timeout=float(model.timeout) if model.timeout > 0 else _DEFAULT_HEALTH_TIMEOUT,
    )
