"""Traefik's CRDs to dynamic configuration: Traefik v3.6's KubernetesCRD provider as a pure function.

:class:`CRDTranslator` reads one cluster snapshot (resource plural -> ``{(namespace, name): object}``) and returns a
:class:`~hanzo_edge.providers.kubernetes.ingress_translate.Translation`. No I/O; ``crd_provider.py`` feeds it.

Names (``../shared/spec/kubernetes-interface.md``, Traefik's ``makeServiceKey``/``makeID``):

* IngressRoute route: router ``normalize(<ns>-<name>-<first 10 bytes of sha256(match), hex>)``; a route with one
  Kubernetes Service has a service of that same name, with several a ``weighted`` service of that name whose
  children are ``normalize(<ns>-<svc>-<port>)``; ``kind: TraefikService`` refers to ``normalize(<ns>-<name>)``.
* Middleware, TraefikService, ServersTransport(TCP), MiddlewareTCP: ``normalize(<ns>-<name>)``.
  TLSOption: ``<ns>-<name>`` (not normalised); one named ``default`` replaces the global ``default`` options
  (in several namespaces: all dropped, with an error). Same for a TLSStore named ``default``.
* IngressRouteTCP route: ``<ns>-<name>-<hash(match)>`` **not** normalised; several services: ``weighted``, children
  ``<router>-<svc>-<port>``. IngressRouteUDP route ``i``: ``<ns>-<name>-<i>``, children alike.
* References across namespaces need ``allowCrossNamespace``; ``name@provider`` refers to another provider.

Errors: an object that does not decode, or a Middleware/TLSOption/TraefikService whose Secret or reference is
missing, is left out with an error naming it; a route that needs something refused (a Middleware in a forbidden
namespace, a missing TLS Secret, a Service without servers) is kept but disabled by a
:mod:`~hanzo_edge.config.refusal` middleware, so ``/api`` shows why, and the rest serve.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec

from hanzo_edge.config.decode import DecodeContext, decode_into
from hanzo_edge.config.dynamic import (
    Configuration,
    HTTPConfiguration,
    Router,
    RouterObservability,
    RouterTLS,
    RouterTLSDomain,
    ServersTransport,
)
from hanzo_edge.config.middlewares import ExtensionMiddleware, Middleware
from hanzo_edge.config.refusal import KIND as REFUSAL_KIND
from hanzo_edge.config.refusal import ProviderRefusal
from hanzo_edge.config.services import (
    Failover,
    HighestRandomWeight,
    LoadBalancer,
    Mirroring,
    MirrorService,
    Service,
    Sticky,
    WeightedRoundRobin,
    WeightedService,
)
from hanzo_edge.config.tcp import (
    TCPConfiguration,
    TCPMiddleware,
    TCPRouter,
    TCPServersTransport,
    TCPService,
    UDPConfiguration,
    UDPRouter,
    UDPService,
)
from hanzo_edge.config.tls import CertAndStores, TLSConfiguration, TLSOptions, TLSStore
from hanzo_edge.config.types import FrozenDict
from hanzo_edge.providers.kubernetes.crd_cluster import OBJECT_ERRORS, CRDCluster, CRDOptions, RefError
from hanzo_edge.providers.kubernetes.crd_layer4 import translate_tcp_routes, translate_udp_routes
from hanzo_edge.providers.kubernetes.crd_middlewares import translate_middleware, translate_middleware_tcp
from hanzo_edge.providers.kubernetes.crd_objects import (
    IngressRoute,
    IngressRouteTCP,
    IngressRouteUDP,
    LoadBalancerSpec,
    RawCRD,
    Route,
    TLSRef,
    TraefikService,
)
from hanzo_edge.providers.kubernetes.crd_tls import (
    translate_servers_transport,
    translate_servers_transport_tcp,
    translate_tls_option,
    translate_tls_store,
)
from hanzo_edge.providers.kubernetes.endpoints import index_slices
from hanzo_edge.providers.kubernetes.ingress_translate import ObjectError, Snapshot, Translation
from hanzo_edge.providers.kubernetes.names import hash_suffix, make_id, normalize
from hanzo_edge.providers.kubernetes.objects import (
    DecodeCache,
    EndpointSlice,
    Node,
    ObjectDecodeError,
    Secret,
)
from hanzo_edge.providers.kubernetes.objects import Service as KubeService

__all__ = ["INGRESS_CLASS_ANNOTATION", "CRDOptions", "CRDTranslator", "translate_crds"]

INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
TRAEFIK_DEFAULT_CLASS = "traefik"
DEFAULT = "default"

V = TypeVar("V", bound=msgspec.Struct)


@dataclass(slots=True)
class _Build:
    routers: dict[str, Router] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    middlewares: dict[str, Middleware] = field(default_factory=dict)
    transports: dict[str, ServersTransport] = field(default_factory=dict)
    tcp_routers: dict[str, TCPRouter] = field(default_factory=dict)
    tcp_services: dict[str, TCPService] = field(default_factory=dict)
    tcp_middlewares: dict[str, TCPMiddleware] = field(default_factory=dict)
    tcp_transports: dict[str, TCPServersTransport] = field(default_factory=dict)
    udp_routers: dict[str, UDPRouter] = field(default_factory=dict)
    udp_services: dict[str, UDPService] = field(default_factory=dict)
    certificates: dict[str, CertAndStores] = field(default_factory=dict)
    tls_options: dict[str, TLSOptions] = field(default_factory=dict)
    tls_stores: dict[str, TLSStore] = field(default_factory=dict)
    errors: list[ObjectError] = field(default_factory=list)


class CRDTranslator:
    """Translates snapshots with one set of options, keeping decoded objects between snapshots."""

    def __init__(self, options: CRDOptions) -> None:
        self.options = options
        self.caches: dict[str, DecodeCache[Any]] = {
            "services": DecodeCache(KubeService),
            "endpointslices": DecodeCache(EndpointSlice),
            "secrets": DecodeCache(Secret),
            "nodes": DecodeCache(Node),
            "ingressroutes": DecodeCache(IngressRoute),
            "ingressroutetcps": DecodeCache(IngressRouteTCP),
            "ingressrouteudps": DecodeCache(IngressRouteUDP),
            "traefikservices": DecodeCache(TraefikService),
        }
        for plural in ("middlewares", "middlewaretcps", "tlsoptions", "tlsstores", "serverstransports"):
            self.caches[plural] = DecodeCache(RawCRD)
        self.caches["serverstransporttcps"] = DecodeCache(RawCRD)

    def translate(self, snapshot: Snapshot) -> Translation:
        """Return the translation of ``snapshot`` (see the module docstring)."""
        return CRDRun(self, snapshot).run()


def translate_crds(snapshot: Snapshot, options: CRDOptions | None = None) -> Translation:
    """Return the translation of ``snapshot`` with ``options`` (a one-off :class:`CRDTranslator`)."""
    return CRDTranslator(options or CRDOptions()).translate(snapshot)


_KINDS = {
    "ingressroutes": "IngressRoute",
    "ingressroutetcps": "IngressRouteTCP",
    "ingressrouteudps": "IngressRouteUDP",
    "middlewares": "Middleware",
    "middlewaretcps": "MiddlewareTCP",
    "tlsoptions": "TLSOption",
    "tlsstores": "TLSStore",
    "traefikservices": "TraefikService",
    "serverstransports": "ServersTransport",
    "serverstransporttcps": "ServersTransportTCP",
}


class CRDRun:
    """One translation: the snapshot's decoded objects and what has been built so far."""

    def __init__(self, translator: CRDTranslator, snapshot: Snapshot) -> None:
        self.options = options = translator.options
        self.build = _Build()
        empty: Mapping[tuple[str, str], Any] = {}
        self.decoded: dict[str, dict[tuple[str, str], Any]] = {
            plural: cache.decode_all(snapshot.get(plural, empty)) for plural, cache in translator.caches.items()
        }
        slices = self.decoded["endpointslices"]
        nodes = None
        if "nodes" in snapshot:
            nodes = {k: v for k, v in self.decoded["nodes"].items() if isinstance(v, Node)}
        self.cluster = CRDCluster(
            options,
            self.decoded["services"],
            index_slices(v for v in slices.values() if isinstance(v, EndpointSlice)),
            self.decoded["secrets"],
            nodes,
        )

    # -- bookkeeping -------------------------------------------------------------------------------------------
    def error(self, kind: str, namespace: str, name: str, message: str) -> None:
        self.build.errors.append(ObjectError(kind, namespace, name, message))

    def objects(self, plural: str, view: type[V]) -> list[tuple[str, str, V]]:
        """The decoded objects of ``plural`` in name order; undecodable ones reported and skipped."""
        out: list[tuple[str, str, V]] = []
        for (namespace, name), obj in sorted(self.decoded[plural].items()):
            if isinstance(obj, ObjectDecodeError):
                self.error(_KINDS[plural], namespace, name, f"skipped: cannot decode: {obj}")
            elif isinstance(obj, view):
                out.append((namespace, name, obj))
        return out

    def wanted(self, annotations: Mapping[str, str]) -> bool:
        """Traefik's ``shouldProcessIngress`` on the ``kubernetes.io/ingress.class`` annotation."""
        annotation = annotations.get(INGRESS_CLASS_ANNOTATION, "")
        wanted = self.options.ingress_class
        return annotation == wanted or (not wanted and annotation == TRAEFIK_DEFAULT_CLASS)

    # -- the run -----------------------------------------------------------------------------------------------
    def run(self) -> Translation:
        self._middlewares()
        self._middleware_tcps()
        self._servers_transports()
        self._tls_options()
        self._tls_stores()
        self._traefik_services()
        self._ingress_routes()
        translate_tcp_routes(self)
        translate_udp_routes(self)
        return Translation(self._configuration(), tuple(self.build.errors))

    def _configuration(self) -> Configuration:
        b = self.build
        http = HTTPConfiguration(
            routers=FrozenDict(b.routers),
            services=FrozenDict(b.services),
            middlewares=FrozenDict(b.middlewares),
            servers_transports=FrozenDict(b.transports),
        )
        tcp = None
        if b.tcp_routers or b.tcp_services or b.tcp_middlewares or b.tcp_transports:
            tcp = TCPConfiguration(
                routers=FrozenDict(b.tcp_routers),
                services=FrozenDict(b.tcp_services),
                middlewares=FrozenDict(b.tcp_middlewares),
                servers_transports=FrozenDict(b.tcp_transports),
            )
        udp = None
        if b.udp_routers or b.udp_services:
            udp = UDPConfiguration(routers=FrozenDict(b.udp_routers), services=FrozenDict(b.udp_services))
        tls = None
        if b.certificates or b.tls_options or b.tls_stores:
            tls = TLSConfiguration(
                certificates=tuple(b.certificates[key] for key in sorted(b.certificates)),
                options=FrozenDict(b.tls_options),
                stores=FrozenDict(b.tls_stores),
            )
        return Configuration(http=http, tcp=tcp, udp=udp, tls=tls)

    # -- generic kinds -----------------------------------------------------------------------------------------
    def _generic(self, plural: str, make: Callable[[str, str, RawCRD], None]) -> None:
        kind = _KINDS[plural]
        for namespace, name, obj in self.objects(plural, RawCRD):
            try:
                make(namespace, name, obj)
            except OBJECT_ERRORS as exc:
                self.error(kind, namespace, name, f"skipped: {exc}")

    def _warn(self, kind: str, namespace: str, name: str, warnings: list[str]) -> None:
        for warning in warnings:
            self.error(kind, namespace, name, f"warning: {warning}")

    def _middlewares(self) -> None:
        for namespace, name, obj in self.objects("middlewares", RawCRD):
            key = normalize(make_id(namespace, name))
            try:
                self._middleware(namespace, name, obj, key)
            except OBJECT_ERRORS as exc:
                # Kept under its name as a refusal, so each router using it is disabled with this reason.
                self.error("Middleware", namespace, name, f"skipped: {exc}")
                self.build.middlewares[key] = ExtensionMiddleware(
                    extension_kind=REFUSAL_KIND,
                    extension=ProviderRefusal(reason=f"Middleware {namespace}/{name}: {exc}"),
                )

    def _middleware(self, namespace: str, name: str, obj: RawCRD, key: str) -> None:
        def service_ref(spec: Mapping[str, Any]) -> str:
            lb = msgspec.convert(spec, LoadBalancerSpec)
            return self._child(namespace, lb)

        try:
            middleware, warnings = translate_middleware(self.cluster, namespace, obj.spec, service_ref)
        except msgspec.ValidationError as exc:
            raise RefError(f"errors.service: {exc}") from None
        self._warn("Middleware", namespace, name, warnings)
        self.build.middlewares[key] = middleware

    def _middleware_tcps(self) -> None:
        def make(namespace: str, name: str, obj: RawCRD) -> None:
            middleware, warnings = translate_middleware_tcp(obj.spec)
            self._warn("MiddlewareTCP", namespace, name, warnings)
            self.build.tcp_middlewares[normalize(make_id(namespace, name))] = middleware

        self._generic("middlewaretcps", make)

    def _servers_transports(self) -> None:
        def make(namespace: str, name: str, obj: RawCRD) -> None:
            transport, warnings = translate_servers_transport(self.cluster, namespace, obj.spec)
            self._warn("ServersTransport", namespace, name, warnings)
            self.build.transports[normalize(make_id(namespace, name))] = transport

        def make_tcp(namespace: str, name: str, obj: RawCRD) -> None:
            transport, warnings = translate_servers_transport_tcp(self.cluster, namespace, obj.spec)
            self._warn("ServersTransportTCP", namespace, name, warnings)
            self.build.tcp_transports[normalize(make_id(namespace, name))] = transport

        self._generic("serverstransports", make)
        self._generic("serverstransporttcps", make_tcp)

    def _tls_options(self) -> None:
        defaults: list[tuple[str, TLSOptions]] = []

        def make(namespace: str, name: str, obj: RawCRD) -> None:
            options, warnings = translate_tls_option(self.cluster, namespace, obj.spec)
            self._warn("TLSOption", namespace, name, warnings)
            if name == DEFAULT:
                defaults.append((namespace, options))
            else:
                self.build.tls_options[make_id(namespace, name)] = options

        self._generic("tlsoptions", make)
        if len(defaults) == 1:
            self.build.tls_options[DEFAULT] = defaults[0][1]
        elif defaults:
            for namespace, _options in defaults:
                self.error(
                    "TLSOption",
                    namespace,
                    DEFAULT,
                    "skipped: default TLS options defined in multiple namespaces: "
                    + ", ".join(ns for ns, _ in defaults),
                )

    def _tls_stores(self) -> None:
        defaults: list[tuple[str, TLSStore, list[CertAndStores]]] = []

        def make(namespace: str, name: str, obj: RawCRD) -> None:
            store, certificates, warnings = translate_tls_store(self.cluster, namespace, obj.spec)
            self._warn("TLSStore", namespace, name, warnings)
            if name != DEFAULT:
                self.error("TLSStore", namespace, name, "skipped: only the TLSStore named default is used")
                return
            defaults.append((namespace, store, certificates))

        self._generic("tlsstores", make)
        if len(defaults) == 1:
            namespace, store, certificates = defaults[0]
            self.build.tls_stores[DEFAULT] = store
            for index, certificate in enumerate(certificates):
                self.build.certificates[f"{namespace}-{DEFAULT}-store-{index}"] = certificate
        elif defaults:
            for namespace, _store, _certs in defaults:
                self.error(
                    "TLSStore",
                    namespace,
                    DEFAULT,
                    "skipped: default TLS store defined in multiple namespaces: " + ", ".join(d[0] for d in defaults),
                )

    # -- services ----------------------------------------------------------------------------------------------
    def _service_of(self, namespace: str, lb: LoadBalancerSpec, key: str) -> str:
        """Build the service a LoadBalancerSpec names, under ``key`` for a Kubernetes Service; return the name to
        refer to it by.

        Raises:
            RefError: a forbidden namespace, a missing Service or port, or no servers.
        """
        if lb.kind == "TraefikService" or "@" in lb.name:
            return self.cluster.object_key(namespace, lb.name, lb.namespace, "TraefikService")
        if lb.kind not in ("", "Service"):
            raise RefError(f"unsupported service kind {lb.kind!r} (Service or TraefikService)")
        target = lb.namespace or namespace
        self.cluster.check_namespace(namespace, target, f"service {target}/{lb.name}")
        if key not in self.build.services:
            self.build.services[key] = Service(load_balancer=self._load_balancer(namespace, target, lb))
        return key

    def _load_balancer(self, parent_namespace: str, namespace: str, lb: LoadBalancerSpec) -> LoadBalancer:
        servers = self.cluster.servers(namespace, lb.name, lb.port, lb.scheme, lb.native_lb, lb.node_port_lb)
        raw: dict[str, Any] = {
            "servers": [{"url": s.url, "fenced": s.fenced} for s in servers],
            "strategy": "wrr" if lb.strategy in ("", "RoundRobin") else lb.strategy,
            "passHostHeader": True if lb.pass_host_header is None else lb.pass_host_header,
        }
        if lb.servers_transport:
            raw["serversTransport"] = self.cluster.object_key(
                parent_namespace, lb.servers_transport, "", "serversTransport"
            )
        for wire, value in (
            ("sticky", lb.sticky),
            ("healthCheck", lb.health_check),
            ("passiveHealthCheck", lb.passive_health_check),
            ("responseForwarding", lb.response_forwarding),
        ):
            if value is not None:
                raw[wire] = msgspec.to_builtins(value)
        balancer: LoadBalancer = decode_into(LoadBalancer, raw, DecodeContext(unknown="warn"))
        return balancer

    def _traefik_services(self) -> None:
        for namespace, name, ts in self.objects("traefikservices", TraefikService):
            key = normalize(make_id(namespace, name))
            try:
                self.build.services[key] = self._traefik_service(namespace, ts)
            except OBJECT_ERRORS as exc:
                self.error("TraefikService", namespace, name, f"skipped: {exc}")

    def _child(self, namespace: str, lb: LoadBalancerSpec) -> str:
        key = normalize(make_id(lb.namespace or namespace, f"{lb.name}-{lb.port}"))
        return self._service_of(namespace, lb, key)

    def _traefik_service(self, namespace: str, ts: TraefikService) -> Service:
        spec = ts.spec
        kinds = [k for k in (spec.weighted, spec.mirroring, spec.failover, spec.highest_random_weight) if k is not None]
        if len(kinds) != 1:
            raise RefError("exactly one of weighted, mirroring, failover or highestRandomWeight must be set")
        if spec.weighted is not None:
            children = tuple(
                WeightedService(name=self._child(namespace, lb), weight=1 if lb.weight is None else lb.weight)
                for lb in spec.weighted.services
            )
            sticky = None
            if spec.weighted.sticky is not None:
                sticky = decode_into(Sticky, msgspec.to_builtins(spec.weighted.sticky), DecodeContext(unknown="warn"))
            return Service(weighted=WeightedRoundRobin(services=children, sticky=sticky))
        if spec.mirroring is not None:
            mirroring = spec.mirroring
            mirrors = tuple(
                MirrorService(name=self._child(namespace, mirror), percent=mirror.percent)
                for mirror in mirroring.mirrors
            )
            return Service(
                mirroring=Mirroring(
                    service=self._child(namespace, mirroring),
                    mirror_body=True if mirroring.mirror_body is None else mirroring.mirror_body,
                    max_body_size=-1 if mirroring.max_body_size is None else mirroring.max_body_size,
                    mirrors=mirrors,
                )
            )
        if spec.failover is not None:
            return Service(
                failover=Failover(
                    service=self._child(namespace, spec.failover.service),
                    fallback=self._child(namespace, spec.failover.fallback),
                )
            )
        hrw = spec.highest_random_weight
        children = tuple(
            WeightedService(name=self._child(namespace, lb), weight=1 if lb.weight is None else lb.weight)
            for lb in (hrw.services if hrw is not None else ())
        )
        return Service(highest_random_weight=HighestRandomWeight(services=children))

    # -- IngressRoute ------------------------------------------------------------------------------------------
    def _refuse(self, key: str, reasons: list[str]) -> str:
        """Add the refusal middleware of router ``key`` and return its name (see ``config/refusal.py``)."""
        name = f"{key}-refused"
        self.build.middlewares[name] = ExtensionMiddleware(
            extension_kind=REFUSAL_KIND, extension=ProviderRefusal(reason="; ".join(reasons))
        )
        return name

    def _ingress_routes(self) -> None:
        for namespace, name, route_obj in self.objects("ingressroutes", IngressRoute):
            if not self.wanted(route_obj.metadata.annotations):
                continue
            spec = route_obj.spec
            if spec.parent_refs:
                self.error(
                    "IngressRoute", namespace, name, "parentRefs (multi-layer routing) is not supported; skipped"
                )
                continue
            tls, tls_problems = self.route_tls(namespace, name, spec.tls)
            for route in spec.routes:
                self._http_route(namespace, name, spec.entry_points, route, tls, tls_problems)

    def route_tls(self, namespace: str, name: str, ref: TLSRef | None) -> tuple[RouterTLS | None, list[str]]:
        if ref is None:
            return None, []
        problems: list[str] = []
        options = ""
        if ref.options is not None and ref.options.name:
            options, problem = self._tls_option_ref(namespace, ref.options.name, ref.options.namespace)
            if problem:
                problems.append(problem)
        if ref.secret_name:
            key = f"{namespace}-{ref.secret_name}"
            if key not in self.build.certificates:
                try:
                    cert, private_key = self.cluster.cert_and_key(namespace, ref.secret_name)
                    self.build.certificates[key] = CertAndStores(cert_file=cert, key_file=private_key)
                except RefError as exc:
                    problems.append(f"error configuring TLS: {exc}")
                    self.error("IngressRoute", namespace, name, f"error configuring TLS: {exc}")
        domains = tuple(RouterTLSDomain(main=d.main, sans=d.sans) for d in ref.domains)
        return RouterTLS(options=options, cert_resolver=ref.cert_resolver, domains=domains), problems

    def _tls_option_ref(self, namespace: str, name: str, ref_namespace: str) -> tuple[str, str]:
        """Return the TLS options key a reference means (``<ns>-<name>``, ``default``, or ``name@provider``) and
        a problem, if any."""
        if "@" in name:
            return name, ""
        target = ref_namespace or namespace
        try:
            self.cluster.check_namespace(namespace, target, f"TLSOption {target}/{name}")
        except RefError as exc:
            return "", str(exc)
        if name == DEFAULT:
            return DEFAULT, ""
        return make_id(target, name), ""

    def _http_route(
        self,
        namespace: str,
        name: str,
        entry_points: tuple[str, ...],
        route: Route,
        tls: RouterTLS | None,
        tls_problems: list[str],
    ) -> None:
        key = normalize(make_id(namespace, hash_suffix(name, route.match)))
        problems = list(tls_problems)
        if route.kind not in ("", "Rule"):
            self.error(
                "IngressRoute", namespace, name, f'unsupported match kind: {route.kind}. Only "Rule" is supported'
            )
            return
        middlewares = list(self.cluster.middleware_keys(namespace, route.middlewares, problems))
        service = ""
        try:
            service = self._route_service(namespace, route.services, key)
        except OBJECT_ERRORS as exc:
            problems.append(str(exc))
            service = key
        if problems:
            for problem in problems:
                self.error("IngressRoute", namespace, name, f"route {route.match!r}: {problem}")
            middlewares.insert(0, self._refuse(key, problems))
        observability = None
        if route.observability is not None:
            observability = decode_into(
                RouterObservability, msgspec.to_builtins(route.observability), DecodeContext(unknown="warn")
            )
        self.build.routers[key] = Router(
            rule=route.match,
            service=service,
            rule_syntax=route.syntax,
            priority=route.priority,
            entry_points=entry_points,
            middlewares=tuple(middlewares),
            tls=tls,
            observability=observability,
        )

    def _route_service(self, namespace: str, services: tuple[LoadBalancerSpec, ...], key: str) -> str:
        if not services:
            return ""
        if len(services) == 1:
            return self._service_of(namespace, services[0], key)
        children = tuple(
            WeightedService(name=self._child(namespace, lb), weight=1 if lb.weight is None else lb.weight)
            for lb in services
        )
        self.build.services[key] = Service(weighted=WeightedRoundRobin(services=children))
        return key
