"""Review of issue 22's coded Prometheus series: edge values keep Traefik's (client_golang's) labels and buckets.

The observer now keys a route's series by one int (status << 7 | method << 3 | protocol) and finds the bucket by a
walk over the bounds. Checked here against what Traefik's Go client does:

* ``le`` is inclusive: a duration exactly on a bound lands in that bound's bucket; a negative one in the first;
  +Inf and NaN in ``+Inf`` only (client_golang ``findBucket``: ``v <= bound`` is false for NaN; the old
  ``bisect_left`` put NaN in the first bucket, so this one input changed, toward Go);
* a status outside 100-599 (0, 1000, negative, large) and an unknown or lower-case method keep their labels
  (``code`` printed as the number, ``EXTENSION_METHOD``), on the coded path and on the ``headerLabels`` path alike;
* a route object seen on two entrypoints counts on each, and a route of a new generation with the same name counts
  for its own service, in the /metrics text.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.config.static import Prometheus
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.observability.metrics import METRICS_DIR_ENV, Metrics
from hanzo_edge.routing.table import Route


@pytest.fixture(autouse=True)
def _single_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(METRICS_DIR_ENV, raising=False)


async def _ok(req: Request) -> Response:
    return Response(200)


def _route(name: str, service: str) -> Route:
    return Route(name=name, priority=1, matches=lambda r: True, handler=_ok, service=service)


def _request(entry_point: str, route: Route | None, method: str = "GET", raw: Any = ()) -> Request:
    req = Request(method, "/", Headers([(b"Host", b"a.example"), *raw]), entry_point=entry_point, body=b"")
    req.route = route
    return req


def _go_bucket(bounds: tuple[float, ...], value: float) -> int:
    # client_golang histogram.findBucket: the first bound v <= bound, else len(bounds) (+Inf); NaN compares false.
    for i, bound in enumerate(bounds):
        if value <= bound:
            return i
    return len(bounds)


BOUNDS = st.lists(st.sampled_from([0.0, 0.005, 0.1, 0.3, 1.2, 5.0, 10.0]), min_size=1, max_size=5)
DURATIONS = st.one_of(
    st.sampled_from([0.0, -0.0, 0.005, 0.1, 0.3, 1.2, 5.0, 10.0, -1.0, math.inf, math.nan, 5e-324]),
    st.floats(-1.0, 20.0),
)


@settings(max_examples=200, deadline=None)
@given(bounds=BOUNDS, durations=st.lists(DURATIONS, min_size=1, max_size=12), labelled=st.booleans())
def test_bucket_of_every_duration_is_client_golangs(
    bounds: list[float], durations: list[float], labelled: bool
) -> None:
    config = Prometheus(buckets=tuple(bounds), header_labels={"tenant": "X-Tenant"} if labelled else {})
    m = Metrics(config)
    for duration in durations:
        m.observer(_request("web", None), 200, 0, duration, False)
    edges = tuple(sorted(bounds))
    expected = [0] * (len(edges) + 1)
    for duration in durations:
        expected[_go_bucket(edges, duration)] += 1
    ((_labels, cell),) = m.snapshot()["entrypoint_request_duration_seconds"].items()
    total, _, *buckets = cell
    assert total == len(durations)
    assert buckets == expected


def test_out_of_range_statuses_and_unknown_methods_keep_their_labels_in_the_text() -> None:
    for labelled in (False, True):
        m = Metrics(Prometheus(header_labels={"tenant": "X-Tenant"} if labelled else {}, prefix="traefik"))
        route = _route("r@file", "s@file")
        for status in (0, 99, 600, 1000, -1, 2**20):
            m.observer(_request("web", route, "get"), status, 0, 0.01, False)
        m.observer(_request("web", route, "BREW"), 200, 0, 0.01, False)
        m.observer(_request("web", route, "PRI"), 200, 0, 0.01, False)
        text = m.render().decode()
        for status in ("0", "99", "600", "1000", "-1", str(2**20)):
            assert (
                f'traefik_entrypoint_requests_total{{code="{status}",entrypoint="web",method="EXTENSION_METHOD"' in text
            )
        assert 'code="200",entrypoint="web",method="EXTENSION_METHOD",protocol="http"' in text
        assert 'code="200",entrypoint="web",method="PRI",protocol="http"' in text


def test_one_route_on_two_entrypoints_and_a_same_named_route_of_a_new_generation() -> None:
    m = Metrics(Prometheus(add_routers_labels=True, prefix="traefik"))
    old, new = _route("r@file", "a@file"), _route("r@file", "b@file")
    websocket = [(b"Connection", b"Upgrade"), (b"Upgrade", b"websocket")]
    for entry_point, route, raw in (
        ("web", old, ()),
        ("websecure", old, ()),
        ("web", old, websocket),
        ("websecure", old, ()),
        ("web", new, ()),
        ("web", old, ()),
    ):
        m.observer(_request(entry_point, route, raw=raw), 200, 0, 0.01, False)
    snap = m.snapshot()
    assert snap["entrypoint_requests_total"] == {
        ("200", "GET", "http", "web"): 3,
        ("200", "GET", "websocket", "web"): 1,
        ("200", "GET", "http", "websecure"): 2,
    }
    assert snap["router_requests_total"] == {
        ("200", "GET", "http", "r@file", "a@file"): 4,
        ("200", "GET", "websocket", "r@file", "a@file"): 1,
        ("200", "GET", "http", "r@file", "b@file"): 1,
    }
