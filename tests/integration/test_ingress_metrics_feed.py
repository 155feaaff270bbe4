"""Metrics fed from outside the request path, through the real CLI: health checks into ``service_server_up``,
request counters summed over ``--workers``, and the API under ``api.basePath``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from edge_backend import Backend
from edge_harness import (
    Ingress,
    RawConn,
    children_of,
    eventually,
    free_port,
    http_request,
    lb_service,
    request_bytes,
    socket_owner,
)

pytestmark = pytest.mark.integration

BackendFactory = Callable[..., Backend]
IngressFactory = Callable[..., Ingress]

_SAMPLE = re.compile(r"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)\Z")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _samples(text: str, name: str) -> dict[frozenset[tuple[str, str]], str]:
    """The samples of metric ``name`` in a text exposition: label set -> value (as written)."""
    found: dict[frozenset[tuple[str, str]], str] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or match["name"] != name:
            continue
        found[frozenset(_LABEL.findall(match["labels"] or ""))] = match["value"]
    return found


def _scrape(port: int) -> str:
    resp = http_request(port, path="/metrics")
    assert resp.status == 200, resp
    return resp.body.decode()


def _app(*urls: str, **lb_options: Any) -> dict[str, Any]:
    """One router for Host ``app.test`` (the harness's readiness probe does not match it) to service ``app``."""
    return {
        "http": {
            "routers": {"app": {"rule": "Host(`app.test`)", "service": "app"}},
            "services": {"app": lb_service(*urls, **lb_options)},
        }
    }


def _workers(supervisor_pid: int, count: int) -> list[int]:
    def found() -> list[int]:
        kids = children_of(supervisor_pid)
        return kids if len(kids) == count else []

    return eventually(found, timeout=10, message=f"supervisor {supervisor_pid} does not have {count} workers")


def _metrics_flags(port: int) -> tuple[str, ...]:
    return (
        "--metrics.prometheus=true",
        "--metrics.prometheus.entryPoint=metrics",
        f"--entrypoints.metrics.address=127.0.0.1:{port}",
    )


def test_active_health_checks_set_service_server_up(backend: BackendFactory, ingress: IngressFactory) -> None:
    healthy, doomed = backend("healthy"), backend("doomed")
    metrics_port = free_port()
    ingress(
        _app(healthy.url, doomed.url, healthCheck={"path": "/health", "interval": "100ms", "timeout": "1s"}),
        *_metrics_flags(metrics_port),
    )

    def server_up() -> dict[str, str]:
        series = _samples(_scrape(metrics_port), "hanzo_ingress_service_server_up")
        return {dict(labels)["url"]: value for labels, value in series.items() if dict(labels)["service"] == "app@file"}

    eventually(
        lambda: server_up() == {healthy.url: "1", doomed.url: "1"},
        timeout=10,
        message=lambda: f"server_up never reported both servers up: {server_up()}",
    )
    assert healthy.requests_to("/health"), "the gauge comes from real probes"

    doomed.stop()
    eventually(
        lambda: server_up() == {healthy.url: "1", doomed.url: "0"},
        timeout=10,
        message=lambda: f"server_up never reported the stopped server down: {server_up()}",
    )


def test_two_workers_count_every_request_exactly_once(backend: BackendFactory, ingress: IngressFactory) -> None:
    app = backend("app")
    metrics_port = free_port()
    proxy = ingress(_app(app.url), "--workers", "2", *_metrics_flags(metrics_port))
    workers = _workers(proxy.pid, 2)

    # Fresh connections until each worker has served one: every request sent is a 200, counted here.
    sent = 0
    served_by: set[int] = set()
    for _ in range(500):
        with RawConn(proxy.port, timeout=5) as conn:
            conn.send(request_bytes("GET", "/who", "app.test"))
            resp = conn.read_response()
            assert resp.status == 200, resp
            sent += 1
            owner = socket_owner(proxy.port, conn.local_port, workers)
        if owner is not None:
            served_by.add(owner)
        if served_by == set(workers) and sent >= 20:
            break
    assert served_by == set(workers), f"only {served_by} of {workers} served after {sent} connections"

    # Each worker merges its live counters with the others' published files (about once a second): poll until a
    # scrape answered by each worker shows the exact total, and check that no scrape ever counted more.
    key = frozenset({("code", "200"), ("entrypoint", "web"), ("method", "GET"), ("protocol", "http")})
    latest: dict[int, str | None] = {}
    values: list[int] = []

    def every_worker_reports_the_total() -> bool:
        with RawConn(metrics_port, timeout=5) as conn:
            conn.send(request_bytes("GET", "/metrics", "metrics.test"))
            resp = conn.read_response()
            owner = socket_owner(metrics_port, conn.local_port, workers)
        assert resp.status == 200, resp
        value = _samples(resp.body.decode(), "hanzo_ingress_entrypoint_requests_total").get(key)
        if value is not None:
            values.append(int(value))
        if owner is not None:
            latest[owner] = value
        return all(latest.get(pid) == str(sent) for pid in workers)

    eventually(
        every_worker_reports_the_total,
        timeout=15,
        message=lambda: f"{sent} requests were sent; the last scrape answered by each worker said {latest}",
    )
    assert max(values) == sent, f"a scrape counted more requests than were sent: {values}"


def test_api_and_dashboard_under_a_base_path(backend: BackendFactory, ingress: IngressFactory) -> None:
    app = backend("app")
    api_port = free_port()
    ingress(
        _app(app.url),
        "--api.insecure=true",
        "--api.basePath=/edge",
        f"--entrypoints.traefik.address=127.0.0.1:{api_port}",
    )

    routers = http_request(api_port, path="/edge/api/http/routers")
    assert routers.status == 200, routers
    assert (routers.header("Content-Type") or "").startswith("application/json")
    by_name = {r["name"]: r for r in routers.json()}
    assert by_name["app@file"]["status"] == "enabled"
    assert by_name["app@file"]["rule"] == "Host(`app.test`)"

    page = http_request(api_port, path="/edge/dashboard/")
    assert page.status == 200, page
    assert (page.header("Content-Type") or "").startswith("text/html")
    assert b"<html" in page.body.lower()
    script = http_request(api_port, path="/edge/dashboard/app.js")
    assert script.status == 200
    assert (script.header("Content-Type") or "").startswith("text/javascript")

    for path in ("/edge", "/edge/", "/edge/dashboard"):
        redirect = http_request(api_port, path=path)
        assert (redirect.status, redirect.header("Location")) == (302, "/edge/dashboard/"), path

    for path in ("/api/http/routers", "/dashboard/", "/api/version", "/edgeapi/http/routers"):
        assert http_request(api_port, path=path).status == 404, path
