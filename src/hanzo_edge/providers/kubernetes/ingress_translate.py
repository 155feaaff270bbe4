"""Ingresses to dynamic configuration: Traefik v3.6's KubernetesIngress provider as a pure function.

:class:`IngressTranslator` reads one cluster snapshot (resource plural -> ``{(namespace, name): object}``, the JSON
objects as the API server sent them) and returns a :class:`Translation`: the `Configuration` the file provider
would produce for the same routes, the errors of the objects it could not use, and the Ingresses whose status
Traefik writes. No I/O; the provider (``ingress_provider.py``) feeds it and logs the errors.

Traefik's rules, kept here (``pkg/provider/kubernetes/ingress/kubernetes.go``):

* **Classes.** An Ingress with ``spec.ingressClassName`` is used when an IngressClass of that name has controller
  ``traefik.io/ingress-controller`` (and, when the ``ingressClass`` option is set, that name). Without it, the
  ``kubernetes.io/ingress.class`` annotation must equal the option; with the option unset, the annotation may be
  ``traefik`` or absent. IngressClasses are not read with ``disableIngressClassLookup`` or
  ``disableClusterScopeResources``. The API server's admission fills ``ingressClassName`` from the default class,
  so an Ingress created without one is judged with the default class's name.
* **Routers.** One per rule path: ``Host(`h`)`` (``*.x.y`` -> ``HostRegexp(`^[a-zA-Z0-9-]+\\.x\\.y$`)``) and the
  path matcher (``Exact`` -> ``Path``; ``Prefix`` and ``ImplementationSpecific`` -> ``PathPrefix``, or the
  ``router.pathmatcher`` annotation for ``ImplementationSpecific``; ``strictPrefixMatching`` makes a PathPrefix
  ``(Path("/p") || PathPrefix("/p/"))``), joined by `` && ``. Paths are Go-quoted (``"..."``), so a path holding a
  backtick stays one operand. Named ``normalize(<ns>-<ingress>-<host><path>)``; keys that collide inside one
  Ingress each get ``-<first 10 bytes of sha256(rule) in hex>``.
* **Default backend.** An Ingress with ``spec.defaultBackend`` and no rules: router ``default-router``
  (``PathPrefix("/")``, priority ``math.MinInt32``) on service ``default-backend``; a second one is refused.
* **Services.** ``normalize(<ns>-<service>-<port name or number>)``; servers from EndpointSlices
  (``endpoints.py``); ExternalName only with ``allowExternalNameServices``; no servers -> the path is skipped
  unless ``allowEmptyServices``.
* **TLS.** Each ``spec.tls[].secretName`` becomes a certificate (``tls.crt``/``tls.key``) once per
  ``<ns>-<secret>``; the routers of an Ingress with a ``tls`` section get ``tls: {}``.

One difference, on purpose: Traefik drops a path whose Service or port does not exist, leaving no trace but a log
line. We keep its router, naming the service it would have had, so the build disables it and ``/api`` shows
``the service "<name>@kubernetes" does not exist`` beside the log line (docs/compat.md).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hanzo_edge.config.dynamic import Configuration, HTTPConfiguration, Router, RouterTLS
from hanzo_edge.config.services import LoadBalancer, Server, Service
from hanzo_edge.config.tls import CertAndStores, TLSConfiguration
from hanzo_edge.config.types import FrozenDict
from hanzo_edge.goquote import go_quote
from hanzo_edge.providers.kubernetes.endpoints import (
    ServersError,
    index_slices,
    join_host_port,
    native_server,
    node_port_servers,
    scheme_of,
    slice_servers,
)
from hanzo_edge.providers.kubernetes.ingress_annotations import (
    PATH_MATCHERS,
    AnnotationError,
    RouterAnnotations,
    ServiceAnnotations,
    parse_router_annotations,
    parse_service_annotations,
)
from hanzo_edge.providers.kubernetes.names import hash_suffix, normalize
from hanzo_edge.providers.kubernetes.objects import (
    Backend,
    DecodeCache,
    EndpointSlice,
    HTTPIngressPath,
    Ingress,
    IngressClass,
    IngressRule,
    Node,
    ObjectDecodeError,
    Secret,
)
from hanzo_edge.providers.kubernetes.objects import Service as KubeService

__all__ = [
    "DEFAULT_BACKEND",
    "DEFAULT_ROUTER",
    "INGRESS_CLASS_ANNOTATION",
    "TRAEFIK_CONTROLLER",
    "IngressOptions",
    "IngressTranslator",
    "ObjectError",
    "Snapshot",
    "Translation",
    "go_quote",
    "host_rule",
    "translate_ingresses",
]

Snapshot = Mapping[str, Mapping[tuple[str, str], Any]]
"""A cluster snapshot: resource plural (``ingresses``, ``services``...) -> ``{(namespace, name): object}``."""

INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
TRAEFIK_CONTROLLER = "traefik.io/ingress-controller"
TRAEFIK_DEFAULT_CLASS = "traefik"
DEFAULT_ROUTER = "default-router"
DEFAULT_BACKEND = "default-backend"
MIN_INT32 = -(2**31)

_GO_META = frozenset("\\.+*?()|[]{}^$")
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.*_:[]")


@dataclass(frozen=True, slots=True)
class IngressOptions:
    """The provider options the translation depends on (``providers.kubernetesIngress``)."""

    ingress_class: str = ""
    allow_empty_services: bool = False
    allow_external_name_services: bool = False
    native_lb_by_default: bool = False
    disable_ingress_class_lookup: bool = False
    disable_cluster_scope_resources: bool = False
    strict_prefix_matching: bool = False


@dataclass(frozen=True, slots=True)
class ObjectError:
    """Why (part of) one object is not used: ``kind namespace/name: message``."""

    kind: str
    namespace: str
    name: str
    message: str

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Translation:
    """One snapshot translated: the configuration, the object errors, and the Ingresses whose status is written
    (``status_targets``: processed Ingresses with at least one rule, as Traefik updates them)."""

    config: Configuration
    errors: tuple[ObjectError, ...] = ()
    status_targets: tuple[tuple[str, str], ...] = ()


class _ServiceUnknown(ValueError):
    """The backend's Service or port does not exist: the router is kept and disabled."""


class _BackendSkipped(ValueError):
    """The backend cannot be used at all (resource backend, no service): the path is skipped, as in Traefik."""


@dataclass(slots=True)
class _Build:
    routers: dict[str, Router] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    certificates: dict[str, CertAndStores] = field(default_factory=dict)
    errors: list[ObjectError] = field(default_factory=list)
    status_targets: list[tuple[str, str]] = field(default_factory=list)


class IngressTranslator:
    """Translates snapshots with one set of options, keeping decoded objects between snapshots (see
    :class:`~hanzo_edge.providers.kubernetes.objects.DecodeCache`)."""

    def __init__(self, options: IngressOptions) -> None:
        self.options = options
        self._ingresses = DecodeCache(Ingress)
        self._classes = DecodeCache(IngressClass)
        self._services = DecodeCache(KubeService)
        self._slices = DecodeCache(EndpointSlice)
        self._secrets = DecodeCache(Secret)
        self._nodes = DecodeCache(Node)
        self._service_annotations: dict[tuple[str, str], tuple[str, ServiceAnnotations | AnnotationError]] = {}
        self._router_annotations: dict[tuple[str, str], tuple[str, RouterAnnotations | AnnotationError]] = {}

    def translate(self, snapshot: Snapshot) -> Translation:
        """Return the translation of ``snapshot`` (see the module docstring)."""
        return _Run(self, snapshot).run()

    def router_annotations(self, ingress: Ingress) -> RouterAnnotations:
        """Return the parsed ``router.*`` annotations of ``ingress`` (cached by resourceVersion).

        Raises:
            AnnotationError: an annotation does not decode.
        """
        meta = ingress.metadata
        key = (meta.namespace, meta.name)
        cached = self._router_annotations.get(key)
        if cached is None or not meta.resource_version or cached[0] != meta.resource_version:
            try:
                parsed: RouterAnnotations | AnnotationError = parse_router_annotations(meta.annotations)
            except AnnotationError as exc:
                parsed = exc
            cached = (meta.resource_version, parsed)
            self._router_annotations[key] = cached
        if isinstance(cached[1], AnnotationError):
            raise cached[1]
        return cached[1]

    def service_annotations(self, service: KubeService) -> ServiceAnnotations:
        """Return the parsed ``service.*`` annotations of ``service`` (cached by resourceVersion).

        Raises:
            AnnotationError: an annotation does not decode.
        """
        key = (service.metadata.namespace, service.metadata.name)
        version = service.metadata.resource_version
        cached = self._service_annotations.get(key)
        if cached is None or not version or cached[0] != version:
            try:
                parsed: ServiceAnnotations | AnnotationError = parse_service_annotations(service.metadata.annotations)
            except AnnotationError as exc:
                parsed = exc
            cached = (version, parsed)
            self._service_annotations[key] = cached
        if isinstance(cached[1], AnnotationError):
            raise cached[1]
        return cached[1]


def translate_ingresses(snapshot: Snapshot, options: IngressOptions | None = None) -> Translation:
    """Return the translation of ``snapshot`` with ``options`` (a one-off :class:`IngressTranslator`)."""
    return IngressTranslator(options or IngressOptions()).translate(snapshot)


class _Run:
    """One translation: the decoded objects of the snapshot and what has been built so far."""

    def __init__(self, translator: IngressTranslator, snapshot: Snapshot) -> None:
        self.translator = translator
        self.options = options = translator.options
        self.build = _Build()
        empty: Mapping[tuple[str, str], Any] = {}
        self.ingresses = translator._ingresses.decode_all(snapshot.get("ingresses", empty))
        self.services = translator._services.decode_all(snapshot.get("services", empty))
        self.secrets = translator._secrets.decode_all(snapshot.get("secrets", empty))
        slices = translator._slices.decode_all(snapshot.get("endpointslices", empty))
        self.slices = index_slices(v for v in slices.values() if isinstance(v, EndpointSlice))
        self._report_undecodable("EndpointSlice", slices)
        self.nodes: dict[tuple[str, str], Node] | None = None
        if not options.disable_cluster_scope_resources and "nodes" in snapshot:
            decoded_nodes = translator._nodes.decode_all(snapshot["nodes"])
            self.nodes = {k: v for k, v in decoded_nodes.items() if isinstance(v, Node)}
        self.classes = self._traefik_classes(snapshot.get("ingressclasses", empty))

    def _report_undecodable(self, kind: str, decoded: Mapping[tuple[str, str], object]) -> None:
        for (namespace, name), value in sorted(decoded.items()):
            if isinstance(value, ObjectDecodeError):
                self._error(kind, namespace, name, f"skipped: cannot decode: {value}")

    def _error(self, kind: str, namespace: str, name: str, message: str) -> None:
        self.build.errors.append(ObjectError(kind, namespace, name, message))

    def _traefik_classes(self, objects: Mapping[tuple[str, str], Any]) -> frozenset[str]:
        options = self.options
        if options.disable_ingress_class_lookup or options.disable_cluster_scope_resources:
            return frozenset()
        decoded = self.translator._classes.decode_all(objects)
        self._report_undecodable("IngressClass", decoded)
        names = {
            value.metadata.name
            for value in decoded.values()
            if isinstance(value, IngressClass) and value.spec.controller == TRAEFIK_CONTROLLER
        }
        if options.ingress_class:
            names &= {options.ingress_class}
        return frozenset(names)

    def run(self) -> Translation:
        for (namespace, name), ingress in sorted(self.ingresses.items()):
            if isinstance(ingress, ObjectDecodeError):
                self._error("Ingress", namespace, name, f"skipped: cannot decode: {ingress}")
                continue
            if self._should_process(ingress):
                self._ingress(ingress)
        self._forget_deleted()
        build = self.build
        http = HTTPConfiguration(routers=FrozenDict(build.routers), services=FrozenDict(build.services))
        tls = None
        if build.certificates:
            tls = TLSConfiguration(certificates=tuple(build.certificates[key] for key in sorted(build.certificates)))
        return Translation(Configuration(http=http, tls=tls), tuple(build.errors), tuple(build.status_targets))

    def _forget_deleted(self) -> None:
        """Drop the cached annotations of objects that are gone (the caches would otherwise only grow)."""
        for cache, live in (
            (self.translator._router_annotations, self.ingresses),
            (self.translator._service_annotations, self.services),
        ):
            if len(cache) > len(live):
                for key in [k for k in cache if k not in live]:
                    del cache[key]

    def _should_process(self, ingress: Ingress) -> bool:
        class_name = ingress.spec.ingress_class_name
        if class_name is not None:
            return class_name in self.classes
        annotation = ingress.metadata.annotations.get(INGRESS_CLASS_ANNOTATION, "")
        wanted = self.options.ingress_class
        return annotation == wanted or (not wanted and annotation == TRAEFIK_DEFAULT_CLASS)

    def _ingress(self, ingress: Ingress) -> None:
        meta = ingress.metadata
        try:
            annotations = self.translator.router_annotations(ingress)
        except AnnotationError as exc:
            self._error("Ingress", meta.namespace, meta.name, f"skipped: failed to parse annotations: {exc}")
            return
        self._certificates(ingress)
        spec = ingress.spec
        if not spec.rules and spec.default_backend is not None:
            self._default_backend(ingress, spec.default_backend, annotations)
        if spec.rules:
            self.build.status_targets.append((meta.namespace, meta.name))
        tls = RouterTLS() if spec.tls else None
        keyed: dict[str, list[Router]] = {}
        for rule in spec.rules:
            if rule.http is None:
                continue
            host = ""
            if rule.host:
                try:
                    host = host_rule(rule.host)
                except ValueError as exc:
                    self._error("Ingress", meta.namespace, meta.name, f"rule skipped: {exc}")
                    continue
            for path in rule.http.paths:
                router = self._path_router(ingress, rule, host, path, annotations, tls)
                if router is not None:
                    key = normalize(f"{meta.namespace}-{meta.name}-{rule.host}{path.path}")
                    keyed.setdefault(key, []).append(router)
        routers = self.build.routers
        for key, candidates in keyed.items():
            if len(candidates) == 1:
                routers[key] = candidates[0]
                continue
            for router in candidates:
                routers[hash_suffix(key, router.rule)] = router

    def _path_router(
        self,
        ingress: Ingress,
        rule: IngressRule,
        host: str,
        path: HTTPIngressPath,
        annotations: RouterAnnotations,
        tls: RouterTLS | None,
    ) -> Router | None:
        meta = ingress.metadata
        try:
            path_rule = self._path_rule(path, annotations)
        except ValueError as exc:
            self._error("Ingress", meta.namespace, meta.name, f"path {path.path!r} skipped: {exc}")
            return None
        service_name = self._backend(ingress, path.backend, f"path {rule.host}{path.path}")
        if service_name is None:
            return None
        return Router(
            rule=" && ".join(part for part in (host, path_rule) if part),
            service=service_name,
            rule_syntax=annotations.rule_syntax,
            priority=annotations.priority,
            entry_points=annotations.entry_points,
            middlewares=annotations.middlewares,
            tls=annotations.tls if annotations.tls is not None else tls,
            observability=annotations.observability,
        )

    def _path_rule(self, path: HTTPIngressPath, annotations: RouterAnnotations) -> str:
        if not path.path:
            return ""
        path_type = path.path_type or "ImplementationSpecific"
        matcher = "PathPrefix"
        if path_type == "Exact":
            matcher = "Path"
        elif path_type == "ImplementationSpecific" and annotations.path_matcher:
            matcher = annotations.path_matcher
            if matcher not in PATH_MATCHERS:
                raise ValueError(f"invalid router path matcher {matcher!r} (Path, PathPrefix or PathRegexp)")
        elif path_type not in ("Prefix", "ImplementationSpecific"):
            raise ValueError(f"unknown pathType {path_type!r}")
        if matcher == "PathPrefix" and self.options.strict_prefix_matching:
            return strict_prefix_rule(path.path)
        return f"{matcher}({go_quote(path.path)})"

    def _default_backend(self, ingress: Ingress, backend: Backend, annotations: RouterAnnotations) -> None:
        meta = ingress.metadata
        if DEFAULT_ROUTER in self.build.routers:
            self._error(
                "Ingress", meta.namespace, meta.name, "default backend skipped: the default backend already exists"
            )
            return
        if self._backend(ingress, backend, "default backend", service_name=DEFAULT_BACKEND) is None:
            return
        self.build.routers[DEFAULT_ROUTER] = Router(
            rule=f"PathPrefix({go_quote('/')})",
            service=DEFAULT_BACKEND,
            priority=MIN_INT32,
            entry_points=annotations.entry_points,
            middlewares=annotations.middlewares,
            tls=annotations.tls,
        )

    def _backend(self, ingress: Ingress, backend: Backend, what: str, service_name: str = "") -> str | None:
        """Build the backend's service (once per name); return the name routers use, or None to skip the path."""
        meta = ingress.metadata
        ref = backend.service
        if backend.resource is not None or ref is None:
            reason = (
                "resource backends are not supported" if backend.resource is not None else "missing service definition"
            )
            self._error("Ingress", meta.namespace, meta.name, f"{what} skipped: {reason}")
            return None
        name = service_name or normalize(f"{meta.namespace}-{ref.name}-{ref.port}")
        if name in self.build.services:
            return name
        try:
            service = self._load_service(meta.namespace, backend)
            if not (service.load_balancer and service.load_balancer.servers) and not self.options.allow_empty_services:
                raise _BackendSkipped("skipping service: no endpoints found")
        except _ServiceUnknown as exc:
            self._error("Ingress", meta.namespace, meta.name, f"{what}: cannot create service {name}: {exc}")
            return name
        except (_BackendSkipped, ServersError, AnnotationError) as exc:
            where = f"service {meta.namespace}/{ref.name} port {ref.port}"
            self._error("Ingress", meta.namespace, meta.name, f"{what} skipped: {where}: {exc}")
            return None
        self.build.services[name] = service
        return name

    def _load_service(self, namespace: str, backend: Backend) -> Service:
        ref = backend.service
        if ref is None:
            raise _BackendSkipped("missing service definition")
        decoded = self.services.get((namespace, ref.name))
        if decoded is None:
            raise _ServiceUnknown("service not found")
        if isinstance(decoded, ObjectDecodeError):
            raise _ServiceUnknown(f"service does not decode: {decoded}")
        service = decoded
        spec = service.spec
        if spec.type == "ExternalName" and not self.options.allow_external_name_services:
            raise _BackendSkipped(f"externalName services not allowed: {namespace}/{ref.name}")
        port = next(
            (
                p
                for p in spec.ports
                if (ref.port.number and p.port == ref.port.number) or (ref.port.name and p.name == ref.port.name)
            ),
            None,
        )
        if port is None:
            raise _ServiceUnknown("service port not found")
        annotations = self.translator.service_annotations(service)
        scheme = scheme_of(port, annotations.servers_scheme)
        fenced: set[str] = set()
        if spec.type == "ExternalName":
            urls = [f"{scheme}://{join_host_port(spec.external_name, port.port)}"]
        elif annotations.node_port_lb and spec.type == "NodePort":
            urls = [s.url for s in node_port_servers(service, port, scheme, self.nodes)]
        elif annotations.native_lb if annotations.native_lb is not None else self.options.native_lb_by_default:
            urls = [native_server(service, port, scheme).url]
        else:
            found = slice_servers(self.slices.get((namespace, ref.name), ()), port, scheme)
            fenced = {s.url for s in found if s.fenced}
            urls = [s.url for s in found]
        return Service(
            load_balancer=LoadBalancer(
                servers=tuple(Server(url=url, fenced=url in fenced) for url in urls),
                pass_host_header=annotations.pass_host_header,
                servers_transport=annotations.servers_transport,
                sticky=annotations.sticky,
            )
        )

    def _certificates(self, ingress: Ingress) -> None:
        meta = ingress.metadata
        for entry in ingress.spec.tls:
            if not entry.secret_name:
                continue
            key = f"{meta.namespace}-{entry.secret_name}"
            if key in self.build.certificates:
                continue
            try:
                self.build.certificates[key] = self._certificate(meta.namespace, entry.secret_name)
            except ValueError as exc:
                self._error("Ingress", meta.namespace, meta.name, f"error configuring TLS: {exc}")

    def _certificate(self, namespace: str, name: str) -> CertAndStores:
        secret = self.secrets.get((namespace, name))
        if secret is None:
            raise ValueError(f"secret {namespace}/{name} does not exist")
        if isinstance(secret, ObjectDecodeError):
            raise ValueError(f"secret {namespace}/{name} does not decode: {secret}")
        data = secret.data or {}
        missing = [entry for entry in ("tls.crt", "tls.key") if entry not in data]
        if missing:
            raise ValueError(
                f"secret {namespace}/{name} is missing the following TLS data entries: {', '.join(missing)}"
            )
        decoded: dict[str, str] = {}
        for entry in ("tls.crt", "tls.key"):
            try:
                decoded[entry] = base64.b64decode(data[entry], validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise ValueError(f"secret {namespace}/{name}: {entry} is not base64 of PEM text") from None
        empty = [entry for entry, value in decoded.items() if not value]
        if empty:
            raise ValueError(
                f"secret {namespace}/{name} contains the following empty TLS data entries: {', '.join(empty)}"
            )
        return CertAndStores(cert_file=decoded["tls.crt"], key_file=decoded["tls.key"])


def _quote_meta(text: str) -> str:
    """Go's ``regexp.QuoteMeta``."""
    return "".join("\\" + char if char in _GO_META else char for char in text)


def host_rule(host: str) -> str:
    """Return the host matcher of an Ingress rule host (wildcards become a HostRegexp).

    Raises:
        ValueError: the host holds characters no host name has (a backtick would break out of the operand).
    """
    if not set(host) <= _HOST_CHARS:
        raise ValueError(f"invalid host {host!r}")
    if host.startswith("*."):
        pattern = _quote_meta(host).replace("\\*\\.", "[a-zA-Z0-9-]+\\.", 1)
        return f"HostRegexp(`^{pattern}$`)"
    return f"Host(`{host}`)"


def strict_prefix_rule(path: str) -> str:
    """Return the path-element-wise prefix rule of ``path`` (Kubernetes' ``Prefix`` semantics)."""
    if path == "/":
        return f"PathPrefix({go_quote('/')})"
    trimmed = path.removesuffix("/")
    return f"(Path({go_quote(trimmed)}) || PathPrefix({go_quote(trimmed + '/')}))"
