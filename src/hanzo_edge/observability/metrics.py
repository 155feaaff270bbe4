"""Prometheus metrics with Traefik v3.6's names, labels and buckets (``pkg/observability/metrics/prometheus.go``).

Names are ``<prefix>_<family>``: ``prefix`` is ``metrics.prometheus.prefix`` (default ``hanzo_ingress``; ``traefik``
gives Traefik's exact names, so Traefik dashboards work unchanged). Families:

* ``config_reloads_total``, ``config_last_reload_success`` (unix seconds of the last applied configuration), plus the
  Traefik v2 names ``config_reloads_failure_total`` / ``config_last_reload_failure`` (a Hanzo addition; v3 dropped
  them, but an alert on a failing reload needs them);
* ``open_connections{entrypoint, protocol}`` (``protocol="TCP"`` as Traefik emits it), ``tls_certs_not_after{cn,
  serial, sans}``;
* per entrypoint (``addEntryPointsLabels``, default on), router (``addRoutersLabels``, off) and service
  (``addServicesLabels``, on): ``requests_total`` (+ ``headerLabels``), ``requests_tls_total``,
  ``request_duration_seconds`` (histogram on ``buckets``), ``requests_bytes_total``, ``responses_bytes_total``;
  services also ``retries_total{service}`` and ``server_up{service, url}``.

Label values follow Traefik's metrics middleware: ``code`` is the status, ``method`` the verb for the standard set
else ``EXTENSION_METHOD``, ``protocol`` one of ``http``/``websocket``/``sse``/``grpc``/``grpc-web`` from the request
headers. Router and service series exist only for matched requests; requests served by an ``@internal`` service
(ping, API, the metrics endpoint itself, entrypoint redirections) are not counted unless ``metrics.addInternals``.

Hot path (ENGINEERING.md §4, issue 22): :meth:`Metrics.observer` finds the request's *series* without building a
label tuple: the last route's table is remembered (an identity test), and in it one small-integer key (status, method
and protocol codes) names the series, whose typed fields it bumps (native integer and float adds in the compiled
build; the bucket found by a native walk over the bounds): ~135 ns a call compiled, against ~360 for a label-tuple
key and a list accumulator, and ~310 for typed fields behind the tuple key alone. No per-request dicts, label
formatting or locks (each worker process is single-threaded). The series are folded into the
entrypoint/router/service cells they feed only when those are read (scrape, snapshot, series removal, a cache reset).
Formatting happens only at scrape time. The
``prometheus_client`` package is deliberately not used: a labelled ``inc()`` there costs 1.6-2.7 µs per family (and
there are five families per scope), it takes a lock per update, and its multi-process mode does not give gauges or
per-worker file semantics we need.

``--workers N``: each worker publishes its snapshot to ``HANZO_EDGE_METRICS_DIR`` (:meth:`Metrics.run_publisher`)
and every scrape merges its own live state with the other workers' latest files (:meth:`Metrics.merge_from`).
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import os
import re
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import MatchedRoute, Request, Response
from hanzo_edge.observability._metrics_snapshot import (
    Snapshot,
    WorkerSnapshot,
    dump_snapshot,
    load_snapshot,
    merge_into,
    write_atomic,
)
from hanzo_edge.observability._metrics_text import FamilySpec, render_text

if TYPE_CHECKING:
    from hanzo_edge.config.static import Prometheus

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_BUCKETS",
    "METRICS_DIR_ENV",
    "Metrics",
    "request_protocol",
]

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METRICS_DIR_ENV = "HANZO_EDGE_METRICS_DIR"
DEFAULT_BUCKETS = (0.1, 0.3, 1.2, 5.0)

_METHODS = frozenset({"HEAD", "GET", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "PRI"})
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_PREFIX = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_MAX_BUNDLES = 100_000  # the bundle cache is only a cache: drop it if hostile label values make it grow
_FIRST_BUCKET = 4  # core cell layout: [count, request bytes, response bytes, duration sum, n_0, ..., n_inf]

_EP = ("code", "method", "protocol", "entrypoint")
_RT = ("code", "method", "protocol", "router", "service")
_SV = ("code", "method", "protocol", "service")

# (suffix, kind, help, labels, merge policy, gate) -- help texts are Traefik's
_CATALOG: tuple[tuple[str, str, str, tuple[str, ...], str, str], ...] = (
    ("config_reloads_total", "counter", "Config reloads", (), "max", ""),
    ("config_reloads_failure_total", "counter", "Config reload failures", (), "max", ""),
    ("config_last_reload_success", "gauge", "Last config reload success", (), "max", ""),
    ("config_last_reload_failure", "gauge", "Last config reload failure", (), "max", ""),
    ("tls_certs_not_after", "gauge", "Certificate expiration timestamp", ("cn", "serial", "sans"), "max_fresh", ""),
    (
        "open_connections",
        "gauge",
        "How many open connections exist, by entryPoint and protocol",
        ("entrypoint", "protocol"),
        "sum_fresh",
        "",
    ),
    (
        "entrypoint_requests_total",
        "counter",
        "How many HTTP requests processed on an entrypoint, partitioned by status code, protocol, and method.",
        _EP,
        "sum",
        "entrypoint",
    ),
    (
        "entrypoint_requests_tls_total",
        "counter",
        "How many HTTP requests with TLS processed on an entrypoint, partitioned by TLS Version and TLS cipher Used.",
        ("tls_version", "tls_cipher", "entrypoint"),
        "sum",
        "entrypoint",
    ),
    (
        "entrypoint_request_duration_seconds",
        "histogram",
        "How long it took to process the request on an entrypoint, partitioned by status code, protocol, and method.",
        _EP,
        "sum",
        "entrypoint",
    ),
    (
        "entrypoint_requests_bytes_total",
        "counter",
        "The total size of requests in bytes handled by an entrypoint, partitioned by status code, protocol, and "
        "method.",
        _EP,
        "sum",
        "entrypoint",
    ),
    (
        "entrypoint_responses_bytes_total",
        "counter",
        "The total size of responses in bytes handled by an entrypoint, partitioned by status code, protocol, and "
        "method.",
        _EP,
        "sum",
        "entrypoint",
    ),
    (
        "router_requests_total",
        "counter",
        "How many HTTP requests are processed on a router, partitioned by service, status code, protocol, and method.",
        _RT,
        "sum",
        "router",
    ),
    (
        "router_requests_tls_total",
        "counter",
        "How many HTTP requests with TLS are processed on a router, partitioned by service, TLS Version, and TLS "
        "cipher Used.",
        ("tls_version", "tls_cipher", "router", "service"),
        "sum",
        "router",
    ),
    (
        "router_request_duration_seconds",
        "histogram",
        "How long it took to process the request on a router, partitioned by service, status code, protocol, and "
        "method.",
        _RT,
        "sum",
        "router",
    ),
    (
        "router_requests_bytes_total",
        "counter",
        "The total size of requests in bytes handled by a router, partitioned by service, status code, protocol, and "
        "method.",
        _RT,
        "sum",
        "router",
    ),
    (
        "router_responses_bytes_total",
        "counter",
        "The total size of responses in bytes handled by a router, partitioned by service, status code, protocol, "
        "and method.",
        _RT,
        "sum",
        "router",
    ),
    (
        "service_requests_total",
        "counter",
        "How many HTTP requests processed on a service, partitioned by status code, protocol, and method.",
        _SV,
        "sum",
        "service",
    ),
    (
        "service_requests_tls_total",
        "counter",
        "How many HTTP requests with TLS processed on a service, partitioned by TLS version and TLS cipher.",
        ("tls_version", "tls_cipher", "service"),
        "sum",
        "service",
    ),
    (
        "service_request_duration_seconds",
        "histogram",
        "How long it took to process the request on a service, partitioned by status code, protocol, and method.",
        _SV,
        "sum",
        "service",
    ),
    (
        "service_retries_total",
        "counter",
        "How many request retries happened on a service.",
        ("service",),
        "sum",
        "service",
    ),
    (
        "service_server_up",
        "gauge",
        "service server is up, described by gauge value of 0 or 1.",
        ("service", "url"),
        "max_fresh",
        "service",
    ),
    (
        "service_requests_bytes_total",
        "counter",
        "The total size of requests in bytes received by a service, partitioned by status code, protocol, and method.",
        _SV,
        "sum",
        "service",
    ),
    (
        "service_responses_bytes_total",
        "counter",
        "The total size of responses in bytes returned by a service, partitioned by status code, protocol, and method.",
        _SV,
        "sum",
        "service",
    ),
)

_CONFIG_FAMILIES = (
    "config_reloads_total",
    "config_reloads_failure_total",
    "config_last_reload_success",
    "config_last_reload_failure",
)
_SCOPES = ("entrypoint", "router", "service")
_HEADER_FAMILIES = frozenset(f"{scope}_requests_total" for scope in _SCOPES)  # the families headerLabels extend


def _has_token(value: bytes, token: bytes) -> bool:
    return any(item.strip().lower() == token for item in value.split(b","))


_PROTOCOLS = ("http", "websocket", "sse", "grpc", "grpc-web")  # the protocol label of each protocol code


def request_protocol(raw: list[tuple[bytes, bytes]]) -> str:
    """Return Traefik's ``protocol`` label for request header fields ``raw``.

    ``websocket`` (``Connection: upgrade`` and ``Upgrade: websocket``), ``sse`` (``Accept: text/event-stream``),
    ``grpc-web`` / ``grpc`` (``Content-Type`` prefix), else ``http``. Like Go's ``Header.Get``, only the first field
    of each name is looked at. One pass over the fields.
    """
    return _PROTOCOLS[_protocol_code(raw)]


def _protocol_code(raw: list[tuple[bytes, bytes]]) -> int:
    """:func:`request_protocol` as its index in ``_PROTOCOLS`` (the hot path keys series by small integers)."""
    connection = upgrade = accept = content_type = None
    for name, value in raw:
        size = len(name)
        if size == 6:
            if accept is None and name.lower() == b"accept":
                accept = value
        elif size == 12:
            if content_type is None and name.lower() == b"content-type":
                content_type = value
        elif size == 10:
            if connection is None and name.lower() == b"connection":
                connection = value
        elif size == 7 and upgrade is None and name.lower() == b"upgrade":
            upgrade = value
    if (
        connection is not None
        and upgrade is not None
        and _has_token(connection, b"upgrade")
        and _has_token(upgrade, b"websocket")
    ):
        return 1
    if accept is not None and b"event-stream" in accept.lower() and _has_token(accept, b"text/event-stream"):
        return 2
    if content_type is not None and content_type.startswith(b"application/grpc"):
        return 4 if content_type.startswith(b"application/grpc-web") else 3
    return 0


# The method label as a small integer (0: EXTENSION_METHOD; 4 bits), for the hot path's series key. Final: a native
# constant in the compiled build, not a module-dict lookup per request.
_METHOD_CODES: Final[dict[str, int]] = {method: i + 1 for i, method in enumerate(sorted(_METHODS))}
_METHOD_LABELS = ("EXTENSION_METHOD", *sorted(_METHODS))

_Cell = list[Any]  # a counter/gauge is [value]; a core cell is [count, req bytes, resp bytes, sum, n_0..n_inf]


class _Count:
    """One histogram bucket's count of a series: a native integer field, so a request's ``n += 1`` allocates
    nothing (an ``int`` in a list is boxed, and past 256 every increment made a new int object)."""

    def __init__(self) -> None:
        self.n = 0


class _Series:
    """What requests with one label set added since the last read, and the cells that sum is folded into.

    One per (entrypoint, router, service, method, protocol, status[, header label values]): a request bumps its
    typed fields (native integer and float adds in the compiled build, no boxed arithmetic and no list of Any), and
    :meth:`fold` moves them into the ``cores`` (the entrypoint/router/service core cells) when those are read.
    ``counted`` is False for the requests not counted at all (a disabled entrypoint, an ``@internal`` service).
    """

    def __init__(
        self, buckets: int, cores: tuple[_Cell, ...], counters: tuple[_Cell, ...], retry_service: str, counted: bool
    ) -> None:
        self.count = 0
        self.request_bytes = 0
        self.response_bytes = 0
        self.duration_sum = 0.0
        self.buckets = [_Count() for _ in range(buckets)]  # n_0 .. n_inf
        self.cores = cores
        self.counters = counters  # the *_requests_total cells when headerLabels split them from the core cells
        self.retry_service = retry_service
        self.counted = counted

    def fold(self) -> None:
        """Add what was counted into the core cells it feeds, and start again from zero."""
        if not self.count:
            return
        buckets = self.buckets
        for cell in self.cores:
            cell[0] += self.count
            cell[1] += self.request_bytes
            cell[2] += self.response_bytes
            cell[3] += self.duration_sum
            for i, bucket in enumerate(buckets):
                cell[_FIRST_BUCKET + i] += bucket.n
        self.count = 0
        self.request_bytes = 0
        self.response_bytes = 0
        self.duration_sum = 0.0
        for bucket in buckets:
            bucket.n = 0


_SKIP = _Series(0, (), (), "", False)
_NO_ROUTE = object()  # the route memo before any request (None is a route value: an unmatched request)


class Metrics:
    """The Prometheus registry of one worker process: hot-path observer, scrape rendering, multi-worker merge.

    Args:
        prometheus_config: the static ``metrics.prometheus`` section (None: Traefik's defaults, prefix
            ``hanzo_ingress``).
        worker_id: this worker's index (names its snapshot file).
        add_internals: ``metrics.addInternals``: also count requests served by ``@internal`` services.
        disabled_entrypoints: entrypoints with ``observability.metrics: false`` (their requests are not counted).
        directory: where workers publish snapshots; None reads ``HANZO_EDGE_METRICS_DIR`` (unset: single process).
        stale_after: seconds after which another worker's gauges (open connections, server up) are ignored.
        clock: wall clock in unix seconds (reload timestamps, snapshot ages); replaceable in tests.

    Raises:
        ValueError: an invalid prefix or header label name, or a header label clashing with a standard label.
    """

    def __init__(
        self,
        prometheus_config: Prometheus | None = None,
        worker_id: int = 0,
        *,
        add_internals: bool = False,
        disabled_entrypoints: Collection[str] = (),
        directory: str | os.PathLike[str] | None = None,
        stale_after: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        cfg = prometheus_config
        self.prefix: str = cfg.prefix if cfg is not None else "hanzo_ingress"
        if self.prefix and not _PREFIX.match(self.prefix):
            raise ValueError(f"metrics.prometheus.prefix {self.prefix!r} is not a valid metric name prefix")
        self.buckets: tuple[float, ...] = tuple(sorted(float(b) for b in (cfg.buckets if cfg else DEFAULT_BUCKETS)))
        self._bounds = self.buckets  # a tuple: the bucket search walks it natively
        gates = {
            "": True,
            "entrypoint": cfg.add_entry_points_labels if cfg else True,
            "router": cfg.add_routers_labels if cfg else False,
            "service": cfg.add_services_labels if cfg else True,
        }
        header_labels: Mapping[str, str] = cfg.header_labels if cfg else {}
        for label in header_labels:
            if not _LABEL_NAME.match(label) or label.startswith("__"):
                raise ValueError(f"metrics.prometheus.headerLabels: {label!r} is not a valid label name")
            if label in _RT or label == "entrypoint":
                raise ValueError(f"metrics.prometheus.headerLabels: {label!r} clashes with a standard label")
        self._label_names = tuple(header_labels)
        self._header_names = tuple(header_labels.values())
        self.worker_id = worker_id
        self.add_internals = add_internals
        self.disabled_entrypoints = frozenset(disabled_entrypoints)
        env_dir = os.environ.get(METRICS_DIR_ENV) if directory is None else None
        self.directory: Path | None = Path(directory) if directory is not None else Path(env_dir) if env_dir else None
        self.stale_after = stale_after
        self._clock = clock
        self._ep_on, self._router_on, self._svc_on = gates["entrypoint"], gates["router"], gates["service"]

        self.specs: dict[str, FamilySpec] = {}
        for suffix, kind, help_text, labels, merge, gate in _CATALOG:
            if not gates[gate]:
                continue
            if suffix in _HEADER_FAMILIES:
                labels = labels + self._label_names  # headerLabels apply to *_requests_total only
            self.specs[suffix] = FamilySpec(suffix, kind, help_text, labels, merge)

        # storage: scope -> label values -> core cell; suffix -> label values -> [value]
        self._cores: dict[str, dict[tuple[str, ...], _Cell]] = {scope: {} for scope in _SCOPES}
        self._values: dict[str, dict[tuple[str, ...], _Cell]] = {
            suffix: {} for suffix, spec in self.specs.items() if spec.kind != "histogram"
        }
        for suffix in _CONFIG_FAMILIES:
            self._values[suffix][()] = [0]  # label-less families are exported from the start, as 0
        self._open = self._values["open_connections"]
        self._watched: dict[tuple[str, str], Callable[[], int]] = {}
        # full label key -> series: every series the observer bumps (what _fold walks)
        self._bundles: dict[tuple[Any, ...], _Series] = {}
        # Without headerLabels a request finds its series in two small steps instead of hashing a six-label tuple:
        # (entrypoint, router, service) -> {method/protocol/status code -> series}, and the last route's table is
        # remembered (the route object, held here so its identity cannot be reused, and its entrypoint).
        self._routes: dict[tuple[str, str, str], dict[int, _Series]] = {}
        self._last_route: object = _NO_ROUTE
        self._last_entry_point = ""
        self._last_codes: dict[int, _Series] = {}
        # ... and in that table, the last request's code and series: a keep-alive client's next request is most
        # often the same (route, status, method, protocol), found then with one int comparison.
        self._last_code = -1
        self._last_series = _SKIP
        self._tls_bundles: dict[tuple[Any, ...], tuple[_Cell, ...]] = {}
        # promState: objects gone from the dynamic configuration, dropped after the next scrape
        self._known: tuple[frozenset[str], frozenset[str], dict[str, frozenset[str]]] | None = None
        self._gone: list[dict[str, str]] = []
        self._gone_since = 0.0

    # -- hot path ----------------------------------------------------------------------------------------------------
    def observer(self, req: Request, status: int, response_bytes: int, duration: float, aborted: bool) -> None:
        """Record one finished request (the ``ConnectionContext.observer`` hook; ``aborted`` ones count too)."""
        if self._header_names:
            series = self._labelled_series(req, status)
        else:
            route = req.route
            entry_point = req.entry_point
            # status, method and protocol in one int key: no tuple to build or hash
            code = (status << 7) | (_METHOD_CODES.get(req.method, 0) << 3) | _protocol_code(req.headers.raw)
            if route is self._last_route and entry_point == self._last_entry_point:
                if code == self._last_code:
                    series = self._last_series
                else:
                    series = self._code_series(self._last_codes, code, entry_point, route)
            else:
                series = self._code_series(self._route_codes(route, entry_point), code, entry_point, route)
        if not series.counted:
            return
        body = req.body
        series.count += 1
        series.request_bytes += len(body) if isinstance(body, bytes) else body.received
        series.response_bytes += response_bytes
        series.duration_sum += duration
        index = 0
        for bound in self._bounds:  # le buckets: the first bound the duration does not exceed
            if duration <= bound:
                break
            index += 1
        series.buckets[index].n += 1
        for cell in series.counters:
            cell[0] += 1
        if series.retry_service:
            retried = req.retry_attempts
            if retried:
                self.retries(series.retry_service, retried)
        if req.tls:
            route = req.route
            if route is None:
                self._observe_tls(req, req.entry_point, "", "")
            else:
                self._observe_tls(req, req.entry_point, route.name, route.service)

    def _route_codes(self, route: MatchedRoute | None, entry_point: str) -> dict[int, _Series]:
        """The series table of ``route`` on ``entry_point`` (made when new), remembered for the next request."""
        names = ("", "") if route is None else (route.name, route.service)
        key = (entry_point, names[0], names[1])
        codes = self._routes.get(key)
        if codes is None:
            codes = self._routes[key] = {}
        self._last_route = route
        self._last_entry_point = entry_point
        self._last_codes = codes
        return codes

    def _code_series(
        self, codes: dict[int, _Series], code: int, entry_point: str, route: MatchedRoute | None
    ) -> _Series:
        """The series of ``code`` in a route's table (found or made), remembered for the next request."""
        found = codes.get(code)
        series = self._coded_series(codes, code, entry_point, route) if found is None else found
        # Set after _coded_series: a cache reset there forgets the route memo, so this one is not used.
        self._last_code = code
        self._last_series = series
        return series

    def _coded_series(
        self, codes: dict[int, _Series], code: int, entry_point: str, route: MatchedRoute | None
    ) -> _Series:
        """The series of ``code`` (see :meth:`observer`) in a route's table: found by its labels, or made."""
        router, service = ("", "") if route is None else (route.name, route.service)
        status = code >> 7
        key = (entry_point, router, service, _METHOD_LABELS[(code >> 3) & 15], _PROTOCOLS[code & 7], status)
        series = self._bundles.get(key)
        if series is None:
            series = self._new_bundle(key)  # may reset the caches: ``codes`` is then dropped after this request
        codes[code] = series
        return series

    def _labelled_series(self, req: Request, status: int) -> _Series:
        """The series of a request when ``headerLabels`` add label values read from its headers."""
        route = req.route
        router, service = ("", "") if route is None else (route.name, route.service)
        method = req.method
        if method not in _METHODS:
            method = "EXTENSION_METHOD"
        get = req.headers.get
        key: tuple[Any, ...] = (req.entry_point, router, service, method, request_protocol(req.headers.raw), status)
        key += tuple([get(h) or "" for h in self._header_names])
        series = self._bundles.get(key)
        return self._new_bundle(key) if series is None else series

    def _new_bundle(self, key: tuple[Any, ...]) -> _Series:
        entry_point, router, service, method, protocol, status = key[:6]
        extra: tuple[str, ...] = key[6:]
        if len(self._bundles) >= _MAX_BUNDLES:
            self._fold()
            self._reset_caches()
        if entry_point in self.disabled_entrypoints or (service.endswith("@internal") and not self.add_internals):
            self._bundles[key] = _SKIP
            return _SKIP
        code = str(status)
        cores: list[_Cell] = []
        counters: list[_Cell] = []
        scopes: list[tuple[str, tuple[str, ...]]] = []
        if self._ep_on:
            scopes.append(("entrypoint", (code, method, protocol, entry_point)))
        if router and self._router_on:
            scopes.append(("router", (code, method, protocol, router, service)))
        if router and self._svc_on:
            scopes.append(("service", (code, method, protocol, service)))
        width = _FIRST_BUCKET + len(self._bounds) + 1
        for scope, labels in scopes:
            table = self._cores[scope]
            cell = table.get(labels)
            if cell is None:
                cell = table[labels] = [0] * width
            cores.append(cell)
            if self._header_names:
                counters.append(self._cell(f"{scope}_requests_total", labels + extra))
        retry_service = service if router and self._svc_on else ""
        series = _Series(len(self._bounds) + 1, tuple(cores), tuple(counters), retry_service, True)
        self._bundles[key] = series
        return series

    def _reset_caches(self) -> None:
        """Forget every series (fold them first): they hold cells that may be deleted, or the cache grew too big."""
        self._bundles.clear()
        self._routes.clear()
        self._last_route = _NO_ROUTE
        self._last_entry_point = ""
        self._last_codes = {}
        self._last_code = -1
        self._last_series = _SKIP

    def _fold(self) -> None:
        """Add every bundle's accumulator into the core cells it feeds, and zero it: call before reading the cells."""
        for series in self._bundles.values():
            series.fold()

    def _cell(self, suffix: str, labels: tuple[str, ...], initial: float = 0) -> _Cell:
        table = self._values[suffix]
        cell = table.get(labels)
        if cell is None:
            cell = table[labels] = [initial]
        return cell

    def _observe_tls(self, req: Request, entry_point: str, router: str, service: str) -> None:
        info = req.tls_info
        if info is None:
            return  # the connection's version/cipher are unknown: no series rather than a wrong one
        key = (info.version, info.cipher, entry_point, router, service)
        cells = self._tls_bundles.get(key)
        if cells is None:
            version, cipher = info.version, info.cipher
            found: list[_Cell] = []
            if self._ep_on:
                found.append(self._cell("entrypoint_requests_tls_total", (version, cipher, entry_point)))
            if router and self._router_on:
                found.append(self._cell("router_requests_tls_total", (version, cipher, router, service)))
            if router and self._svc_on:
                found.append(self._cell("service_requests_tls_total", (version, cipher, service)))
            if len(self._tls_bundles) >= _MAX_BUNDLES:
                self._tls_bundles.clear()
            cells = self._tls_bundles[key] = tuple(found)
        for cell in cells:
            cell[0] += 1

    # -- other events ------------------------------------------------------------------------------------------------
    def connection_opened(self, entrypoint: str, protocol: str = "TCP") -> None:
        """Count one more open connection on ``entrypoint`` (Traefik only emits ``protocol="TCP"``)."""
        self._cell("open_connections", (entrypoint, protocol))[0] += 1

    def connection_closed(self, entrypoint: str, protocol: str = "TCP") -> None:
        """Count one connection fewer on ``entrypoint``."""
        cell = self._open.get((entrypoint, protocol))
        if cell is not None and cell[0] > 0:
            cell[0] -= 1

    def watch_open_connections(self, entrypoint: str, count: Callable[[], int], protocol: str = "TCP") -> None:
        """Read ``open_connections`` from ``count()`` at scrape time (e.g. ``lambda: len(ctx.connections)``).

        The zero-per-connection alternative to :meth:`connection_opened` / :meth:`connection_closed`.
        """
        self._watched[(entrypoint, protocol)] = count

    def config_reload(self, success: bool) -> None:
        """Record an applied (``success``) or rejected dynamic configuration, with its unix time in seconds."""
        now = float(int(self._clock()))
        if success:
            self._values["config_reloads_total"][()][0] += 1
            self._values["config_last_reload_success"][()][0] = now
        else:
            self._values["config_reloads_failure_total"][()][0] += 1
            self._values["config_last_reload_failure"][()][0] = now

    def server_up(self, service: str, url: str, up: bool) -> None:
        """Set ``service_server_up{service, url}`` to 1 or 0 (health checks)."""
        if self._svc_on:
            self._cell("service_server_up", (service, url))[0] = 1 if up else 0

    def retries(self, service: str, n: int = 1) -> None:
        """Add ``n`` retries to ``service_retries_total{service}``.

        :meth:`observer` already adds ``req.retry_attempts`` for the matched service: call this only for
        retries it cannot see.
        """
        if self._svc_on and n > 0:
            self._cell("service_retries_total", (service,))[0] += n

    def set_tls_certs(self, certs: Iterable[tuple[str, str, Sequence[str], float]]) -> None:
        """Replace every ``tls_certs_not_after`` series with ``(cn, serial, sans, not_after_unix)`` of ``certs``.

        ``serial`` is the decimal serial number; ``sans`` the DNS names (joined with ``,`` like Traefik).
        """
        table = self._values["tls_certs_not_after"]
        table.clear()
        for cn, serial, sans, not_after in certs:
            table[(cn, serial, ",".join(sans))] = [float(not_after)]

    def on_configuration(
        self, entrypoints: Iterable[str], routers: Iterable[str], services: Mapping[str, Iterable[str]]
    ) -> None:
        """Tell the registry which objects exist now (Traefik ``OnConfigurationUpdate``).

        Series of entrypoints, routers, services and service server URLs that disappeared are dropped after the next
        scrape (so their last values are exported once), or by the publisher after ``stale_after`` seconds.
        """
        now = (frozenset(entrypoints), frozenset(routers), {s: frozenset(urls) for s, urls in services.items()})
        before = self._known
        self._known = now
        # The route memo holds the previous generation's last route (and through it, its handlers): let it go.
        self._last_route = _NO_ROUTE
        if before is None:
            return
        eps, rts, svcs = now
        gone = [{"entrypoint": ep} for ep in before[0] - eps]
        gone += [{"router": r} for r in before[1] - rts]
        for service, urls in before[2].items():
            if service not in svcs:
                gone.append({"service": service})
            else:
                gone += [{"service": service, "url": url} for url in urls - svcs[service]]
        if gone:
            if not self._gone:
                self._gone_since = time.monotonic()
            self._gone += gone

    def _drop_gone(self) -> None:
        """Delete the series of objects still absent from the configuration (Traefik ``promState.Collect``)."""
        if not self._gone or self._known is None:
            return
        self._fold()  # the bundles are dropped below: what they counted must be in the cells first
        eps, rts, svcs = self._known
        stores: list[tuple[tuple[str, ...], dict[tuple[str, ...], _Cell]]] = [
            (self.specs[suffix].labels, table) for suffix, table in self._values.items()
        ]
        stores += [
            (spec_labels, self._cores[scope]) for scope, spec_labels in zip(_SCOPES, (_EP, _RT, _SV), strict=True)
        ]
        for match in self._gone:
            if "url" in match:
                back = match["url"] in svcs.get(match["service"], frozenset())
            elif "service" in match:
                back = match["service"] in svcs
            elif "router" in match:
                back = match["router"] in rts
            else:
                back = match["entrypoint"] in eps
            if back:
                continue  # it came back in a later configuration: keep its series
            for labels, table in stores:
                if not all(name in labels for name in match):
                    continue
                where = [(labels.index(name), value) for name, value in match.items()]
                for key in [k for k in table if all(k[i] == v for i, v in where)]:
                    del table[key]
        self._gone = []
        self._reset_caches()  # the series hold references to the deleted cells
        self._tls_bundles.clear()

    # -- scrape side -------------------------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """Return this worker's current values: family suffix -> label values -> value (histograms as lists)."""
        self._fold()
        snap: Snapshot = {suffix: {k: c[0] for k, c in table.items()} for suffix, table in self._values.items()}
        if self._watched:
            opened = snap["open_connections"]
            for key, count in self._watched.items():
                opened[key] = opened.get(key, 0) + count()
        for scope, table in self._cores.items():
            if f"{scope}_request_duration_seconds" not in self.specs:
                continue
            snap[f"{scope}_request_duration_seconds"] = {k: [c[0], c[3], *c[_FIRST_BUCKET:]] for k, c in table.items()}
            snap[f"{scope}_requests_bytes_total"] = {k: c[1] for k, c in table.items()}
            snap[f"{scope}_responses_bytes_total"] = {k: c[2] for k, c in table.items()}
            if not self._header_names:
                snap[f"{scope}_requests_total"] = {k: c[0] for k, c in table.items()}
        return snap

    @property
    def _file_name(self) -> str:
        return f"worker-{self.worker_id}-{os.getpid()}.json"

    def merge_from(self, directory: str | os.PathLike[str], snapshot: Snapshot | None = None) -> Snapshot:
        """Return this worker's snapshot plus every other worker's latest file in ``directory``.

        Counters and histograms are summed; ``open_connections`` is summed over fresh files; reload counters and
        timestamps, ``server_up`` and certificate expiries take the maximum (every worker applies every
        configuration and runs its own health checks). ``snapshot`` (default: :meth:`snapshot` now) is updated in
        place; with it given, this only reads files and immutable settings, so it may run in a thread.
        """
        merged = self.snapshot() if snapshot is None else snapshot
        own = self._file_name
        others: list[WorkerSnapshot] = []
        try:
            paths = sorted(Path(directory).glob("worker-*.json"))
        except OSError:
            paths = []
        for path in paths:
            if path.name == own:
                continue
            snap = load_snapshot(path, self.specs)
            if snap is not None:
                others.append(snap)
        return merge_into(merged, others, self.specs.values(), self.buckets, self._clock(), self.stale_after)

    def _exposition(self, snapshot: Snapshot, directory: Path | None, compress: bool) -> bytes:
        if directory is not None:
            snapshot = self.merge_from(directory, snapshot)
        text = render_text(self.prefix, self.specs.values(), snapshot, self.buckets)
        return gzip.compress(text, compresslevel=1, mtime=0) if compress else text

    def render(self) -> bytes:
        """Return the text exposition (format 0.0.4); merged over all workers when a directory is set."""
        text = self._exposition(self.snapshot(), self.directory, False)
        self._drop_gone()
        return text

    async def handler(self, req: Request) -> Response:
        """``prometheus@internal``: serve the exposition (gzip when the scraper accepts it, like ``promhttp``).

        Only the snapshot is taken on the event loop (about 1 ms for 20k series); merging the other workers'
        files, formatting and compression run in a thread so a scrape does not stall the requests in flight.
        """
        snapshot = self.snapshot()
        self._drop_gone()
        accept = req.headers.get_raw(b"accept-encoding")
        compress = accept is not None and _accepts_gzip(accept)
        body = await asyncio.to_thread(self._exposition, snapshot, self.directory, compress)
        headers = Headers([(b"Content-Type", CONTENT_TYPE.encode("latin-1"))])
        if compress:
            headers.add("Content-Encoding", "gzip")
        return Response(200, headers, body)

    # -- multi-worker publishing -------------------------------------------------------------------------------------
    def publish(self, directory: str | os.PathLike[str] | None = None) -> Path | None:
        """Write this worker's snapshot to ``directory`` (default: :attr:`directory`); return the file written."""
        where = Path(directory) if directory is not None else self.directory
        if where is None:
            return None
        if self._gone and time.monotonic() - self._gone_since >= self.stale_after:
            self._drop_gone()  # nobody scraped this worker: do not keep deleted objects forever
        path = where / self._file_name
        data = dump_snapshot(self.worker_id, os.getpid(), self._clock(), self.buckets, self.snapshot())
        write_atomic(path, data)
        return path

    async def run_publisher(self, directory: str | os.PathLike[str] | None = None, interval: float = 1.0) -> None:
        """Publish a snapshot every ``interval`` seconds until cancelled, then once more.

        Run it as a task in every worker of ``--workers N`` (``directory`` defaults to ``HANZO_EDGE_METRICS_DIR``);
        it also makes :meth:`render` merge that directory. The supervisor should empty the directory at start-up.
        """
        if directory is not None:
            self.directory = Path(directory)
        where = self.directory
        if where is None:
            raise ValueError(f"no metrics directory: pass one or set {METRICS_DIR_ENV}")
        where.mkdir(parents=True, exist_ok=True)
        try:
            while True:
                try:
                    self.publish(where)
                except OSError as exc:
                    log.warning("cannot publish metrics snapshot to %s: %s", where, exc)
                await asyncio.sleep(interval)
        finally:
            try:
                self.publish(where)
            except OSError as exc:
                log.warning("cannot publish the final metrics snapshot to %s: %s", where, exc)


def _accepts_gzip(value: bytes) -> bool:
    """True when an ``Accept-Encoding`` value lists ``gzip`` without ``q=0``."""
    for item in value.split(b","):
        name, _, params = item.partition(b";")
        if name.strip().lower() != b"gzip":
            continue
        quality = params.strip().lower().replace(b" ", b"")
        if quality.startswith(b"q="):
            try:
                return float(quality[2:]) > 0
            except ValueError:
                return False
        return True
    return False
