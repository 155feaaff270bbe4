"""Issue 22: the Prometheus observer's series cache (the remembered route, int-coded status/method/protocol).

The observer finds a request's series through the last route it saw (an identity test) and one integer key, not a
label tuple. These check it against a plain model under Hypothesis: requests on several entrypoints, route objects of
two configuration generations (one router keeps its name but changes its service), unmatched requests, every method
and protocol, disabled entrypoints and ``@internal`` services, with cache resets along the way; every label set must
count exactly the requests that carry it. The same tests run against the compiled tree in ``make test-compiled``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.config.static import Prometheus
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.observability import metrics as metrics_module
from hanzo_edge.observability.metrics import METRICS_DIR_ENV, Metrics
from hanzo_edge.routing.table import Route

STANDARD = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PRI")
PROTOCOL_HEADERS: dict[str, list[tuple[bytes, bytes]]] = {
    "http": [],
    "websocket": [(b"Connection", b"keep-alive, Upgrade"), (b"Upgrade", b"websocket")],
    "sse": [(b"Accept", b"text/event-stream")],
    "grpc": [(b"Content-Type", b"application/grpc+proto")],
    "grpc-web": [(b"Content-Type", b"application/grpc-web")],
}


async def _ok(req: Request) -> Response:
    return Response(200)


def _route(name: str, service: str) -> Route:
    return Route(name=name, priority=1, matches=lambda r: True, handler=_ok, service=service)


# Two generations of route objects: "r1" keeps its name but moves to another service; None is an unmatched request.
GENERATIONS: list[list[Route | None]] = [
    [_route("r1@file", "s1@file"), _route("r2@file", "s2@file"), _route("ping@internal", "ping@internal"), None],
    [_route("r1@file", "s3@file"), _route("r2@file", "s2@file"), _route("ping@internal", "ping@internal"), None],
]

REQUESTS = st.tuples(
    st.sampled_from(["web", "websecure", "off"]),
    st.integers(0, 1),
    st.integers(0, 3),
    st.sampled_from([*STANDARD, "BREW", "get"]),
    st.sampled_from(sorted(PROTOCOL_HEADERS)),
    st.sampled_from([200, 404, 502, 101, 999]),
    st.sampled_from([0.0, 0.1, 0.2, 0.3, 4.0, 9.5]),
)
STEPS = st.lists(st.one_of(REQUESTS, st.just("scrape"), st.just("reconfigure")), max_size=80)


def _request(entry_point: str, route: Route | None, method: str, protocol: str) -> Request:
    raw = [(b"Host", b"a.example"), *PROTOCOL_HEADERS[protocol]]
    req = Request(method, "/", Headers(raw), entry_point=entry_point, body=b"abc")
    req.route = route
    return req


def _labels(scope: str, entry_point: str, route: Route | None, method: str, protocol: str, status: int) -> Any:
    label = method if method in STANDARD else "EXTENSION_METHOD"
    code = str(status)
    if scope == "entrypoint":
        return (code, label, protocol, entry_point)
    if route is None:
        return None
    if scope == "router":
        return (code, label, protocol, route.name, route.service)
    return (code, label, protocol, route.service)


@pytest.fixture(autouse=True)
def _single_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(METRICS_DIR_ENV, raising=False)


@settings(max_examples=150, deadline=None)
@given(steps=STEPS, add_internals=st.booleans(), cache_size=st.sampled_from([2, 5, 100_000]))
def test_every_label_set_counts_exactly_its_requests(steps: list[Any], add_internals: bool, cache_size: int) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(metrics_module, "_MAX_BUNDLES", cache_size)  # cache resets happen along the way
        config = Prometheus(add_routers_labels=True)
        m = Metrics(config, add_internals=add_internals, disabled_entrypoints={"off"})
        expected: dict[str, Counter[Any]] = {scope: Counter() for scope in ("entrypoint", "router", "service")}
        durations: Counter[Any] = Counter()
        for step in steps:
            if step == "scrape":
                m.render()
                continue
            if step == "reconfigure":
                m.on_configuration({"web", "websecure", "off"}, set(), {})
                continue
            entry_point, generation, index, method, protocol, status, duration = step
            route = GENERATIONS[generation][index]
            m.observer(_request(entry_point, route, method, protocol), status, 7, duration, False)
            internal = route is not None and route.service.endswith("@internal")
            if entry_point == "off" or (internal and not add_internals):
                continue
            for scope, counts in expected.items():
                labels = _labels(scope, entry_point, route, method, protocol, status)
                if labels is not None:
                    counts[labels] += 1
            durations[(_labels("entrypoint", entry_point, route, method, protocol, status), duration)] += 1
        snap = m.snapshot()
        for scope, counts in expected.items():
            assert snap[f"{scope}_requests_total"] == dict(counts)
            assert snap[f"{scope}_requests_bytes_total"] == {k: 3 * n for k, n in counts.items()}
            assert snap[f"{scope}_responses_bytes_total"] == {k: 7 * n for k, n in counts.items()}
        histograms = snap["entrypoint_request_duration_seconds"]
        for labels, count in expected["entrypoint"].items():
            seen = [d for (key, d), n in durations.items() for _ in range(n) if key == labels]
            total, summed, *buckets = histograms[labels]
            assert total == count == len(seen)
            assert summed == pytest.approx(sum(seen))
            # DEFAULT_BUCKETS (0.1, 0.3, 1.2, 5.0), inclusive upper bounds, then +Inf
            bounds = (0.1, 0.3, 1.2, 5.0, float("inf"))
            assert buckets == [
                sum(1 for d in seen if d <= b and (i == 0 or d > bounds[i - 1])) for i, b in enumerate(bounds)
            ]


def test_a_new_generations_route_with_the_same_name_counts_for_its_own_service() -> None:
    m = Metrics(Prometheus(add_routers_labels=True))
    old, new = GENERATIONS[0][0], GENERATIONS[1][0]
    assert old is not None
    assert new is not None
    for route in (old, old, new, old):  # the remembered route is told apart by identity, not by its name
        m.observer(_request("web", route, "GET", "http"), 200, 0, 0.01, False)
    snap = m.snapshot()["service_requests_total"]
    assert snap == {("200", "GET", "http", "s1@file"): 3, ("200", "GET", "http", "s3@file"): 1}


def test_a_reload_lets_go_of_the_remembered_route() -> None:
    m = Metrics()
    route = GENERATIONS[0][1]
    m.observer(_request("web", route, "GET", "http"), 200, 0, 0.01, False)
    assert m._last_route is route
    m.on_configuration({"web"}, {"r2@file"}, {"s2@file": set()})
    assert m._last_route is not route  # the previous generation's route (and its handlers) can be freed
    m.observer(_request("web", route, "GET", "http"), 200, 0, 0.01, False)
    assert m.snapshot()["service_requests_total"] == {("200", "GET", "http", "s2@file"): 2}
