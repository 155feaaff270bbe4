"""Tracing through the real CLI: spans exported over OTLP (HTTP and gRPC) to a real receiver, joined to the backend.

The receivers decode the OTLP protobuf export; the tests check the span tree (entrypoint SERVER span -> Router ->
Service -> ReverseProxy CLIENT span), the attributes, and that the backend received a ``traceparent`` naming the
client span.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from edge_harness import eventually, http_request, lb_service
from otlp_receiver import OtlpGrpcReceiver, OtlpHttpReceiver, ReceivedSpan

pytestmark = pytest.mark.integration

INCOMING_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING_PARENT = "00f067aa0ba902b7"
# The SDK's BatchSpanProcessor reads its delay from the standard variable: export within 100 ms.
FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "100"}


@pytest.fixture
def http_receiver() -> Iterator[OtlpHttpReceiver]:
    receiver = OtlpHttpReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def grpc_receiver() -> Iterator[OtlpGrpcReceiver]:
    receiver = OtlpGrpcReceiver()
    yield receiver
    receiver.close()


def _config(app_url: str) -> dict[str, object]:
    return {
        "http": {
            "routers": {
                "app": {
                    "rule": "Host(`app.test`)",
                    "service": "app",
                    "middlewares": ["tag"],
                },
            },
            "middlewares": {"tag": {"headers": {"customResponseHeaders": {"X-Served-By": "edge"}}}},
            "services": {"app": lb_service(app_url)},
        }
    }


def _trace(spans: list[ReceivedSpan], trace_id: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.trace_id == trace_id]


def _by_name(spans: list[ReceivedSpan]) -> dict[str, ReceivedSpan]:
    return {s.name: s for s in spans}


def _check_tree(spans: list[ReceivedSpan], backend_traceparent: str) -> dict[str, ReceivedSpan]:
    named = _by_name(spans)
    assert set(named) == {"GET", "Router", "Service", "ReverseProxy"}, [s.name for s in spans]
    entry, router, service, client = named["GET"], named["Router"], named["Service"], named["ReverseProxy"]
    assert entry.kind == "SERVER"
    assert router.kind == "INTERNAL"
    assert service.kind == "INTERNAL"
    assert client.kind == "CLIENT"
    assert router.parent_span_id == entry.span_id
    assert service.parent_span_id == router.span_id
    assert client.parent_span_id == service.span_id
    version, trace_id, parent_id, flags = backend_traceparent.split("-")
    assert (version, trace_id, parent_id, flags) == ("00", entry.trace_id, client.span_id, "01")
    for span in (router, service, client):
        assert entry.start_ns <= span.start_ns <= span.end_ns <= entry.end_ns
    return named


def test_otlp_http_export_joins_the_incoming_trace_and_the_backend(backend, ingress, http_receiver):
    app = backend("app")
    proxy = ingress(
        _config(app.url),
        "--tracing=true",
        "--tracing.serviceName=edge-under-test",
        f"--tracing.otlp.http.endpoint=http://127.0.0.1:{http_receiver.port}",
        "--tracing.capturedRequestHeaders=X-Tenant",
        "--tracing.capturedResponseHeaders=X-Served-By",
        "--tracing.safeQueryParams=page",
        "--tracing.resourceAttributes.deployment.environment=test",
        env=FAST_EXPORT,
    )
    response = http_request(
        proxy.port,
        path="/orders?page=2&token=secret",
        headers={
            "Host": "app.test",
            "traceparent": f"00-{INCOMING_TRACE}-{INCOMING_PARENT}-01",
            "tracestate": "vendor=abc",
            "X-Tenant": "acme",
            "User-Agent": "tracing-test/1.0",
        },
    )
    assert response.status == 200
    seen = app.last("/orders")
    eventually(lambda: len(_trace(http_receiver.spans, INCOMING_TRACE)) >= 4, timeout=10)

    spans = _trace(http_receiver.spans, INCOMING_TRACE)
    named = _check_tree(spans, seen.header("traceparent") or "")
    assert seen.header("tracestate") == "vendor=abc"
    entry = named["GET"]
    assert entry.parent_span_id == INCOMING_PARENT, "the entrypoint span continues the client's trace"
    assert entry.attributes["entry_point"] == "web"
    assert entry.attributes["http.request.method"] == "GET"
    assert entry.attributes["url.path"] == "/orders"
    assert entry.attributes["url.query"] == "page=2&token=REDACTED"
    assert entry.attributes["url.scheme"] == "http"
    assert entry.attributes["server.address"] == "app.test"
    assert entry.attributes["user_agent.original"] == "tracing-test/1.0"
    assert entry.attributes["network.protocol.version"] == "1.1"
    assert entry.attributes["client.address"] == "127.0.0.1"
    assert entry.attributes["http.response.status_code"] == 200
    assert entry.attributes["http.request.header.x-tenant"] == ["acme"]
    assert entry.attributes["http.response.header.x-served-by"] == ["edge"]
    assert entry.status == "UNSET"
    router = named["Router"]
    assert router.attributes == {
        "traefik.router.name": "app@file",
        "traefik.service.name": "app@file",
        "http.route": "Host(`app.test`)",
    }
    assert named["Service"].attributes == {"traefik.service.name": "app@file"}
    client = named["ReverseProxy"]
    assert client.attributes["url.full"] == f"{app.url}/orders?page=2&token=secret"
    assert client.attributes["http.response.status_code"] == 200
    assert client.attributes["server.port"] == int(app.url.rsplit(":", 1)[1])
    assert entry.resource["service.name"] == "edge-under-test"
    assert entry.resource["deployment.environment"] == "test"
    assert entry.scope == "hanzo-edge"
    assert {r["path"] for r in http_receiver.requests} == {"/v1/traces"}


def test_otlp_grpc_export_starts_a_new_trace_and_marks_backend_errors(backend, ingress, grpc_receiver):
    app = backend("app")
    proxy = ingress(
        _config(app.url),
        "--tracing=true",
        f"--tracing.otlp.grpc.endpoint=127.0.0.1:{grpc_receiver.port}",
        "--tracing.otlp.grpc.insecure=true",
        "--tracing.otlp.grpc.headers.x-scope=edge",
        env=FAST_EXPORT,
    )
    assert http_request(proxy.port, path="/echo", headers={"Host": "app.test"}).status == 200
    assert http_request(proxy.port, path="/status/503", headers={"Host": "app.test"}).status == 503
    ok_parent = app.last("/echo").header("traceparent") or ""
    failed_parent = app.last("/status/503").header("traceparent") or ""
    ok_trace, failed_trace = ok_parent.split("-")[1], failed_parent.split("-")[1]
    assert ok_trace != failed_trace

    def both_exported() -> bool:
        spans = grpc_receiver.spans
        return len(_trace(spans, ok_trace)) >= 4 and len(_trace(spans, failed_trace)) >= 4

    eventually(both_exported, timeout=10)
    ok = _check_tree(_trace(grpc_receiver.spans, ok_trace), ok_parent)
    assert ok["GET"].parent_span_id == "", "no incoming traceparent: a root span"
    failed = _check_tree(_trace(grpc_receiver.spans, failed_trace), failed_parent)
    assert failed["GET"].attributes["http.response.status_code"] == 503
    assert failed["GET"].status == "ERROR"
    assert failed["ReverseProxy"].status == "ERROR"
    assert failed["GET"].resource["service.name"] == "traefik"
    assert any(r["metadata"].get("x-scope") == "edge" for r in grpc_receiver.requests)


def test_sample_rate_zero_exports_nothing_but_still_propagates(backend, ingress, http_receiver):
    app = backend("app")
    proxy = ingress(
        _config(app.url),
        "--tracing=true",
        "--tracing.sampleRate=0",
        f"--tracing.otlp.http.endpoint=http://127.0.0.1:{http_receiver.port}/custom/traces",
        "--ping=true",
        env=FAST_EXPORT,
    )
    for _ in range(5):
        assert http_request(proxy.port, path="/echo", headers={"Host": "app.test"}).status == 200
    parents = [r.header("traceparent") or "" for r in app.requests_to("/echo")]
    assert len(parents) == 5
    assert all(p.startswith("00-") and p.endswith("-00") for p in parents), parents
    # A sampled request elsewhere would have been exported by now; stop the process to flush for certain.
    proxy.signal(15)
    assert proxy.wait() == 0
    assert http_receiver.spans == []


def test_spans_are_flushed_on_shutdown_and_internal_routes_are_not_traced(backend, ingress, http_receiver):
    app = backend("app")
    proxy = ingress(
        _config(app.url),
        "--tracing=true",
        f"--tracing.otlp.http.endpoint=http://127.0.0.1:{http_receiver.port}",
        "--ping=true",
        "--ping.entryPoint=web",
    )  # default 5 s batch delay: only the shutdown flush can deliver within the test
    assert http_request(proxy.port, path="/ping").status == 200
    assert http_request(proxy.port, path="/echo", headers={"Host": "app.test"}).status == 200
    trace_id = (app.last("/echo").header("traceparent") or "").split("-")[1]
    proxy.signal(15)
    assert proxy.wait() == 0
    spans = http_receiver.spans
    assert len(_trace(spans, trace_id)) == 4
    paths = {s.attributes.get("url.path") for s in spans if s.kind == "SERVER"}
    assert "/echo" in paths
    assert "/ping" not in paths, "ping@internal is not traced (addInternals=false)"


def test_unreachable_collector_does_not_affect_requests(backend, ingress):
    app = backend("app")
    proxy = ingress(
        _config(app.url),
        "--tracing=true",
        "--tracing.otlp.http.endpoint=http://127.0.0.1:9/v1/traces",
        env=FAST_EXPORT,
    )
    for _ in range(20):
        response = http_request(proxy.port, path="/echo", headers={"Host": "app.test"})
        assert response.status == 200
        assert json.loads(response.body)["target"] == "/echo"
    proxy.signal(15)
    assert proxy.wait(timeout=30) == 0
