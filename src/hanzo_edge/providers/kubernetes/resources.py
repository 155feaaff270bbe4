"""The Kubernetes resources the providers read, named as the API server's REST paths name them.

A `Resource` is a descriptor, not an object: it knows its group/version/plural and whether it lives in a namespace,
and builds the request paths (``/apis/networking.k8s.io/v1/namespaces/ns/ingresses/name/status``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

__all__ = [
    "CONFIG_MAPS",
    "CORE_RESOURCES",
    "CRD_RESOURCES",
    "ENDPOINTS",
    "ENDPOINT_SLICES",
    "INGRESSES",
    "INGRESS_CLASSES",
    "INGRESS_ROUTES",
    "INGRESS_ROUTE_TCPS",
    "INGRESS_ROUTE_UDPS",
    "MIDDLEWARES",
    "MIDDLEWARE_TCPS",
    "NODES",
    "SECRETS",
    "SERVERS_TRANSPORTS",
    "SERVERS_TRANSPORT_TCPS",
    "SERVICES",
    "TLS_OPTIONS",
    "TLS_STORES",
    "TRAEFIK_SERVICES",
    "Resource",
]


@dataclass(frozen=True, slots=True)
class Resource:
    """One REST resource: ``group`` is "" for the core API (``/api/v1``), else ``/apis/<group>/<version>``."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        """The ``apiVersion`` its objects carry (``v1``, ``networking.k8s.io/v1``)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_path(self) -> str:
        """The discovery path of its group version (``/api/v1``, ``/apis/traefik.io/v1alpha1``)."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """The REST path of the collection (all namespaces when `namespace` is None) or of one object."""
        parts = [self.group_path]
        if self.namespaced and namespace:
            parts.append(f"/namespaces/{quote(namespace, safe='')}")
        parts.append(f"/{self.plural}")
        if name is not None:
            parts.append(f"/{quote(name, safe='')}")
            if subresource:
                parts.append(f"/{subresource}")
        return "".join(parts)

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


INGRESSES = Resource("networking.k8s.io", "v1", "ingresses", "Ingress")
INGRESS_CLASSES = Resource("networking.k8s.io", "v1", "ingressclasses", "IngressClass", namespaced=False)
SERVICES = Resource("", "v1", "services", "Service")
SECRETS = Resource("", "v1", "secrets", "Secret")
CONFIG_MAPS = Resource("", "v1", "configmaps", "ConfigMap")
ENDPOINTS = Resource("", "v1", "endpoints", "Endpoints")
NODES = Resource("", "v1", "nodes", "Node", namespaced=False)
ENDPOINT_SLICES = Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice")

INGRESS_ROUTES = Resource("traefik.io", "v1alpha1", "ingressroutes", "IngressRoute")
INGRESS_ROUTE_TCPS = Resource("traefik.io", "v1alpha1", "ingressroutetcps", "IngressRouteTCP")
INGRESS_ROUTE_UDPS = Resource("traefik.io", "v1alpha1", "ingressrouteudps", "IngressRouteUDP")
MIDDLEWARES = Resource("traefik.io", "v1alpha1", "middlewares", "Middleware")
MIDDLEWARE_TCPS = Resource("traefik.io", "v1alpha1", "middlewaretcps", "MiddlewareTCP")
TLS_OPTIONS = Resource("traefik.io", "v1alpha1", "tlsoptions", "TLSOption")
TLS_STORES = Resource("traefik.io", "v1alpha1", "tlsstores", "TLSStore")
TRAEFIK_SERVICES = Resource("traefik.io", "v1alpha1", "traefikservices", "TraefikService")
SERVERS_TRANSPORTS = Resource("traefik.io", "v1alpha1", "serverstransports", "ServersTransport")
SERVERS_TRANSPORT_TCPS = Resource("traefik.io", "v1alpha1", "serverstransporttcps", "ServersTransportTCP")

CORE_RESOURCES: tuple[Resource, ...] = (
    INGRESSES,
    INGRESS_CLASSES,
    SERVICES,
    SECRETS,
    CONFIG_MAPS,
    ENDPOINTS,
    NODES,
    ENDPOINT_SLICES,
)
"""The built-in resources (the fake API server serves all of them)."""

CRD_RESOURCES: tuple[Resource, ...] = (
    INGRESS_ROUTES,
    INGRESS_ROUTE_TCPS,
    INGRESS_ROUTE_UDPS,
    MIDDLEWARES,
    MIDDLEWARE_TCPS,
    TLS_OPTIONS,
    TLS_STORES,
    TRAEFIK_SERVICES,
    SERVERS_TRANSPORTS,
    SERVERS_TRANSPORT_TCPS,
)
"""Traefik's ``traefik.io/v1alpha1`` custom resources (absent from a cluster until the CRDs are installed)."""
