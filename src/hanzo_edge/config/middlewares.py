"""HTTP middleware models of the dynamic configuration: one frozen model per Traefik v3.6 OSS middleware kind.

Options and defaults follow Traefik's `pkg/config/dynamic/middlewares.go` (`SetDefaults`) and the reference docs
(Appendix A of the Traefik notes). A `Middleware` holds exactly one kind; the rule is enforced while decoding.
Semantic checks that Traefik makes when it *builds* a middleware (empty `addPrefix.prefix`, an empty `headers`,
mutually exclusive `sourceCriterion` members, `retry.attempts <= 0`...) are left to the builder so that one bad
middleware disables only the routers using it.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from hanzo_edge.config._schema import struct_spec
from hanzo_edge.config.types import Duration, FrozenDict, doc

__all__ = [
    "AddPrefix",
    "BasicAuth",
    "Buffering",
    "Chain",
    "CircuitBreaker",
    "ClientTLS",
    "Compress",
    "ContentType",
    "DigestAuth",
    "ErrorPage",
    "ExtensionMiddleware",
    "ForwardAuth",
    "GrpcWeb",
    "Headers",
    "IPAllowList",
    "IPStrategy",
    "InFlightReq",
    "Middleware",
    "PassTLSClientCert",
    "RateLimit",
    "RedirectRegex",
    "RedirectScheme",
    "RedisRateLimit",
    "ReplacePath",
    "ReplacePathRegex",
    "Retry",
    "SourceCriterion",
    "StripPrefix",
    "StripPrefixRegex",
    "TLSClientCertInfo",
    "TLSClientCertIssuerInfo",
    "TLSClientCertSubjectInfo",
    "traefik_kinds",
]


class _Model(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Base of the middleware models: frozen, keyword-only, camelCase wire names."""


# ------------------------------------------------------------------------------------------------- shared pieces


class IPStrategy(_Model, frozen=True, kw_only=True):
    """How the client IP is taken: socket address, `depth` from the right of X-Forwarded-For, or `excluded_ips`."""

    depth: Annotated[int, doc("Position in X-Forwarded-For from the right (0: not used).")] = 0
    excluded_ips: Annotated[tuple[str, ...], doc("Skip these IPs/CIDRs scanning X-Forwarded-For right to left.")] = (
        msgspec.field(default=(), name="excludedIPs")
    )
    ipv6_subnet: Annotated[int | None, doc("Map an IPv6 client IP to the first address of its /N subnet.")] = (
        msgspec.field(default=None, name="ipv6Subnet")
    )


class SourceCriterion(_Model, frozen=True, kw_only=True):
    """What groups requests (rate limit, in-flight limit): one of IP strategy, a header, or the request host."""

    ip_strategy: IPStrategy | None = None
    request_header_name: str = ""
    request_host: bool = False


class ClientTLS(_Model, frozen=True, kw_only=True):
    """Client TLS for a connection made by a middleware (forwardAuth server, Redis)."""

    ca: str = ""
    cert: str = ""
    key: str = ""
    insecure_skip_verify: bool = False
    ca_optional: Annotated[bool | None, doc("(Deprecated) Do not require the CA.")] = None


# ----------------------------------------------------------------------------------------------- path modifiers


class AddPrefix(_Model, frozen=True, kw_only=True):
    """`addPrefix`: prepend `prefix` to the request path."""

    prefix: str = ""


class StripPrefix(_Model, frozen=True, kw_only=True):
    """`stripPrefix`: remove the first matching prefix and set X-Forwarded-Prefix."""

    prefixes: tuple[str, ...] = ()
    force_slash: Annotated[bool | None, doc("(Deprecated) Always keep a leading slash.")] = None


class StripPrefixRegex(_Model, frozen=True, kw_only=True):
    """`stripPrefixRegex`: remove the first regex match that is a prefix of the path."""

    regex: tuple[str, ...] = ()


class ReplacePath(_Model, frozen=True, kw_only=True):
    """`replacePath`: replace the path; the old one goes to X-Replaced-Path."""

    path: str = ""


class ReplacePathRegex(_Model, frozen=True, kw_only=True):
    """`replacePathRegex`: regex replacement of the escaped path (use ``${1}`` for groups)."""

    regex: str = ""
    replacement: str = ""


# ---------------------------------------------------------------------------------------------------- redirects


class RedirectScheme(_Model, frozen=True, kw_only=True):
    """`redirectScheme`: redirect to `scheme` (and `port`, a string); 302/307, or 301/308 when `permanent`."""

    scheme: str = ""
    port: str = ""
    permanent: bool = False


class RedirectRegex(_Model, frozen=True, kw_only=True):
    """`redirectRegex`: redirect when `regex` matches the full URL and the replacement differs."""

    regex: str = ""
    replacement: str = ""
    permanent: bool = False


# ------------------------------------------------------------------------------------------------------ headers


class Headers(_Model, frozen=True, kw_only=True):
    """`headers`: custom request/response headers, CORS and security headers."""

    custom_request_headers: Annotated[FrozenDict[str, str], doc("Request headers to set (empty value: delete).")] = (
        msgspec.field(default_factory=FrozenDict)
    )
    custom_response_headers: Annotated[FrozenDict[str, str], doc("Response headers to set (empty value: delete).")] = (
        msgspec.field(default_factory=FrozenDict)
    )
    access_control_allow_credentials: bool = False
    access_control_allow_headers: tuple[str, ...] = ()
    access_control_allow_methods: tuple[str, ...] = ()
    access_control_allow_origin_list: tuple[str, ...] = ()
    access_control_allow_origin_list_regex: tuple[str, ...] = ()
    access_control_expose_headers: tuple[str, ...] = ()
    access_control_max_age: Annotated[int, doc("Seconds a preflight may be cached.")] = 0
    add_vary_header: bool = False
    allowed_hosts: tuple[str, ...] = ()
    hosts_proxy_headers: tuple[str, ...] = ()
    ssl_proxy_headers: FrozenDict[str, str] = msgspec.field(default_factory=FrozenDict)
    sts_seconds: int = 0
    sts_include_subdomains: bool = False
    sts_preload: bool = False
    force_sts_header: bool = msgspec.field(default=False, name="forceSTSHeader")
    frame_deny: bool = False
    custom_frame_options_value: str = ""
    content_type_nosniff: bool = False
    browser_xss_filter: bool = False
    custom_browser_xss_value: str = msgspec.field(default="", name="customBrowserXSSValue")
    content_security_policy: str = ""
    content_security_policy_report_only: str = ""
    public_key: str = ""
    referrer_policy: str = ""
    permissions_policy: str = ""
    is_development: bool = False
    feature_policy: Annotated[str, doc("(Deprecated) Use permissionsPolicy.")] = ""
    ssl_redirect: Annotated[bool, doc("(Deprecated) Use redirectScheme.")] = False
    ssl_temporary_redirect: Annotated[bool, doc("(Deprecated) Use redirectScheme.")] = False
    ssl_host: Annotated[str, doc("(Deprecated) Use redirectRegex.")] = ""
    ssl_force_host: Annotated[bool, doc("(Deprecated) Use redirectRegex.")] = False

    def is_empty(self) -> bool:
        """Return True when no option is set (Traefik rejects such a `headers` middleware when building it)."""
        return self == Headers()


# ------------------------------------------------------------------------------------------- access control, auth


class IPAllowList(_Model, frozen=True, kw_only=True):
    """`ipAllowList` (and the deprecated `ipWhiteList`): allow only `source_range`; others get `reject_status_code`."""

    source_range: tuple[str, ...] = ()
    ip_strategy: IPStrategy | None = None
    reject_status_code: int = 403


class BasicAuth(_Model, frozen=True, kw_only=True):
    """`basicAuth`: ``name:hash`` users (MD5-apr1, SHA1, bcrypt)."""

    users: tuple[str, ...] = ()
    users_file: str = ""
    realm: str = "traefik"
    header_field: str = ""
    remove_header: bool = False


class DigestAuth(_Model, frozen=True, kw_only=True):
    """`digestAuth`: ``name:realm:md5`` users."""

    users: tuple[str, ...] = ()
    users_file: str = ""
    realm: str = "traefik"
    header_field: str = ""
    remove_header: bool = False


class ForwardAuth(_Model, frozen=True, kw_only=True):
    """`forwardAuth`: ask `address` whether to let the request through."""

    address: str = ""
    tls: ClientTLS | None = None
    trust_forward_header: Annotated[bool, doc("(Deprecated) Trust all X-Forwarded-* headers.")] = False
    auth_response_headers: tuple[str, ...] = ()
    auth_response_headers_regex: str = ""
    auth_request_headers: tuple[str, ...] = ()
    add_auth_cookies_to_response: tuple[str, ...] = ()
    header_field: str = ""
    forward_body: bool = False
    max_body_size: Annotated[int, doc("Largest forwarded body in bytes; -1 is unlimited.")] = -1
    max_response_body_size: Annotated[int, doc("Largest auth response body in bytes; -1 is unlimited.")] = -1
    preserve_location_header: bool = False
    preserve_request_method: bool = False


class TLSClientCertSubjectInfo(_Model, frozen=True, kw_only=True):
    """Subject fields of X-Forwarded-Tls-Client-Cert-Info."""

    country: bool = False
    province: bool = False
    locality: bool = False
    organization: bool = False
    organizational_unit: bool = False
    common_name: bool = False
    serial_number: bool = False
    domain_component: bool = False


class TLSClientCertIssuerInfo(_Model, frozen=True, kw_only=True):
    """Issuer fields of X-Forwarded-Tls-Client-Cert-Info."""

    country: bool = False
    province: bool = False
    locality: bool = False
    organization: bool = False
    common_name: bool = False
    serial_number: bool = False
    domain_component: bool = False


class TLSClientCertInfo(_Model, frozen=True, kw_only=True):
    """Fields of X-Forwarded-Tls-Client-Cert-Info."""

    not_after: bool = False
    not_before: bool = False
    sans: bool = False
    serial_number: bool = False
    subject: TLSClientCertSubjectInfo | None = None
    issuer: TLSClientCertIssuerInfo | None = None


class PassTLSClientCert(_Model, frozen=True, kw_only=True):
    """`passTLSClientCert`: pass the client certificate (PEM and/or info) in request headers."""

    pem: bool = False
    info: TLSClientCertInfo | None = None


# -------------------------------------------------------------------------------------------- traffic shaping


class RedisRateLimit(_Model, frozen=True, kw_only=True):
    """`rateLimit.redis`: distributed token buckets in Redis."""

    endpoints: tuple[str, ...] = ("localhost:6379",)
    tls: ClientTLS | None = None
    username: str = ""
    password: str = ""
    db: int = 0
    pool_size: int = 0
    min_idle_conns: int = 0
    max_active_conns: int = 0
    read_timeout: Duration = 3.0
    write_timeout: Duration = 3.0
    dial_timeout: Duration = 5.0
    # Hanzo addition (docs/compat.md): what to do while Redis is unreachable. Traefik can only fail closed (500).
    failure_policy: Annotated[
        Literal["open", "closed", "local"],
        doc("While Redis is down: open (allow), closed (500, Traefik's behaviour) or local (in-memory bucket)."),
    ] = "closed"


class RateLimit(_Model, frozen=True, kw_only=True):
    """`rateLimit`: token bucket of `average` requests per `period`, bursts up to `burst`."""

    average: Annotated[int, doc("Requests per period; 0 means no limit.")] = 0
    period: Duration = 1.0
    burst: int = 1
    source_criterion: SourceCriterion | None = None
    redis: RedisRateLimit | None = None


class InFlightReq(_Model, frozen=True, kw_only=True):
    """`inFlightReq`: at most `amount` simultaneous requests per source (default source: the request host)."""

    amount: int = 0
    source_criterion: SourceCriterion | None = None


class Buffering(_Model, frozen=True, kw_only=True):
    """`buffering`: read whole bodies before forwarding; limits give 413 (request) / 500 (response)."""

    max_request_body_bytes: Annotated[int, doc("0 means unlimited.")] = 0
    mem_request_body_bytes: int = 1048576
    max_response_body_bytes: Annotated[int, doc("0 means unlimited.")] = 0
    mem_response_body_bytes: int = 1048576
    retry_expression: str = ""


class CircuitBreaker(_Model, frozen=True, kw_only=True):
    """`circuitBreaker`: trip on `expression`, answer `response_code` while open."""

    expression: str = ""
    check_period: Duration = 0.1
    fallback_duration: Duration = 10.0
    recovery_duration: Duration = 10.0
    response_code: int = 503
    # Hanzo addition (docs/compat.md): serve this service while tripped instead of answering response_code.
    fallback_service: Annotated[str, doc("Service that answers while the breaker is open (Hanzo addition).")] = ""


class Retry(_Model, frozen=True, kw_only=True):
    """`retry`: retry when the backend could not be reached, up to `attempts` times."""

    attempts: int = 0
    initial_interval: Duration = 0.0
    # Traefik 3.7 options (docs/compat.md).
    timeout: Annotated[Duration, doc("Give up retrying after this long (0: no limit). v3.7.")] = 0.0
    max_request_body_bytes: Annotated[int, doc("Largest body buffered for replay (v3.7).")] = 2 * 1024 * 1024
    status: Annotated[tuple[str, ...], doc("Also retry on these status ranges, e.g. 502-504 (v3.7).")] = ()
    disable_retry_on_network_error: bool = False
    retry_non_idempotent_method: bool = False


# ----------------------------------------------------------------------------------------------------- others


class Chain(_Model, frozen=True, kw_only=True):
    """`chain`: a named list of middlewares."""

    middlewares: tuple[str, ...] = ()


class Compress(_Model, frozen=True, kw_only=True):
    """`compress`: compress responses with the client's preferred encoding."""

    excluded_content_types: tuple[str, ...] = ()
    included_content_types: tuple[str, ...] = ()
    min_response_body_bytes: int = 1024
    encodings: tuple[str, ...] = ("gzip", "br", "zstd")
    default_encoding: str = ""


class ErrorPage(_Model, frozen=True, kw_only=True):
    """`errors`: serve `query` from `service` for responses whose status is in `status`."""

    status: tuple[str, ...] = ()
    status_rewrites: FrozenDict[str, int] = msgspec.field(default_factory=FrozenDict)
    service: str = ""
    query: str = ""
    error_request_headers: tuple[str, ...] = ()


class ContentType(_Model, frozen=True, kw_only=True):
    """`contentType`: re-enable Content-Type auto-detection."""

    auto_detect: Annotated[bool | None, doc("(Deprecated) Kept for compatibility.")] = None


class GrpcWeb(_Model, frozen=True, kw_only=True):
    """`grpcWeb`: convert gRPC-Web requests to gRPC."""

    allow_origins: tuple[str, ...] = ()


# ------------------------------------------------------------------------------------------------- the union


class Middleware(_Model, frozen=True, kw_only=True):
    """An HTTP middleware: exactly one kind is set (checked while decoding). `kind` and `config` give it."""

    __exactly_one__: ClassVar[bool] = True

    add_prefix: AddPrefix | None = None
    strip_prefix: StripPrefix | None = None
    strip_prefix_regex: StripPrefixRegex | None = None
    replace_path: ReplacePath | None = None
    replace_path_regex: ReplacePathRegex | None = None
    chain: Chain | None = None
    ip_allow_list: IPAllowList | None = msgspec.field(default=None, name="ipAllowList")
    ip_white_list: Annotated[IPAllowList | None, doc("(Deprecated) Use ipAllowList.")] = msgspec.field(
        default=None, name="ipWhiteList"
    )
    headers: Headers | None = None
    errors: ErrorPage | None = None
    rate_limit: RateLimit | None = None
    redirect_regex: RedirectRegex | None = None
    redirect_scheme: RedirectScheme | None = None
    basic_auth: BasicAuth | None = None
    digest_auth: DigestAuth | None = None
    forward_auth: ForwardAuth | None = None
    in_flight_req: InFlightReq | None = None
    buffering: Buffering | None = None
    circuit_breaker: CircuitBreaker | None = None
    compress: Compress | None = None
    pass_tls_client_cert: PassTLSClientCert | None = msgspec.field(default=None, name="passTLSClientCert")
    retry: Retry | None = None
    content_type: ContentType | None = None
    grpc_web: GrpcWeb | None = None
    plugin: Annotated[FrozenDict[str, Any] | None, doc("Plugin middlewares: {pluginName: settings} (raw).")] = None

    @property
    def kind(self) -> str:
        """Return the wire name of the kind that is set (``stripPrefix``...), or "" if none."""
        for attr, wire in _kinds():
            if getattr(self, attr) is not None:
                return wire
        return ""

    @property
    def config(self) -> Any:
        """Return the model of the kind that is set (e.g. a `StripPrefix`), or None."""
        for attr, _wire in _kinds():
            value = getattr(self, attr)
            if value is not None:
                return value
        return None


class ExtensionMiddleware(Middleware, frozen=True, kw_only=True):
    """A middleware of a kind registered beside Traefik's (``hanzo_edge.middlewares.base.register``), e.g. the
    gateway's JWT validator.

    Made by code that builds typed configuration (``hanzo_edge.middlewares.base.middleware_of``), never decoded
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


@cache
def _kinds() -> tuple[tuple[str, str], ...]:
    return tuple((f.name, f.encode_name) for f in msgspec.structs.fields(Middleware))


@cache
def traefik_kinds() -> dict[str, type[msgspec.Struct]]:
    """Traefik's middleware kinds with a model: wire name (``stripPrefix``) → model class (``StripPrefix``).

    The union above is the wire schema (its field order is the one of Traefik's messages), so a Traefik kind is
    declared there once and the middleware registry takes its model from here. ``plugin`` has no model.
    """
    return {f.wire: f.type.cls for f in struct_spec(Middleware).fields if f.type.cls is not None}
