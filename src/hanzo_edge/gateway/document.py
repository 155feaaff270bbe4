"""A ``gateway.json`` (KrakenD config schema v3) read into typed models, with every problem located.

:func:`load_document` never stops at the first problem: it returns a :class:`GatewayDocument` whose ``errors`` and
``warnings`` carry JSON paths, and whose ``positions`` turn those paths into line/column for ``gateway check``. The
models hold KrakenD's defaults (Lura ``config``): timeout 2s, port 8080, output encoding ``json``, concurrent calls 1,
backend encoding ``json``, the backend method defaulting to the endpoint's, the service hosts to the backend's.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from hanzo_edge.config.durations import parse_duration
from hanzo_edge.gateway.errors import GatewayConfigError, GatewayWarning, JsonPath
from hanzo_edge.gateway.positions import Positions, locate_values
from hanzo_edge.gateway.service_keys import WARNED_KEYS, ServiceKeys

__all__ = [
    "BackendModel",
    "EndpointModel",
    "GatewayDocument",
    "ServiceModel",
    "apply_env_overrides",
    "load_document",
    "parse_document",
]

DEFAULT_TIMEOUT = 2.0
DEFAULT_PORT = 8080
SUPPORTED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
OUTPUT_ENCODINGS = frozenset({"json", "json-collection", "string", "xml", "no-op", "negotiate", "yaml"})
BACKEND_ENCODINGS = frozenset({"json", "safejson", "string", "xml", "no-op", "rss"})

# Lura's reserved endpoint paths and parameter syntax (config/config.go).
_RESERVED = re.compile(r"^[^/]|\*.|/__(debug|echo|health)(/.*)?$")
_PARAM = re.compile(r"\{([a-zA-Z\-_0-9]+)\}")
_ANY_BRACES = re.compile(r"\{([^}]*)\}")
# Lura's host sanitizer (config/uri.go): scheme defaults to http://; anything else (a path) makes the host invalid.
_HOST = re.compile(r"(https?://)?([a-zA-Z0-9._\-]+)(:[0-9]{2,6})?/?")
# Placeholders a backend may use that are not endpoint params: sequential responses and JWT claims.
_SPECIAL_PARAM = re.compile(r"^(resp\d+_.+|JWT\..+)$")

# Old namespace keys CE still accepts, rewritten to the new ones at every level (ServiceConfig.Normalize).
NAMESPACE_ALIASES: dict[str, str] = {
    "github_com/luraproject/lura/router/gin": "router",
    "github_com/devopsfaith/krakend/router/gin": "router",
    "github.com/devopsfaith/krakend/proxy": "proxy",
    "github.com/devopsfaith/krakend/http": "backend/http",
    "github.com/devopsfaith/krakend-ratelimit/juju/router": "qos/ratelimit/router",
    "github_com/devopsfaith/krakend-ratelimit/juju/router": "qos/ratelimit/router",
    "github.com/devopsfaith/krakend-jose/validator": "auth/validator",
    "github_com/devopsfaith/krakend-jose/validator": "auth/validator",
    "github_com/devopsfaith/krakend-cors": "security/cors",
    "github.com/devopsfaith/krakend-cors": "security/cors",
}

# Service keys KrakenD knows that we read but do not honour: a warning names each one set.
_UNHONOURED_SERVICE_KEYS = (
    "async_agent",
    "tls",
    "client_tls",
    "plugin",
    "use_h2c",
    "disable_rest",
    "sequential_start",
    "dns_cache_ttl",
)


class BackendModel(msgspec.Struct, frozen=True, kw_only=True):
    """One backend of an endpoint (Lura ``config.Backend``) with its defaults applied."""

    url_pattern: str
    hosts: tuple[str, ...]
    method: str
    encoding: str = "json"
    group: str = ""
    target: str = ""
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    mapping: tuple[tuple[str, str], ...] = ()
    is_collection: bool = False
    flatmap_filter: tuple[tuple[str, tuple[str, ...]], ...] = ()
    return_error_details: str = ""
    return_error_code: bool = False
    input_headers: tuple[str, ...] | None = None
    input_query_strings: tuple[str, ...] | None = None
    path: JsonPath = ()


class EndpointModel(msgspec.Struct, frozen=True, kw_only=True):
    """One endpoint (Lura ``config.EndpointConfig``) with the service's defaults applied."""

    endpoint: str
    method: str
    backends: tuple[BackendModel, ...]
    timeout: float
    cache_ttl: float
    concurrent_calls: int
    output_encoding: str
    input_headers: tuple[str, ...]
    input_query_strings: tuple[str, ...]
    extra_config: Mapping[str, Any]
    flatmap_filter: tuple[tuple[str, tuple[str, ...]], ...] = ()
    path: JsonPath = ()
    auth_public: bool = False  # Hanzo's endpoint key "auth/public": true (authpolicy.go)


class ServiceModel(msgspec.Struct, frozen=True, kw_only=True):
    """The service (Lura ``config.ServiceConfig``)."""

    version: int
    name: str
    port: int
    listen_ip: str
    timeout: float
    cache_ttl: float
    output_encoding: str
    hosts: tuple[str, ...]
    endpoints: tuple[EndpointModel, ...]
    extra_config: Mapping[str, Any]
    debug_endpoint: bool = False  # /__debug/ (middlewares/krakend_debug_echo.py)
    echo_endpoint: bool = False  # /__echo/
    # The HTTP server and client keys (read_timeout, dialer_timeout, ...): gateway/service_keys.py
    keys: ServiceKeys = msgspec.field(default_factory=ServiceKeys)


@dataclass(slots=True)
class GatewayDocument:
    """A loaded ``gateway.json``: its model (None when it could not be read at all), problems and positions."""

    source: str
    service: ServiceModel | None
    errors: list[GatewayConfigError] = field(default_factory=list)
    warnings: list[GatewayWarning] = field(default_factory=list)
    positions: Positions | None = None
    syntax_error: str = ""
    backend_extra: dict[JsonPath, dict[str, Any]] = field(default_factory=dict)
    """Each backend's ``extra_config`` (namespaces normalised) by the backend's path, for the namespace pass."""

    def locate(self, path: JsonPath) -> str:
        """Return ``line L, column C`` of ``path`` (its nearest located ancestor), or "" when unknown."""
        if self.positions is None:
            return ""
        where = self.positions.of(path)
        return "" if where is None else f"line {where[0]}, column {where[1]}"

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings never count)."""
        return not self.errors and not self.syntax_error and self.service is not None


def load_document(path: str, env: Mapping[str, str]) -> GatewayDocument:
    """Read, parse and validate the file ``path`` with KrakenD's environment overrides from ``env``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return GatewayDocument(path, None, syntax_error=f"open {path}: no such file or directory")
    except (OSError, UnicodeDecodeError) as exc:
        return GatewayDocument(path, None, syntax_error=f"read {path}: {exc}")
    return parse_document(text, env, source=path)


def parse_document(text: str, env: Mapping[str, str], *, source: str = "<gateway.json>") -> GatewayDocument:
    """Parse and validate ``text`` (see :func:`load_document`)."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        message = f"'{source}': {exc.msg}, row: {exc.lineno}, col: {exc.colno} (line {exc.lineno}, column {exc.colno})"
        return GatewayDocument(source, None, syntax_error=message)
    except RecursionError:  # nesting deeper than the parser's stack: a located error, not a traceback
        return GatewayDocument(source, None, syntax_error=f"'{source}': JSON nested too deeply")
    positions = locate_values(text)
    if not isinstance(raw, dict):
        doc = GatewayDocument(source, None, positions=positions)
        doc.errors.append(GatewayConfigError((), "the configuration must be a JSON object"))
        return doc
    raw = apply_env_overrides(raw, env)
    doc = GatewayDocument(source, None, positions=positions)
    flexible = sorted(name for name, value in env.items() if name.startswith("FC_") and value)
    if flexible:
        # KrakenD's flexible configuration renders the file as a Go template first; we read it as plain JSON, so a
        # user relying on it must hear so at startup rather than get a half-read file.
        names = ", ".join(flexible)
        doc.warnings.append(
            GatewayWarning(
                (), f"{names}: flexible configuration (FC_*) is not supported: the file is read as plain JSON"
            )
        )
    version = raw.get("version")
    if version != 3:
        doc.errors.append(GatewayConfigError(("version",), f"unsupported version: {version} (want: 3)"))
        return doc
    doc.service = _Reader(doc).service(raw)
    return doc


def apply_env_overrides(raw: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """KrakenD's ``KRAKEND_<ROOT_KEY>`` overrides: a root-level scalar key is replaced by the variable's value.

    ``KRAKEND_PORT`` applies even when the file has no ``port`` (Hanzo's Deployment sets it for files without one).
    Values are read as JSON when they parse (numbers, booleans), else as strings.
    """
    out = dict(raw)
    for key, value in raw.items():
        if isinstance(value, dict | list):
            continue
        override = env.get(f"KRAKEND_{key.upper()}")
        if override is not None:
            out[key] = _env_value(override)
    port = env.get("KRAKEND_PORT")
    if port is not None:
        out["port"] = _env_value(port)
    return out


def _env_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def normalize_namespaces(extra: Any) -> dict[str, Any]:
    """Return ``extra_config`` with old namespace keys renamed to the new ones (``{}`` for a missing block)."""
    if not isinstance(extra, dict):
        return {}
    return {NAMESPACE_ALIASES.get(str(k), str(k)): v for k, v in extra.items()}


def sanitize_host(host: str) -> str | None:
    """Lura's host cleaning: ``http://`` added when no scheme, trailing ``/`` dropped; None when invalid."""
    match = _HOST.fullmatch(host)
    if match is None:
        return None
    scheme, name, port = match.group(1) or "http://", match.group(2), match.group(3) or ""
    return f"{scheme}{name}{port}"


def endpoint_params(endpoint: str) -> list[str]:
    """The ``{param}`` names of an endpoint path, in order."""
    return _PARAM.findall(endpoint)


class _Reader:
    """Builds the models from the decoded JSON, recording each problem at its path (never raising)."""

    def __init__(self, doc: GatewayDocument) -> None:
        self.doc = doc

    def error(self, path: JsonPath, message: str) -> None:
        self.doc.errors.append(GatewayConfigError(path, message))

    def warn(self, path: JsonPath, message: str) -> None:
        self.doc.warnings.append(GatewayWarning(path, message))

    # -- scalars ---------------------------------------------------------------------------------------------------
    def duration(self, value: Any, path: JsonPath, default: float) -> float:
        if value is None or value == "":
            return default
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            self.error(path, f'invalid duration {json.dumps(value)}: want a Go duration string such as "2s"')
            return default
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.error(path, str(exc))
            return default
        if seconds < 0:
            self.error(path, "a duration cannot be negative")
            return default
        return seconds

    def string(self, value: Any, path: JsonPath, default: str = "") -> str:
        if value is None:
            return default
        if not isinstance(value, str):
            self.error(path, f"want a string, got {json.dumps(value)}")
            return default
        return value

    def strings(self, value: Any, path: JsonPath) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.error(path, "want an array of strings")
            return None
        return tuple(value)

    def integer(self, value: Any, path: JsonPath, default: int, low: int, high: int) -> int:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            self.error(path, f"want an integer, got {json.dumps(value)}")
            return default
        if not low <= int(value) <= high:
            self.error(path, f"{int(value)} is out of range [{low}, {high}]")
            return default
        return int(value)

    # -- structure -------------------------------------------------------------------------------------------------
    def service(self, raw: dict[str, Any]) -> ServiceModel:
        port = self.integer(raw.get("port"), ("port",), DEFAULT_PORT, 0, 65535)
        listen_ip = self.string(raw.get("listen_ip"), ("listen_ip",))
        if listen_ip:
            try:
                ipaddress.ip_address(listen_ip)
            except ValueError:
                self.error(("listen_ip",), f"invalid listen_ip {listen_ip!r}: not an IP address")
        timeout = self.duration(raw.get("timeout"), ("timeout",), DEFAULT_TIMEOUT) or DEFAULT_TIMEOUT
        cache_ttl = self.duration(raw.get("cache_ttl"), ("cache_ttl",), 0.0)
        output_encoding = self.string(raw.get("output_encoding"), ("output_encoding",)) or "json"
        hosts = self.hosts(raw.get("host"), ("host",), disable_sanitize=False) or ()
        for key in _UNHONOURED_SERVICE_KEYS:
            if raw.get(key) not in (None, False, [], {}):
                self.warn((key,), f"{key} is not supported by hanzo-edge gateway and is ignored")
        keys = self.service_keys(raw)
        endpoints_raw = raw.get("endpoints", [])
        endpoints: list[EndpointModel] = []
        if not isinstance(endpoints_raw, list):
            self.error(("endpoints",), "want an array of endpoints")
            endpoints_raw = []
        seen_routes: dict[tuple[str, str], int] = {}
        defaults = _Defaults(timeout, cache_ttl, output_encoding, hosts)
        for index, item in enumerate(endpoints_raw):
            endpoint = self.endpoint(item, ("endpoints", index), defaults)
            if endpoint is None:
                continue
            route_key = (endpoint.endpoint, endpoint.method)
            if route_key in seen_routes:
                self.error(
                    ("endpoints", index, "endpoint"),
                    f"duplicate endpoint {endpoint.method} {endpoint.endpoint}"
                    f" (first at $.endpoints[{seen_routes[route_key]}])",
                )
                continue
            seen_routes[route_key] = index
            endpoints.append(endpoint)
        return ServiceModel(
            version=3,
            name=self.string(raw.get("name"), ("name",)),
            port=port,
            listen_ip=listen_ip,
            timeout=timeout,
            cache_ttl=cache_ttl,
            output_encoding=output_encoding,
            hosts=hosts,
            endpoints=tuple(endpoints),
            extra_config=normalize_namespaces(raw.get("extra_config")),
            debug_endpoint=raw.get("debug_endpoint") is True,
            echo_endpoint=raw.get("echo_endpoint") is True,
            keys=keys,
        )

    def service_keys(self, raw: dict[str, Any]) -> ServiceKeys:
        """The HTTP server and client keys (gateway/service_keys.py); each set key without a counterpart here and
        with a value other than Go's zero value gets a warning saying why."""

        def duration(key: str) -> float | None:
            value = raw.get(key)
            return None if value is None or value == "" else self.duration(value, (key,), 0.0)

        def integer(key: str, low: int) -> int | None:
            value = raw.get(key)
            return None if value is None else self.integer(value, (key,), 0, low, 2**31 - 1)

        def flag(key: str) -> bool:
            value = raw.get(key, False)
            if not isinstance(value, bool):
                self.error((key,), f"want true or false, got {json.dumps(value)}")
                return False
            return value

        def keep_alive() -> float | None:
            # Go's Dialer.KeepAlive: a negative value turns the probes off (the only way to), so it is no error here.
            key = "dialer_keep_alive"
            value = raw.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
                return -1.0
            if isinstance(value, str) and value.startswith("-"):
                return -1.0 if self.duration(value[1:], (key,), 0.0) > 0 else 0.0
            return duration(key)

        for key, why in WARNED_KEYS.items():
            value = raw.get(key)
            if value is None:
                continue
            zero = not integer(key, 0) if key == "max_idle_connections" else not duration(key)
            if not zero:
                self.warn((key,), f"{key} is not honoured by hanzo-edge gateway: {why}")
        return ServiceKeys(
            read_timeout=duration("read_timeout"),
            write_timeout=duration("write_timeout"),
            idle_timeout=duration("idle_timeout"),
            max_header_bytes=integer("max_header_bytes", 0),
            max_shutdown_wait_time=duration("max_shutdown_wait_time"),
            max_idle_connections_per_host=integer("max_idle_connections_per_host", -(2**31)),
            idle_connection_timeout=duration("idle_connection_timeout"),
            response_header_timeout=duration("response_header_timeout"),
            dialer_timeout=duration("dialer_timeout"),
            disable_keep_alives=flag("disable_keep_alives"),
            allow_insecure_connections=flag("allow_insecure_connections"),
            dialer_keep_alive=keep_alive(),
            disable_compression=flag("disable_compression"),
        )

    def hosts(self, value: Any, path: JsonPath, *, disable_sanitize: bool) -> tuple[str, ...] | None:
        listed = self.strings(value, path)
        if listed is None:
            return None
        out: list[str] = []
        for i, host in enumerate(listed):
            if disable_sanitize:
                out.append(host.rstrip("/") if "://" in host else f"http://{host.rstrip('/')}")
                continue
            clean = sanitize_host(host)
            if clean is None:
                self.error((*path, i), f"invalid host {host!r} (a path in a host needs disable_host_sanitize)")
                continue
            out.append(clean)
        return tuple(out)

    def endpoint(self, raw: Any, path: JsonPath, defaults: _Defaults) -> EndpointModel | None:
        if not isinstance(raw, dict):
            self.error(path, "want an endpoint object")
            return None
        route = raw.get("endpoint")
        if not isinstance(route, str) or not route:
            self.error((*path, "endpoint"), 'an endpoint needs an "endpoint" path')
            return None
        if _RESERVED.search(route):
            self.error((*path, "endpoint"), f"invalid endpoint path {route!r}: reserved or not starting with '/'")
            return None
        problem = _param_problem(route)
        if problem:
            self.error((*path, "endpoint"), f"endpoint {route}: {problem}")
            return None
        method = self.string(raw.get("method"), (*path, "method"), "GET").upper() or "GET"
        if method not in SUPPORTED_METHODS:
            self.warn((*path, "method"), f"unsupported method {method} for endpoint {route}: not served (as KrakenD)")
            return None
        timeout = self.duration(raw.get("timeout"), (*path, "timeout"), 0.0) or defaults.timeout
        cache_ttl = self.duration(raw.get("cache_ttl"), (*path, "cache_ttl"), 0.0) or defaults.cache_ttl
        output_encoding = self.string(raw.get("output_encoding"), (*path, "output_encoding")) or defaults.encoding
        if output_encoding not in OUTPUT_ENCODINGS:
            self.warn((*path, "output_encoding"), f"unknown output_encoding {output_encoding!r}: json is used")
            output_encoding = "json"
        elif output_encoding in ("negotiate", "yaml"):
            self.warn((*path, "output_encoding"), f"output_encoding {output_encoding} is served as json")
            output_encoding = "json"
        concurrent = self.integer(raw.get("concurrent_calls"), (*path, "concurrent_calls"), 1, 0, 64) or 1
        headers = raw.get("input_headers", raw.get("headers_to_pass"))
        input_headers = self.strings(headers, (*path, "input_headers"))
        query = raw.get("input_query_strings", raw.get("querystring_params"))
        input_query = self.strings(query, (*path, "input_query_strings"))
        params = set(endpoint_params(route))
        backends_raw = raw.get("backend")
        if not isinstance(backends_raw, list) or not backends_raw:
            self.warn((*path, "backend"), f"endpoint {method} {route} has 0 backends: ignored (as KrakenD)")
            return None
        noop = output_encoding == "no-op"
        if noop and len(backends_raw) > 1:
            self.error(
                (*path, "backend"),
                f"endpoint {route}: can not use NoOp encoding with more than one backends connected to the same "
                "endpoint",
            )
            return None
        backends = []
        for b_index, b_raw in enumerate(backends_raw):
            backend = self.backend(b_raw, (*path, "backend", b_index), method, params, defaults, noop)
            if backend is not None:
                backends.append(backend)
        if len(backends) != len(backends_raw):
            return None
        extra = normalize_namespaces(raw.get("extra_config"))
        proxy = extra.get("proxy")
        flatmap = self.flatmap(proxy.get("flatmap_filter") if isinstance(proxy, dict) else None, path)
        if "auth/public" in raw and not isinstance(raw["auth/public"], bool):
            self.warn((*path, "auth/public"), "want true or false: the endpoint is not public")
        return EndpointModel(
            endpoint=route,
            method=method,
            backends=tuple(backends),
            timeout=timeout,
            cache_ttl=cache_ttl,
            concurrent_calls=concurrent,
            output_encoding=output_encoding,
            input_headers=input_headers if input_headers is not None else ("Content-Type",),
            input_query_strings=input_query or (),
            extra_config=extra,
            flatmap_filter=flatmap,
            path=path,
            auth_public=raw.get("auth/public") is True,
        )

    def backend(
        self, raw: Any, path: JsonPath, method: str, params: set[str], defaults: _Defaults, noop: bool
    ) -> BackendModel | None:
        if not isinstance(raw, dict):
            self.error(path, "want a backend object")
            return None
        url_pattern = self.string(raw.get("url_pattern"), (*path, "url_pattern"), "")
        if not url_pattern.startswith("/"):
            url_pattern = "/" + url_pattern
        for name in _ANY_BRACES.findall(url_pattern):
            if name not in params and not _SPECIAL_PARAM.match(name):
                self.error((*path, "url_pattern"), f"undefined output param {{{name}}} in url_pattern {url_pattern}")
                return None
            if name.startswith("JWT."):
                self.warn((*path, "url_pattern"), f"{{{name}}}: JWT placeholders are not supported")
        disable_sanitize = raw.get("disable_host_sanitize") is True
        hosts = self.hosts(raw.get("host"), (*path, "host"), disable_sanitize=disable_sanitize)
        if not hosts:
            hosts = defaults.hosts
        if not hosts:
            self.error((*path, "host"), "backend has no host (neither its own nor the service's)")
            return None
        sd = raw.get("sd", "static")
        if sd not in (None, "static"):
            self.warn((*path, "sd"), f"sd {sd!r} is not supported: the hosts are used as a static list")
        encoding = self.string(raw.get("encoding"), (*path, "encoding")) or "json"
        if noop:
            encoding = "no-op"
        elif encoding not in BACKEND_ENCODINGS:
            self.warn((*path, "encoding"), f"unknown encoding {encoding!r}: json is used")
            encoding = "json"
        elif encoding == "rss":
            self.warn((*path, "encoding"), "rss is decoded as xml")
            encoding = "xml"
        mapping_raw = raw.get("mapping") or {}
        if not isinstance(mapping_raw, dict) or not all(isinstance(v, str) for v in mapping_raw.values()):
            self.error((*path, "mapping"), "want an object of strings")
            mapping_raw = {}
        extra = normalize_namespaces(raw.get("extra_config"))
        if extra:
            self.doc.backend_extra[path] = extra
        http = extra.get("backend/http") or {}
        proxy = extra.get("proxy") or {}
        flatmap = self.flatmap(proxy.get("flatmap_filter") if isinstance(proxy, dict) else None, path)
        details = http.get("return_error_details", "") if isinstance(http, dict) else ""
        return BackendModel(
            url_pattern=url_pattern,
            hosts=hosts,
            method=(self.string(raw.get("method"), (*path, "method")) or method).upper(),
            encoding=encoding,
            group=self.string(raw.get("group"), (*path, "group")),
            target=self.string(raw.get("target"), (*path, "target")),
            allow=self.strings(raw.get("allow"), (*path, "allow")) or (),
            deny=self.strings(raw.get("deny"), (*path, "deny")) or (),
            mapping=tuple(mapping_raw.items()),
            is_collection=raw.get("is_collection") is True,
            flatmap_filter=flatmap,
            return_error_details=details if isinstance(details, str) else "",
            return_error_code=isinstance(http, dict) and http.get("return_error_code") is True,
            input_headers=self.strings(raw.get("input_headers"), (*path, "input_headers")),
            input_query_strings=self.strings(raw.get("input_query_strings"), (*path, "input_query_strings")),
            path=path,
        )

    def flatmap(self, raw: Any, path: JsonPath) -> tuple[tuple[str, tuple[str, ...]], ...]:
        where = (*path, "extra_config", "proxy", "flatmap_filter")
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.error(where, "want an array of {type, args}")
            return ()
        ops = []
        for i, op in enumerate(raw):
            kind = op.get("type") if isinstance(op, dict) else None
            args = op.get("args") if isinstance(op, dict) else None
            if kind not in ("move", "del", "append") or not isinstance(args, list):
                self.error((*where, i), 'want {"type": "move"|"del"|"append", "args": [...]}')
                continue
            wanted = 1 if kind == "del" else 2
            if len(args) < wanted or not all(isinstance(a, str) for a in args):
                self.error((*where, i, "args"), f"{kind} needs {wanted} string argument(s)")
                continue
            ops.append((kind, tuple(args)))
        return tuple(ops)


@dataclass(frozen=True, slots=True)
class _Defaults:
    timeout: float
    cache_ttl: float
    encoding: str
    hosts: tuple[str, ...]


def _param_problem(route: str) -> str:
    """Why an endpoint path's ``{params}`` are unusable ("" when fine): each must be a whole segment, named once."""
    seen: set[str] = set()
    for segment in route.split("/"):
        for name in _ANY_BRACES.findall(segment):
            if not _PARAM.fullmatch("{" + name + "}"):
                return f"invalid parameter name {{{name}}}"
            if segment != "{" + name + "}":
                return f"parameter {{{name}}} must be a whole path segment"
            if name in seen:
                return f"parameter {{{name}}} appears twice"
            seen.add(name)
    return ""
