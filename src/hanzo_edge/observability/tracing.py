"""OpenTelemetry tracing (``--tracing``): Traefik's span tree, exported over OTLP by the OpenTelemetry SDK.

This module is imported only when ``tracing`` is configured; with tracing off the hot path pays one
``req.trace is None`` test in the proxy (W3C ``traceparent`` propagation stays hand-written, see
:mod:`hanzo_edge.http.tracecontext`). With tracing on, each traced request carries a :class:`RequestTrace` in
``req.trace`` and gets Traefik's spans (``pkg/middlewares/observability``, ``pkg/proxy/httputil``):

* the entrypoint span, kind SERVER, named after the HTTP method, child of the incoming ``traceparent`` when valid;
* ``Router`` (INTERNAL) with ``traefik.router.name``, ``traefik.service.name`` and ``http.route`` (the rule);
* ``Service`` (INTERNAL) with ``traefik.service.name``, opened after the router's middlewares ran;
* ``ReverseProxy`` (CLIENT) for each call to a backend server; its context is what the backend receives in
  ``traceparent``, so the backend's spans hang under it.

Sampling is Traefik's ``TraceIDRatioBased(sampleRate)`` (the SDK's algorithm: the low 64 bits of the trace id below
``rate * 2**64``), so a sampled-out request still propagates a valid ``traceparent`` with flags ``00``.

Where the work happens: SDK spans cost ~30 µs each to create and ~40 µs each to encode as OTLP, which on the event
loop capped a fully sampled ingress at a tenth of its throughput. So spans are recorded here as plain tuples (ids,
times, attributes) and shipped in msgpack frames, from a writer thread, to a child process
(:mod:`hanzo_edge.observability.span_export`) where the SDK's ``BatchSpanProcessor`` and OTLP exporter take them.
The event loop never waits on the collector or on protobuf encoding.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from random import getrandbits
from time import perf_counter
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlsplit

import msgspec

from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.tracecontext import parse_traceparent
from hanzo_edge.observability.writer_thread import WriterThread

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

    from hanzo_edge.config.static import Tracing as TracingConfig

__all__ = ["FramePipe", "ProcessShipper", "RequestTrace", "Tracer", "build_exporter", "traces_url"]

log = logging.getLogger("hanzo_edge.tracing")

REDACTED = "REDACTED"
FLUSH_INTERVAL = 0.1  # seconds between hand-overs of finished traces to the exporter
_MAX_PENDING = 8192  # traces buffered before a hand-over is forced
_MAX_BACKLOG = 64  # frames waiting for the exporter process before new ones are dropped
_MASK64 = (1 << 64) - 1
# span kinds and status codes as span_export reads them
KIND_INTERNAL, KIND_SERVER, KIND_CLIENT = 0, 1, 2
STATUS_UNSET, STATUS_ERROR = 0, 2


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


class FramePipe:
    """The span exporter's stdin, written by the shipper's writer thread: each frame behind its 4-byte length.

    Once the pipe breaks (the process died), frames are dropped, logged once: tracing must never hold up requests.
    """

    def __init__(self, stdin: IO[bytes] | None) -> None:
        self._stdin = stdin
        self._broken = stdin is None

    def write_batch(self, items: list[bytes | bytearray]) -> None:
        """Write the frames queued meanwhile in one write (the :class:`WriterThread` sink)."""
        if self._broken or self._stdin is None:
            return
        parts: list[bytes | bytearray] = []
        for frame in items:
            parts += (struct.pack(">I", len(frame)), frame)
        try:
            self._stdin.write(b"".join(parts))
            self._stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            self._broken = True
            log.error("the span exporter process exited; spans are dropped")

    def close(self) -> None:
        """Close the pipe: the exporter exports what it has and exits."""
        if self._stdin is not None:
            with contextlib.suppress(OSError, ValueError):
                self._stdin.close()


class ProcessShipper:
    """Ships msgpack frames of finished traces to the span exporter process, from a writer thread."""

    def __init__(self, config: TracingConfig) -> None:
        self.dropped = 0
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hanzo_edge.observability.span_export", msgspec.json.encode(config).decode()],
            stdin=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._pipe = FramePipe(self.process.stdin)
        self._writer = WriterThread(self._pipe, "span-shipper")

    def ship(self, frame: bytes) -> None:
        """Queue one frame (never blocks); drops it when the exporter is too far behind (see ``dropped``)."""
        if self._writer.backlog >= _MAX_BACKLOG:
            # The exporter cannot keep up (the SDK drops spans past its queue too): memory must stay bounded.
            self.dropped += 1
            if self.dropped == 1:
                log.warning("the span exporter is behind; frames of finished traces are being dropped")
            return
        self._writer.submit(frame)

    def close(self, timeout: float) -> None:
        """Send what is queued, close the exporter's input and wait up to ``timeout`` s for its final export."""
        deadline = time.monotonic() + timeout
        self._writer.stop(self._pipe.close)
        self._writer.join(timeout)
        try:
            self.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class _InProcessShipper:
    """Exports frames synchronously with a given SDK exporter (tests pass the SDK's in-memory exporter)."""

    def __init__(self, config: TracingConfig, exporter: SpanExporter) -> None:
        from hanzo_edge.observability.span_export import resource_for

        self.exporter = exporter
        self.resource = resource_for(config)
        self.decoder = msgspec.msgpack.Decoder()

    def ship(self, frame: bytes) -> None:
        from hanzo_edge.observability.span_export import readable_spans

        self.exporter.export(readable_spans(self.decoder.decode(frame), self.resource))

    def close(self, timeout: float) -> None:
        self.exporter.shutdown()


class Tracer:
    """The process's tracer: builds each request's :class:`RequestTrace` and ships finished traces for export.

    ``exporter`` replaces the exporter process with an in-process SDK exporter, called at each hand-over (tests).
    """

    def __init__(self, config: TracingConfig, *, exporter: SpanExporter | None = None) -> None:
        self.config = config
        rate = min(1.0, max(0.0, float(config.sample_rate)))
        self.bound = round(rate * (_MASK64 + 1))  # the SDK's TraceIdRatioBased bound
        self.shipper: ProcessShipper | _InProcessShipper = (
            ProcessShipper(config) if exporter is None else _InProcessShipper(config, exporter)
        )
        self.add_internals = config.add_internals
        # Header names as sent (for lookup) and as span attribute keys (lower case, like OTel semconv).
        self.request_headers = tuple((h, "http.request.header." + h.lower()) for h in config.captured_request_headers)
        self.response_headers = tuple(
            (h, "http.response.header." + h.lower()) for h in config.captured_response_headers
        )
        self.safe_query_params = frozenset(config.safe_query_params)
        self._services: dict[tuple[str, int], TracedService] = {}
        self._pending: list[Any] = []
        self._scheduled = False
        self._encoder = msgspec.msgpack.Encoder()

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
            if route is not None and trace.sampled:
                trace.open_router(route.name, route.service, route.rule)
            if capture and trace.sampled:
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

    # -- export -----------------------------------------------------------------------------------------------------
    def record(self, trace: Any) -> None:
        """Queue one finished, sampled trace; hand-overs happen every ``FLUSH_INTERVAL`` (or at once without a loop)."""
        pending = self._pending
        pending.append(trace)
        if len(pending) >= _MAX_PENDING:
            self.flush()
            return
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._scheduled = True
        loop.call_later(FLUSH_INTERVAL, self.flush)

    def flush(self) -> None:
        """Hand the queued traces to the exporter now."""
        self._scheduled = False
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        self.shipper.ship(self._encoder.encode(pending))

    def shutdown(self, timeout: float = 5.0) -> None:
        """Flush, then wait up to ``timeout`` s for the exporter's final export (blocks: call it off the loop)."""
        self.flush()
        self.shipper.close(timeout)


class TracedService:
    """A service handler that opens the ``Service`` span around the service (after the router's middlewares)."""

    __slots__ = ("inner", "name")

    def __init__(self, name: str, inner: Handler) -> None:
        self.name = name
        self.inner = inner

    def __call__(self, req: Request) -> Any:
        """Run the service inside its span; returns its response awaitable."""
        trace = req.trace
        if trace is not None and trace.sampled:
            trace.open_service(self.name)
        return self.inner(req)


def _new_id(bits: int) -> int:
    while True:
        value = getrandbits(bits)
        if value:
            return value


class RequestTrace:
    """The spans of one request: opened as it is routed, ended when its response is complete.

    A span is a list ``[name, kind, span id, parent id, start ns, end ns, attributes, status, description]``.
    """

    __slots__ = (
        "_client",
        "_open",
        "_parent",
        "_tracer",
        "entry_id",
        "handler",
        "remote_parent",
        "req",
        "sampled",
        "state",
        "trace_hex",
        "trace_id",
    )

    def __init__(self, tracer: Tracer, req: Request, entry_point: str) -> None:
        self._tracer = tracer
        self.req = req
        self.handler: Handler | None = None
        self._client: list[Any] | None = None
        self.remote_parent = 0
        self.state = ""
        incoming = req.headers.get_raw(b"traceparent")
        parsed = parse_traceparent(incoming) if incoming is not None else None
        if parsed is not None:
            self.trace_hex = parsed[0].decode()
            self.trace_id = int(self.trace_hex, 16)
            self.remote_parent = int(parsed[1], 16)
            self.state = req.headers.get("tracestate") or ""
        else:
            self.trace_id = _new_id(128)
            self.trace_hex = f"{self.trace_id:032x}"
        self.sampled = (self.trace_id & _MASK64) < tracer.bound
        self.entry_id = _new_id(64)
        self._parent = self.entry_id
        self._open: list[list[Any]] = []
        if self.sampled:
            start = time.time_ns() - int((perf_counter() - req.started) * 1e9) if req.started else time.time_ns()
            attrs = self._server_attributes(entry_point)
            self._open.append([req.method, KIND_SERVER, self.entry_id, self.remote_parent, start, 0, attrs, 0, ""])

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

    def _child(self, name: str, kind: int, attributes: dict[str, Any]) -> list[Any]:
        span_id = _new_id(64)
        span = [name, kind, span_id, self._parent, time.time_ns(), 0, attributes, 0, ""]
        self._open.append(span)
        self._parent = span_id
        return span

    def open_router(self, router: str, service: str, rule: str) -> None:
        """Open the ``Router`` span (the request matched ``router``)."""
        self._child(
            "Router",
            KIND_INTERNAL,
            {"traefik.router.name": router, "traefik.service.name": service, "http.route": rule},
        )

    def open_service(self, service: str) -> None:
        """Open the ``Service`` span (the router's middlewares passed the request to ``service``)."""
        self._child("Service", KIND_INTERNAL, {"traefik.service.name": service})

    def start_client(self, req: Request, server_url: str) -> bytes:
        """Open a ``ReverseProxy`` client span for a call to ``server_url``; return the ``traceparent`` to send."""
        if not self.sampled:
            # Not recorded, but the backend still gets a fresh parent id (flags 00: not sampled).
            return b"00-%b-%016x-00" % (self.trace_hex.encode(), _new_id(64))
        parts = urlsplit(server_url)
        target = f"{req.path or '/'}?{req.query}" if req.query else (req.path or "/")
        attrs: dict[str, Any] = {
            "http.request.method": req.method,
            "network.protocol.version": "1.1",
            "url.full": f"{parts.scheme}://{parts.netloc}{target}",
            "server.address": parts.hostname or "",
            "server.port": parts.port or (443 if parts.scheme == "https" else 80),
        }
        span_id = _new_id(64)
        self._client = ["ReverseProxy", KIND_CLIENT, span_id, self._parent, time.time_ns(), 0, attrs, STATUS_UNSET, ""]
        return b"00-%b-%016x-01" % (self.trace_hex.encode(), span_id)

    def end_client(self, status: int, error: str = "") -> None:
        """End the current client span with the backend's status (or the error that replaced it)."""
        span = self._client
        if span is None:
            return
        self._client = None
        span[5] = time.time_ns()
        if status:
            span[6]["http.response.status_code"] = status
        if error or status >= 400:
            span[7] = STATUS_ERROR
            span[8] = error
        self._open.append(span)

    async def handle(self, req: Request) -> Response:
        """Run the routed handler, then record the captured response headers; returns its response."""
        handler = self.handler
        if handler is None:  # pragma: no cover - handle is only returned once a handler is set
            raise RuntimeError("no handler")
        response = await handler(req)
        if self._open:
            attrs = self._open[0][6]
            for name, key in self._tracer.response_headers:
                values = response.headers.get_all(name)
                if values:
                    attrs[key] = values
        return response

    def finish(self, status: int, aborted: bool) -> None:
        """End every open span; the entrypoint span gets the status the client received. Ships sampled traces."""
        self.req.trace = None  # break the request <-> trace cycle
        if not self.sampled:
            return
        self.end_client(0, "aborted" if aborted else "")
        now = time.time_ns()
        spans = self._open
        for span in spans:
            if not span[5]:
                span[5] = now
        entry = spans[0]
        if status:
            entry[6]["http.response.status_code"] = status
        if status >= 500 or aborted:
            entry[7] = STATUS_ERROR
        self._tracer.record((self.trace_hex, self.state, self.remote_parent, spans))
        self._open = []

    @property
    def span_id(self) -> str:
        """The entrypoint span id (16 hex digits)."""
        return f"{self.entry_id:016x}"
