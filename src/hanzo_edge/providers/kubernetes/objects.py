"""Typed views of the Kubernetes objects the providers read (only the fields they use), decoded with msgspec.

The API server sends JSON; :func:`decode` turns one object into its view or raises :class:`ObjectDecodeError` with
msgspec's path to the bad field (``Expected `array`, got `str` - at `$.spec.rules```). Unknown fields are ignored,
as a Go client ignores them. A :class:`DecodeCache` keeps the view of each object while its ``resourceVersion``
stays the same, so a snapshot with one changed EndpointSlice decodes one object, not 5,000.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import msgspec

__all__ = [
    "Backend",
    "BackendPort",
    "BackendService",
    "DecodeCache",
    "EndpointConditions",
    "EndpointSlice",
    "HTTPIngressPath",
    "Ingress",
    "IngressClass",
    "IngressRule",
    "IngressTLS",
    "LoadBalancerIngress",
    "Node",
    "ObjectDecodeError",
    "ObjectMeta",
    "Secret",
    "Service",
    "ServicePort",
    "SlicePort",
    "decode",
]


class _View(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Base of the views: frozen, camelCase wire names, unknown fields ignored."""


class ObjectMeta(_View, frozen=True, kw_only=True):
    name: str = ""
    namespace: str = ""
    resource_version: str = ""
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    annotations: dict[str, str] = msgspec.field(default_factory=dict)


class BackendPort(_View, frozen=True, kw_only=True):
    number: int = 0
    name: str = ""

    def __str__(self) -> str:
        return self.name or str(self.number)


class BackendService(_View, frozen=True, kw_only=True):
    name: str = ""
    port: BackendPort = msgspec.field(default_factory=BackendPort)


class Backend(_View, frozen=True, kw_only=True):
    service: BackendService | None = None
    resource: dict[str, Any] | None = None


class HTTPIngressPath(_View, frozen=True, kw_only=True):
    path: str = ""
    path_type: str | None = None
    backend: Backend = msgspec.field(default_factory=Backend)


class HTTPIngressRuleValue(_View, frozen=True, kw_only=True):
    paths: tuple[HTTPIngressPath, ...] = ()


class IngressRule(_View, frozen=True, kw_only=True):
    host: str = ""
    http: HTTPIngressRuleValue | None = None


class IngressTLS(_View, frozen=True, kw_only=True):
    hosts: tuple[str, ...] = ()
    secret_name: str = ""


class IngressSpec(_View, frozen=True, kw_only=True):
    ingress_class_name: str | None = None
    default_backend: Backend | None = None
    rules: tuple[IngressRule, ...] = ()
    tls: tuple[IngressTLS, ...] = ()


class PortStatus(_View, frozen=True, kw_only=True):
    port: int = 0
    protocol: str = ""
    error: str | None = None


class LoadBalancerIngress(_View, frozen=True, kw_only=True):
    ip: str = ""
    hostname: str = ""
    ports: tuple[PortStatus, ...] = ()


class LoadBalancerStatus(_View, frozen=True, kw_only=True):
    ingress: tuple[LoadBalancerIngress, ...] | None = None


class ObjectStatus(_View, frozen=True, kw_only=True):
    load_balancer: LoadBalancerStatus = msgspec.field(default_factory=LoadBalancerStatus)


class Ingress(_View, frozen=True, kw_only=True):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: IngressSpec = msgspec.field(default_factory=IngressSpec)
    status: ObjectStatus = msgspec.field(default_factory=ObjectStatus)


class IngressClassSpec(_View, frozen=True, kw_only=True):
    controller: str = ""


class IngressClass(_View, frozen=True, kw_only=True):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: IngressClassSpec = msgspec.field(default_factory=IngressClassSpec)


class ServicePort(_View, frozen=True, kw_only=True):
    name: str = ""
    port: int = 0
    protocol: str = "TCP"
    node_port: int = 0


class ServiceSpec(_View, frozen=True, kw_only=True):
    type: str = "ClusterIP"
    ports: tuple[ServicePort, ...] = ()
    cluster_ip: str = msgspec.field(default="", name="clusterIP")
    external_name: str = ""
    external_ips: tuple[str, ...] = msgspec.field(default=(), name="externalIPs")


class Service(_View, frozen=True, kw_only=True):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: ServiceSpec = msgspec.field(default_factory=ServiceSpec)
    status: ObjectStatus = msgspec.field(default_factory=ObjectStatus)


class EndpointConditions(_View, frozen=True, kw_only=True):
    ready: bool | None = None
    serving: bool | None = None
    terminating: bool | None = None


class Endpoint(_View, frozen=True, kw_only=True):
    addresses: tuple[str, ...] = ()
    conditions: EndpointConditions = msgspec.field(default_factory=EndpointConditions)


class SlicePort(_View, frozen=True, kw_only=True):
    name: str | None = None
    port: int | None = None
    protocol: str | None = None


class EndpointSlice(_View, frozen=True, kw_only=True):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    address_type: str = "IPv4"
    endpoints: tuple[Endpoint, ...] | None = None
    ports: tuple[SlicePort, ...] | None = None


class Secret(_View, frozen=True, kw_only=True):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    type: str = ""
    data: dict[str, str] | None = None


class NodeAddress(_View, frozen=True, kw_only=True):
    type: str = ""
    address: str = ""


class NodeStatus(_View, frozen=True, kw_only=True):
    addresses: tuple[NodeAddress, ...] = ()


class Node(_View, frozen=True, kw_only=True):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    status: NodeStatus = msgspec.field(default_factory=NodeStatus)


class ObjectDecodeError(ValueError):
    """An object that does not decode into its view; ``str()`` says where."""


V = TypeVar("V", bound=_View)


def decode(obj: Any, view: type[V]) -> V:
    """Return ``obj`` (a JSON object as the API server sent it) as ``view``.

    Raises:
        ObjectDecodeError: a field has the wrong type (the message names its path).
    """
    try:
        return msgspec.convert(obj, view)
    except msgspec.ValidationError as exc:
        raise ObjectDecodeError(str(exc)) from None


class DecodeCache(Generic[V]):
    """Views of one resource's objects by ``(namespace, name)``, decoded again only when ``resourceVersion``
    changes (an object without one is decoded every time)."""

    __slots__ = ("_entries", "_view")

    def __init__(self, view: type[V]) -> None:
        self._view = view
        self._entries: dict[tuple[str, str], tuple[str, V | ObjectDecodeError]] = {}

    def decode_all(self, objects: Mapping[tuple[str, str], Any]) -> dict[tuple[str, str], V | ObjectDecodeError]:
        """Return every object's view, or the error that kept it from decoding; forget objects that are gone."""
        result: dict[tuple[str, str], V | ObjectDecodeError] = {}
        entries = self._entries
        for key, obj in objects.items():
            version = _resource_version(obj)
            cached = entries.get(key)
            if cached is not None and version and cached[0] == version:
                result[key] = cached[1]
                continue
            try:
                value: V | ObjectDecodeError = decode(obj, self._view)
            except ObjectDecodeError as exc:
                value = exc
            entries[key] = (version, value)
            result[key] = value
        if len(entries) > len(result):
            for key in [k for k in entries if k not in result]:
                del entries[key]
        return result


def _resource_version(obj: Any) -> str:
    if isinstance(obj, Mapping):
        metadata = obj.get("metadata")
        if isinstance(metadata, Mapping):
            version = metadata.get("resourceVersion")
            if isinstance(version, str):
                return version
    return ""
