"""Metrics (issue 22): a request bumps one per-bundle accumulator; the entrypoint/router/service series see it once
folded at read time, across scrapes, bundle-cache resets and the removal of gone series."""

from __future__ import annotations

import pytest

from hanzo_edge.config.static import Prometheus
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.observability import metrics as metrics_module
from hanzo_edge.observability.metrics import METRICS_DIR_ENV, Metrics
from hanzo_edge.routing.table import Route


async def _never(req: Request) -> Response:
    return Response(200)


_HANDLER: Handler = _never


@pytest.fixture(autouse=True)
def _no_metrics_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(METRICS_DIR_ENV, raising=False)


def _request(method: str = "GET", router: str = "r@file", service: str = "s@file") -> Request:
    req = Request(method, "/", Headers([]), entry_point="web", body=b"abc")
    req.route = Route(name=router, priority=1, matches=lambda r: True, handler=_HANDLER, service=service)
    return req


def _value(m: Metrics, family: str, **labels: str) -> str:
    """The sample of ``family`` whose labels include ``labels`` (exactly one)."""
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    found = [
        line.rsplit(" ", 1)[1]
        for line in m.render().decode().splitlines()
        if line.startswith(f"hanzo_ingress_{family}{{") and all(w in line for w in wanted)
    ]
    assert len(found) == 1, found
    return found[0]


def test_counts_accumulate_across_scrapes_and_feed_every_scope() -> None:
    m = Metrics(Prometheus(add_routers_labels=True))
    for _ in range(3):
        m.observer(_request(), 200, 10, 0.2, False)
    assert _value(m, "entrypoint_requests_total", entrypoint="web") == "3"
    for _ in range(2):
        m.observer(_request(), 200, 10, 0.2, False)
    assert _value(m, "entrypoint_requests_total", entrypoint="web") == "5"
    assert _value(m, "router_requests_total", router="r@file") == "5"
    assert _value(m, "service_requests_total", service="s@file") == "5"
    assert _value(m, "service_requests_bytes_total", service="s@file") == "15"
    assert _value(m, "service_responses_bytes_total", service="s@file") == "50"
    assert _value(m, "service_request_duration_seconds_bucket", service="s@file", le="0.3") == "5"
    assert _value(m, "service_request_duration_seconds_bucket", service="s@file", le="0.1") == "0"
    assert _value(m, "service_request_duration_seconds_count", service="s@file") == "5"


def test_a_bundle_cache_reset_loses_no_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics_module, "_MAX_BUNDLES", 2)
    m = Metrics()
    methods = ["GET", "POST", "PUT", "DELETE", "PATCH"] * 4  # the cache is reset several times meanwhile
    for method in methods:
        m.observer(_request(method), 200, 0, 0.01, False)
    assert _value(m, "entrypoint_requests_total", method="GET") == "4"
    total = sum(int(_value(m, "entrypoint_requests_total", method=x)) for x in set(methods))
    assert total == len(methods)


def test_series_of_a_gone_service_are_dropped_and_the_others_keep_their_counts() -> None:
    m = Metrics()
    m.on_configuration({"web"}, {"r@file", "old@file"}, {"s@file": set(), "old@file": set()})
    m.observer(_request(), 200, 0, 0.01, False)
    m.observer(_request(router="old@file", service="old@file"), 200, 0, 0.01, False)
    m.on_configuration({"web"}, {"r@file"}, {"s@file": set()})
    m.render()  # the scrape after the change still shows the gone series (Traefik's promState), then drops them
    text = m.render().decode()
    assert 'service="old@file"' not in text
    m.observer(_request(), 200, 0, 0.01, False)
    assert _value(m, "service_requests_total", service="s@file") == "2"
    assert _value(m, "entrypoint_requests_total", entrypoint="web") == "3"
