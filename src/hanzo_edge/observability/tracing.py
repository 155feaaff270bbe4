"""OpenTelemetry tracing (``--tracing``): Traefik's span tree, exported over OTLP by the OpenTelemetry SDK.

This module is imported only when ``tracing`` is configured, so with tracing off nothing of the SDK is loaded and the
hot path pays one ``req.trace is None`` test in the proxy (W3C ``traceparent`` propagation stays hand-written, see
:mod:`hanzo_edge.http.tracecontext`). With tracing on, each traced request carries a :class:`RequestTrace` in
``req.trace`` and gets Traefik's spans (``pkg/middlewares/observability``, ``pkg/proxy/httputil``):

* the entrypoint span, kind SERVER, named after the HTTP method, child of the incoming ``traceparent`` when valid;
* ``Router`` (INTERNAL) with ``traefik.router.name``, ``traefik.service.name`` and ``http.route`` (the rule);
* ``Service`` (INTERNAL) with ``traefik.service.name``, opened after the router's middlewares ran;
* ``ReverseProxy`` (CLIENT) for each call to a backend server; its context is what the backend receives in
  ``traceparent``, so the backend's spans hang under it.

Sampling is Traefik's ``TraceIDRatioBased(sampleRate)``: the decision depends on the trace id only, so a sampled-out
request still propagates a valid ``traceparent`` (flags ``00``). Spans are batched by the SDK's
``BatchSpanProcessor`` and exported from its own thread; the event loop never waits on the collector.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from time import perf_counter
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlsplit

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

from hanzo_edge import __version__
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.tracecontext import parse_traceparent

if TYPE_CHECKING:
    from hanzo_edge.config.static import Tracing as TracingConfig

__all__ = ["RequestTrace", "Tracer", "build_exporter", "traces_url"]

log = logging.getLogger("hanzo_edge.tracing")

INSTRUMENTATION_NAME = "hanzo-edge"
REDACTED = "REDACTED"


def traces_url(endpoint: str) -> str:
    """Return the OTLP/HTTP traces URL for ``tracing.otlp.http.endpoint``.

    Like Go's ``otlptracehttp.WithEndpointURL``: a URL with a path is used as it is; one without a path (Traefik's
    default ``https://localhost:4318``) gets ``/v1/traces``.
    """
    parts = urlsplit(endpoint)
    if parts.path in ("", "/"):
        return endpoint.rstrip("/") + "/v1/traces"
    return endpoint


def build_exporter(config: TracingConfig) -> SpanExporter:
    """Return the OTLP span exporter ``tracing.otlp`` asks for: gRPC when ``otlp.grpc`` is set, else HTTP (default).

    Raises ValueError for unusable TLS settings (a client certificate without its key).
    """
    otlp = config.otlp
    grpc = otlp.grpc if otlp is not None else None
    if grpc is not None:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        credentials = None
        tls = grpc.tls
        if not grpc.insecure and tls is not None and (tls.ca or tls.cert):
            import grpc as grpclib

            if bool(tls.cert) != bool(tls.key):
                raise ValueError("tracing.otlp.grpc.tls: cert and key must be set together")
            credentials = grpclib.ssl_channel_credentials(
                root_certificates=_read(tls.ca),
                private_key=_read(tls.key),
                certificate_chain=_read(tls.cert),
            )
        return GrpcExporter(
            endpoint=grpc.endpoint,
            insecure=grpc.insecure,
            credentials=credentials,
            headers=dict(grpc.headers) or None,
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    from hanzo_edge.config.static import OTLPHTTP

    http = (otlp.http if otlp is not None else None) or OTLPHTTP()
    kwargs: dict[str, Any] = {"endpoint": traces_url(http.endpoint), "headers": dict(http.headers) or None}
    tls = http.tls
    if tls is not None:
        if bool(tls.cert) != bool(tls.key):
            raise ValueError("tracing.otlp.http.tls: cert and key must be set together")
        if tls.ca:
            kwargs["certificate_file"] = tls.ca
        if tls.cert:
            kwargs["client_certificate_file"] = tls.cert
            kwargs["client_key_file"] = tls.key
        if tls.insecure_skip_verify:
            import requests

            session = requests.Session()
            session.verify = False
            kwargs["session"] = session
    return HttpExporter(**kwargs)


def _read(path: str) -> bytes | None:
    if not path:
        return None
    with open(path, "rb") as f:
        return f.read()


class Tracer:
    """The process's tracer: builds each request's :class:`RequestTrace` and exports finished spans.

    ``exporter`` replaces the OTLP exporter (tests pass the SDK's in-memory one); ``batch=False`` exports each span
    as it ends instead of in batches.
    """

    def __init__(self, config: TracingConfig, *, exporter: SpanExporter | None = None, batch: bool = True) -> None:
        self.config = config
        attributes: dict[str, Any] = {"service.name": config.service_name, "service.version": __version__}
        attributes.update(config.global_attributes)
        attributes.update(config.resource_attributes)
        rate = min(1.0, max(0.0, float(config.sample_rate)))
        # No atexit hook: shutdown() is called (bounded) by the app, and a second flush at exit could hang on a
        # collector that does not answer.
        self.provider = TracerProvider(
            sampler=TraceIdRatioBased(rate), resource=Resource.create(attributes), shutdown_on_exit=False
        )
        self.exporter = exporter if exporter is not None else build_exporter(config)
        processor = BatchSpanProcessor(self.exporter) if batch else SimpleSpanProcessor(self.exporter)
        self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer(INSTRUMENTATION_NAME, __version__)
        self.add_internals = config.add_internals
        # Header names as sent (for lookup) and as span attribute suffixes (lower case, like OTel semconv).
        self.request_headers = tuple((h, "http.request.header." + h.lower()) for h in config.captured_request_headers)
        self.response_headers = tuple(
            (h, "http.response.header." + h.lower()) for h in config.captured_response_headers
        )
        self.safe_query_params = frozenset(config.safe_query_params)
        self._services: dict[tuple[str, int], TracedService] = {}

    # -- wiring ---------------------------------------------------------------------------------------------------
    def traced_lookup(
        self, lookup: Callable[[Request], Handler], entry_point: str, enabled: bool = True
    ) -> Callable[[Request], Handler]:
        """Wrap an entrypoint's route lookup so each routed request opens its entrypoint and router spans.

        ``enabled`` is the entrypoint's ``observability.tracing``; a router's own ``observability.tracing`` wins.
        """
        add_internals = self.add_internals
        capture = bool(self.response_headers)

        def lookup_and_trace(req: Request) -> Handler:
            handler = lookup(req)
            route = req.route
            if route is not None:
                if not add_internals and (route.service or route.name).endswith("@internal"):
                    return handler
                overrides = route.observability
                if overrides is not None and overrides[2] is not None:
                    if not overrides[2]:
                        return handler
                elif not enabled:
                    return handler
            elif not enabled:
                return handler
            trace = RequestTrace(self, req, entry_point)
            req.trace = trace
            if route is not None:
                trace.open_router(route.name, route.service, route.rule)
            if capture:
                trace.handler = handler
                return trace.handle
            return handler

        return lookup_and_trace

    def wrap_service(self, name: str, handler: Handler) -> Handler:
        """Return ``handler`` wrapped to open the ``Service`` span (one wrapper per handler, kept across reloads)."""
        key = (name, id(handler))
        traced = self._services.get(key)
        if traced is None or traced.inner is not handler:
            traced = TracedService(name, handler)
            self._services[key] = traced
        return traced

    def forget_services(self, live: Iterable[Handler]) -> None:
        """Drop the wrappers of services no longer in use (called after each rebuild)."""
        ids = {id(h) for h in live}
        for key in [k for k in self._services if k[1] not in ids]:
            del self._services[key]

    def observer(self, req: Request, status: int, response_bytes: int, duration: float, aborted: bool) -> None:
        """``RequestObserver``: end the request's spans with the status the client got."""
        trace = req.trace
        if trace is not None:
            trace.finish(status, aborted)

    def shutdown(self) -> threading.Thread:
        """Start flushing the spans still queued and stopping the exporter; return the (daemon) thread doing it.

        The caller waits as long as it wants: a collector that does not answer must not hold the process open.
        """
        thread = threading.Thread(target=self.provider.shutdown, name="tracing-shutdown", daemon=True)
        thread.start()
        return thread


class TracedService:
    """A service handler that opens the ``Service`` span around the service (after the router's middlewares)."""

    __slots__ = ("inner", "name")

    def __init__(self, name: str, inner: Handler) -> None:
        self.name = name
        self.inner = inner

    async def __call__(self, req: Request) -> Response:
        """Run the service inside its span; returns its response, raises what it raises."""
        trace = req.trace
        if trace is not None:
            trace.open_service(self.name)
        return await self.inner(req)

    def __getattr__(self, name: str) -> Any:
        # The API reads server status from balancers; the wrapper must not hide them.
        return getattr(self.inner, name)


class RequestTrace:
    """The spans of one request: opened as it is routed, ended when its response is complete."""

    __slots__ = ("_client", "_context", "_open", "_tracer", "entry", "handler", "req")

    def __init__(self, tracer: Tracer, req: Request, entry_point: str) -> None:
        self._tracer = tracer
        self.req = req
        self.handler: Handler | None = None
        self._client: Span | None = None
        parent = None
        incoming = req.headers.get_raw(b"traceparent")
        if incoming is not None:
            parsed = parse_traceparent(incoming)
            if parsed is not None:
                trace_id, span_id, flags = parsed
                state = req.headers.get("tracestate")
                remote = SpanContext(
                    int(trace_id, 16),
                    int(span_id, 16),
                    is_remote=True,
                    trace_flags=TraceFlags(int(flags, 16)),
                    trace_state=TraceState.from_header([state]) if state else None,
                )
                parent = set_span_in_context(NonRecordingSpan(remote))
        start = time.time_ns() - int((perf_counter() - req.started) * 1e9) if req.started else None
        self.entry = tracer.tracer.start_span(
            req.method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes=self._server_attributes(entry_point),
            start_time=start,
        )
        self._open: list[Span] = [self.entry]
        self._context = set_span_in_context(self.entry)

    def _server_attributes(self, entry_point: str) -> dict[str, Any]:
        req = self.req
        headers = req.headers
        attrs: dict[str, Any] = {
            "entry_point": entry_point,
            "http.request.method": req.method,
            "network.protocol.version": req.version,
            "url.path": req.path,
            "url.scheme": headers.get("x-forwarded-proto") or req.scheme,
            "server.address": req.host,
            "client.address": req.client_ip,
            "client.port": req.client_port,
            "network.peer.address": req.client_ip,
            "network.peer.port": req.client_port,
        }
        if req.query:
            attrs["url.query"] = self._redact_query(req.query)
        forwarded_for = headers.get("x-forwarded-for")
        if forwarded_for:
            attrs["client.address"] = forwarded_for.split(",", 1)[0].strip()
        agent = headers.get("user-agent")
        if agent is not None:
            attrs["user_agent.original"] = agent
        length = headers.get("content-length")
        if length is not None and length.isdigit():
            attrs["http.request.body.size"] = int(length)
        for name, key in self._tracer.request_headers:
            values = headers.get_all(name)
            if values:
                attrs[key] = values
        return attrs

    def _redact_query(self, query: str) -> str:
        safe = self._tracer.safe_query_params
        pairs = parse_qsl(query, keep_blank_values=True)
        return "&".join(f"{quote(k, safe='')}={quote(v, safe='') if k in safe else REDACTED}" for k, v in pairs)

    def _child(self, name: str, kind: SpanKind, attributes: dict[str, Any]) -> Span:
        span = self._tracer.tracer.start_span(name, context=self._context, kind=kind, attributes=attributes)
        self._open.append(span)
        self._context = set_span_in_context(span)
        return span

    def open_router(self, router: str, service: str, rule: str) -> None:
        """Open the ``Router`` span (the request matched ``router``)."""
        self._child(
            "Router",
            SpanKind.INTERNAL,
            {"traefik.router.name": router, "traefik.service.name": service, "http.route": rule},
        )

    def open_service(self, service: str) -> None:
        """Open the ``Service`` span (the router's middlewares passed the request to ``service``)."""
        self._child("Service", SpanKind.INTERNAL, {"traefik.service.name": service})

    def start_client(self, req: Request, server_url: str) -> bytes:
        """Open a ``ReverseProxy`` client span for a call to ``server_url``; return the ``traceparent`` to send."""
        parts = urlsplit(server_url)
        target = f"{req.path or '/'}?{req.query}" if req.query else (req.path or "/")
        attrs: dict[str, Any] = {
            "http.request.method": req.method,
            "network.protocol.version": "1.1",
            "url.full": f"{parts.scheme}://{parts.netloc}{target}",
            "server.address": parts.hostname or "",
            "server.port": parts.port or (443 if parts.scheme == "https" else 80),
        }
        span = self._tracer.tracer.start_span(
            "ReverseProxy", context=self._context, kind=SpanKind.CLIENT, attributes=attrs
        )
        self._client = span
        ctx = span.get_span_context()
        # Only the sampled bit: the SDK marks new roots with W3C level 2's "random" flag, which Traefik never sends.
        return b"00-%032x-%016x-%02x" % (ctx.trace_id, ctx.span_id, int(ctx.trace_flags) & 1)

    def end_client(self, status: int, error: str = "") -> None:
        """End the current client span with the backend's status (or the error that replaced it)."""
        span = self._client
        if span is None:
            return
        self._client = None
        if status:
            span.set_attribute("http.response.status_code", status)
        if error:
            span.set_status(Status(StatusCode.ERROR, error))
        elif status >= 400:
            span.set_status(Status(StatusCode.ERROR))
        span.end()

    async def handle(self, req: Request) -> Response:
        """Run the routed handler, then record the captured response headers; returns its response."""
        handler = self.handler
        if handler is None:  # pragma: no cover - handle is only returned once a handler is set
            raise RuntimeError("no handler")
        response = await handler(req)
        entry = self.entry
        if entry.is_recording():
            for name, key in self._tracer.response_headers:
                values = response.headers.get_all(name)
                if values:
                    entry.set_attribute(key, values)
        return response

    def finish(self, status: int, aborted: bool) -> None:
        """End every open span, innermost first; the entrypoint span gets the status the client received."""
        self.end_client(0, "aborted" if aborted else "")
        entry = self.entry
        for span in reversed(self._open):
            if span is not entry:
                span.end()
        if status:
            entry.set_attribute("http.response.status_code", status)
        if status >= 500 or aborted:
            entry.set_status(Status(StatusCode.ERROR))
        entry.end()
        self._open = []
        self.req.trace = None  # break the request <-> trace cycle

    @property
    def trace_id(self) -> str:
        """The trace id (32 hex digits)."""
        return f"{self.entry.get_span_context().trace_id:032x}"

    @property
    def span_id(self) -> str:
        """The entrypoint span id (16 hex digits)."""
        return f"{self.entry.get_span_context().span_id:016x}"
