"""The span exporter process: turns the proxy's span records into OpenTelemetry SDK spans and exports them over OTLP.

Encoding OTLP protobuf costs the SDK about 40 µs per span, and creating SDK spans about 30 µs each; on the proxy's
event loop that capped a fully sampled ingress at a tenth of its throughput. So the proxy records spans as plain
tuples (:mod:`hanzo_edge.observability.tracing`) and ships them, msgpack-framed, to this process, which hands them to
the SDK's ``BatchSpanProcessor`` and OTLP exporter: batching, retries, queue limits and the final flush are the SDK's.

Run as ``python -m hanzo_edge.observability.span_export '<Tracing config as JSON>'``; frames arrive on stdin as a
4-byte big-endian length and a msgpack list of traces; EOF flushes and exits.
"""

from __future__ import annotations

import signal
import struct
import sys
from collections.abc import Iterable, Sequence
from typing import Any, get_origin

import msgspec
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from hanzo_edge import __version__
from hanzo_edge.config.static import Tracing
from hanzo_edge.config.types import FrozenDict

__all__ = ["INSTRUMENTATION_NAME", "TraceRecord", "decode_config", "main", "readable_spans", "resource_for"]

INSTRUMENTATION_NAME = "hanzo-edge"
_SCOPE = InstrumentationScope(INSTRUMENTATION_NAME, __version__)
_KINDS = {0: SpanKind.INTERNAL, 1: SpanKind.SERVER, 2: SpanKind.CLIENT}
_STATUS = {0: StatusCode.UNSET, 1: StatusCode.OK, 2: StatusCode.ERROR}
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)

# One finished request: (trace id hex, tracestate, remote parent span id or 0, spans); a span is
# (name, kind, span id, parent span id or 0, start ns, end ns, attributes, status code, status description).
TraceRecord = tuple[str, str, int, list[tuple[str, int, int, int, int, int, dict[str, Any], int, str]]]


def resource_for(config: Tracing) -> Resource:
    """Return the OpenTelemetry resource of ``config``: ``service.name``, ``service.version`` and its attributes."""
    attributes: dict[str, Any] = {"service.name": config.service_name, "service.version": __version__}
    attributes.update(config.global_attributes)
    attributes.update(config.resource_attributes)
    return Resource.create(attributes)


def readable_spans(traces: Iterable[Sequence[Any]], resource: Resource) -> list[ReadableSpan]:
    """Return the SDK spans of span records (see ``TraceRecord``)."""
    out: list[ReadableSpan] = []
    for trace_id_hex, state, remote_parent, spans in traces:
        trace_id = int(trace_id_hex, 16)
        trace_state = TraceState.from_header([state]) if state else None
        for name, kind, span_id, parent_id, start, end, attributes, code, description in spans:
            parent = None
            if parent_id:
                parent = SpanContext(trace_id, parent_id, is_remote=parent_id == remote_parent, trace_flags=_SAMPLED)
            out.append(
                ReadableSpan(
                    name,
                    context=SpanContext(
                        trace_id, span_id, is_remote=False, trace_flags=_SAMPLED, trace_state=trace_state
                    ),
                    parent=parent,
                    resource=resource,
                    attributes=attributes,
                    kind=_KINDS.get(kind, SpanKind.INTERNAL),
                    status=Status(_STATUS.get(code, StatusCode.UNSET), description or None),
                    start_time=start,
                    end_time=end,
                    instrumentation_scope=_SCOPE,
                )
            )
    return out


def _dec_hook(kind: Any, obj: Any) -> Any:
    if (get_origin(kind) or kind) is FrozenDict:
        return FrozenDict(obj)
    raise NotImplementedError(kind)


def decode_config(text: str | bytes) -> Tracing:
    """Return the ``Tracing`` config encoded by ``msgspec.json.encode``. Raises msgspec.ValidationError."""
    return msgspec.json.decode(text, type=Tracing, dec_hook=_dec_hook)


def _frames(stream: Any) -> Iterable[bytes]:
    while True:
        head = stream.read(4)
        if len(head) < 4:
            return
        (size,) = struct.unpack(">I", head)
        body = stream.read(size)
        if len(body) < size:
            return
        yield body


def main(argv: Sequence[str] | None = None, exporter: SpanExporter | None = None) -> int:
    """Export the span records read from stdin until EOF; returns the exit code (0, or 2 for a bad config)."""
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from hanzo_edge.observability.tracing import build_exporter

    args = sys.argv[1:] if argv is None else list(argv)
    try:
        config = decode_config(args[0])
        exporter = exporter if exporter is not None else build_exporter(config)
    except (IndexError, ValueError, msgspec.ValidationError) as exc:
        print(f"span exporter: {exc}", file=sys.stderr)
        return 2
    # Ctrl-C reaches the whole process group: stay alive until the proxy closes our stdin, so its last spans arrive.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    resource = resource_for(config)
    processor = BatchSpanProcessor(exporter)
    decoder = msgspec.msgpack.Decoder()
    try:
        for frame in _frames(sys.stdin.buffer):
            for span in readable_spans(decoder.decode(frame), resource):
                processor.on_end(span)
    finally:
        processor.shutdown()  # type: ignore[no-untyped-call]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
