"""Tracing without sockets: the span tree a request gets, sampling, redaction, exporter choice and URL rules.

Spans go through the real OpenTelemetry SDK into its in-memory exporter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from time import perf_counter
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from hanzo_edge.config.static import OTLPGRPC, OTLPHTTP, Tracing, TracingOTLP
from hanzo_edge.config.types import FrozenDict
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.observability.tracing import Tracer, build_exporter, traces_url
from hanzo_edge.routing.table import Route

INCOMING = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _tracer(**options: Any) -> tuple[Tracer, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    return Tracer(Tracing(**options), exporter=exporter), exporter


def _request(headers: list[tuple[bytes, bytes]] | None = None, query: str = "") -> Request:
    req = Request(
        "POST",
        "/api/orders",
        Headers([(b"Host", b"shop.test"), *(headers or [])]),
        path="/api/orders",
        query=query,
        host="shop.test",
        client_ip="10.1.2.3",
        client_port=40000,
        entry_point="web",
    )
    req.started = perf_counter()
    return req


async def _ok(req: Request) -> Response:
    return Response(200)


def _lookup_for(route: Route | None, handler: Callable[..., Any] = _ok) -> Callable[[Request], Any]:
    def lookup(req: Request) -> Any:
        req.route = route
        return handler

    return lookup


def _route(service: str = "shop@file") -> Route:
    return Route("shop@file", 100, lambda r: True, _ok, rule="Host(`shop.test`)", service=service)


def _run(tracer: Tracer, req: Request, route: Route | None = None, *, status: int = 200) -> bytes:
    """Route ``req`` through a traced lookup, a Service span and one backend call; return the traceparent sent."""
    lookup = tracer.traced_lookup(_lookup_for(route), "web")
    handler = lookup(req)
    sent = b""
    if req.trace is not None:

        async def service(r: Request) -> Response:
            nonlocal sent
            sent = r.trace.start_client(r, "http://10.0.0.5:8080")
            r.trace.end_client(status)
            return Response(status)

        asyncio.run(tracer.wrap_service("shop@file", service)(req))
        asyncio.run(handler(req))
    tracer.observer(req, status, 0, 0.001, False)
    return sent


def _named(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {s.name: s for s in spans}


def test_a_routed_request_gets_entrypoint_router_service_and_client_spans() -> None:
    tracer, exporter = _tracer(captured_request_headers=("X-Tenant",))
    req = _request([(b"traceparent", INCOMING), (b"X-Tenant", b"acme"), (b"Content-Length", b"12")])
    sent = _run(tracer, req, _route())
    spans = _named(exporter.get_finished_spans())
    assert set(spans) == {"POST", "Router", "Service", "ReverseProxy"}
    entry, router, service, client = spans["POST"], spans["Router"], spans["Service"], spans["ReverseProxy"]
    assert (entry.kind, router.kind, service.kind, client.kind) == (
        SpanKind.SERVER,
        SpanKind.INTERNAL,
        SpanKind.INTERNAL,
        SpanKind.CLIENT,
    )
    assert entry.parent is not None
    assert entry.parent.span_id == 0x00F067AA0BA902B7
    assert entry.context.trace_id == 0x4BF92F3577B34DA6A3CE929D0E0E4736
    assert router.parent is not None
    assert router.parent.span_id == entry.context.span_id
    assert service.parent is not None
    assert service.parent.span_id == router.context.span_id
    assert client.parent is not None
    assert client.parent.span_id == service.context.span_id
    assert sent == b"00-4bf92f3577b34da6a3ce929d0e0e4736-%016x-01" % client.context.span_id
    attrs = dict(entry.attributes or {})
    assert attrs["http.request.method"] == "POST"
    assert attrs["http.request.body.size"] == 12
    assert list(attrs["http.request.header.x-tenant"]) == ["acme"]
    assert attrs["http.response.status_code"] == 200
    assert dict(router.attributes or {})["http.route"] == "Host(`shop.test`)"
    assert dict(client.attributes or {})["url.full"] == "http://10.0.0.5:8080/api/orders"
    assert entry.resource.attributes["service.name"] == "traefik"
    assert req.trace is None, "the trace is released once the response is complete"


def test_an_invalid_traceparent_starts_a_new_root_trace() -> None:
    tracer, exporter = _tracer()
    _run(tracer, _request([(b"traceparent", b"00-zz-00f067aa0ba902b7-01")]), _route())
    entry = _named(exporter.get_finished_spans())["POST"]
    assert entry.parent is None


def test_sample_rate_zero_records_nothing_but_propagates_an_unsampled_traceparent() -> None:
    tracer, exporter = _tracer(sample_rate=0.0)
    sent = _run(tracer, _request(), _route())
    assert exporter.get_finished_spans() == ()
    assert sent.startswith(b"00-")
    assert sent.endswith(b"-00")
    assert len(sent) == 55


def test_query_values_are_redacted_except_safe_parameters() -> None:
    tracer, exporter = _tracer(safe_query_params=("page",))
    _run(tracer, _request(query="page=2&token=s3cret&q=a%20b"), _route())
    entry = _named(exporter.get_finished_spans())["POST"]
    assert dict(entry.attributes or {})["url.query"] == "page=2&token=REDACTED&q=REDACTED"


def test_server_errors_mark_the_entrypoint_span_and_client_errors_the_client_span() -> None:
    tracer, exporter = _tracer()
    _run(tracer, _request(), _route(), status=503)
    spans = _named(exporter.get_finished_spans())
    assert spans["POST"].status.status_code is StatusCode.ERROR
    assert spans["ReverseProxy"].status.status_code is StatusCode.ERROR


def test_internal_routes_are_traced_only_with_add_internals() -> None:
    for add_internals, expected in ((False, 0), (True, 2)):
        tracer, exporter = _tracer(add_internals=add_internals)
        req = _request()
        handler = tracer.traced_lookup(_lookup_for(_route("ping@internal")), "web")(req)
        asyncio.run(handler(req))
        tracer.observer(req, 200, 0, 0.001, False)
        assert len(exporter.get_finished_spans()) == expected


def test_unmatched_requests_get_only_the_entrypoint_span() -> None:
    tracer, exporter = _tracer()
    req = _request()
    tracer.traced_lookup(_lookup_for(None), "web")(req)
    tracer.observer(req, 404, 19, 0.001, False)
    [entry] = exporter.get_finished_spans()
    assert entry.name == "POST"
    assert dict(entry.attributes or {})["http.response.status_code"] == 404


def test_captured_response_headers_are_read_from_the_final_response() -> None:
    tracer, exporter = _tracer(captured_response_headers=("X-Cache",))

    async def answer(req: Request) -> Response:
        return Response(200, Headers([(b"X-Cache", b"HIT")]))

    req = _request()
    handler = tracer.traced_lookup(_lookup_for(_route(), answer), "web")(req)
    asyncio.run(handler(req))
    tracer.observer(req, 200, 0, 0.001, False)
    entry = _named(exporter.get_finished_spans())["POST"]
    assert list(dict(entry.attributes or {})["http.response.header.x-cache"]) == ["HIT"]


def test_service_wrappers_are_kept_per_handler_and_forgotten_when_gone() -> None:
    tracer, _ = _tracer()
    first = tracer.wrap_service("shop@file", _ok)
    assert tracer.wrap_service("shop@file", _ok) is first
    tracer.forget_services([])
    assert tracer.wrap_service("shop@file", _ok) is not first


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("https://localhost:4318", "https://localhost:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("http://collector:4318/custom/traces", "http://collector:4318/custom/traces"),
    ],
)
def test_otlp_http_endpoint_gets_the_traces_path_only_when_it_has_none(endpoint: str, url: str) -> None:
    assert traces_url(endpoint) == url


def test_the_exporter_is_http_by_default_and_grpc_when_configured() -> None:
    assert isinstance(build_exporter(Tracing()), HttpExporter)
    http = build_exporter(Tracing(otlp=TracingOTLP(http=OTLPHTTP(endpoint="http://127.0.0.1:1"))))
    assert isinstance(http, HttpExporter)
    grpc = build_exporter(
        Tracing(otlp=TracingOTLP(grpc=OTLPGRPC(endpoint="127.0.0.1:1", insecure=True, headers=FrozenDict({"k": "v"}))))
    )
    assert isinstance(grpc, GrpcExporter)
    grpc.shutdown()


def test_a_routers_tracing_setting_wins_over_the_entrypoints() -> None:
    cases = [(True, False, 0), (False, True, 2), (False, None, 0), (True, None, 2)]
    for entry_point_on, router_flag, expected in cases:
        tracer, exporter = _tracer()
        route = Route(
            "shop@file",
            100,
            lambda r: True,
            _ok,
            rule="Host(`shop.test`)",
            service="shop@file",
            observability=(None, None, router_flag),
        )
        req = _request()
        handler = tracer.traced_lookup(_lookup_for(route), "web", entry_point_on)(req)
        asyncio.run(handler(req))
        tracer.observer(req, 200, 0, 0.001, False)
        assert len(exporter.get_finished_spans()) == expected, (entry_point_on, router_flag)


def test_the_exporter_process_gets_the_config_back_intact() -> None:
    import msgspec

    from hanzo_edge.observability.span_export import decode_config

    config = Tracing(
        service_name="edge",
        sample_rate=0.25,
        resource_attributes=FrozenDict({"deployment.environment": "prod"}),
        otlp=TracingOTLP(grpc=OTLPGRPC(endpoint="collector:4317", insecure=True, headers=FrozenDict({"k": "v"}))),
    )
    assert decode_config(msgspec.json.encode(config)) == config
