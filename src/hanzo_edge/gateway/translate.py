"""``gateway.json`` → the dynamic model of our runtime (routers, services, middlewares), as one provider snapshot.

Each endpoint becomes a router ``ep<N>-<method>`` of the ``gateway`` provider on the ``gateway`` entrypoint, whose
service is a ``gatewayMerge`` service (:mod:`.merge_service`) and whose middlewares come from the ``extra_config``
namespace handlers (:mod:`.extra_config`): the service's blocks first, then the endpoint's. The snapshot then takes
the same path as ``ingress``'s file provider: the merge stage (``config/runtime.py``), the builder
(``routing/build.py``), one table swap. What the builder cannot do (gin's matching) is the :class:`GinOptions` the
gateway's table is made with (:mod:`.gin_table`).

The ``router`` namespace (gin's flags, health path, version header, error bodies), ``proxy`` and ``backend/http``
are read here; every other namespace goes to its registered handler or becomes a warning naming it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from hanzo_edge.config.dynamic import Configuration, HTTPConfiguration, Router
from hanzo_edge.config.middlewares import Middleware
from hanzo_edge.config.services import Service
from hanzo_edge.config.types import FrozenDict
from hanzo_edge.gateway.backend_chain import BACKEND_ORDER
from hanzo_edge.gateway.document import EndpointModel, GatewayDocument, ServiceModel
from hanzo_edge.gateway.errors import GatewayConfigError, GatewayWarning, JsonPath
from hanzo_edge.gateway.extra_config import NamespaceMiddleware, Scope, handler_for, load_handlers
from hanzo_edge.gateway.gin_router import GinRouter
from hanzo_edge.gateway.merge_service import MergeConfig
from hanzo_edge.gateway.static_proxy import static_of
from hanzo_edge.middlewares.base import middleware_of
from hanzo_edge.routing.service_builder import service_of

__all__ = ["ENTRY_POINT", "PROVIDER", "GatewayRoute", "GinOptions", "Translation", "translate", "translate_document"]

ENTRY_POINT = "gateway"
PROVIDER = "gateway"

# krakend-ce's endpoint handler stack, outermost first, whatever the JSON key order: the JWT validator runs before
# the rate limit (and every proxy-level namespace after both).
_ENDPOINT_ORDER = {"auth/validator": 0, "modifier/lua-endpoint": 1, "qos/ratelimit/router": 2}
# The `proxy` keys honoured per scope (endpoint: merge.py's flatmap, sequential.py, static_proxy.py; backend: shadow).
_PROXY_KEYS = {
    "endpoint": frozenset({"flatmap_filter", "sequential", "static"}),
    "backend": frozenset({"flatmap_filter", "shadow"}),
}
# The settings key of a handler whose endpoint must not be served (gateway/namespaces/scripts.py).
_DISABLE = "disable_endpoint"

# Namespaces this module reads itself (per scope).
_OWN = {"service": {"router"}, "endpoint": {"proxy"}, "backend": {"proxy", "backend/http"}}
_ROUTER_FLAGS = (
    "return_error_msg",
    "disable_health",
    "disable_redirect_trailing_slash",
    "disable_redirect_fixed_path",
    "disable_handle_method_not_allowed",
    "hide_version_header",
    "auto_options",
)
_ROUTER_IGNORED = (
    "disable_access_log",
    "logger_skip_paths",
    "forwarded_by_client_ip",
    "remote_ip_headers",
    "trusted_proxies",
    "app_engine",
    "max_multipart_memory",
    "remove_extra_slash",
    "disable_path_decoding",
    "use_h2c",
    "disable_gzip",
    "decompress_gzip",
    "max_payload",
)


@dataclass(frozen=True, slots=True)
class GinOptions:
    """The ``router`` namespace: what the gin table does besides routing to endpoints."""

    redirect_trailing_slash: bool = True
    redirect_fixed_path: bool = True
    handle_method_not_allowed: bool = True
    health_path: str = "/__health"
    disable_health: bool = False
    hide_version_header: bool = False
    return_error_msg: bool = False
    error_body_404: bytes | None = None
    error_body_405: bytes | None = None
    auto_options: bool = False


@dataclass(frozen=True, slots=True)
class GatewayRoute:
    """One endpoint as the gin table registers it: the router that serves it (qualified), its method and path."""

    router: str
    method: str
    endpoint: str
    public: bool = False  # Hanzo's "auth/public": true (the Hanzo auth middleware lets it through)


@dataclass(slots=True)
class Translation:
    """The result of translating one document (see the module docstring)."""

    configuration: Configuration
    gin: GinOptions
    routes: list[GatewayRoute]
    outer: list[NamespaceMiddleware] = field(default_factory=list)
    errors: list[GatewayConfigError] = field(default_factory=list)
    warnings: list[GatewayWarning] = field(default_factory=list)
    # Endpoints left out because a namespace they use cannot be honoured ("GET /path: why"); run logs each as an error.
    disabled: list[str] = field(default_factory=list)
    # Service-level telemetry namespaces (gateway/namespaces/telemetry.py): ingress flags `gateway run` starts with,
    # and telemetry/logging's prefix.
    static_args: list[str] = field(default_factory=list)
    log_prefix: str = ""
    # telemetry/metrics: the /__stats collector's settings (gateway/stats.py StatsConfig), None without it.
    stats: Any = None


def translate_document(doc: GatewayDocument) -> Translation | None:
    """Translate a loaded document (None when it could not be read); its errors and warnings are added to the
    translation's."""
    if doc.service is None:
        return None
    result = translate(doc.service, doc.backend_extra)
    result.errors[:0] = doc.errors
    result.warnings[:0] = doc.warnings
    return result


def translate(service: ServiceModel, backend_extra: Mapping[JsonPath, Mapping[str, Any]] | None = None) -> Translation:
    """Translate ``service``; never raises for a bad value (it is an error of the result, located).

    ``backend_extra``: each backend's ``extra_config`` by the backend's JSON path (the models keep only what the
    merge service honours).
    """
    backend_blocks = backend_extra or {}
    load_handlers()
    state = _State()
    gin = state.router_options(service.extra_config.get("router"), ("extra_config", "router"))
    service_mws = state.namespaces(service.extra_config, ("extra_config",), "service")
    routers: dict[str, Router] = {}
    services: dict[str, Service] = {}
    middlewares: dict[str, Middleware] = {}
    routes: list[GatewayRoute] = []
    result_disabled: list[str] = []
    for index, endpoint in enumerate(service.endpoints):
        name = f"ep{index}-{endpoint.method.lower()}"
        where = endpoint.path or ("endpoints", index)
        state.disable = []
        own = state.namespaces(endpoint.extra_config, (*where, "extra_config"), "endpoint")
        wrappers: list[tuple[object, ...]] = []
        shadow: list[bool] = []
        for b_index, backend in enumerate(endpoint.backends):
            b_where = backend.path or (*where, "backend", b_index)
            b_extra = backend_blocks.get(b_where, {})
            b_mws = state.namespaces(b_extra, (*b_where, "extra_config"), "backend")
            wrappers.append(tuple(_for_encoding(mw.options, endpoint.output_encoding) for mw, _ in b_mws))
            b_proxy = b_extra.get("proxy")
            shadow.append(isinstance(b_proxy, dict) and b_proxy.get("shadow") is True)
        proxy = endpoint.extra_config.get("proxy")
        proxy = proxy if isinstance(proxy, dict) else {}
        try:
            static = static_of(proxy.get("static"), (*where, "extra_config", "proxy", "static"))
        except GatewayConfigError as exc:
            state.errors.append(exc)
            static = None
        if all(shadow):
            state.errors.append(GatewayConfigError((*where, "backend"), "every backend is a shadow: nothing answers"))
        if state.disable:
            result_disabled.append(f"{endpoint.method} {endpoint.endpoint}: {'; '.join(state.disable)}")
            continue
        chain: list[str] = []
        for mw, mw_where in (*service_mws, *own):
            mw_name = f"{name}-{mw.name}"
            options = _with_router_options(mw.options, gin)
            try:
                middlewares[mw_name] = middleware_of(options)
            except ValueError as exc:
                state.errors.append(GatewayConfigError(mw_where, str(exc)))
                continue
            chain.append(mw_name)
        merge = MergeConfig(
            endpoint=msgspec.structs.replace(endpoint, extra_config=FrozenDict()),
            return_error_msg=gin.return_error_msg,
            hide_version_header=gin.hide_version_header,
            backend_wrappers=tuple(wrappers) if any(wrappers) else (),
            shadow=tuple(shadow) if any(shadow) else (),
            sequential=proxy.get("sequential") is True,
            static=static,
        )
        services[name] = service_of(merge)
        routers[name] = Router(
            rule=_rule(endpoint),
            service=name,
            entry_points=(ENTRY_POINT,),
            middlewares=tuple(chain),
        )
        routes.append(GatewayRoute(f"{name}@{PROVIDER}", endpoint.method, endpoint.endpoint, endpoint.auth_public))
    if service.debug_endpoint or service.echo_endpoint:
        from hanzo_edge.middlewares.krakend_debug_echo import KrakendDebugEchoConfig

        options = KrakendDebugEchoConfig(debug=service.debug_endpoint, echo=service.echo_endpoint)
        state.outer.append(NamespaceMiddleware("debug-echo", "krakendDebugEcho", options))
    _check_gin_routes(service, gin, state)
    configuration = Configuration(
        http=HTTPConfiguration(
            routers=FrozenDict(routers), services=FrozenDict(services), middlewares=FrozenDict(middlewares)
        )
    )
    translation = Translation(configuration, gin, routes, state.outer, state.errors, state.warnings)
    translation.disabled = result_disabled
    translation.static_args = state.static_args
    translation.log_prefix = state.log_prefix
    translation.stats = state.stats
    return translation


class _State:
    def __init__(self) -> None:
        self.errors: list[GatewayConfigError] = []
        self.warnings: list[GatewayWarning] = []
        self.outer: list[NamespaceMiddleware] = []
        self.disable: list[str] = []  # why the endpoint being translated is not served (filled by handlers)
        self.static_args: list[str] = []
        self.log_prefix = ""
        self.stats: Any = None  # telemetry/metrics' StatsConfig (gateway/stats.py)

    def router_options(self, raw: Any, where: JsonPath) -> GinOptions:
        if raw is None:
            return GinOptions()
        if not isinstance(raw, dict):
            self.errors.append(GatewayConfigError(where, "want an object"))
            return GinOptions()
        flags: dict[str, bool] = {}
        for key in _ROUTER_FLAGS:
            value = raw.get(key, False)
            if not isinstance(value, bool):
                self.errors.append(GatewayConfigError((*where, key), "want true or false"))
                value = False
            flags[key] = value
        for key in _ROUTER_IGNORED:
            if raw.get(key) not in (None, False, [], {}, 0, ""):
                self.warnings.append(GatewayWarning((*where, key), f"router.{key} is not supported and is ignored"))
        health = raw.get("health_path", "/__health")
        if not isinstance(health, str) or not health.startswith("/"):
            self.errors.append(GatewayConfigError((*where, "health_path"), "want a path starting with '/'"))
            health = "/__health"
        bodies: dict[str, bytes | None] = {"404": None, "405": None}
        error_body = raw.get("error_body")
        if isinstance(error_body, dict):
            from hanzo_edge.gateway.encodings import go_json

            for code in bodies:
                if code in error_body:
                    bodies[code] = go_json(error_body[code])
        return GinOptions(
            redirect_trailing_slash=not flags["disable_redirect_trailing_slash"],
            redirect_fixed_path=not flags["disable_redirect_fixed_path"],
            handle_method_not_allowed=not flags["disable_handle_method_not_allowed"],
            health_path=health,
            disable_health=flags["disable_health"],
            hide_version_header=flags["hide_version_header"],
            return_error_msg=flags["return_error_msg"],
            error_body_404=bodies["404"],
            error_body_405=bodies["405"],
            auto_options=flags["auto_options"],
        )

    def namespaces(
        self, extra: Mapping[str, Any], where: JsonPath, scope: Scope
    ) -> list[tuple[NamespaceMiddleware, JsonPath]]:
        out: list[tuple[NamespaceMiddleware, JsonPath]] = []
        items = list(extra.items())
        if scope == "endpoint":
            items.sort(key=lambda item: _ENDPOINT_ORDER.get(item[0], len(_ENDPOINT_ORDER)))
        elif scope == "backend":
            items.sort(key=lambda item: BACKEND_ORDER.get(item[0], len(BACKEND_ORDER)))
        for ns, block in items:
            path = (*where, ns)
            if ns in _OWN[scope]:
                self._own(ns, block, path, scope)
                continue
            registered = handler_for(ns, scope)
            if registered is None:
                self.warnings.append(GatewayWarning(path, f"namespace {ns} is not supported at {scope} level: ignored"))
                continue
            try:
                result = registered.handler(block if isinstance(block, Mapping) else {}, path)
            except GatewayConfigError as exc:
                self.errors.append(exc)
                continue
            except RecursionError:  # a block nested deeper than a handler walks: an error at its path, no traceback
                self.errors.append(GatewayConfigError(path, "nested too deeply"))
                continue
            self.warnings.extend(result.warnings)
            if scope == "service":
                self.static_args.extend(result.settings.get("static_args", ()))
                self.log_prefix = result.settings.get("log_prefix", self.log_prefix)
                self.stats = result.settings.get("stats", self.stats)
            reason = result.settings.get(_DISABLE)
            if isinstance(reason, str) and scope != "service":
                self.disable.append(reason)
            if scope == "service" and result.settings.get("before_routing"):
                self.outer.extend(result.middlewares)
                continue
            out.extend((mw, path) for mw in result.middlewares)
        return out

    def _own(self, ns: str, block: Any, path: JsonPath, scope: Scope) -> None:
        if not isinstance(block, dict):
            if scope != "service":
                self.errors.append(GatewayConfigError(path, "want an object"))
            return
        if ns == "proxy":
            supported = _PROXY_KEYS.get(scope, frozenset())
            for key, value in block.items():
                if key not in supported and value not in (None, False, [], {}):
                    self.warnings.append(GatewayWarning((*path, key), f"proxy.{key} is not supported: ignored"))
        elif ns == "backend/http":
            for key in block:
                if key not in ("return_error_details", "return_error_code"):
                    self.warnings.append(GatewayWarning((*path, key), f"backend/http.{key} is not supported: ignored"))


def _for_encoding(options: object, output_encoding: str) -> object:
    """A no-op endpoint's backend breaker counts failed calls only (Lura's no-op status handler accepts any status)."""
    from hanzo_edge.middlewares.krakend_circuit_breaker import KrakendCircuitBreakerConfig

    if output_encoding == "no-op" and isinstance(options, KrakendCircuitBreakerConfig):
        return msgspec.structs.replace(options, statuses_fail=False)
    return options


def _with_router_options(options: object, gin: GinOptions) -> object:
    """Options whose answers depend on the ``router`` namespace (json-schema's 400: its version header and
    ``return_error_msg``) get them here, where the router's options are known."""
    from hanzo_edge.middlewares.krakend_json_schema import KrakendJsonSchemaConfig

    if isinstance(options, KrakendJsonSchemaConfig):
        version = b"Version undefined" if gin.hide_version_header else options.krakend_version
        return msgspec.structs.replace(options, krakend_version=version, return_error_msg=gin.return_error_msg)
    return options


def _check_gin_routes(service: ServiceModel, gin: GinOptions, state: _State) -> None:
    """Register every endpoint in a gin router as ``run`` will, so what gin refuses (two parameter names at one
    level, the health path declared again) is an error at the endpoint's path instead of a failed start."""
    router: GinRouter[int] = GinRouter(())
    if not gin.disable_health:
        router.add("GET", gin.health_path, -1)
    for index, endpoint in enumerate(service.endpoints):
        try:
            router.add(endpoint.method, endpoint.endpoint, index)
        except ValueError as exc:
            where = (*(endpoint.path or ("endpoints", index)), "endpoint")
            state.errors.append(GatewayConfigError(where, f"endpoint {endpoint.method} {endpoint.endpoint}: {exc}"))


def _rule(endpoint: EndpointModel) -> str:
    """A Traefik rule equivalent to the endpoint (for /api, check and explain; the gin table does the matching)."""
    segments = []
    for segment in endpoint.endpoint.split("/"):
        if segment.startswith("{") and segment.endswith("}"):
            segments.append("[^/]+")
        else:
            segments.append(re.escape(segment))
    pattern = "^" + "/".join(segments) + "$"
    return f"PathRegexp(`{pattern}`) && Method(`{endpoint.method}`)"
