"""Issue 22, per-request trims of the observers: same counts and lines, fewer interpreted steps.

* ``FanOut`` calls the access log's ``LineBatch.observe`` and ``Metrics.observer`` natively when they lead its hooks
  (the app's order); every other hook still runs, after them, in order.
* ``Metrics.observer`` remembers the last request's (route, entrypoint, code) series, and counts histogram buckets in
  native fields: under any sequence of routes, statuses, methods, protocols and scrapes, every series counts each of
  its requests once, in the right bucket.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.middlewares._headers_response import ResponseHeaderEdits
from hanzo_edge.observability.accesslog import AccessLog
from hanzo_edge.observability.fan_out import FanOut
from hanzo_edge.observability.metrics import METRICS_DIR_ENV, Metrics
from hanzo_edge.routing.table import Route


async def _ok(req: Request) -> Response:
    return Response(200)


ROUTES = {
    name: Route(name=name, priority=1, matches=lambda r: True, handler=_ok, service=f"{name}-svc@file")
    for name in ("a@file", "b@file")
}
PROTOCOL_HEADERS = {
    "http": [],
    "sse": [(b"Accept", b"text/event-stream")],
    "grpc": [(b"Content-Type", b"application/grpc")],
}


def _request(route: str, method: str, protocol: str, entry_point: str = "web") -> Request:
    headers = Headers([(b"Host", b"a.example"), *PROTOCOL_HEADERS[protocol]])
    req = Request(method, "/", headers, entry_point=entry_point, body=b"xy")
    req.route = ROUTES[route]
    return req


@pytest.fixture(autouse=True)
def _single_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(METRICS_DIR_ENV, raising=False)


REQUESTS = st.tuples(
    st.sampled_from(sorted(ROUTES)),
    st.sampled_from([200, 404, 503]),
    st.sampled_from(["GET", "POST", "BREW"]),
    st.sampled_from(sorted(PROTOCOL_HEADERS)),
    st.sampled_from(["web", "websecure"]),
    st.sampled_from([0.05, 0.1, 0.2, 2.0, 9.0]),
)


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.one_of(REQUESTS, st.just("scrape")), max_size=60), repeat=st.integers(1, 300))
def test_remembered_series_count_every_request_in_its_own_series(steps: list[Any], repeat: int) -> None:
    metrics = Metrics()
    expected: Counter[tuple[str, str, str, str]] = Counter()
    le_01: Counter[tuple[str, str, str, str]] = Counter()
    for step in steps:
        if step == "scrape":
            metrics.render()
            continue
        route, status, method, protocol, entry_point, duration = step
        labels = (str(status), method if method != "BREW" else "EXTENSION_METHOD", protocol, entry_point)
        req = _request(route, method, protocol, entry_point)
        for _ in range(repeat if step is steps[-1] else 1):  # a long run of one series: counts past 256
            metrics.observer(req, status, 5, duration, False)
            expected[labels] += 1
            le_01[labels] += duration <= 0.1
    histograms = metrics.snapshot()["entrypoint_request_duration_seconds"]
    assert {labels: value[0] for labels, value in histograms.items()} == dict(expected)
    assert {labels: value[2] for labels, value in histograms.items()} == {k: le_01[k] for k in expected}


def test_fan_out_calls_the_access_log_and_metrics_natively_then_the_other_hooks(tmp_path: Path) -> None:
    async def check() -> None:
        path = tmp_path / "access.log"
        log = AccessLog(format="json", file_path=str(path))
        metrics = Metrics()
        seen: list[tuple[Request, Any, Any, Any, Any]] = []

        def tracing(req: Request, status: Any, size: Any, duration: Any, aborted: Any) -> None:
            seen.append((req, status, size, duration, aborted))

        try:
            fan = FanOut((log.observer, metrics.observer, tracing))
            assert fan.batch is not None
            assert fan.metrics is metrics
            assert fan.rest == (tracing,)
            req = _request("a@file", "GET", "http")
            fan(req, 200, 7, 0.01, False)
            assert seen == [(req, 200, 7, 0.01, False)]
            await log.flush()
        finally:
            await log.aclose()
        (line,) = path.read_bytes().splitlines()
        assert orjson.loads(line)["DownstreamStatus"] == 200
        snapshot = metrics.snapshot()
        assert snapshot["entrypoint_requests_total"] == {("200", "GET", "http", "web"): 1}

    asyncio.run(check())


def test_hooks_in_another_order_are_all_called_in_that_order() -> None:
    metrics = Metrics()
    order: list[str] = []

    def first(req: Request, status: Any, size: Any, duration: Any, aborted: Any) -> None:
        order.append(f"first:{metrics.snapshot()['entrypoint_requests_total'] != {}}")

    fan = FanOut((first, metrics.observer))  # metrics not leading: called as a hook, after ``first``
    assert fan.batch is None
    assert fan.metrics is None
    assert fan.rest == (first, metrics.observer)
    fan(_request("b@file", "GET", "http"), 200, 1, 0.01, False)
    assert order == ["first:False"]
    assert metrics.snapshot()["entrypoint_requests_total"] == {("200", "GET", "http", "web"): 1}


EDIT_NAMES = st.sampled_from(["X-Served-By", "X-Served-Bz", "Vary", "strict-transport-security"])


@settings(max_examples=300, deadline=None)
@given(
    edits=st.lists(st.tuples(EDIT_NAMES, st.sampled_from([b"edge", None])), max_size=3),
    fields=st.lists(st.tuples(EDIT_NAMES.map(str.encode) | st.just(b"X-Other-123"), st.just(b"v")), max_size=4),
    sts=st.booleans(),
    scheme=st.sampled_from(["http", "https"]),
)
def test_header_edits_equal_one_set_field_or_remove_per_edit(
    edits: list[tuple[str, bytes | None]], fields: list[tuple[bytes, bytes]], sts: bool, scheme: str
) -> None:
    # The one-scan append path must leave exactly the fields the generic per-edit path leaves.
    encoded = tuple(
        (name, name.lower().encode(), None if value is None else (name.encode(), value)) for name, value in edits
    )
    sts_field = (b"Strict-Transport-Security", b"max-age=60") if sts else None
    hook = ResponseHeaderEdits(sts_field, False, encoded)
    req = Request("GET", "/", Headers([]), scheme=scheme)
    response = Response(200, Headers(list(fields)))
    hook(req, response)
    expected = Headers(list(fields))
    if sts_field is not None and scheme == "https":
        expected.set_field(b"strict-transport-security", sts_field)
    for name, key, field in encoded:
        if field is None:
            expected.remove(name)
        else:
            expected.set_field(key, field)
    assert response.headers.raw == expected.raw
