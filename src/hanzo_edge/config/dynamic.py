"""The dynamic configuration model (Traefik `pkg/config/dynamic`) and its decoder.

`Configuration` is frozen and hashable, so ``a == b`` tells an unchanged snapshot and models can key caches.
`decode_dynamic` reads raw data (from YAML, TOML, JSON, labels...) like Traefik's paerser: keys are
case-insensitive; unknown keys are `ConfigWarning`s (not errors); wrong types, missing required options and broken
"exactly one kind" rules (`Service`, `Middleware`) are `ConfigError`s naming the dotted path, e.g.
``http.services.app.loadBalancer.servers[0].url``.

Every section is typed: HTTP here and in `services` / `middlewares`, TCP and UDP in `tcp`, TLS in `tls`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

import msgspec

from hanzo_edge.config.decode import DecodeContext, Path, decode_into, dotted
from hanzo_edge.config.errors import ConfigWarning
from hanzo_edge.config.middlewares import Middleware
from hanzo_edge.config.services import (
    Cookie,
    Failover,
    HighestRandomWeight,
    LoadBalancer,
    Mirroring,
    MirrorService,
    ParentHealthCheck,
    PassiveHealthCheck,
    ResponseForwarding,
    Server,
    ServerHealthCheck,
    Service,
    Sticky,
    WeightedRoundRobin,
    WeightedService,
)
from hanzo_edge.config.tcp import TCPConfiguration, UDPConfiguration
from hanzo_edge.config.tls import TLSConfiguration
from hanzo_edge.config.types import Duration, FrozenDict, doc

__all__ = [
    "Configuration",
    "Cookie",
    "Failover",
    "ForwardingTimeouts",
    "HTTPConfiguration",
    "HighestRandomWeight",
    "LoadBalancer",
    "Middleware",
    "MirrorService",
    "Mirroring",
    "ParentHealthCheck",
    "PassiveHealthCheck",
    "ResponseForwarding",
    "Router",
    "RouterObservability",
    "RouterTLS",
    "RouterTLSDomain",
    "Server",
    "ServerHealthCheck",
    "ServersTransport",
    "ServersTransportCertificate",
    "Service",
    "Spiffe",
    "Sticky",
    "TCPConfiguration",
    "TLSConfiguration",
    "UDPConfiguration",
    "WeightedRoundRobin",
    "WeightedService",
    "decode_dynamic",
]


class _Model(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Base of the dynamic models: frozen, keyword-only, camelCase wire names."""


class RouterTLSDomain(_Model, frozen=True, kw_only=True):
    """A certificate domain of a TLS router."""

    main: str = ""
    sans: tuple[str, ...] = ()


class RouterTLS(_Model, frozen=True, kw_only=True):
    """TLS of a router (``tls: {}`` enables it): the router then matches only TLS requests."""

    options: str = ""
    cert_resolver: str = ""
    domains: tuple[RouterTLSDomain, ...] = ()


class RouterObservability(_Model, frozen=True, kw_only=True):
    """Per-router observability overrides; None inherits the entry point setting."""

    access_logs: bool | None = None
    metrics: bool | None = None
    tracing: bool | None = None
    trace_verbosity: str = ""


class Router(_Model, frozen=True, kw_only=True):
    """An HTTP router.

    `rule` and `service` default to "" rather than being required, so that one incomplete router is reported and
    disabled when routes are built instead of rejecting the whole provider snapshot. `priority` 0 means
    ``len(rule)``. Names containing ``@`` are dropped by `decode_dynamic` (with a warning).
    """

    rule: str = ""
    service: str = ""
    rule_syntax: Annotated[str, doc("(Deprecated) v2 or v3; empty means core.defaultRuleSyntax.")] = ""
    priority: int = 0
    entry_points: tuple[str, ...] = ()
    middlewares: tuple[str, ...] = ()
    tls: RouterTLS | None = None
    observability: RouterObservability | None = None
    parent_refs: Annotated[tuple[str, ...], doc("Parent routers (multi-layer routing).")] = ()


class ForwardingTimeouts(_Model, frozen=True, kw_only=True):
    """Timeouts of a dynamic servers transport."""

    dial_timeout: Duration = 30.0
    response_header_timeout: Duration = 0.0
    idle_conn_timeout: Duration = 90.0
    read_idle_timeout: Duration = 0.0
    ping_timeout: Duration = 15.0


class ServersTransportCertificate(_Model, frozen=True, kw_only=True):
    """A client certificate (mTLS to the servers): file paths or inline PEM."""

    cert_file: str = ""
    key_file: str = ""


class Spiffe(_Model, frozen=True, kw_only=True):
    """Allowed SPIFFE identities of the servers."""

    ids: tuple[str, ...] = ()
    trust_domain: str = ""


class ServersTransport(_Model, frozen=True, kw_only=True):
    """`http.serversTransports.<name>`: how to talk to upstream servers.

    `max_idle_conns_per_host` keeps Traefik's dynamic semantics: 0 (the default) means Go's
    ``DefaultMaxIdleConnsPerHost``, i.e. 2. (The static `serversTransport` default is 200.)
    """

    server_name: str = ""
    insecure_skip_verify: bool = False
    root_cas: tuple[str, ...] = msgspec.field(default=(), name="rootCAs")
    certificates: tuple[ServersTransportCertificate, ...] = ()
    max_idle_conns_per_host: Annotated[int, doc("0 means the Go default (2).")] = 0
    forwarding_timeouts: ForwardingTimeouts = msgspec.field(default_factory=ForwardingTimeouts)
    disable_http2: bool = msgspec.field(default=False, name="disableHTTP2")
    peer_cert_uri: str = msgspec.field(default="", name="peerCertURI")
    spiffe: Spiffe | None = None


class HTTPConfiguration(_Model, frozen=True, kw_only=True):
    """The ``http`` section."""

    routers: FrozenDict[str, Router] = msgspec.field(default_factory=FrozenDict)
    services: FrozenDict[str, Service] = msgspec.field(default_factory=FrozenDict)
    middlewares: FrozenDict[str, Middleware] = msgspec.field(default_factory=FrozenDict)
    servers_transports: FrozenDict[str, ServersTransport] = msgspec.field(default_factory=FrozenDict)


class Configuration(_Model, frozen=True, kw_only=True):
    """A whole dynamic configuration snapshot (what a provider yields)."""

    http: HTTPConfiguration = msgspec.field(default_factory=HTTPConfiguration)
    tcp: TCPConfiguration | None = None
    udp: UDPConfiguration | None = None
    tls: TLSConfiguration | None = None

    def is_empty(self) -> bool:
        """Return True when nothing at all is defined (Traefik skips such provider snapshots)."""
        http = self.http
        tcp, udp, tls = self.tcp, self.udp, self.tls
        return (
            not (http.routers or http.services or http.middlewares or http.servers_transports)
            and (tcp is None or not (tcp.routers or tcp.services or tcp.middlewares or tcp.servers_transports))
            and (udp is None or not (udp.routers or udp.services))
            and (tls is None or not (tls.certificates or tls.options or tls.stores))
        )


def decode_dynamic(
    data: Any,
    *,
    source: str = "",
    locate: Callable[[Path], str] | None = None,
) -> tuple[Configuration, list[ConfigWarning]]:
    """Return the `Configuration` decoded from raw `data` (a mapping, or None for an empty one) and its warnings.

    `source` (a file name) is used as the location of messages unless `locate` maps a path to ``file:line``.

    Raises:
        ConfigError: wrong type, invalid value, missing required option, or not exactly one kind in a service or
            middleware. Unknown keys and routers named with ``@`` only produce warnings (the router is dropped).
    """

    def default_locate(_path: Path) -> str:
        return source

    ctx = DecodeContext(unknown="warn", display=dotted, locate=locate or default_locate)
    if data is not None and not isinstance(data, Mapping):
        raise ctx.error((), "the dynamic configuration must be a mapping")
    config: Configuration = decode_into(Configuration, data, ctx)
    bad = [name for name in config.http.routers if "@" in name]
    if bad:
        for name in bad:
            ctx.warn(("http", "routers", name), 'router names cannot contain "@"; router ignored')
        routers: FrozenDict[str, Router] = FrozenDict({k: v for k, v in config.http.routers.items() if k not in bad})
        config = msgspec.structs.replace(config, http=msgspec.structs.replace(config.http, routers=routers))
    return config, ctx.warnings
