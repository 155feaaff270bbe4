"""Inspected containers → one dynamic configuration, as Traefik's Docker provider builds it (``pkg/provider/docker``).

Per container (in the order of their key ``<service name>-<id>``):

* kept only when enabled (``traefik.enable``, else ``exposedByDefault``), matching ``constraints``, running (or
  labelled ``traefik.docker.allownonrunning``, then without servers) and, unless ``allowEmptyServices``, healthy or
  without a health check (``starting`` and ``unhealthy`` get no traffic);
* its labels decoded (:mod:`.labels`); a bad label skips the container with an error naming it and the label;
* TCP/UDP labels make TCP/UDP services (one per container when none is named) whose server is the container's
  address; a container with only TCP/UDP labels gets no HTTP router;
* HTTP: one service named after the container (``<compose service>_<project>`` for compose, normalized) when no
  service label exists, its server ``scheme://ip:port`` (port from the label, else the lowest exposed port; the
  ``url`` label replaces both); one router named like the service when no router label exists, with
  ``defaultRule`` rendered for ``{Name, ContainerName, Labels}``; a router without service takes the only service.

Then the containers' configurations are merged (Traefik's ``provider.Merge``): a service defined by several
containers with the same load-balancer options gets all their servers (``compose --scale``); a router, middleware
or service defined differently by two containers is dropped with an error naming the containers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from hanzo_edge.config.decode import DecodeContext, decode_into
from hanzo_edge.config.dynamic import Configuration, HTTPConfiguration, LoadBalancer, Router, Server, Service
from hanzo_edge.config.errors import ConfigError
from hanzo_edge.config.gotemplate import GoTemplate, StringMap, TemplateError
from hanzo_edge.config.gotemplate_funcs import normalize
from hanzo_edge.config.tcp import (
    TCPConfiguration,
    TCPLoadBalancer,
    TCPServer,
    TCPService,
    UDPConfiguration,
    UDPLoadBalancer,
    UDPServer,
    UDPService,
)
from hanzo_edge.config.tls import TLSConfiguration
from hanzo_edge.config.types import FrozenDict
from hanzo_edge.providers.docker.constraints import LabelPredicate
from hanzo_edge.providers.docker.labels import ContainerLabels, ServerLabels, decode_extra, decode_labels

__all__ = ["BuildOptions", "BuildResult", "ContainerData", "build_configuration", "parse_container"]

_COMPOSE_PROJECT = "com.docker.compose.project"
_COMPOSE_SERVICE = "com.docker.compose.service"


@dataclass(frozen=True, slots=True)
class ContainerData:
    """What the provider reads from ``/containers/<id>/json``."""

    id: str
    name: str  # the engine's name, with its leading "/"
    labels: Mapping[str, str]
    state: str  # running, paused, exited, ...
    health: str  # "", starting, healthy, unhealthy
    network_mode: str
    node_ip: str
    ports: Mapping[str, tuple[tuple[str, str], ...]]  # "80/tcp" -> ((HostIp, HostPort), ...)
    networks: Mapping[str, str]  # network name -> address
    connected: ContainerData | None = None  # the container whose network this one shares (``container:<id>``)

    @property
    def service_name(self) -> str:
        """Traefik's ``getServiceName``: ``<compose service>_<project>`` when both labels exist, else the name,
        normalized."""
        project, service = self.labels.get(_COMPOSE_PROJECT), self.labels.get(_COMPOSE_SERVICE)
        if project is not None and service is not None:
            return normalize(f"{service}_{project}")
        return normalize(self.name)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_container(inspected: Mapping[str, Any]) -> ContainerData:
    """Return the `ContainerData` of one ``/containers/<id>/json`` answer (missing fields read as empty)."""
    state = _dict(inspected.get("State"))
    health = _dict(state.get("Health"))
    settings = _dict(inspected.get("NetworkSettings"))
    ports: dict[str, tuple[tuple[str, str], ...]] = {}
    for port, bindings in _dict(settings.get("Ports")).items():
        ports[port] = tuple(
            (_str(b.get("HostIp")), _str(b.get("HostPort"))) for b in (bindings or []) if isinstance(b, dict)
        )
    networks: dict[str, str] = {}
    for name, network in _dict(settings.get("Networks")).items():
        net = _dict(network)
        networks[name] = _str(net.get("IPAddress")) or _str(net.get("GlobalIPv6Address"))
    labels = {k: v for k, v in _dict(_dict(inspected.get("Config")).get("Labels")).items() if isinstance(v, str)}
    return ContainerData(
        id=_str(inspected.get("Id")),
        name=_str(inspected.get("Name")),
        labels=labels,
        state=_str(state.get("Status")) or ("running" if state.get("Running") else ""),
        health=_str(health.get("Status")),
        network_mode=_str(_dict(inspected.get("HostConfig")).get("NetworkMode")),
        node_ip=_str(_dict(inspected.get("Node")).get("IPAddress")),
        ports=ports,
        networks=networks,
    )


@dataclass(frozen=True, slots=True)
class BuildOptions:
    """The static options the build reads."""

    default_rule: GoTemplate
    exposed_by_default: bool = True
    network: str = ""
    use_bind_port_ip: bool = False
    allow_empty_services: bool = False
    constraints: LabelPredicate | None = None


@dataclass(slots=True)
class BuildResult:
    """The merged configuration, and one message per container or object left out (errors) or noted (warnings)."""

    config: Configuration
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class _Skip(Exception):
    """This container contributes nothing; the message says why."""


def _ip_port(container: ContainerData, network: str, port_label: str, options: BuildOptions) -> tuple[str, str]:
    """Traefik's ``getIPPort``: the bound host IP and port with ``useBindPortIP``, else the container's address."""
    if options.use_bind_port_ip:
        binding = _binding(container, port_label)
        if binding is not None and binding[0] not in ("", "0.0.0.0"):
            return binding
    ip = _address(container, network)
    port = port_label or _lowest_port(container)
    if not ip:
        raise _Skip(f"unable to find the IP address for the container {container.name!r}: the server is ignored")
    if not port:
        raise _Skip("port is missing")
    return ip, port


def _binding(container: ContainerData, port_label: str) -> tuple[str, str] | None:
    for port in sorted(container.ports, key=_port_number):
        if port_label and port.split("/", 1)[0] != port_label:
            continue
        for host_ip, host_port in container.ports[port]:
            return host_ip, host_port
    return None


def _port_number(port: str) -> int:
    try:
        return int(port.split("/", 1)[0])
    except ValueError:
        return 1 << 20


def _lowest_port(container: ContainerData) -> str:
    ports = sorted(container.ports, key=_port_number)
    return ports[0].split("/", 1)[0] if ports else ""


def _address(container: ContainerData, network: str) -> str:
    """Traefik's ``getIPAddress``: the named network's address, 127.0.0.1 (or the node's) for host networking,
    else the first network's address."""
    if network and container.networks:
        address = container.networks.get(network)
        if address is not None:
            return address
    if container.network_mode == "host":
        return container.node_ip or "127.0.0.1"
    if container.network_mode.startswith("container:"):
        linked = container.connected
        if linked is None:
            return ""
        # The connected container's traefik.docker.network wins, else this container's (Traefik).
        linked_network = next((v for k, v in linked.labels.items() if k.lower() == "traefik.docker.network"), "")
        return _address(linked, linked_network or network)
    for name in sorted(container.networks):
        return container.networks[name]
    return ""


def _http_server(
    container: ContainerData, network: str, labels: ServerLabels | None, options: BuildOptions, where: str
) -> Server:
    labels = labels or ServerLabels()
    if labels.url:
        if labels.scheme or labels.port:
            raise _Skip(f"{where}: defining scheme or port is not allowed when URL is defined")
        url = labels.url
    else:
        ip, port = _ip_port(container, network, labels.port, options)
        host = f"[{ip}]" if ":" in ip else ip
        url = f"{labels.scheme or 'http'}://{host}:{port}"
    server: Server = _decode_server(Server, {**labels.options, "url": url}, where)
    return server


def _decode_server(cls: type[Any], raw: dict[str, Any], where: str) -> Any:
    try:
        return decode_into(cls, raw, DecodeContext(unknown="error"))
    except ConfigError as exc:
        raise _Skip(f"{where}.loadbalancer.server: {exc}") from None


def _address_server(
    cls: type[Any],
    container: ContainerData,
    network: str,
    labels: ServerLabels | None,
    where: str,
    options: BuildOptions,
) -> Any:
    labels = labels or ServerLabels()
    if labels.url:
        return _decode_server(cls, {**labels.options, "address": labels.url}, where)
    ip, port = _ip_port(container, network, labels.port, options)
    host = f"[{ip}]" if ":" in ip else ip
    return _decode_server(cls, {**labels.options, "address": f"{host}:{port}"}, where)


def _container_config(container: ContainerData, options: BuildOptions) -> tuple[Configuration, list[str]] | None:
    """Return the configuration one container contributes, or None when it is filtered out.

    Raises:
        _Skip / ConfigError: the container is left out, with why.
    """
    extra = decode_extra(
        container.labels, container.name, exposed_by_default=options.exposed_by_default, network=options.network
    )
    if not extra.enable:
        return None
    if options.constraints is not None and not options.constraints(container.labels):
        return None
    running = container.state == "running"
    if not running and not extra.allow_non_running:
        return None
    unhealthy = container.health not in ("", "healthy")
    if unhealthy and not options.allow_empty_services:
        return None
    decoded: ContainerLabels = decode_labels(container.labels, container.name)
    config = decoded.config
    warnings = [str(w) for w in decoded.warnings]
    if extra.network and container.networks and extra.network not in container.networks:
        # Traefik warns too ("Maybe you're missing the project's prefix in the label?"): the fallback address may be
        # one the proxy cannot reach.
        fallback = "host networking" if container.network_mode == "host" else f'"{min(container.networks)}"'
        warnings.append(
            f'container {container.name}: could not find network named "{extra.network}" (is the compose project\'s'
            f" prefix missing?); using {fallback}"
        )
    with_servers = running and not unhealthy
    name = container.service_name
    tcp, udp = config.tcp, config.udp
    tcp_or_udp = False
    if tcp is not None and (tcp.routers or tcp.services):
        tcp_or_udp = True
        tcp = _tcp_like(
            tcp,
            "tcp",
            TCPService,
            TCPLoadBalancer,
            TCPServer,
            container,
            extra.network,
            decoded,
            options,
            with_servers,
            warnings,
        )
    if udp is not None and (udp.routers or udp.services):
        tcp_or_udp = True
        udp = _tcp_like(
            udp,
            "udp",
            UDPService,
            UDPLoadBalancer,
            UDPServer,
            container,
            extra.network,
            decoded,
            options,
            with_servers,
            warnings,
        )
    http = config.http
    if not (tcp_or_udp and not (http.routers or http.middlewares or http.services)):
        services = dict(http.services) or {name: Service(load_balancer=LoadBalancer())}
        if with_servers:
            for service_name, service in services.items():
                where = f"traefik.http.services.{service_name}"
                if service.load_balancer is None:
                    raise _Skip(f"service {service_name!r} error: load-balancer is not defined")
                server = _http_server(
                    container, extra.network, decoded.servers.get(("http", service_name)), options, where
                )
                lb = msgspec.structs.replace(service.load_balancer, servers=(server,))
                services[service_name] = msgspec.structs.replace(service, load_balancer=lb)
        routers = _routers(dict(http.routers), services, name, container, options, warnings)
        http = msgspec.structs.replace(http, services=FrozenDict(services), routers=FrozenDict(routers))
    return Configuration(http=http, tcp=tcp, udp=udp, tls=config.tls), warnings


def _tcp_like(
    section: Any,
    proto: str,
    service_cls: type[Any],
    lb_cls: type[Any],
    server_cls: type[Any],
    container: ContainerData,
    network: str,
    decoded: ContainerLabels,
    options: BuildOptions,
    with_servers: bool,
    warnings: list[str],
) -> Any:
    services = dict(section.services) or {container.service_name: service_cls(load_balancer=lb_cls())}
    if with_servers:
        for service_name, service in services.items():
            where = f"traefik.{proto}.services.{service_name}"
            if service.load_balancer is None:
                raise _Skip(f"service {service_name!r} error: load-balancer is not defined")
            server = _address_server(
                server_cls, container, network, decoded.servers.get((proto, service_name)), where, options
            )
            lb = msgspec.structs.replace(service.load_balancer, servers=(server,))
            services[service_name] = msgspec.structs.replace(service, load_balancer=lb)
    routers = dict(section.routers)
    for router_name, router in list(routers.items()):
        if not router.service:
            if len(services) != 1:
                del routers[router_name]
                # Traefik logs it ("cannot be linked automatically with multiple Services"): never silent.
                warnings.append(
                    f"container {container.name}: {proto} router {router_name!r}: could not define the service name"
                    " for the router: too many services"
                )
                continue
            routers[router_name] = msgspec.structs.replace(router, service=next(iter(services)))
    return msgspec.structs.replace(section, services=FrozenDict(services), routers=FrozenDict(routers))


def _routers(
    routers: dict[str, Router],
    services: Mapping[str, Service],
    default_name: str,
    container: ContainerData,
    options: BuildOptions,
    warnings: list[str],
) -> dict[str, Router]:
    """Traefik's ``BuildRouterConfiguration``: a default router, the default rule, the only service."""
    if not routers:
        if len(services) > 1:
            warnings.append(
                f"container {container.name}: could not create a router for the container: too many services"
            )
        else:
            routers[default_name] = Router()
    model = {
        "Name": default_name,
        "ContainerName": container.name.lstrip("/"),
        "Labels": StringMap(container.labels),
    }
    for router_name, router in list(routers.items()):
        if not router.rule:
            try:
                rule = options.default_rule.render(model)
            except TemplateError as exc:
                raise _Skip(f"router {router_name!r}: error while parsing default rule: {exc}") from None
            if not rule:
                raise _Skip(f"router {router_name!r}: undefined rule")
            router = msgspec.structs.replace(router, rule=rule)
        if not router.service:
            if len(services) > 1:
                del routers[router_name]
                warnings.append(
                    f"container {container.name}: router {router_name!r}: could not define the service name for the "
                    "router: too many services"
                )
                continue
            router = msgspec.structs.replace(router, service=next(iter(services)))
        routers[router_name] = router
    return routers


def build_configuration(containers: Iterable[ContainerData], options: BuildOptions) -> BuildResult:
    """Return the merged configuration of ``containers`` (see the module docstring)."""
    result = BuildResult(Configuration())
    per_container: dict[str, Configuration] = {}
    for container in containers:
        key = f"{container.service_name}-{container.id}"
        try:
            built = _container_config(container, options)
        except ConfigError as exc:
            result.errors.append(f"container {container.name.lstrip('/')} skipped: {exc}")
            continue
        except _Skip as exc:
            result.errors.append(f"container {container.name.lstrip('/')} skipped: {exc}")
            continue
        if built is None:
            continue
        per_container[key], warnings = built
        result.warnings.extend(warnings)
    result.config = _merge(per_container, result.errors)
    return result


class _Section:
    """One merged section (http, tcp or udp): objects by kind and name, who defined them, what conflicts."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.owners: dict[tuple[str, str], list[str]] = {}
        self.conflicts: set[tuple[str, str]] = set()
        self.present = False

    def add(self, kind: str, name: str, value: Any, owner: str) -> None:
        table = self.objects.setdefault(kind, {})
        self.owners.setdefault((kind, name), []).append(owner)
        current = table.get(name)
        if current is None:
            table[name] = value
            return
        if kind == "services":
            merged = _merge_service(current, value)
            if merged is not None:
                table[name] = merged
                return
        if current != value:
            self.conflicts.add((kind, name))

    def result(self, proto: str, errors: list[str]) -> dict[str, FrozenDict[str, Any]]:
        for kind, name in sorted(self.conflicts):
            owners = ", ".join(self.owners[(kind, name)])
            errors.append(
                f"{proto} {kind[:-1]} {name!r} defined multiple times with different configurations in [{owners}]"
            )
            del self.objects[kind][name]
        return {kind: FrozenDict(values) for kind, values in self.objects.items()}


def _merge_service(current: Any, new: Any) -> Any | None:
    """Merge two load balancers that differ only in servers (servers deduplicated), or return None."""
    a, b = current.load_balancer, new.load_balancer
    if a is None or b is None or msgspec.structs.replace(a, servers=()) != msgspec.structs.replace(b, servers=()):
        return None
    servers = list(a.servers)
    for server in b.servers:
        if server not in servers:
            servers.append(server)
    return msgspec.structs.replace(current, load_balancer=msgspec.structs.replace(a, servers=tuple(servers)))


def _merge(configs: Mapping[str, Configuration], errors: list[str]) -> Configuration:
    """Traefik's ``provider.Merge`` over every named table of every section (http, tcp, udp, tls)."""
    sections = {top: _Section() for top in _SECTIONS}
    for key in sorted(configs):
        config = configs[key]
        for top in _SECTIONS:
            section = getattr(config, top)
            if section is None:
                continue
            sections[top].present = True
            for info in msgspec.structs.fields(section):
                table = getattr(section, info.name)
                if isinstance(table, FrozenDict):
                    for name, value in table.items():
                        sections[top].add(info.name, name, value, key)
    http = HTTPConfiguration(**sections["http"].result("http", errors))
    parts: dict[str, Any] = {}
    classes: tuple[tuple[str, type[Any]], ...] = (
        ("tcp", TCPConfiguration),
        ("udp", UDPConfiguration),
        ("tls", TLSConfiguration),  # labels cannot hold certificates: options and stores only
    )
    for top, cls in classes:
        if sections[top].present:
            parts[top] = cls(**sections[top].result(top, errors))
    return Configuration(http=http, **parts)


_SECTIONS = ("http", "tcp", "udp", "tls")
