"""``status.loadBalancer.ingress`` of the Ingresses we serve, as Traefik's ``updateIngressStatus`` writes it.

Only with ``ingressEndpoint`` set. :func:`desired_status` computes the list: ``ip``/``hostname`` verbatim, or
copied from ``publishedService`` (``namespace/name``) by the Service's type: LoadBalancer -> its own
``status.loadBalancer.ingress`` (nothing is written while it has none); ClusterIP -> one entry per
``spec.externalIPs`` with the Service's ports; NodePort -> one entry per node ``ExternalIP`` with the node ports
(needs the cluster-scoped nodes); ExternalName -> its host name.

:class:`StatusWriter` writes it through the ``status`` subresource (a PUT of the object read, status replaced;
never a write to the Ingress itself), and only when the stored status differs (compared as Traefik does: same
entries, order ignored). A write that fails is logged and retried with the next snapshot.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hanzo_edge.providers.kubernetes.objects import Node, ObjectDecodeError, decode
from hanzo_edge.providers.kubernetes.objects import Service as KubeService

__all__ = ["EndpointOptions", "StatusError", "StatusWriter", "desired_status", "same_status"]

logger = logging.getLogger("hanzo_edge.providers.kubernetes")

JSON = dict[str, Any]
ReplaceStatus = Callable[[str, str, JSON], Awaitable[object]]
"""``replace_status(namespace, name, ingress)``: PUT the Ingress's status subresource."""


class StatusError(ValueError):
    """The status cannot be computed (bad ``publishedService``, missing Service, unsupported type)."""


@dataclass(frozen=True, slots=True)
class EndpointOptions:
    """``ingressEndpoint`` as the provider reads it."""

    ip: str = ""
    hostname: str = ""
    published_service: str = ""


def _entry(ip: str = "", hostname: str = "", ports: Sequence[JSON] = ()) -> JSON:
    entry: JSON = {}
    if ip:
        entry["ip"] = ip
    if hostname:
        entry["hostname"] = hostname
    if ports:
        entry["ports"] = list(ports)
    return entry


def desired_status(
    endpoint: EndpointOptions,
    services: Mapping[tuple[str, str], Any],
    nodes: Mapping[tuple[str, str], Any] | None,
) -> list[JSON] | None:
    """Return the ``status.loadBalancer.ingress`` to write, or None when nothing is to be written yet.

    ``services`` and ``nodes`` are raw objects by ``(namespace, name)``; ``nodes`` is None when nodes are not read.

    Raises:
        StatusError: see the class.
    """
    if not endpoint.published_service:
        if not endpoint.ip and not endpoint.hostname:
            raise StatusError("publishedService or ip or hostname must be defined")
        return [_entry(endpoint.ip, endpoint.hostname)]
    parts = endpoint.published_service.split("/")
    if len(parts) != 2:
        raise StatusError(
            "invalid publishedService format (expected 'namespace/service' format): " + endpoint.published_service
        )
    raw = services.get((parts[0], parts[1]))
    if raw is None:
        raise StatusError(f"missing service: {endpoint.published_service}")
    try:
        service = decode(raw, KubeService)
    except ObjectDecodeError as exc:
        raise StatusError(f"service {endpoint.published_service} does not decode: {exc}") from None
    spec = service.spec
    if spec.type == "LoadBalancer":
        found = service.status.load_balancer.ingress
        if found is None:
            return None
        return [_entry(i.ip, i.hostname, [_port(p.port, p.protocol, p.error) for p in i.ports]) for i in found]
    if spec.type == "ClusterIP":
        ports = [_port(p.port, p.protocol) for p in spec.ports]
        return [_entry(ip, "", ports) for ip in spec.external_ips]
    if spec.type == "NodePort":
        if nodes is None:
            raise StatusError("node port service type is not supported when cluster scope resources lookup is disabled")
        ports = [_port(p.node_port, p.protocol) for p in spec.ports]
        out: list[JSON] = []
        for _key, raw_node in sorted(nodes.items()):
            try:
                node = decode(raw_node, Node)
            except ObjectDecodeError:
                continue
            out.extend(_entry(a.address, "", ports) for a in node.status.addresses if a.type == "ExternalIP")
        return out
    if spec.type == "ExternalName":
        return [_entry("", spec.external_name)]
    raise StatusError(f"unsupported service type: {spec.type}")


def _port(port: int, protocol: str | None, error: str | None = None) -> JSON:
    out: JSON = {"port": port, "protocol": protocol or "TCP"}
    if error:
        out["error"] = error
    return out


def _key(entry: Mapping[str, Any]) -> tuple[str, str, tuple[tuple[int, str], ...]]:
    ports = entry.get("ports") or ()
    return (
        str(entry.get("ip") or ""),
        str(entry.get("hostname") or ""),
        tuple(sorted((int(p.get("port") or 0), str(p.get("protocol") or "TCP")) for p in ports if isinstance(p, dict))),
    )


def same_status(current: Any, desired: Sequence[Mapping[str, Any]]) -> bool:
    """Return whether the stored ``status.loadBalancer.ingress`` (``current``, raw) already says ``desired``."""
    entries = current if isinstance(current, list) else []
    return sorted(_key(e) for e in entries if isinstance(e, dict)) == sorted(_key(e) for e in desired)


def _current(ingress: Mapping[str, Any]) -> Any:
    status = ingress.get("status")
    if not isinstance(status, dict):
        return None
    balancer = status.get("loadBalancer")
    return balancer.get("ingress") if isinstance(balancer, dict) else None


class StatusWriter:
    """Writes the desired status to the Ingresses that need it (see the module docstring)."""

    def __init__(self, replace_status: ReplaceStatus) -> None:
        self._replace = replace_status
        self.writes = 0

    async def update(
        self,
        targets: Sequence[tuple[str, str]],
        ingresses: Mapping[tuple[str, str], Any],
        desired: Sequence[Mapping[str, Any]],
    ) -> None:
        """Write ``desired`` to each target Ingress whose stored status differs (``ingresses``: raw objects)."""
        for namespace, name in targets:
            ingress = ingresses.get((namespace, name))
            if not isinstance(ingress, dict) or same_status(_current(ingress), desired):
                continue
            updated = dict(ingress)
            # No resourceVersion: an unconditional status update, so a write racing another change never 409s.
            metadata = updated.get("metadata")
            if isinstance(metadata, dict):
                updated["metadata"] = {k: v for k, v in metadata.items() if k != "resourceVersion"}
            updated["status"] = {"loadBalancer": {"ingress": [dict(entry) for entry in desired]}}
            try:
                await self._replace(namespace, name, updated)
            except Exception as exc:  # any failure is logged; the next snapshot retries
                logger.error("kubernetes: error while updating the status of Ingress %s/%s: %s", namespace, name, exc)
                continue
            self.writes += 1
