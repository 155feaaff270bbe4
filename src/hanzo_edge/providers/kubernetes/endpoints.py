"""The servers of a Kubernetes Service port, as Traefik v3.6 finds them.

* EndpointSlices belong to a Service by the label ``kubernetes.io/service-name`` (:func:`index_slices`).
* In each slice, the port whose ``name`` equals the Service port's name gives the port (a slice without it is
  skipped); an endpoint is used while it is *serving* (``conditions.serving``; unset means ``conditions.ready``,
  and both unset mean serving, as the API documents); an address is used once across the slices.
* A serving endpoint that is also *terminating* is Traefik's *fenced* server: it keeps only the sticky sessions it
  already has, and takes no new traffic.
* The scheme is ``https`` when the Service port is 443 or its name starts with ``https``, unless the
  ``service.serversscheme`` annotation says otherwise (:func:`scheme_of`).
* Native load balancing (``nativeLBByDefault`` or ``service.nativelb``) uses the ClusterIP as the only server;
  NodePort load balancing (``service.nodeportlb``) the nodes' internal IPs with the node port.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hanzo_edge.providers.kubernetes.objects import EndpointSlice, Node, Service, ServicePort

__all__ = [
    "SERVICE_NAME_LABEL",
    "EndpointServer",
    "ServersError",
    "index_slices",
    "join_host_port",
    "native_server",
    "node_port_servers",
    "scheme_of",
    "slice_servers",
]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


class ServersError(ValueError):
    """A Service whose servers cannot be found (the message says why, in Traefik's words where it has them)."""


@dataclass(frozen=True, slots=True)
class EndpointServer:
    """One server URL, and whether it is terminating (Traefik's fenced server)."""

    url: str
    fenced: bool = False


def index_slices(slices: Iterable[EndpointSlice]) -> dict[tuple[str, str], list[EndpointSlice]]:
    """Return the slices by ``(namespace, service name)``, in name order (a stable server order)."""
    index: dict[tuple[str, str], list[EndpointSlice]] = {}
    for endpoint_slice in sorted(slices, key=lambda s: (s.metadata.namespace, s.metadata.name)):
        service = endpoint_slice.metadata.labels.get(SERVICE_NAME_LABEL)
        if service:
            index.setdefault((endpoint_slice.metadata.namespace, service), []).append(endpoint_slice)
    return index


def join_host_port(host: str, port: int) -> str:
    """Go's ``net.JoinHostPort``: brackets around an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def scheme_of(port: ServicePort, servers_scheme: str = "") -> str:
    """Return the servers' scheme: the annotation's, else https for port 443 or a port named ``https*``."""
    if servers_scheme:
        return servers_scheme
    return "https" if port.port == 443 or port.name.startswith("https") else "http"


def _serving(ready: bool | None, serving: bool | None) -> bool:
    if serving is not None:
        return serving
    return ready is None or ready


def slice_servers(slices: Iterable[EndpointSlice], port: ServicePort, scheme: str) -> list[EndpointServer]:
    """Return the servers of ``port`` in ``slices`` (see the module docstring)."""
    servers: list[EndpointServer] = []
    seen: set[str] = set()
    for endpoint_slice in slices:
        number = 0
        for slice_port in endpoint_slice.ports or ():
            if (slice_port.name or "") == port.name:
                number = slice_port.port or 0
                break
        if number == 0:
            continue
        for endpoint in endpoint_slice.endpoints or ():
            conditions = endpoint.conditions
            if not _serving(conditions.ready, conditions.serving):
                continue
            fenced = bool(conditions.terminating)
            for address in endpoint.addresses:
                if address in seen:
                    continue
                seen.add(address)
                servers.append(EndpointServer(f"{scheme}://{join_host_port(address, number)}", fenced))
    return servers


def native_server(service: Service, port: ServicePort, scheme: str) -> EndpointServer:
    """Return the ClusterIP server of ``port``.

    Raises:
        ServersError: the Service is headless or has no ClusterIP.
    """
    meta = service.metadata
    cluster_ip = service.spec.cluster_ip
    if cluster_ip == "None":
        raise ServersError(f"no clusterIP on headless service: {meta.namespace}/{meta.name}")
    if not cluster_ip:
        raise ServersError(f"no clusterIP found for service: {meta.namespace}/{meta.name}")
    return EndpointServer(f"{scheme}://{join_host_port(cluster_ip, port.port)}")


def node_port_servers(
    service: Service, port: ServicePort, scheme: str, nodes: Mapping[tuple[str, str], Node] | None
) -> list[EndpointServer]:
    """Return one server per node internal IP with the node port.

    Raises:
        ServersError: nodes are not read (``disableClusterScopeResources``), none exists, or none has an internal
            IP.
    """
    meta = service.metadata
    if nodes is None:
        raise ServersError("nodes lookup is disabled")
    if not nodes:
        raise ServersError(f"nodes not found in namespace {meta.namespace}")
    servers = [
        EndpointServer(f"{scheme}://{join_host_port(address.address, port.node_port)}")
        for _key, node in sorted(nodes.items())
        for address in node.status.addresses
        if address.type == "InternalIP"
    ]
    if not servers:
        raise ServersError(f"no servers were generated for service {meta.name} in namespace {meta.namespace}")
    return servers
