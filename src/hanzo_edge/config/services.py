"""HTTP service models of the dynamic configuration (Traefik `pkg/config/dynamic/http_config.go`).

A `Service` is exactly one of `loadBalancer`, `weighted`, `mirroring`, `failover`, `highestRandomWeight`; the rule
is enforced while decoding (`hanzo_edge.config.dynamic.decode_dynamic`). Defaults are Traefik's `SetDefaults`.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import msgspec

from hanzo_edge.config.types import Duration, FrozenDict, doc

__all__ = [
    "Cookie",
    "ExtensionService",
    "Failover",
    "HighestRandomWeight",
    "LoadBalancer",
    "MirrorService",
    "Mirroring",
    "ParentHealthCheck",
    "PassiveHealthCheck",
    "ResponseForwarding",
    "Server",
    "ServerHealthCheck",
    "Service",
    "Sticky",
    "WeightedRoundRobin",
    "WeightedService",
]


class _Model(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Base of the dynamic models: frozen, keyword-only, camelCase wire names."""


class Cookie(_Model, frozen=True, kw_only=True):
    """Sticky-session cookie. An empty `name` means Traefik's generated name (``_`` + 5 hex of a SHA-1)."""

    name: Annotated[str, doc("Cookie name (generated when empty).")] = ""
    secure: bool = False
    http_only: bool = False
    same_site: Annotated[str, doc("none, lax or strict (case-insensitive); empty: not sent.")] = ""
    max_age: Annotated[int, doc("Max-Age in seconds: <0 expire now, 0 session cookie.")] = 0
    path: str = "/"
    domain: str = ""


class Sticky(_Model, frozen=True, kw_only=True):
    """Sticky sessions; `cookie` is enabled by presence (``sticky: {cookie: {}}``)."""

    cookie: Cookie | None = None


class Server(_Model, frozen=True, kw_only=True):
    """One upstream server. The URL path is ignored unless `preserve_path`; weight <= 0 excludes the server."""

    url: str
    weight: int = 1
    preserve_path: bool = False
    fenced: Annotated[
        bool, doc("Set by the Kubernetes providers for a terminating endpoint: only sticky requests reach it.")
    ] = False


class ServerHealthCheck(_Model, frozen=True, kw_only=True):
    """Active health check of the servers of a load balancer (one failure = down, one success = up)."""

    scheme: str = ""
    mode: Annotated[str, doc("http or grpc.")] = "http"
    path: str = ""
    method: Annotated[str, doc("HTTP method; empty means GET.")] = ""
    status: Annotated[int, doc("Expected status; 0 means any 2xx/3xx.")] = 0
    port: int = 0
    interval: Duration = 30.0
    unhealthy_interval: Annotated[Duration | None, doc("Interval while unhealthy; None means `interval`.")] = None
    timeout: Duration = 5.0
    hostname: str = ""
    follow_redirects: bool = True
    headers: FrozenDict[str, str] = msgspec.field(default_factory=FrozenDict)


class PassiveHealthCheck(_Model, frozen=True, kw_only=True):
    """Passive health check: a server is down after `max_failed_attempts` failures within `failure_window`."""

    failure_window: Duration = 10.0
    max_failed_attempts: int = 1


class ResponseForwarding(_Model, frozen=True, kw_only=True):
    """Response streaming: flush interval (negative: flush after every write)."""

    flush_interval: Duration = 0.1


class ParentHealthCheck(_Model, frozen=True, kw_only=True):
    """``healthCheck: {}`` on a weighted/mirroring/failover/hrw service: propagate child status upwards."""


class LoadBalancer(_Model, frozen=True, kw_only=True):
    """`loadBalancer`: servers behind one strategy (wrr, p2c, hrw, leasttime)."""

    servers: tuple[Server, ...] = ()
    strategy: Annotated[str, doc("wrr, p2c, hrw or leasttime (validated when the service is built).")] = "wrr"
    pass_host_header: bool = True
    servers_transport: str = ""
    sticky: Sticky | None = None
    health_check: ServerHealthCheck | None = None
    passive_health_check: PassiveHealthCheck | None = None
    response_forwarding: ResponseForwarding = msgspec.field(default_factory=ResponseForwarding)


class WeightedService(_Model, frozen=True, kw_only=True):
    """A child of a weighted or highestRandomWeight service."""

    name: str
    weight: int = 1


class WeightedRoundRobin(_Model, frozen=True, kw_only=True):
    """`weighted`: weighted round robin over services."""

    services: tuple[WeightedService, ...] = ()
    sticky: Sticky | None = None
    health_check: ParentHealthCheck | None = None


class MirrorService(_Model, frozen=True, kw_only=True):
    """A mirror target: `percent` of the requests are copied to `name`."""

    name: str
    percent: int = 0


class Mirroring(_Model, frozen=True, kw_only=True):
    """`mirroring`: serve from `service`, copy requests to `mirrors`."""

    service: str
    mirror_body: bool = True
    max_body_size: Annotated[int, doc("Largest mirrored body in bytes; -1 is unlimited.")] = -1
    mirrors: tuple[MirrorService, ...] = ()
    health_check: ParentHealthCheck | None = None


class Failover(_Model, frozen=True, kw_only=True):
    """`failover`: `service` while it is up, else `fallback`."""

    service: str
    fallback: str
    health_check: ParentHealthCheck | None = None


class HighestRandomWeight(_Model, frozen=True, kw_only=True):
    """`highestRandomWeight`: rendezvous hashing over services."""

    services: tuple[WeightedService, ...] = ()
    health_check: ParentHealthCheck | None = None


class Service(_Model, frozen=True, kw_only=True):
    """An HTTP service: exactly one kind is set (checked while decoding)."""

    __exactly_one__: ClassVar[bool] = True

    load_balancer: LoadBalancer | None = None
    weighted: WeightedRoundRobin | None = None
    mirroring: Mirroring | None = None
    failover: Failover | None = None
    highest_random_weight: HighestRandomWeight | None = None

    @property
    def kind(self) -> str:
        """Return the wire name of the kind that is set (``loadBalancer``...), or "" if none."""
        for name, value in (
            ("loadBalancer", self.load_balancer),
            ("weighted", self.weighted),
            ("mirroring", self.mirroring),
            ("failover", self.failover),
            ("highestRandomWeight", self.highest_random_weight),
        ):
            if value is not None:
                return name
        return ""

    @property
    def config(self) -> Any:
        """Return the model of the kind that is set (e.g. a `LoadBalancer`), or None."""
        for value in (self.load_balancer, self.weighted, self.mirroring, self.failover, self.highest_random_weight):
            if value is not None:
                return value
        return None


class ExtensionService(Service, frozen=True, kw_only=True):
    """A service of a kind registered beside Traefik's (``hanzo_edge.services.registry``), e.g. the gateway's
    merge service.

    Made by code that builds typed configuration (``hanzo_edge.routing.service_builder.service_of``), never decoded
    from a dynamic file: there an unknown kind stays the unknown-option warning Traefik gives.
    """

    extension_kind: str
    extension: Any

    @property
    def kind(self) -> str:
        """Return the registered name of the kind."""
        return self.extension_kind

    @property
    def config(self) -> Any:
        """Return the kind's model."""
        return self.extension
