"""Issue 22: the Prometheus observer is compiled with the hot path (``scripts/build_compiled.py``).

Interpreted, the observer cost ~2.3 µs/request end to end when called from the compiled pipeline; native, ~0.5
(``benchmarks/obs22_cpu_probe.py --alt-src``). mypyc types what the interpreter leaves loose, so these pin what the
native build must keep: an ``int`` duration where a ``float`` is annotated, Prometheus' inclusive bucket bounds
(``le``), request bytes of a streamed body, and the call through the compiled pipeline's ``report``. The same test
runs pure in ``make test`` and against the compiled tree in ``make test-compiled``.
"""

from __future__ import annotations

from time import perf_counter

import pytest

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.http.pipeline import report
from hanzo_edge.observability.metrics import METRICS_DIR_ENV, Metrics
from hanzo_edge.routing.table import Route

EP_LABELS = ("200", "GET", "http", "web")


@pytest.fixture
def metrics(monkeypatch: pytest.MonkeyPatch) -> Metrics:
    monkeypatch.delenv(METRICS_DIR_ENV, raising=False)
    return Metrics()


async def _ok(req: Request) -> Response:
    return Response(200)


def _request(body: bytes | StreamBody = b"", method: str = "GET") -> Request:
    req = Request(method, "/", Headers([(b"Host", b"example.com")]), entry_point="web", body=body)
    req.route = Route(name="r@file", priority=1, matches=lambda r: True, handler=_ok, service="svc@file")
    return req


def test_bucket_bounds_are_inclusive_and_an_int_duration_is_accepted(metrics: Metrics) -> None:
    # DEFAULT_BUCKETS (0.1, 0.3, 1.2, 5.0): a duration equal to a bound belongs to that bound's bucket (le)
    for duration in (0.1, 0.3000001, 1, 5, 7):
        metrics.observer(_request(), 200, 10, duration, False)
    count, total, *buckets = metrics.snapshot()["entrypoint_request_duration_seconds"][EP_LABELS]
    assert count == 5
    assert total == pytest.approx(0.1 + 0.3000001 + 1 + 5 + 7)
    assert buckets == [1, 0, 2, 1, 1]  # le=0.1, le=0.3, le=1.2, le=5, +Inf


def test_streamed_request_bytes_and_response_bytes_are_counted(metrics: Metrics) -> None:
    body = StreamBody(None)
    body.received = 4096  # what the relay had read when the response completed
    metrics.observer(_request(body, "POST"), 201, 77, 0.01, False)
    metrics.observer(_request(b"abc", "BREW"), 201, 3, 0.01, False)
    snap = metrics.snapshot()
    assert snap["entrypoint_requests_bytes_total"][("201", "POST", "http", "web")] == 4096
    assert snap["entrypoint_responses_bytes_total"][("201", "POST", "http", "web")] == 77
    assert snap["service_requests_bytes_total"][("201", "EXTENSION_METHOD", "http", "svc@file")] == 3


def test_the_pipelines_report_call_reaches_the_observer(metrics: Metrics) -> None:
    req = _request(b"xy")
    req.started = perf_counter()
    report(metrics.observer, req, 200, 5, False)
    report(metrics.observer, req, 200, 5, True)  # an aborted exchange counts too, as Traefik's middleware does
    text = metrics.render().decode()
    assert 'hanzo_ingress_entrypoint_requests_total{code="200",entrypoint="web",method="GET",protocol="http"} 2' in text
    assert (
        'hanzo_ingress_service_requests_bytes_total{code="200",method="GET",protocol="http",service="svc@file"} 4'
        in (text)
    )
