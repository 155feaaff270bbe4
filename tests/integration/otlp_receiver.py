"""Real OTLP trace receivers for the tests: OTLP/HTTP (protobuf over POST) and OTLP/gRPC, on 127.0.0.1.

Both decode what the exporter sends with the OpenTelemetry protocol's own protobuf classes
(``ExportTraceServiceRequest``) and keep the spans as plain :class:`ReceivedSpan` values.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

__all__ = ["OtlpGrpcReceiver", "OtlpHttpReceiver", "ReceivedSpan"]

KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}


@dataclass
class ReceivedSpan:
    """One exported span, decoded."""

    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    status: str
    resource: dict[str, Any]
    scope: str
    start_ns: int
    end_ns: int


def _value(v: AnyValue) -> Any:
    which = v.WhichOneof("value")
    if which == "array_value":
        return [_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, which) if which else None


def _attributes(kvs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


@dataclass
class _Store:
    spans: list[ReceivedSpan] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, message: trace_service_pb2.ExportTraceServiceRequest, meta: dict[str, Any]) -> None:
        spans = []
        for rs in message.resource_spans:
            resource = _attributes(rs.resource.attributes)
            for ss in rs.scope_spans:
                for s in ss.spans:
                    spans.append(
                        ReceivedSpan(
                            name=s.name,
                            kind=KINDS.get(s.kind, str(s.kind)),
                            trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(),
                            parent_span_id=s.parent_span_id.hex(),
                            attributes=_attributes(s.attributes),
                            status=STATUS.get(s.status.code, str(s.status.code)),
                            resource=resource,
                            scope=ss.scope.name,
                            start_ns=s.start_time_unix_nano,
                            end_ns=s.end_time_unix_nano,
                        )
                    )
        with self.lock:
            self.spans.extend(spans)
            self.requests.append(meta)

    def snapshot(self) -> list[ReceivedSpan]:
        with self.lock:
            return list(self.spans)


class _Receiver:
    """What both receivers expose: the decoded spans and one metadata dict per export call."""

    store: _Store

    @property
    def spans(self) -> list[ReceivedSpan]:
        """Every span received so far."""
        return self.store.snapshot()

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Per export call: ``{"path", "headers"}`` (HTTP) or ``{"metadata"}`` (gRPC)."""
        with self.store.lock:
            return list(self.store.requests)


class OtlpHttpReceiver(_Receiver):
    """An OTLP/HTTP collector: ``POST <any path>`` with an ``ExportTraceServiceRequest`` body."""

    def __init__(self) -> None:
        self.store = _Store()
        store = self.store

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                encoding = (self.headers.get("Content-Encoding") or "").lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                message = trace_service_pb2.ExportTraceServiceRequest()
                message.ParseFromString(body)
                store.add(message, {"path": self.path, "headers": dict(self.headers.items())})
                out = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class OtlpGrpcReceiver(_Receiver):
    """An OTLP/gRPC collector (``TraceService/Export``), plaintext."""

    def __init__(self) -> None:
        self.store = _Store()
        store = self.store

        class Service(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
            def Export(self, request: Any, context: Any) -> Any:
                store.add(request, {"metadata": dict(context.invocation_metadata())})
                return trace_service_pb2.ExportTraceServiceResponse()

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def close(self) -> None:
        self.server.stop(grace=None)
