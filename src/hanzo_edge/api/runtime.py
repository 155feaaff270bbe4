"""The runtime view behind ``/api/*``: every router, service and middleware with its status, as Traefik shows it.

A :class:`RuntimeView` renders the :class:`~hanzo_edge.config.runtime.RuntimeConfig` of one generation (the
``runtime`` of its :class:`~hanzo_edge.routing.build.BuildResult`; before the first build, the plain merge of the
snapshots, where everything is ``enabled``). Status, errors and used-by are the records' own, as Traefik's
``runtime.Configuration`` keeps them:

* a router is ``enabled`` when it serves on every entrypoint it asked for, ``warning`` when it serves on some but has
  errors (an unknown entrypoint), ``disabled`` when it serves nowhere (bad rule, missing service or middleware);
* a service is ``disabled`` when it could not be built; an unused service is never built and stays ``enabled``, as
  in Traefik;
* a middleware with a build error is ``disabled``;
* ``usedBy`` lists the routers naming a service or middleware (qualified in the router's provider);
* ``serverStatus`` of a built ``loadBalancer`` is read live from its balancer (``UP``/``DOWN``), so health changes
  show without a new view.

Items are plain JSON-ready dicts: the model's fields in camelCase (empty defaults omitted like Go's ``omitempty``,
durations as Go duration strings) plus ``name``, ``provider``, ``status``, ``error`` and ``usedBy``/``using``.
The view is computed lazily and never changes afterwards, except ``serverStatus``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol, runtime_checkable

import msgspec

from hanzo_edge import __version__
from hanzo_edge.config._schema import Kind, TypeSpec, struct_spec
from hanzo_edge.config.durations import format_duration
from hanzo_edge.config.dynamic import Configuration
from hanzo_edge.config.middlewares import Middleware
from hanzo_edge.config.runtime import Info, RouterInfo, RuntimeConfig, default_entry_points, merge
from hanzo_edge.config.services import Service
from hanzo_edge.config.static import StaticConfig
from hanzo_edge.config.tcp import TCPService
from hanzo_edge.routing.build import BuildResult

__all__ = [
    "SECTIONS",
    "ApiError",
    "Page",
    "RuntimeView",
    "ViewCache",
    "default_entry_points",
    "select",
    "to_json",
]

#: The list endpoints under ``/api/``; each item of one of them has a ``name``.
SECTIONS = (
    "http/routers",
    "http/services",
    "http/middlewares",
    "tcp/routers",
    "tcp/services",
    "tcp/middlewares",
    "udp/routers",
    "udp/services",
)

#: ``rawdata`` key of each section (Traefik's ``RunTimeRepresentation``).
_RAW_KEYS = {
    "http/routers": "routers",
    "http/services": "services",
    "http/middlewares": "middlewares",
    "tcp/routers": "tcpRouters",
    "tcp/services": "tcpServices",
    "tcp/middlewares": "tcpMiddlewares",
    "udp/routers": "udpRouters",
    "udp/services": "udpServices",
}

#: Go field names of ``providers.*`` (what ``/api/overview`` lists), by model attribute.
_PROVIDER_NAMES = {
    "docker": "Docker",
    "swarm": "Swarm",
    "file": "File",
    "rest": "Rest",
    "kubernetes_ingress": "KubernetesIngress",
    "kubernetes_ingress_nginx": "KubernetesIngressNGINX",
    "kubernetes_crd": "KubernetesCRD",
    "kubernetes_gateway": "KubernetesGateway",
    "knative": "Knative",
    "consul_catalog": "ConsulCatalog",
    "nomad": "Nomad",
    "ecs": "Ecs",
    "consul": "Consul",
    "etcd": "Etcd",
    "zoo_keeper": "ZooKeeper",
    "redis": "Redis",
    "http": "HTTP",
}

_METRICS_NAMES = {
    "prometheus": "Prometheus",
    "datadog": "Datadog",
    "stats_d": "StatsD",
    "influx_db2": "InfluxDB2",
    "otlp": "OTLP",
}

_PROCESS_START = _dt.datetime.now(_dt.UTC)

DEFAULT_PER_PAGE = 100


class ApiError(Exception):
    """A request the API cannot answer: ``status`` (400, 404) and a message for ``{"message": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list endpoint: its ``items`` and the ``X-Next-Page`` value (1 on the last page)."""

    items: list[dict[str, Any]]
    next_page: int


@runtime_checkable
class _ServerStatus(Protocol):
    """A balancer that knows whether a server is up (None: it does not track that server)."""

    def status(self, url: str) -> bool | None: ...


# -- serialisation ----------------------------------------------------------------------------------------------------
def _is_empty_default(value: Any, default: Any) -> bool:
    # Go's omitempty, restricted to values that are also the default: ``passHostHeader: false`` is kept.
    if value is None:
        return True
    if isinstance(value, (str, tuple, list, dict, bool, int, float)) and not value:
        return default is msgspec.NODEFAULT or value == default
    return False


def _convert(value: Any, spec: TypeSpec | None) -> Any:
    if value is None:
        return None
    if isinstance(value, msgspec.Struct):
        return to_json(value)
    if spec is not None and spec.kind is Kind.DURATION and isinstance(value, (int, float)):
        return format_duration(float(value))
    if isinstance(value, Mapping):
        item = spec.item if spec is not None else None
        return {str(k): _convert(v, item) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        item = spec.item if spec is not None else None
        return [_convert(v, item) for v in value]
    return value


def to_json(model: msgspec.Struct) -> dict[str, Any]:
    """Return a configuration model as Traefik's JSON shows it.

    Keys are the camelCase wire names; a field whose value is empty (None, "", 0, false, empty list or map) and equal
    to its default is omitted; durations are Go duration strings (``"10s"``).
    """
    values = msgspec.structs.asdict(model)
    out: dict[str, Any] = {}
    for field in struct_spec(type(model)).fields:
        value = values[field.attr]
        if _is_empty_default(value, field.default_value()):
            continue
        out[field.wire] = _convert(value, field.type)
    return out


def _kind(model: msgspec.Struct) -> str:
    """Return the wire name of the one member set on an "exactly one of" model (a service or middleware kind)."""
    if isinstance(model, Middleware):
        plugin = model.plugin
        if model.kind == "plugin" and plugin is not None and len(plugin) == 1:
            return str(next(iter(plugin)))
        return model.kind
    if isinstance(model, Service):
        return model.kind
    for field, value in zip(msgspec.structs.fields(model), msgspec.structs.astuple(model), strict=True):
        if value is not None:
            return field.encode_name
    return ""


def _named(info: Info[Any]) -> dict[str, Any]:
    """The model's JSON with the name and provider after it."""
    return {**to_json(info.model), "name": info.name, "provider": info.provider}


def _with_errors(item: dict[str, Any], info: Info[Any]) -> dict[str, Any]:
    if info.errors:
        item["error"] = list(info.errors)
    return item


# -- the view ---------------------------------------------------------------------------------------------------------
class RuntimeView:
    """The API's picture of one configuration generation (see the module docstring).

    ``snapshots`` maps a provider name to its dynamic ``Configuration``; ``build`` is the generation's build result,
    whose ``runtime`` is rendered (None before the first build: the snapshots are merged, and everything is
    ``enabled``). ``entry_point_defaults`` are the entrypoints of routers that name none in that merge (default:
    :func:`default_entry_points`); ``started`` is the process start time reported by ``/api/version``.
    """

    def __init__(
        self,
        static: StaticConfig,
        snapshots: Mapping[str, Configuration],
        build: BuildResult | None = None,
        *,
        entry_point_defaults: Sequence[str] | None = None,
        started: _dt.datetime | None = None,
        version: str = __version__,
        codename: str = "hanzo",
    ) -> None:
        self.static = static
        self.snapshots = dict(snapshots)
        self.build = build
        self.defaults = list(entry_point_defaults) if entry_point_defaults is not None else default_entry_points(static)
        self.started = started or _PROCESS_START
        self._version = version
        self._codename = codename

    @cached_property
    def runtime(self) -> RuntimeConfig:
        """The runtime configuration this view renders."""
        if self.build is not None:
            return self.build.runtime
        return merge(self.snapshots, entry_point_defaults=self.defaults)

    # -- simple endpoints ---------------------------------------------------------------------------------------------
    def version(self) -> dict[str, Any]:
        """``/api/version``: ``{"Version", "Codename", "startDate", "disableDashboardAd"}``."""
        api = self.static.api
        return {
            "Version": self._version,
            "Codename": self._codename,
            "startDate": self.started.isoformat(),
            "disableDashboardAd": bool(api.disable_dashboard_ad) if api is not None else False,
        }

    def overview(self) -> dict[str, Any]:
        """``/api/overview``: totals, warnings and errors per protocol and kind, features and providers."""

        def section(name: str) -> dict[str, int]:
            items = self._items[name]
            return {
                "total": len(items),
                "warnings": sum(1 for i in items.values() if i["status"] == "warning"),
                "errors": sum(1 for i in items.values() if i["status"] == "disabled"),
            }

        static = self.static
        metrics = ""
        if static.metrics is not None:
            backends = msgspec.structs.asdict(static.metrics)
            metrics = next((go for attr, go in _METRICS_NAMES.items() if backends[attr] is not None), "")
        configured = msgspec.structs.asdict(static.providers)
        providers = [go for attr, go in _PROVIDER_NAMES.items() if configured.get(attr) is not None]
        providers += [f"plugin-{name}" for name in static.providers.plugin]
        return {
            "http": {kind: section(f"http/{kind}") for kind in ("routers", "services", "middlewares")},
            "tcp": {kind: section(f"tcp/{kind}") for kind in ("routers", "services", "middlewares")},
            "udp": {kind: section(f"udp/{kind}") for kind in ("routers", "services")},
            "features": {
                "tracing": "OTLP" if static.tracing is not None else "",
                "metrics": metrics,
                "accessLog": static.access_log is not None,
                "hub": False,
            },
            "providers": providers,
        }

    def entrypoints(self) -> list[dict[str, Any]]:
        """``/api/entrypoints``: the static entrypoints with their ``name``, sorted by name."""
        return [self._entrypoint(name) for name in sorted(self.static.entry_points)]

    def entrypoint(self, name: str) -> dict[str, Any] | None:
        """``/api/entrypoints/{name}``, or None when there is no such entrypoint."""
        return self._entrypoint(name) if name in self.static.entry_points else None

    def _entrypoint(self, name: str) -> dict[str, Any]:
        return {**to_json(self.static.entry_points[name]), "name": name}

    def rawdata(self) -> dict[str, Any]:
        """``/api/rawdata``: every section as a map keyed by qualified name (empty sections omitted)."""
        out: dict[str, Any] = {}
        for section in SECTIONS:
            items = self.items(section)
            if items:
                out[_RAW_KEYS[section]] = {item["name"]: item for item in items}
        return out

    # -- collections --------------------------------------------------------------------------------------------------
    def items(self, section: str) -> list[dict[str, Any]]:
        """Every item of ``section`` (one of :data:`SECTIONS`), sorted by name. Raises KeyError for another."""
        return [self._render(section, item) for _, item in sorted(self._items[section].items())]

    def item(self, section: str, name: str) -> dict[str, Any] | None:
        """The item ``name`` (qualified) of ``section``, or None. Raises KeyError for an unknown section."""
        item = self._items[section].get(name)
        return None if item is None else self._render(section, item)

    def http_routers(self) -> list[dict[str, Any]]:
        """``/api/http/routers``."""
        return self.items("http/routers")

    def http_router(self, name: str) -> dict[str, Any] | None:
        """``/api/http/routers/{name}``."""
        return self.item("http/routers", name)

    def http_services(self) -> list[dict[str, Any]]:
        """``/api/http/services``."""
        return self.items("http/services")

    def http_service(self, name: str) -> dict[str, Any] | None:
        """``/api/http/services/{name}``."""
        return self.item("http/services", name)

    def http_middlewares(self) -> list[dict[str, Any]]:
        """``/api/http/middlewares``."""
        return self.items("http/middlewares")

    def http_middleware(self, name: str) -> dict[str, Any] | None:
        """``/api/http/middlewares/{name}``."""
        return self.item("http/middlewares", name)

    def _render(self, section: str, item: dict[str, Any]) -> dict[str, Any]:
        out = dict(item)
        if section == "http/services":
            status = self._server_status(item["name"])
            if status is not None:
                out["serverStatus"] = status
        return out

    def _server_status(self, name: str) -> dict[str, str] | None:
        build = self.build
        entry = build.built.get(name) if build is not None else None
        info = self.runtime.services.get(name)
        if entry is None or info is None or info.model is None:
            return None
        lb = info.model.load_balancer
        balancer: object = entry[1]  # a Handler; balancers also answer status(url)
        if lb is None or not isinstance(balancer, _ServerStatus):
            return None
        # A server the balancer does not track (weight <= 0) is "UP", as Traefik marks every server at build time.
        return {server.url: "DOWN" if balancer.status(server.url) is False else "UP" for server in lb.servers}

    # -- rendering (once per view) ------------------------------------------------------------------------------------
    @cached_property
    def _items(self) -> dict[str, dict[str, dict[str, Any]]]:
        runtime = self.runtime
        existing = set(self.build.tables) if self.build is not None else set(self.static.entry_points)
        return {
            "http/routers": {name: self._router(info, existing) for name, info in runtime.routers.items()},
            "http/services": {name: self._typed(info) for name, info in runtime.services.items()},
            "http/middlewares": {name: self._typed(info) for name, info in runtime.middlewares.items()},
            "tcp/routers": {name: _layer4_router(info) for name, info in runtime.tcp_routers.items()},
            "tcp/services": {name: self._tcp_service(info) for name, info in runtime.tcp_services.items()},
            "tcp/middlewares": {name: _layer4_typed(info) for name, info in runtime.tcp_middlewares.items()},
            "udp/routers": {name: _layer4_router(info) for name, info in runtime.udp_routers.items()},
            "udp/services": {name: _layer4_typed(info) for name, info in runtime.udp_services.items()},
        }

    def _tcp_service(self, info: Info[TCPService]) -> dict[str, Any]:
        """A TCP service; a served ``loadBalancer`` shows ``serverStatus`` as Traefik's does, read live from its
        balancer (a server its health check found down is ``DOWN``)."""
        item = _layer4_typed(info)
        lb = info.model.load_balancer
        if lb is None or info.status == "disabled" or not lb.servers:
            return item
        balancer = self.build.layer4.tcp_services.get(info.name) if self.build is not None else None
        item["serverStatus"] = {
            server.address: "DOWN" if balancer is not None and balancer.status(server.address) is False else "UP"
            for server in lb.servers
        }
        return item

    @staticmethod
    def _router(info: RouterInfo[Any], existing: set[str]) -> dict[str, Any]:
        if info.internal:
            # Routers of the internal provider (ping, entrypoint redirections, the API itself).
            model = info.model
            served = sorted(info.using)
            return {
                "entryPoints": served,
                **({"middlewares": list(model.middlewares)} if model.middlewares else {}),
                **({"service": model.service} if model.service else {}),
                "rule": model.rule,
                "priority": info.priority,
                "priorityStr": str(info.priority),
                "name": info.name,
                "provider": info.provider,
                "status": info.status,
                "using": served,
            }
        using = sorted(info.using) if info.using else sorted(ep for ep in set(info.entry_points) if ep in existing)
        item = _named(info)
        if not info.model.entry_points:
            # Traefik's merge writes the default entrypoints (sorted) into a router that names none, so the API
            # lists them (every entrypoint but ``traefik`` unless some are ``asDefault``).
            item = {"entryPoints": sorted(info.entry_points), **item}
        item = {
            **item,
            "status": info.status,
            "priority": info.priority,
            "priorityStr": str(info.priority),
            "using": using,
        }
        return _with_errors(item, info)

    @staticmethod
    def _typed(info: Info[Any]) -> dict[str, Any]:
        """A service or middleware; a placeholder (an ``@internal`` one no snapshot defines) has no model."""
        if info.model is None:
            return {"name": info.name, "provider": info.provider, "status": info.status, "usedBy": sorted(info.used_by)}
        item = _with_errors({**_named(info), "type": _kind(info.model).lower(), "status": info.status}, info)
        item["usedBy"] = sorted(info.used_by)
        return item


def _layer4_router(info: RouterInfo[Any]) -> dict[str, Any]:
    """A TCP or UDP router as Traefik shows it: its model, status, errors and the entrypoints it serves on."""
    item = _named(info)
    # A router its provider refused (config/refusal.py) carries the reasons in the model; they are its "error" here,
    # and "refusals" is no key of Traefik's.
    item.pop("refusals", None)
    if not info.model.entry_points:
        item = {"entryPoints": sorted(info.entry_points), **item}  # the defaults Traefik's merge writes in
    return {**_with_errors({**item, "status": info.status}, info), "using": sorted(info.using)}


def _layer4_typed(info: Info[Any]) -> dict[str, Any]:
    """A TCP or UDP service or middleware: its model, ``type``, status, errors and ``usedBy``."""
    item = {**_named(info), "type": _kind(info.model).lower(), "status": info.status}
    return {**_with_errors(item, info), "usedBy": sorted(info.used_by)}


# -- list queries -----------------------------------------------------------------------------------------------------
def _int_param(params: Mapping[str, str], key: str, default: int) -> int:
    raw = params.get(key, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ApiError(400, f"invalid request: {key}: {value}")
    return value


def _sort_key(sort_by: str) -> Callable[[dict[str, Any]], Any] | None:
    if sort_by in ("provider", "status", "rule", "service", "type"):
        return lambda item: str(item.get(sort_by, ""))
    if sort_by == "priority":
        return lambda item: int(item.get("priority", 0))
    if sort_by == "entryPoints":
        return lambda item: len(item.get("entryPoints", ()))
    if sort_by == "servers":
        return lambda item: len((item.get("loadBalancer") or {}).get("servers", ()))
    return None


def select(items: Sequence[dict[str, Any]], params: Mapping[str, str], *, routers: bool = False) -> Page:
    """Filter, sort and paginate a list endpoint's ``items`` like Traefik (``pkg/api/criterion.go``, ``sort.go``).

    ``params``: ``search`` (case-insensitive substring of the name, or of the rule for routers), ``status``
    (case-insensitive), for routers ``serviceName`` and ``middlewareName``; ``sortBy`` (``name`` by default; ties by
    name) and ``direction`` (``asc``/``desc``); ``page`` (1) and ``per_page`` (100). Raises :class:`ApiError` (400)
    for a non-positive page size or page, or a page past the end.
    """
    search = params.get("search", "").lower()
    status = params.get("status", "").lower()
    service = params.get("serviceName", "")
    middleware = params.get("middlewareName", "")
    kept: list[dict[str, Any]] = []
    for item in items:
        if status and str(item.get("status", "")).lower() != status:
            continue
        if search:
            fields = [item.get("name", "")] + ([item.get("rule", "")] if routers else [])
            if not any(search in str(value).lower() for value in fields):
                continue
        if routers and service:
            own = str(item.get("service", ""))
            if own != service and not ("@" not in own and service.partition("@")[0] == own):
                continue
        if routers and middleware and middleware not in (item.get("middlewares") or ()):
            continue
        kept.append(item)
    descending = params.get("direction", "asc") == "desc"
    kept.sort(key=lambda item: str(item.get("name", "")), reverse=descending)
    key = _sort_key(params.get("sortBy", ""))
    if key is not None:
        kept.sort(key=key, reverse=descending)  # stable: ties stay ordered by name
    per_page = _int_param(params, "per_page", DEFAULT_PER_PAGE)
    page = _int_param(params, "page", 1)
    start = (page - 1) * per_page
    if start != 0 and start >= len(kept):
        raise ApiError(400, f"invalid request: page: {page}, per_page: {per_page}")
    next_page = page + 1 if page * per_page < len(kept) else 1
    return Page(kept[start : start + per_page], next_page)


# -- caching for the composition root ---------------------------------------------------------------------------------
class ViewCache:
    """A ``view_provider`` for :class:`~hanzo_edge.api.handlers.ApiHandler` that rebuilds the view only when the
    generation changes.

    ``source()`` returns ``(snapshots, build_result)``, e.g. ``lambda: (app.snapshots, app.last_build)``; a new
    :class:`RuntimeView` is made when the build result is a different object than last time.
    """

    def __init__(
        self,
        static: StaticConfig,
        source: Callable[[], tuple[Mapping[str, Any], BuildResult | None]],
        *,
        entry_point_defaults: Sequence[str] | None = None,
        started: _dt.datetime | None = None,
    ) -> None:
        self.static = static
        self.source = source
        self.entry_point_defaults = entry_point_defaults
        self.started = started
        self._key: BuildResult | None = None
        self._view: RuntimeView | None = None

    def __call__(self) -> RuntimeView:
        """Return the view of the current generation."""
        snapshots, build = self.source()
        view = self._view
        if view is None or build is not self._key or (build is None and view.snapshots != dict(snapshots)):
            view = RuntimeView(
                self.static, snapshots, build, entry_point_defaults=self.entry_point_defaults, started=self.started
            )
            self._view = view
            self._key = build
        return view
