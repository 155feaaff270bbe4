"""TCP and UDP models of the dynamic configuration (Traefik `tcp_config.go`, `tcp_middlewares.go`, `udp_config.go`).

Services and middlewares hold exactly one kind (checked while decoding). Defaults are Traefik's `SetDefaults`.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import msgspec

from hanzo_edge.config.services import ParentHealthCheck
from hanzo_edge.config.tls import TLSDomain
from hanzo_edge.config.types import Duration, FrozenDict, doc

__all__ = [
    "TCPClientTLS",
    "TCPConfiguration",
    "TCPHealthCheck",
    "TCPIPAllowList",
    "TCPInFlightConn",
    "TCPLoadBalancer",
    "TCPMiddleware",
    "TCPProxyProtocol",
    "TCPRouter",
    "TCPRouterTLS",
    "TCPServer",
    "TCPServersTransport",
    "TCPService",
    "TCPWeighted",
    "TCPWeightedService",
    "UDPConfiguration",
    "UDPLoadBalancer",
    "UDPRouter",
    "UDPServer",
    "UDPService",
    "UDPWeighted",
]


class _Model(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Base of the TCP/UDP models: frozen, keyword-only, camelCase wire names."""


class TCPRouterTLS(_Model, frozen=True, kw_only=True):
    """TLS of a TCP router (``tls: {}`` terminates TLS; `passthrough` forwards it)."""

    passthrough: bool = False
    options: str = ""
    cert_resolver: str = ""
    domains: tuple[TLSDomain, ...] = ()


class TCPRouter(_Model, frozen=True, kw_only=True):
    """A TCP router (`HostSNI`, `HostSNIRegexp`, `ClientIP`, `ALPN` rules). Priority 0 means len(rule)."""

    entry_points: tuple[str, ...] = ()
    middlewares: tuple[str, ...] = ()
    service: str = ""
    rule: str = ""
    rule_syntax: str = ""
    priority: int = 0
    tls: TCPRouterTLS | None = None


class TCPServer(_Model, frozen=True, kw_only=True):
    """One TCP upstream server (``host:port``)."""

    address: str
    tls: bool = False


class TCPProxyProtocol(_Model, frozen=True, kw_only=True):
    """PROXY protocol towards the servers (enabled by presence)."""

    version: int = 2


class TCPHealthCheck(_Model, frozen=True, kw_only=True):
    """Active TCP health check."""

    port: int = 0
    send: str = ""
    expect: str = ""
    interval: Duration = 30.0
    unhealthy_interval: Duration | None = None
    timeout: Duration = 5.0


class TCPLoadBalancer(_Model, frozen=True, kw_only=True):
    """`loadBalancer` of a TCP service."""

    servers: tuple[TCPServer, ...] = ()
    servers_transport: str = ""
    proxy_protocol: Annotated[TCPProxyProtocol | None, doc("(Deprecated) Use the servers transport.")] = None
    termination_delay: Annotated[
        int | None, doc("(Deprecated) Milliseconds, as Traefik's int field; use the servers transport.")
    ] = None
    health_check: TCPHealthCheck | None = None


class TCPWeightedService(_Model, frozen=True, kw_only=True):
    """A child of a weighted TCP/UDP service."""

    name: str
    weight: int = 1


class TCPWeighted(_Model, frozen=True, kw_only=True):
    """`weighted` TCP service."""

    services: tuple[TCPWeightedService, ...] = ()
    health_check: ParentHealthCheck | None = None


class TCPService(_Model, frozen=True, kw_only=True):
    """A TCP service: exactly one kind."""

    __exactly_one__: ClassVar[bool] = True

    load_balancer: TCPLoadBalancer | None = None
    weighted: TCPWeighted | None = None


class TCPInFlightConn(_Model, frozen=True, kw_only=True):
    """`inFlightConn`: at most `amount` connections per source IP."""

    amount: int = 0


class TCPIPAllowList(_Model, frozen=True, kw_only=True):
    """`ipAllowList` (and deprecated `ipWhiteList`) for TCP: close connections from other IPs."""

    source_range: tuple[str, ...] = ()


class TCPMiddleware(_Model, frozen=True, kw_only=True):
    """A TCP middleware: exactly one kind."""

    __exactly_one__: ClassVar[bool] = True

    in_flight_conn: TCPInFlightConn | None = None
    ip_allow_list: TCPIPAllowList | None = msgspec.field(default=None, name="ipAllowList")
    ip_white_list: TCPIPAllowList | None = msgspec.field(default=None, name="ipWhiteList")


class TCPClientTLS(_Model, frozen=True, kw_only=True):
    """TLS towards TCP servers."""

    server_name: str = ""
    insecure_skip_verify: bool = False
    root_cas: tuple[str, ...] = msgspec.field(default=(), name="rootCAs")
    certificates: tuple[FrozenDict[str, str], ...] = ()
    peer_cert_uri: str = msgspec.field(default="", name="peerCertURI")
    spiffe: FrozenDict[str, Any] | None = None


class TCPServersTransport(_Model, frozen=True, kw_only=True):
    """`tcp.serversTransports.<name>`."""

    dial_keep_alive: Duration = 15.0
    dial_timeout: Duration = 30.0
    termination_delay: Annotated[Duration, doc("Delay before closing a half-closed connection; <0: never.")] = 0.1
    proxy_protocol: TCPProxyProtocol | None = None
    tls: TCPClientTLS | None = None


class TCPConfiguration(_Model, frozen=True, kw_only=True):
    """The ``tcp`` section."""

    routers: FrozenDict[str, TCPRouter] = msgspec.field(default_factory=FrozenDict)
    services: FrozenDict[str, TCPService] = msgspec.field(default_factory=FrozenDict)
    middlewares: FrozenDict[str, TCPMiddleware] = msgspec.field(default_factory=FrozenDict)
    servers_transports: FrozenDict[str, TCPServersTransport] = msgspec.field(default_factory=FrozenDict)


class UDPRouter(_Model, frozen=True, kw_only=True):
    """A UDP router (no rule, no TLS)."""

    entry_points: tuple[str, ...] = ()
    service: str = ""


class UDPServer(_Model, frozen=True, kw_only=True):
    """One UDP upstream server (``host:port``)."""

    address: str


class UDPLoadBalancer(_Model, frozen=True, kw_only=True):
    """`loadBalancer` of a UDP service."""

    servers: tuple[UDPServer, ...] = ()


class UDPWeighted(_Model, frozen=True, kw_only=True):
    """`weighted` UDP service."""

    services: tuple[TCPWeightedService, ...] = ()


class UDPService(_Model, frozen=True, kw_only=True):
    """A UDP service: exactly one kind."""

    __exactly_one__: ClassVar[bool] = True

    load_balancer: UDPLoadBalancer | None = None
    weighted: UDPWeighted | None = None


class UDPConfiguration(_Model, frozen=True, kw_only=True):
    """The ``udp`` section."""

    routers: FrozenDict[str, UDPRouter] = msgspec.field(default_factory=FrozenDict)
    services: FrozenDict[str, UDPService] = msgspec.field(default_factory=FrozenDict)
