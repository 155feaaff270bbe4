"""Typed views of Traefik's ``traefik.io/v1alpha1`` custom resources (Traefik v3.6's CRD schemas).

Two uses, one model, so they never drift:

* the CRD provider decodes each object's routing part with msgspec (``objects.DecodeCache``), so a
  wrong type is an error naming its path (``Expected `array`, got `str` - at `$.spec.routes```);
* ``ingress crds`` (``crd_schema.py``) writes the CustomResourceDefinitions from these models, with the dynamic
  configuration's own models (``config/middlewares.py``, ``config/tls.py``...) for the kinds whose spec is the
  file provider's, adjusted where Kubernetes differs (Secrets instead of files, ``{name, namespace}`` references).

Options whose spec is the file provider's (a Middleware's ``rateLimit``, a TLSOption) stay raw mappings here: the
translation maps them onto the dynamic models generically (``crd_middlewares.py``), as Traefik does.
"""

from __future__ import annotations

from typing import Any

import msgspec

from hanzo_edge.providers.kubernetes.objects import ObjectMeta

__all__ = [
    "CRDObject",
    "IngressRoute",
    "IngressRouteTCP",
    "IngressRouteUDP",
    "LoadBalancerSpec",
    "MirrorSpec",
    "ObjectReference",
    "RawCRD",
    "RouteTCP",
    "RouteUDP",
    "ServiceTCP",
    "ServiceUDP",
    "TLSRef",
    "TraefikService",
]

IntOrString = int | str


class _View(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Base of the views: frozen, camelCase wire names, unknown fields ignored (the CRD schema prunes them)."""


class ObjectReference(_View, frozen=True, kw_only=True):
    """``{name, namespace}``: a Middleware, TLSOption, TLSStore or parent IngressRoute."""

    name: str
    namespace: str = ""


class CookieSpec(_View, frozen=True, kw_only=True):
    name: str = ""
    secure: bool = False
    http_only: bool = False
    same_site: str = ""
    max_age: int = 0
    path: str = "/"
    domain: str = ""


class StickySpec(_View, frozen=True, kw_only=True):
    cookie: CookieSpec | None = None


class ResponseForwardingSpec(_View, frozen=True, kw_only=True):
    flush_interval: IntOrString | None = None


class ServerHealthCheckSpec(_View, frozen=True, kw_only=True):
    scheme: str = ""
    mode: str = ""
    path: str = ""
    method: str = ""
    status: int = 0
    port: int = 0
    interval: IntOrString | None = None
    unhealthy_interval: IntOrString | None = None
    timeout: IntOrString | None = None
    hostname: str = ""
    follow_redirects: bool | None = None
    headers: dict[str, str] | None = None


class PassiveHealthCheckSpec(_View, frozen=True, kw_only=True):
    failure_window: IntOrString | None = None
    max_failed_attempts: int | None = None


class LoadBalancerSpec(_View, frozen=True, kw_only=True):
    """A route's service, a TraefikService's child or an ``errors`` service: a Kubernetes Service (by port) or a
    TraefikService (``kind: TraefikService``, or a ``name@provider`` reference)."""

    name: str
    kind: str = "Service"
    namespace: str = ""
    port: IntOrString | None = None
    scheme: str = ""
    strategy: str = ""
    weight: int | None = None
    sticky: StickySpec | None = None
    pass_host_header: bool | None = None
    response_forwarding: ResponseForwardingSpec | None = None
    servers_transport: str = ""
    native_lb: bool | None = msgspec.field(default=None, name="nativeLB")
    node_port_lb: bool = msgspec.field(default=False, name="nodePortLB")
    health_check: ServerHealthCheckSpec | None = None
    passive_health_check: PassiveHealthCheckSpec | None = None


class TLSDomainSpec(_View, frozen=True, kw_only=True):
    main: str = ""
    sans: tuple[str, ...] = ()


class TLSRef(_View, frozen=True, kw_only=True):
    """An IngressRoute's (or IngressRouteTCP's) ``tls``."""

    secret_name: str = ""
    options: ObjectReference | None = None
    store: ObjectReference | None = None
    cert_resolver: str = ""
    domains: tuple[TLSDomainSpec, ...] = ()
    passthrough: bool = False


class RouteObservability(_View, frozen=True, kw_only=True):
    access_logs: bool | None = None
    metrics: bool | None = None
    tracing: bool | None = None
    trace_verbosity: str = ""


class Route(_View, frozen=True, kw_only=True):
    match: str
    kind: str = "Rule"
    priority: int = 0
    syntax: str = ""
    services: tuple[LoadBalancerSpec, ...] = ()
    middlewares: tuple[ObjectReference, ...] = ()
    observability: RouteObservability | None = None


class IngressRouteSpec(_View, frozen=True, kw_only=True):
    entry_points: tuple[str, ...] = ()
    routes: tuple[Route, ...]
    tls: TLSRef | None = None
    parent_refs: tuple[ObjectReference, ...] = ()


class IngressRoute(_View, frozen=True, kw_only=True):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: IngressRouteSpec


class ProxyProtocolSpec(_View, frozen=True, kw_only=True):
    version: int = 2


class ServiceTCP(_View, frozen=True, kw_only=True):
    name: str
    namespace: str = ""
    port: IntOrString
    weight: int | None = None
    tls: bool = False
    servers_transport: str = ""
    native_lb: bool | None = msgspec.field(default=None, name="nativeLB")
    node_port_lb: bool = msgspec.field(default=False, name="nodePortLB")
    proxy_protocol: ProxyProtocolSpec | None = None
    termination_delay: int | None = None


class RouteTCP(_View, frozen=True, kw_only=True):
    match: str
    priority: int = 0
    syntax: str = ""
    services: tuple[ServiceTCP, ...] = ()
    middlewares: tuple[ObjectReference, ...] = ()


class IngressRouteTCPSpec(_View, frozen=True, kw_only=True):
    entry_points: tuple[str, ...] = ()
    routes: tuple[RouteTCP, ...]
    tls: TLSRef | None = None


class IngressRouteTCP(_View, frozen=True, kw_only=True):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: IngressRouteTCPSpec


class ServiceUDP(_View, frozen=True, kw_only=True):
    name: str
    namespace: str = ""
    port: IntOrString
    weight: int | None = None
    native_lb: bool | None = msgspec.field(default=None, name="nativeLB")
    node_port_lb: bool = msgspec.field(default=False, name="nodePortLB")


class RouteUDP(_View, frozen=True, kw_only=True):
    services: tuple[ServiceUDP, ...] = ()


class IngressRouteUDPSpec(_View, frozen=True, kw_only=True):
    entry_points: tuple[str, ...] = ()
    routes: tuple[RouteUDP, ...]


class IngressRouteUDP(_View, frozen=True, kw_only=True):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: IngressRouteUDPSpec


class WeightedSpec(_View, frozen=True, kw_only=True):
    services: tuple[LoadBalancerSpec, ...] = ()
    sticky: StickySpec | None = None


class MirrorSpec(LoadBalancerSpec, frozen=True, kw_only=True):
    percent: int = 0


class MirroringSpec(LoadBalancerSpec, frozen=True, kw_only=True):
    mirror_body: bool | None = None
    max_body_size: int | None = None
    mirrors: tuple[MirrorSpec, ...] = ()


class FailoverSpec(_View, frozen=True, kw_only=True):
    """Hanzo addition (Traefik's CRD has no failover; the file provider has): both sides are LoadBalancerSpecs."""

    service: LoadBalancerSpec
    fallback: LoadBalancerSpec


class HighestRandomWeightSpec(_View, frozen=True, kw_only=True):
    services: tuple[LoadBalancerSpec, ...] = ()


class TraefikServiceSpec(_View, frozen=True, kw_only=True):
    weighted: WeightedSpec | None = None
    mirroring: MirroringSpec | None = None
    failover: FailoverSpec | None = None
    highest_random_weight: HighestRandomWeightSpec | None = None


class TraefikService(_View, frozen=True, kw_only=True):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: TraefikServiceSpec


class RawCRD(_View, frozen=True, kw_only=True):
    """A kind whose spec is mapped generically (Middleware, MiddlewareTCP, TLSOption, TLSStore, ServersTransport,
    ServersTransportTCP): the metadata typed, the spec a mapping."""

    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: dict[str, Any] = msgspec.field(default_factory=dict)


CRDObject = IngressRoute | IngressRouteTCP | IngressRouteUDP | TraefikService | RawCRD
