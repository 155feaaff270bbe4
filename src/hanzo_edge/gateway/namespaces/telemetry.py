"""Service-level telemetry namespaces → the static options ``ingress`` starts its exporters from.

Each handler returns ``settings["static_args"]``: ingress flags the gateway process is started with
(:func:`hanzo_edge.gateway.server.gateway_static`), so the same Prometheus (``observability/metrics.py``) and OTLP
(``observability/tracing.py``) exporters serve both faces.

* ``telemetry/logging``: ``level`` (DEBUG, INFO, WARNING, ERROR, CRITICAL) → ``--log.level``; ``prefix`` is put
  before every log line's message; ``stdout`` is where we log anyway; ``syslog``, ``format`` (other than
  ``default``) and ``custom_format`` are warned and not honoured.
* ``telemetry/metrics``: the metrics listener at ``listen_address`` (default ``:8090``) serves KrakenD's
  ``/__stats`` JSON (:mod:`hanzo_edge.gateway.stats`, settings ``stats``: ``collection_time``, the
  ``router``/``proxy``/``backend`` switches, ``endpoint_disabled`` hides it) and our Prometheus ``/metrics``. Go's
  ``memstats`` and most ``krakend.service.*`` runtime keys have no Python equivalent: warned.
* ``telemetry/opentelemetry``: ``service_name``, ``trace_sample_rate`` and the first OTLP exporter whose traces are
  not disabled (``host``, ``port``, ``use_http``) → ``--tracing.*``; a ``prometheus`` exporter → ``/metrics`` on
  its ``port`` (a listener of its own); OTLP *metrics*, ``layers``, ``skip_paths`` and the other exporters are warned.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hanzo_edge.gateway.errors import JsonPath
from hanzo_edge.gateway.extra_config import NamespaceResult, namespace
from hanzo_edge.gateway.namespaces._values import Block

__all__ = [
    "METRICS_ENTRY_POINT",
    "PROMETHEUS_ENTRY_POINT",
    "STATIC_ARGS",
    "STATS",
    "logging_ns",
    "metrics_ns",
    "otel_ns",
]

STATIC_ARGS = "static_args"
STATS = "stats"  # the /__stats collector's settings (gateway/stats.py StatsConfig)
LOG_PREFIX = "log_prefix"
METRICS_ENTRY_POINT = "krakend-metrics"
PROMETHEUS_ENTRY_POINT = "otel-prometheus"
_LEVELS = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARN", "WARN": "WARN", "ERROR": "ERROR", "CRITICAL": "FATAL"}


def _address(listen: str) -> str:
    # KrakenD's ":8090" (all interfaces) is our entrypoint address as it is.
    return listen if ":" in listen else f":{listen}"


@namespace("telemetry/logging", scopes={"service"})
def logging_ns(config: Mapping[str, Any], where: JsonPath) -> NamespaceResult:
    """``telemetry/logging`` (see the module docstring)."""
    block = Block(config, where)
    level = block.string("level", "INFO").upper()
    if level not in _LEVELS:
        raise block.error("level", f"want one of {sorted(_LEVELS)}, not {level!r}")
    if block.boolean("syslog"):
        block.warn("syslog", "syslog is not supported: logs go to stdout")
    if block.string("format", "default") not in ("", "default"):
        block.warn("format", "only the default log format is supported")
    block.unsupported({"custom_format": "the default format is used", "syslog_facility": "no syslog"})
    settings: dict[str, Any] = {STATIC_ARGS: (f"--log.level={_LEVELS[level]}",)}
    prefix = block.string("prefix")
    if prefix:
        settings[LOG_PREFIX] = prefix
    return NamespaceResult(warnings=tuple(block.warnings), settings=settings)


@namespace("telemetry/metrics", scopes={"service"})
def metrics_ns(config: Mapping[str, Any], where: JsonPath) -> NamespaceResult:
    """``telemetry/metrics`` (see the module docstring)."""
    from hanzo_edge.gateway.stats import StatsConfig

    block = Block(config, where)
    address = _address(block.string("listen_address", ":8090") or ":8090")
    collection = block.duration("collection_time", 60.0)
    if collection <= 0:
        raise block.error("collection_time", "want a positive duration")
    stats = StatsConfig(
        collection_time=collection,
        router=not block.boolean("router_disabled"),
        proxy=not block.boolean("proxy_disabled"),
        backend=not block.boolean("backend_disabled"),
        endpoint=not block.boolean("endpoint_disabled"),
    )
    if stats.endpoint:
        block.warn(
            None,
            "telemetry/metrics: /__stats has KrakenD's router, proxy and backend keys but not Go's memstats and, of "
            "krakend.service.*, only GCStats (CPython's collector), NumGoroutine and NumThread; Prometheus /metrics "
            "is served beside it",
        )
    args = (
        f"--entrypoints.{METRICS_ENTRY_POINT}.address={address}",
        "--metrics.prometheus=true",
        f"--metrics.prometheus.entryPoint={METRICS_ENTRY_POINT}",
        "--metrics.prometheus.addRoutersLabels=true",
    )
    return NamespaceResult(warnings=tuple(block.warnings), settings={STATIC_ARGS: args, STATS: stats})


def _otlp(block: Block, exporters: Mapping[str, Any]) -> tuple[str, ...]:
    otlp = exporters.get("otlp") or []
    if not isinstance(otlp, list):
        raise block.error("exporters", "exporters.otlp: want an array")
    chosen: tuple[str, ...] = ()
    for index, raw in enumerate(otlp):
        if not isinstance(raw, Mapping):
            raise block.error("exporters", f"exporters.otlp[{index}]: want an object")
        exporter = Block(raw, (*block.at("exporters"), "otlp", index))
        host = exporter.string("host")
        if not host:
            raise exporter.error("host", "an OTLP exporter needs a host")
        if not exporter.boolean("disable_metrics"):
            exporter.warn("disable_metrics", "OTLP metrics are not exported (traces are; metrics go to Prometheus)")
        block.warnings.extend(exporter.warnings)
        if exporter.boolean("disable_traces") or chosen:
            continue
        use_http = exporter.boolean("use_http")
        port = exporter.integer("port", 4318 if use_http else 4317)
        bare = host.split("://", 1)[-1]
        if use_http:
            scheme = "https" if host.startswith("https://") else "http"
            chosen = (f"--tracing.otlp.http.endpoint={scheme}://{bare}:{port}/v1/traces",)
        else:
            chosen = (f"--tracing.otlp.grpc.endpoint={bare}:{port}", "--tracing.otlp.grpc.insecure=true")
    return chosen


@namespace("telemetry/opentelemetry", scopes={"service"})
def otel_ns(config: Mapping[str, Any], where: JsonPath) -> NamespaceResult:
    """``telemetry/opentelemetry`` (see the module docstring)."""
    block = Block(config, where)
    exporters = config.get("exporters") or {}
    if not isinstance(exporters, Mapping):
        raise block.error("exporters", "want an object")
    args: list[str] = []
    tracing = _otlp(block, exporters)
    if tracing:
        service = block.string("service_name") or "krakend"
        rate = block.number("trace_sample_rate", 1.0)
        if rate > 1:
            raise block.error("trace_sample_rate", "want a number between 0 and 1")
        args += ["--tracing=true", f"--tracing.serviceName={service}", f"--tracing.sampleRate={rate}", *tracing]
    prometheus = exporters.get("prometheus") or []
    if isinstance(prometheus, list) and prometheus:
        first = prometheus[0] if isinstance(prometheus[0], Mapping) else {}
        exporter = Block(first, (*block.at("exporters"), "prometheus", 0))
        port = exporter.integer("port", 9090)
        listen_ip = exporter.string("listen_ip")
        args += [
            f"--entrypoints.{PROMETHEUS_ENTRY_POINT}.address={listen_ip}:{port}",
            "--metrics.prometheus=true",
            f"--metrics.prometheus.entryPoint={PROMETHEUS_ENTRY_POINT}",
        ]
        block.warnings.extend(exporter.warnings)
    for key in sorted(set(exporters) - {"otlp", "prometheus"}):
        block.warn("exporters", f"exporter {key} is not supported: ignored")
    block.unsupported(
        {
            "layers": "every layer is traced as one server span per request with its upstream call",
            "skip_paths": "every path is traced",
            "metric_reporting_period": "metrics go to Prometheus (pulled)",
            "histograms": "Prometheus' buckets are used",
            "deploy_env": "not exported",
            "service_version": "not exported",
        }
    )
    return NamespaceResult(warnings=tuple(block.warnings), settings={STATIC_ARGS: tuple(args)})
