"""The static ("install") configuration model: Traefik v3.6's `static.Configuration`, as frozen msgspec Structs.

Python attributes are snake_case; wire names (file keys, and the spelling shown in help) are Traefik's camelCase.
Durations are float seconds. Lists are tuples, maps are `FrozenDict`s. Sections that Traefik enables by their mere
presence (``--ping``, ``--api``, ``--accesslog``, ``--metrics.prometheus``, ``--tracing``, ``http.tls``...) are
``X | None``: None when absent, default-constructed when given as ``true``, ``{}`` or with any sub-key.

Defaults are Traefik's, except where noted (`EntryPointHTTP.max_header_bytes`, `Prometheus.prefix`, `workers`).
Sections we parse but do not implement yet are typed as raw frozen data (`Any`): they are accepted, not validated.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from hanzo_edge.config.errors import ConfigError, quote
from hanzo_edge.config.support import NOT_SUPPORTED, not_supported
from hanzo_edge.config.types import Duration, FrozenDict, doc, flag

__all__ = [
    "OTLPGRPC",
    "OTLPHTTP",
    "AccessLog",
    "AccessLogFields",
    "AccessLogFilters",
    "AccessLogHeaders",
    "AccessLogQuery",
    "Api",
    "Core",
    "Docker",
    "EncodedCharacters",
    "EntryPoint",
    "EntryPointHTTP",
    "EntryPointHTTP2",
    "EntryPointHTTP3",
    "EntryPointObservability",
    "EntryPointTLS",
    "EntryPointTransport",
    "EntryPointUDP",
    "FileProviderConfig",
    "ForwardedHeaders",
    "ForwardingTimeouts",
    "Global",
    "HostResolver",
    "IngressEndpoint",
    "KubernetesCRD",
    "KubernetesGateway",
    "KubernetesIngress",
    "LifeCycle",
    "Log",
    "Metrics",
    "OTLPExporter",
    "OTLPMetrics",
    "Ping",
    "Prometheus",
    "Providers",
    "ProxyProtocol",
    "PushMetrics",
    "RedirectEntryPoint",
    "Redirections",
    "RespondingTimeouts",
    "Rest",
    "Spiffe",
    "StaticConfig",
    "StaticServersTransport",
    "TCPServersTransport",
    "TCPServersTransportTLS",
    "TLSClientConfig",
    "TLSDomain",
    "Tracing",
    "TracingOTLP",
    "parse_address",
]

INTERNAL_ENTRYPOINT = "traefik"
MAX_PRIORITY = 9223372036854775807


class _Section(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Base of every static section: frozen, keyword-only, camelCase wire names."""


# --------------------------------------------------------------------------------------------------- shared pieces


class TLSClientConfig(_Section, frozen=True, kw_only=True):
    """Client TLS files for an outgoing connection (a provider endpoint, an OTLP collector)."""

    ca: Annotated[str, doc("TLS CA")] = ""
    cert: Annotated[str, doc("TLS cert")] = ""
    key: Annotated[str, doc("TLS key")] = ""
    insecure_skip_verify: Annotated[bool, doc("TLS insecure skip verify")] = False


class Spiffe(_Section, frozen=True, kw_only=True):
    """Allowed SPIFFE identities of upstream servers."""

    ids: Annotated[tuple[str, ...], doc("Allowed SPIFFE IDs (take precedence over the trust domain).")] = ()
    trust_domain: Annotated[str, doc("Allowed SPIFFE trust domain.")] = ""


class TLSDomain(_Section, frozen=True, kw_only=True):
    """A certificate domain: main name and subject alternative names."""

    main: Annotated[str, doc("Default subject name.")] = ""
    sans: Annotated[tuple[str, ...], doc("Subject alternative names.")] = ()


class OTLPGRPC(_Section, frozen=True, kw_only=True):
    """OTLP exporter over gRPC."""

    endpoint: Annotated[str, doc("gRPC endpoint (host:port) of the collector.")] = "localhost:4317"
    insecure: Annotated[bool, doc("Disable client transport security.")] = False
    headers: Annotated[FrozenDict[str, str], doc("Headers sent with payload.")] = msgspec.field(
        default_factory=FrozenDict
    )
    tls: TLSClientConfig | None = None


class OTLPHTTP(_Section, frozen=True, kw_only=True):
    """OTLP exporter over HTTP."""

    endpoint: Annotated[str, doc("HTTP endpoint (scheme://host:port/path) of the collector.")] = (
        "https://localhost:4318"
    )
    headers: Annotated[FrozenDict[str, str], doc("Headers sent with payload.")] = msgspec.field(
        default_factory=FrozenDict
    )
    tls: TLSClientConfig | None = None


class OTLPExporter(_Section, frozen=True, kw_only=True):
    """OpenTelemetry exporter settings (logs, access logs, tracing)."""

    grpc: Annotated[OTLPGRPC | None, doc("gRPC configuration for the OpenTelemetry collector.")] = None
    http: Annotated[OTLPHTTP | None, doc("HTTP configuration for the OpenTelemetry collector.")] = None
    service_name: Annotated[str, doc("Service name resource attribute.")] = "traefik"
    resource_attributes: Annotated[FrozenDict[str, str], doc("Additional resource attributes.")] = msgspec.field(
        default_factory=FrozenDict
    )


# ------------------------------------------------------------------------------------------------------ entryPoints


class RespondingTimeouts(_Section, frozen=True, kw_only=True):
    """Timeouts for incoming requests."""

    read_timeout: Annotated[Duration, doc("Maximum duration for reading the entire request, body included.")] = 60.0
    write_timeout: Annotated[Duration, doc("Maximum duration before timing out writes of the response.")] = 0.0
    idle_timeout: Annotated[Duration, doc("Maximum time an idle keep-alive connection stays open.")] = 180.0


class LifeCycle(_Section, frozen=True, kw_only=True):
    """Graceful shutdown timings."""

    request_accept_grace_timeout: Annotated[Duration, doc("Keep accepting requests this long after SIGTERM.")] = 0.0
    grace_time_out: Annotated[Duration, doc("Time given to active requests to finish on shutdown.")] = 10.0


class EntryPointTransport(_Section, frozen=True, kw_only=True):
    """Transport settings of an entry point."""

    responding_timeouts: RespondingTimeouts = msgspec.field(default_factory=RespondingTimeouts)
    life_cycle: LifeCycle = msgspec.field(default_factory=LifeCycle)
    keep_alive_max_requests: Annotated[int, doc("Requests before closing a keep-alive connection (0: no limit).")] = 0
    keep_alive_max_time: Annotated[Duration, doc("Maximum age of a keep-alive connection (0: no limit).")] = 0.0


class ForwardedHeaders(_Section, frozen=True, kw_only=True):
    """Trust settings for incoming X-Forwarded-* headers."""

    insecure: Annotated[bool, doc("Trust all forwarded headers.")] = False
    trusted_ips: Annotated[tuple[str, ...], doc("Trust forwarded headers only from these IPs/CIDRs.")] = msgspec.field(
        default=(), name="trustedIPs"
    )
    connection: Annotated[tuple[str, ...], doc("Connection-listed headers kept through the middleware chain.")] = ()


class ProxyProtocol(_Section, frozen=True, kw_only=True):
    """PROXY protocol acceptance (enabled by presence)."""

    insecure: Annotated[bool, doc("Trust PROXY headers from anyone.")] = False
    trusted_ips: Annotated[tuple[str, ...], doc("Trust PROXY headers only from these IPs/CIDRs.")] = msgspec.field(
        default=(), name="trustedIPs"
    )


class RedirectEntryPoint(_Section, frozen=True, kw_only=True):
    """Redirect every request of this entry point to another one."""

    to: Annotated[str, doc("Target entry point name or :port.")] = ""
    scheme: Annotated[str, doc("Scheme used for the redirection.")] = "https"
    permanent: Annotated[bool, doc("Applies a permanent redirection.")] = True
    priority: Annotated[int, doc("Priority of the generated router.")] = MAX_PRIORITY - 1


class Redirections(_Section, frozen=True, kw_only=True):
    """Entry-point level redirections."""

    entry_point: RedirectEntryPoint | None = None


class EncodedCharacters(_Section, frozen=True, kw_only=True):
    """Which percent-encoded characters are allowed in request paths (a forbidden one gives 400)."""

    allow_encoded_slash: Annotated[bool, doc("Allow %2F in paths.")] = True
    allow_encoded_back_slash: Annotated[bool, doc("Allow %5C in paths.")] = True
    allow_encoded_null_character: Annotated[bool, doc("Allow %00 in paths.")] = True
    allow_encoded_semicolon: Annotated[bool, doc("Allow %3B in paths.")] = True
    allow_encoded_percent: Annotated[bool, doc("Allow %25 in paths.")] = True
    allow_encoded_question_mark: Annotated[bool, doc("Allow %3F in paths.")] = True
    allow_encoded_hash: Annotated[bool, doc("Allow %23 in paths.")] = True


class EntryPointTLS(_Section, frozen=True, kw_only=True):
    """Default TLS for the routers of an entry point (enabled by presence)."""

    options: Annotated[str, doc("Default TLS options for the routers of the entry point.")] = ""
    cert_resolver: Annotated[
        str,
        doc("Default certificate resolver for the routers of the entry point."),
        not_supported("the certificate comes from the TLS store"),
    ] = ""
    domains: Annotated[tuple[TLSDomain, ...], doc("Default TLS domains.")] = ()


class EntryPointHTTP(_Section, frozen=True, kw_only=True):
    """HTTP settings of an entry point.

    `max_header_bytes` defaults to 16384 (Hanzo spec); Traefik's default is 1048576 (Go's DefaultMaxHeaderBytes).
    `max_request_body_bytes` is Hanzo's (HIP-68: 10 MB by default); Traefik has no entrypoint body limit.
    """

    middlewares: Annotated[tuple[str, ...], doc("Middlewares (name@provider) prepended to every router.")] = ()
    redirections: Redirections | None = None
    sanitize_path: Annotated[bool, doc("Remove /./, /../ and duplicate slashes from request paths.")] = True
    max_header_bytes: Annotated[int, doc("Maximum size of request headers in bytes (Traefik: 1048576).")] = 16384
    max_request_body_bytes: Annotated[
        int, doc("Maximum request body size in bytes, 0 for none; a router's buffering overrides it (Hanzo).")
    ] = 10485760
    encoded_characters: EncodedCharacters = msgspec.field(default_factory=EncodedCharacters)
    encode_query_semicolons: Annotated[bool, doc("URL-encode ';' in queries instead of treating it as '&'.")] = False
    underscore_headers_strategy: Annotated[
        Literal["keep", "delete", "reject"],
        doc("Headers with underscores: keep, delete or reject (400)."),
        not_supported("headers with underscores are kept"),
    ] = "keep"
    tls: Annotated[
        EntryPointTLS | None,
        doc("Default TLS configuration for the routers of the entry point."),
    ] = None

    def __post_init__(self) -> None:
        if self.max_request_body_bytes < 0:
            raise ValueError(f"maxRequestBodyBytes must be >= 0 (0 means no limit), got {self.max_request_body_bytes}")


class EntryPointHTTP2(_Section, frozen=True, kw_only=True):
    """HTTP/2 settings of an entry point."""

    max_concurrent_streams: Annotated[int, doc("Concurrent streams per connection.")] = 250
    max_decoder_header_table_size: Annotated[int, doc("HPACK decoder table size.")] = 4096
    max_encoder_header_table_size: Annotated[int, doc("HPACK encoder table size.")] = 4096

    def __post_init__(self) -> None:
        for name, value in (
            ("maxConcurrentStreams", self.max_concurrent_streams),
            ("maxDecoderHeaderTableSize", self.max_decoder_header_table_size),
            ("maxEncoderHeaderTableSize", self.max_encoder_header_table_size),
        ):
            if not 0 <= value <= 2**31 - 1:
                raise ValueError(f"{name} must be between 0 and 2147483647, got {value}")


class EntryPointHTTP3(_Section, frozen=True, kw_only=True):
    """HTTP/3 settings of an entry point (enabled by presence; not implemented yet)."""

    advertised_port: Annotated[int, doc("UDP port to advertise for HTTP/3 (0: the entry point port).")] = 0


class EntryPointUDP(_Section, frozen=True, kw_only=True):
    """UDP settings of an entry point."""

    timeout: Annotated[Duration, doc("Idle UDP session timeout.")] = 3.0


class EntryPointObservability(_Section, frozen=True, kw_only=True):
    """Per-entry-point observability switches."""

    access_logs: Annotated[bool, doc("Enable access logs for this entry point.")] = True
    metrics: Annotated[bool, doc("Enable metrics for this entry point.")] = True
    tracing: Annotated[bool, doc("Enable tracing for this entry point.")] = True
    trace_verbosity: Annotated[
        Literal["minimal", "detailed"], doc("Tracing verbosity: minimal or detailed."), not_supported("minimal is used")
    ] = "minimal"


def parse_address(address: str) -> tuple[str, int, str]:
    """Return ``(host, port, protocol)`` parsed from a Traefik address ``[host]:port[/tcp|/udp]``.

    `host` is "" for all interfaces; IPv6 hosts are written in brackets (``[::1]:80``) and returned without them.

    Raises:
        ConfigError: the address is malformed (path "", message ``invalid address "..."``).
    """
    text = address.strip()
    protocol = "tcp"
    if "/" in text:
        text, _, proto = text.partition("/")
        protocol = proto.lower()
        if protocol not in ("tcp", "udp"):
            raise ConfigError("", f"invalid address {quote(address)}: unknown protocol {quote(proto)}")
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ConfigError("", f"invalid address {quote(address)}")
    if host.startswith("["):
        if not host.endswith("]"):
            raise ConfigError("", f"invalid address {quote(address)}")
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError("", f"invalid address {quote(address)}: IPv6 hosts must be in brackets")
    port = int(port_text)
    if port > 65535:
        raise ConfigError("", f"invalid address {quote(address)}: port out of range")
    return host, port, protocol


class EntryPoint(_Section, frozen=True, kw_only=True):
    """One entry point (`entryPoints.<name>`): a listener and its HTTP settings."""

    address: Annotated[str, doc("Entry point address: [host]:port[/tcp|/udp].")]
    allow_acme_by_pass: Annotated[bool, doc("Let user routers handle ACME challenges.")] = msgspec.field(
        default=False, name="allowACMEByPass"
    )
    reuse_port: Annotated[bool, doc("Listen with SO_REUSEPORT.")] = False
    as_default: Annotated[bool, doc("Use this entry point for routers that name none.")] = False
    transport: EntryPointTransport = msgspec.field(default_factory=EntryPointTransport)
    forwarded_headers: ForwardedHeaders = msgspec.field(default_factory=ForwardedHeaders)
    proxy_protocol: Annotated[ProxyProtocol | None, doc("PROXY protocol configuration.")] = None
    http: EntryPointHTTP = msgspec.field(default_factory=EntryPointHTTP)
    http2: Annotated[EntryPointHTTP2, doc("HTTP/2 settings.")] = msgspec.field(default_factory=EntryPointHTTP2)
    http3: Annotated[EntryPointHTTP3 | None, doc("HTTP/3 configuration."), NOT_SUPPORTED] = None
    udp: EntryPointUDP = msgspec.field(default_factory=EntryPointUDP)
    observability: EntryPointObservability = msgspec.field(default_factory=EntryPointObservability)

    def parsed_address(self) -> tuple[str, int]:
        """Return ``(host, port)`` of this entry point (TCP or ``/udp``); host "" means all interfaces.

        Raises:
            ConfigError: the address is malformed.
        """
        host, port, _ = parse_address(self.address)
        return host, port

    @property
    def is_udp(self) -> bool:
        """True for a ``/udp`` address (a UDP entry point: UDP routers only). False for a malformed one."""
        try:
            return parse_address(self.address)[2] == "udp"
        except ConfigError:
            return False


# ----------------------------------------------------------------------------------------------------- providers


class FileProviderConfig(_Section, frozen=True, kw_only=True):
    """The file provider (`providers.file`)."""

    filename: Annotated[str, doc("Load dynamic configuration from a file.")] = ""
    directory: Annotated[str, doc("Load dynamic configuration from the .yml/.yaml/.toml files of a directory.")] = ""
    watch: Annotated[bool, doc("Watch for changes.")] = True
    debug_log_generated_template: Annotated[
        bool, doc("Log the generated template (templates unsupported)."), NOT_SUPPORTED
    ] = False


class GatewayProviderConfig(_Section, frozen=True, kw_only=True):
    """A KrakenD ``gateway.json`` served beside the other providers (``providers.gateway``; beyond Traefik)."""

    filename: Annotated[str, doc("The gateway.json whose endpoints become routers (its port is ignored).")] = ""
    entry_points: Annotated[
        tuple[str, ...], doc("Entrypoints of its routers (default: the routers' default entrypoints).")
    ] = ()
    rule: Annotated[str, doc("Rule every endpoint's router also needs (default PathPrefix(`/`)).")] = "PathPrefix(`/`)"


class IngressEndpoint(_Section, frozen=True, kw_only=True):
    """Address written to Ingress status."""

    ip: Annotated[str, doc("IP used for Kubernetes Ingress endpoints.")] = ""
    hostname: Annotated[str, doc("Hostname used for Kubernetes Ingress endpoints.")] = ""
    published_service: Annotated[str, doc("Published Kubernetes Service (namespace/name) to copy status from.")] = ""


class _KubernetesCommon(_Section, frozen=True, kw_only=True):
    endpoint: Annotated[str, doc("Kubernetes server endpoint (required for an external cluster client).")] = ""
    token: Annotated[str, doc("Kubernetes bearer token, or a path to a file holding it.")] = ""
    cert_auth_file_path: Annotated[str, doc("Kubernetes certificate authority file path.")] = ""
    namespaces: Annotated[tuple[str, ...], doc("Kubernetes namespaces (all when empty).")] = ()
    label_selector: Annotated[str, doc("Kubernetes label selector to use.")] = ""
    throttle_duration: Annotated[Duration, doc("Refresh throttle duration.")] = 0.0
    native_lb_by_default: Annotated[bool, doc("Use Kubernetes native load-balancing by default.")] = msgspec.field(
        default=False, name="nativeLBByDefault"
    )
    cross_provider_namespaces: Annotated[tuple[str, ...], doc("Namespaces allowed to reference other providers.")] = ()


class KubernetesIngress(_KubernetesCommon, frozen=True, kw_only=True):
    """The Kubernetes Ingress provider (`providers.kubernetesIngress`)."""

    ingress_class: Annotated[str, doc("IngressClass name or kubernetes.io/ingress.class value to watch.")] = ""
    ingress_endpoint: IngressEndpoint | None = None
    allow_empty_services: Annotated[bool, doc("Allow services without endpoints.")] = False
    allow_external_name_services: Annotated[bool, doc("Allow ExternalName services.")] = False
    disable_ingress_class_lookup: Annotated[bool, doc("(Deprecated) Disable IngressClass lookup.")] = False
    disable_cluster_scope_resources: Annotated[bool, doc("Disable the lookup of cluster scope resources.")] = False
    strict_prefix_matching: Annotated[bool, doc("Path-element-wise Prefix matching as in the Ingress spec.")] = False
    cross_provider_namespaces: Annotated[
        tuple[str, ...],
        doc("Namespaces allowed to reference other providers."),
        not_supported("Ingress annotations may reference any provider"),
    ] = ()


class KubernetesCRD(_KubernetesCommon, frozen=True, kw_only=True):
    """The Kubernetes CRD provider (`providers.kubernetesCRD`)."""

    ingress_class: Annotated[str, doc("kubernetes.io/ingress.class annotation value to watch.")] = ""
    allow_cross_namespace: Annotated[bool, doc("Allow cross-namespace resource references.")] = False
    allow_empty_services: Annotated[bool, doc("Allow services without endpoints.")] = False
    allow_external_name_services: Annotated[bool, doc("Allow ExternalName services.")] = False
    disable_cluster_scope_resources: Annotated[bool, doc("Disable the lookup of cluster scope resources.")] = False
    cross_provider_namespaces: Annotated[
        tuple[str, ...],
        doc("Namespaces allowed to reference other providers."),
        not_supported("IngressRoutes may reference any provider (name@provider)"),
    ] = ()


class KubernetesGateway(_KubernetesCommon, frozen=True, kw_only=True):
    """The Kubernetes Gateway API provider (`providers.kubernetesGateway`; parsed, not implemented)."""

    experimental_channel: Annotated[bool, doc("Support Experimental Channel resources.")] = False
    status_address: Annotated[Any, doc("Gateway status address.")] = None
    qps: Annotated[float, doc("Maximum QPS to the Kubernetes API server.")] = 50.0
    burst: Annotated[int, doc("Maximum burst to the Kubernetes API server.")] = 100


class Docker(_Section, frozen=True, kw_only=True):
    """The Docker provider (`providers.docker`)."""

    endpoint: Annotated[str, doc("Docker server endpoint.")] = "unix:///var/run/docker.sock"
    default_rule: Annotated[str, doc("Default rule.")] = "Host(`{{ normalize .Name }}`)"
    exposed_by_default: Annotated[bool, doc("Expose containers by default.")] = True
    network: Annotated[str, doc("Default Docker network used.")] = ""
    use_bind_port_ip: Annotated[bool, doc("Use the IP of the bound port.")] = msgspec.field(
        default=False, name="useBindPortIP"
    )
    watch: Annotated[bool, doc("Watch Docker events.")] = True
    constraints: Annotated[str, doc("Constraints expression on container labels.")] = ""
    allow_empty_services: Annotated[bool, doc("Disregard container health checks for service creation.")] = False
    http_client_timeout: Annotated[Duration, doc("Client timeout for HTTP connections.")] = 0.0
    username: Annotated[str, doc("Username for Basic HTTP authentication.")] = ""
    password: Annotated[str, doc("Password for Basic HTTP authentication.")] = ""
    tls: TLSClientConfig | None = None

    def __post_init__(self) -> None:
        # Checked when the static configuration loads, so `ingress check` reports it as the start would.
        from hanzo_edge.config.gotemplate import TemplateError, parse_template

        try:
            parse_template(self.default_rule, "defaultRule")
        except TemplateError as exc:
            raise ValueError(f"defaultRule: {exc}") from None


class Rest(_Section, frozen=True, kw_only=True):
    """The REST provider (`providers.rest`)."""

    insecure: Annotated[bool, doc("Serve the REST provider on the traefik entry point.")] = False


class Providers(_Section, frozen=True, kw_only=True):
    """The providers section. Unimplemented providers are accepted as raw data."""

    # Traefik's default is 2s. Ours is 0.5s: a rebuild costs milliseconds and the swap is atomic, and HIP-68
    # promises changes live in under a second even when they come in bursts (docs/compat.md).
    providers_throttle_duration: Annotated[Duration, doc("Minimum time between two applied configurations.")] = 0.5
    file: Annotated[FileProviderConfig | None, doc("Enable the file provider.")] = None
    kubernetes_ingress: Annotated[KubernetesIngress | None, doc("Enable the Kubernetes Ingress provider.")] = None
    kubernetes_crd: Annotated[KubernetesCRD | None, doc("Enable the Kubernetes CRD provider.")] = msgspec.field(
        default=None, name="kubernetesCRD"
    )
    kubernetes_gateway: Annotated[
        KubernetesGateway | None, doc("Enable the Kubernetes Gateway provider."), NOT_SUPPORTED
    ] = None
    docker: Annotated[Docker | None, doc("Enable the Docker provider.")] = None
    gateway: Annotated[GatewayProviderConfig | None, doc("Serve a KrakenD gateway.json (hanzo-edge).")] = None
    rest: Annotated[Rest | None, doc("Enable the REST provider."), NOT_SUPPORTED] = None
    swarm: Annotated[FrozenDict[str, Any] | None, doc("Docker Swarm provider (not supported)."), NOT_SUPPORTED] = None
    kubernetes_ingress_nginx: Annotated[
        FrozenDict[str, Any] | None, doc("Kubernetes Ingress NGINX provider (not supported)."), NOT_SUPPORTED
    ] = msgspec.field(default=None, name="kubernetesIngressNGINX")
    knative: Annotated[FrozenDict[str, Any] | None, doc("Knative provider (not supported)."), NOT_SUPPORTED] = None
    consul: Annotated[FrozenDict[str, Any] | None, doc("Consul KV provider (not supported)."), NOT_SUPPORTED] = None
    consul_catalog: Annotated[
        FrozenDict[str, Any] | None, doc("Consul Catalog provider (not supported)."), NOT_SUPPORTED
    ] = None
    etcd: Annotated[FrozenDict[str, Any] | None, doc("Etcd provider (not supported)."), NOT_SUPPORTED] = None
    redis: Annotated[FrozenDict[str, Any] | None, doc("Redis provider (not supported)."), NOT_SUPPORTED] = None
    zoo_keeper: Annotated[FrozenDict[str, Any] | None, doc("ZooKeeper provider (not supported)."), NOT_SUPPORTED] = None
    http: Annotated[FrozenDict[str, Any] | None, doc("HTTP provider (not supported)."), NOT_SUPPORTED] = None
    nomad: Annotated[FrozenDict[str, Any] | None, doc("Nomad provider (not supported)."), NOT_SUPPORTED] = None
    ecs: Annotated[FrozenDict[str, Any] | None, doc("AWS ECS provider (not supported)."), NOT_SUPPORTED] = None
    plugin: Annotated[FrozenDict[str, Any], doc("Plugin providers (not supported)."), NOT_SUPPORTED] = msgspec.field(
        default_factory=FrozenDict
    )


# ----------------------------------------------------------------------------------------- api, ping, log, metrics


class Api(_Section, frozen=True, kw_only=True):
    """The API and dashboard (enabled by presence)."""

    insecure: Annotated[bool, doc("Serve the API directly on the entry point named traefik.")] = False
    dashboard: Annotated[bool, doc("Activate the dashboard.")] = True
    debug: Annotated[bool, doc("Enable additional debugging endpoints."), NOT_SUPPORTED] = False
    base_path: Annotated[str, doc("Base path of the API and dashboard.")] = "/"
    disable_dashboard_ad: Annotated[bool, doc("Disable the ad in the dashboard.")] = False


class Ping(_Section, frozen=True, kw_only=True):
    """The /ping health endpoint (enabled by presence)."""

    entry_point: Annotated[str, doc("Entry point serving /ping.")] = INTERNAL_ENTRYPOINT
    manual_routing: Annotated[bool, doc("Do not create the ping router; route to ping@internal yourself.")] = False
    terminating_status_code: Annotated[int, doc("Status code returned while shutting down.")] = 503


class Log(_Section, frozen=True, kw_only=True):
    """Application log settings."""

    level: Annotated[Literal["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "PANIC"], doc("Log level.")] = "ERROR"
    format: Annotated[
        Literal["common", "json"], doc("Log format: common or json."), not_supported("common is used")
    ] = "common"
    file_path: Annotated[str, doc("Log file path (stdout when empty).")] = ""
    no_color: Annotated[bool, doc("Disable colours in the common format.")] = False
    max_size: Annotated[int, doc("Maximum size in megabytes before rotation."), NOT_SUPPORTED] = 0
    max_age: Annotated[int, doc("Maximum days to retain old log files."), NOT_SUPPORTED] = 0
    max_backups: Annotated[int, doc("Maximum number of old log files to retain."), NOT_SUPPORTED] = 0
    compress: Annotated[bool, doc("Compress rotated log files."), NOT_SUPPORTED] = False
    otlp: Annotated[OTLPExporter | None, doc("OpenTelemetry logs."), NOT_SUPPORTED] = None


class Prometheus(_Section, frozen=True, kw_only=True):
    """The Prometheus exporter (enabled by presence).

    `prefix` is a Hanzo addition: metric names are ``<prefix>_...`` (default ``hanzo_ingress``; set ``traefik`` for
    Traefik dashboards). Traefik hard-codes ``traefik_``.
    """

    buckets: Annotated[tuple[float, ...], doc("Buckets for latency metrics.")] = (0.1, 0.3, 1.2, 5.0)
    add_entry_points_labels: Annotated[bool, doc("Enable metrics on entry points.")] = True
    add_routers_labels: Annotated[bool, doc("Enable metrics on routers.")] = False
    add_services_labels: Annotated[bool, doc("Enable metrics on services.")] = True
    entry_point: Annotated[str, doc("Entry point serving /metrics.")] = INTERNAL_ENTRYPOINT
    manual_routing: Annotated[bool, doc("Do not create the metrics router; route to prometheus@internal yourself.")] = (
        False
    )
    header_labels: Annotated[FrozenDict[str, str], doc("Extra requests_total labels: label -> request header.")] = (
        msgspec.field(default_factory=FrozenDict)
    )
    prefix: Annotated[str, doc("Metric name prefix (Hanzo addition; Traefik uses traefik).")] = "hanzo_ingress"


class PushMetrics(_Section, frozen=True, kw_only=True):
    """A push-based metrics exporter (Datadog, StatsD; parsed, not implemented)."""

    address: Annotated[str, doc("Exporter address.")] = "localhost:8125"
    add_entry_points_labels: Annotated[bool, doc("Enable metrics on entry points.")] = True
    add_routers_labels: Annotated[bool, doc("Enable metrics on routers.")] = False
    add_services_labels: Annotated[bool, doc("Enable metrics on services.")] = True
    push_interval: Annotated[Duration, doc("Push interval.")] = 10.0
    prefix: Annotated[str, doc("Metric prefix.")] = "traefik"


class OTLPMetrics(_Section, frozen=True, kw_only=True):
    """The OpenTelemetry metrics exporter (parsed, not implemented)."""

    add_entry_points_labels: Annotated[bool, doc("Enable metrics on entry points.")] = True
    add_routers_labels: Annotated[bool, doc("Enable metrics on routers.")] = False
    add_services_labels: Annotated[bool, doc("Enable metrics on services.")] = True
    explicit_boundaries: Annotated[tuple[float, ...], doc("Boundaries for latency metrics.")] = (
        0.005,
        0.01,
        0.025,
        0.05,
        0.075,
        0.1,
        0.25,
        0.5,
        0.75,
        1.0,
        2.5,
        5.0,
        7.5,
        10.0,
    )
    push_interval: Annotated[Duration, doc("Period between two exports.")] = 10.0
    service_name: Annotated[str, doc("Service name resource attribute.")] = "traefik"
    resource_attributes: Annotated[FrozenDict[str, str], doc("Additional resource attributes.")] = msgspec.field(
        default_factory=FrozenDict
    )
    grpc: OTLPGRPC | None = None
    http: OTLPHTTP | None = None


class Metrics(_Section, frozen=True, kw_only=True):
    """Metrics settings (enabled by presence)."""

    add_internals: Annotated[bool, doc("Enable metrics for internal services.")] = False
    prometheus: Annotated[Prometheus | None, doc("Prometheus metrics exporter.")] = None
    datadog: Annotated[PushMetrics | None, doc("Datadog metrics exporter (not implemented)."), NOT_SUPPORTED] = None
    stats_d: Annotated[PushMetrics | None, doc("StatsD metrics exporter (not implemented)."), NOT_SUPPORTED] = (
        msgspec.field(default=None, name="statsD")
    )
    influx_db2: Annotated[
        FrozenDict[str, Any] | None, doc("InfluxDB v2 exporter (not implemented)."), NOT_SUPPORTED
    ] = msgspec.field(default=None, name="influxDB2")
    otlp: Annotated[OTLPMetrics | None, doc("OpenTelemetry metrics exporter (not implemented)."), NOT_SUPPORTED] = None


class AccessLogFilters(_Section, frozen=True, kw_only=True):
    """Which requests are logged; the filters are OR-ed."""

    status_codes: Annotated[tuple[str, ...], doc("Keep lines with a status in these ranges (e.g. 200-299).")] = ()
    retry_attempts: Annotated[bool, doc("Keep lines when at least one retry happened.")] = False
    min_duration: Annotated[Duration, doc("Keep lines for requests slower than this.")] = 0.0


class AccessLogHeaders(_Section, frozen=True, kw_only=True):
    """Header fields of access log lines."""

    default_mode: Annotated[Literal["keep", "drop", "redact"], doc("Default mode for headers.")] = "drop"
    names: Annotated[FrozenDict[str, str], doc("Override mode per header.")] = msgspec.field(default_factory=FrozenDict)


class AccessLogQuery(_Section, frozen=True, kw_only=True):
    """Query parameters of access log lines."""

    default_mode: Annotated[Literal["keep", "drop", "redact"], doc("Default mode for query parameters.")] = "keep"
    names: Annotated[FrozenDict[str, str], doc("Override mode per query parameter.")] = msgspec.field(
        default_factory=FrozenDict
    )


class AccessLogFields(_Section, frozen=True, kw_only=True):
    """Fields of access log lines."""

    default_mode: Annotated[Literal["keep", "drop"], doc("Default mode for fields.")] = "keep"
    names: Annotated[FrozenDict[str, str], doc("Override mode per field.")] = msgspec.field(default_factory=FrozenDict)
    headers: AccessLogHeaders = msgspec.field(default_factory=AccessLogHeaders)
    query_parameters: AccessLogQuery = msgspec.field(default_factory=AccessLogQuery)


class AccessLog(_Section, frozen=True, kw_only=True):
    """Access log settings (enabled by presence)."""

    file_path: Annotated[str, doc("Access log file path (stdout when empty).")] = ""
    format: Annotated[Literal["common", "genericCLF", "json"], doc("Format: common, genericCLF or json.")] = "common"
    buffering_size: Annotated[int, doc("Number of lines buffered before writing.")] = 0
    add_internals: Annotated[bool, doc("Log internal services too.")] = False
    filters: AccessLogFilters = msgspec.field(default_factory=AccessLogFilters)
    fields: AccessLogFields = msgspec.field(default_factory=AccessLogFields)
    otlp: Annotated[OTLPExporter | None, doc("OpenTelemetry access logs."), NOT_SUPPORTED] = None


class TracingOTLP(_Section, frozen=True, kw_only=True):
    """OTLP exporter of traces (HTTP is the default when `tracing` is set)."""

    grpc: Annotated[OTLPGRPC | None, doc("gRPC configuration for the OpenTelemetry collector.")] = None
    http: Annotated[OTLPHTTP | None, doc("HTTP configuration for the OpenTelemetry collector.")] = None


class Tracing(_Section, frozen=True, kw_only=True):
    """Tracing settings (enabled by presence)."""

    service_name: Annotated[str, doc("Service name resource attribute.")] = "traefik"
    sample_rate: Annotated[float, doc("Fraction of requests to trace (0.0 to 1.0).")] = 1.0
    add_internals: Annotated[bool, doc("Trace internal services too.")] = False
    resource_attributes: Annotated[FrozenDict[str, str], doc("Additional resource attributes.")] = msgspec.field(
        default_factory=FrozenDict
    )
    global_attributes: Annotated[FrozenDict[str, str], doc("(Deprecated) Additional resource attributes.")] = (
        msgspec.field(default_factory=FrozenDict)
    )
    captured_request_headers: Annotated[tuple[str, ...], doc("Request headers added as span attributes.")] = ()
    captured_response_headers: Annotated[tuple[str, ...], doc("Response headers added as span attributes.")] = ()
    safe_query_params: Annotated[tuple[str, ...], doc("Query parameters not redacted.")] = ()
    otlp: Annotated[TracingOTLP | None, doc("OpenTelemetry exporter settings.")] = None


# ------------------------------------------------------------------------------------------- transports and misc


class ForwardingTimeouts(_Section, frozen=True, kw_only=True):
    """Timeouts for requests forwarded to upstream servers (the static default transport)."""

    dial_timeout: Annotated[Duration, doc("Time to establish a connection to a server (0: none).")] = 30.0
    response_header_timeout: Annotated[Duration, doc("Time to wait for response headers (0: none).")] = 0.0
    idle_conn_timeout: Annotated[Duration, doc("Time an idle keep-alive upstream connection stays open.")] = 90.0


class StaticServersTransport(_Section, frozen=True, kw_only=True):
    """The default upstream HTTP transport (`default@internal`)."""

    insecure_skip_verify: Annotated[bool, doc("Disable upstream TLS certificate verification.")] = False
    root_cas: Annotated[
        tuple[str, ...],
        doc("CA certificates (files or PEM) for upstream TLS; when set, only these are trusted."),
    ] = msgspec.field(default=(), name="rootCAs")
    max_idle_conns_per_host: Annotated[int, doc("Idle keep-alive connections kept per host.")] = 200
    forwarding_timeouts: ForwardingTimeouts = msgspec.field(default_factory=ForwardingTimeouts)
    spiffe: Annotated[Spiffe | None, doc("SPIFFE verification of upstream servers."), NOT_SUPPORTED] = None


class TCPServersTransportTLS(_Section, frozen=True, kw_only=True):
    """TLS settings of the default TCP transport."""

    insecure_skip_verify: Annotated[bool, doc("Disable upstream TLS certificate verification.")] = False
    root_cas: Annotated[tuple[str, ...], doc("CA certificates for upstream TLS.")] = msgspec.field(
        default=(), name="rootCAs"
    )
    spiffe: Annotated[Spiffe | None, doc("SPIFFE verification of TCP servers."), NOT_SUPPORTED] = None


class TCPServersTransport(_Section, frozen=True, kw_only=True):
    """The default upstream TCP transport."""

    dial_keep_alive: Annotated[Duration, doc("Interval between keep-alive probes.")] = 15.0
    dial_timeout: Annotated[Duration, doc("Time to establish a connection.")] = 30.0
    termination_delay: Annotated[Duration, doc("Delay before fully closing a half-closed connection.")] = 0.0
    tls: Annotated[TCPServersTransportTLS | None, doc("TLS configuration.")] = None


class Global(_Section, frozen=True, kw_only=True):
    """Global switches."""

    check_new_version: Annotated[bool, doc("Periodically check for a new version (never done here).")] = True
    send_anonymous_usage: Annotated[bool, doc("Send anonymous usage statistics (never done here).")] = False


class Core(_Section, frozen=True, kw_only=True):
    """Core settings."""

    default_rule_syntax: Annotated[
        Literal["v2", "v3"],
        doc("(Deprecated) Default rule syntax: v2 or v3."),
        not_supported("routers without ruleSyntax use v3"),
    ] = "v3"


class HostResolver(_Section, frozen=True, kw_only=True):
    """CNAME flattening (enabled by presence; not implemented)."""

    cname_flattening: Annotated[bool, doc("Enable CNAME flattening.")] = False
    resolv_config: Annotated[str, doc("resolv.conf used for DNS resolving.")] = "/etc/resolv.conf"
    resolv_depth: Annotated[int, doc("Maximum depth of recursive DNS resolving.")] = 5


class StaticConfig(_Section, frozen=True, kw_only=True):
    """The whole static configuration. Build it with `hanzo_edge.config.loader.load_static`."""

    global_: Global = msgspec.field(default_factory=Global)
    servers_transport: StaticServersTransport = msgspec.field(default_factory=StaticServersTransport)
    tcp_servers_transport: TCPServersTransport = msgspec.field(default_factory=TCPServersTransport)
    entry_points: Annotated[FrozenDict[str, EntryPoint], flag("entrypoints", "Entry points definition.")] = (
        msgspec.field(default_factory=FrozenDict)
    )
    providers: Providers = msgspec.field(default_factory=Providers)
    api: Annotated[Api | None, doc("Enable the API and dashboard.")] = None
    metrics: Annotated[Metrics | None, doc("Metrics settings.")] = None
    ping: Annotated[Ping | None, doc("Enable /ping.")] = None
    log: Log = msgspec.field(default_factory=Log)
    access_log: Annotated[AccessLog | None, flag("accesslog", "Enable access logs.")] = None
    tracing: Annotated[Tracing | None, doc("Enable tracing.")] = None
    host_resolver: Annotated[HostResolver | None, doc("Enable CNAME flattening."), NOT_SUPPORTED] = None
    certificates_resolvers: Annotated[
        FrozenDict[str, Any], doc("Certificate resolvers (ACME, Tailscale; parsed, not implemented)."), NOT_SUPPORTED
    ] = msgspec.field(default_factory=FrozenDict)
    experimental: Annotated[
        FrozenDict[str, Any], doc("Experimental features (parsed, not implemented)."), NOT_SUPPORTED
    ] = msgspec.field(default_factory=FrozenDict)
    core: Core = msgspec.field(default_factory=Core)
    spiffe: Annotated[FrozenDict[str, Any] | None, doc("SPIFFE workload API (not implemented)."), NOT_SUPPORTED] = None
    ocsp: Annotated[FrozenDict[str, Any] | None, doc("OCSP settings (not implemented)."), NOT_SUPPORTED] = None
    workers: Annotated[int, doc("Worker processes, each with its own SO_REUSEPORT listeners (Hanzo addition).")] = 1

    def effective(self) -> StaticConfig:
        """Return this configuration with Traefik's implicit entry points added (`SetEffectiveConfiguration`).

        With no entry point at all, one named ``http`` on ``:80`` is added. The internal entry point ``traefik`` on
        ``:8080`` is added (unless defined) when `api.insecure` is set, or when `ping` or `metrics.prometheus` is
        enabled with its default entry point ``traefik`` and without manual routing, or when `providers.rest.insecure`
        is set. Idempotent; never raises.
        """
        entry_points = dict(self.entry_points)
        if not entry_points:
            entry_points["http"] = EntryPoint(address=":80")
        if self._needs_internal_entrypoint() and INTERNAL_ENTRYPOINT not in entry_points:
            entry_points[INTERNAL_ENTRYPOINT] = EntryPoint(address=":8080")
        if entry_points == self.entry_points:
            return self
        return msgspec.structs.replace(self, entry_points=FrozenDict(entry_points))

    def _needs_internal_entrypoint(self) -> bool:
        if self.api is not None and self.api.insecure:
            return True
        if self.ping is not None and not self.ping.manual_routing and self.ping.entry_point == INTERNAL_ENTRYPOINT:
            return True
        prometheus = self.metrics.prometheus if self.metrics is not None else None
        if prometheus is not None and not prometheus.manual_routing and prometheus.entry_point == INTERNAL_ENTRYPOINT:
            return True
        rest = self.providers.rest
        return rest is not None and rest.insecure
