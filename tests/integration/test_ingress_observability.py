"""Access log, API and dashboard wired into the real CLI."""

from __future__ import annotations

import json

import pytest
from edge_harness import eventually, free_port, http_request, lb_service

pytestmark = pytest.mark.integration


def test_json_access_log_line_and_api_through_the_cli(backend, ingress, tmp_path):
    app = backend("app")
    log = tmp_path / "access.log"
    api_port = free_port()
    proxy = ingress(
        {
            "http": {
                "routers": {
                    "app": {"rule": "Host(`app.test`)", "service": "app"},
                    "broken": {"rule": "Host(`x`", "service": "app"},
                },
                "services": {"app": lb_service(app.url)},
            }
        },
        "--accesslog=true",
        "--accesslog.format=json",
        f"--accesslog.filePath={log}",
        "--api.insecure=true",
        f"--entrypoints.traefik.address=127.0.0.1:{api_port}",
    )
    assert http_request(proxy.port, path="/hello?x=1", headers={"Host": "app.test"}).status == 200

    def ours() -> list[dict[str, object]]:
        if not log.exists():
            return []
        lines = [json.loads(text) for text in log.read_text().splitlines() if text.strip()]
        return [entry for entry in lines if entry.get("RequestPath") == "/hello?x=1"]

    eventually(lambda: bool(ours()), timeout=5)
    (line,) = ours()
    assert line["DownstreamStatus"] == 200
    assert line["RequestHost"] == "app.test"
    assert line["RequestPath"] == "/hello?x=1"
    assert line["RouterName"] == "app@file"
    assert line["ServiceName"] == "app@file"
    assert line["ServiceURL"] == app.url
    assert line["entryPointName"] == "web"
    assert isinstance(line["Duration"], int)
    assert line["Duration"] > 0, "durations are nanoseconds"

    routers = json.loads(http_request(api_port, path="/api/http/routers").body)
    by_name = {r["name"]: r for r in routers}
    assert by_name["app@file"]["status"] == "enabled"
    assert by_name["broken@file"]["status"] == "disabled"
    assert by_name["broken@file"]["error"], "a disabled router shows its error"

    page = http_request(api_port, path="/dashboard/")
    assert page.status == 200
    assert (page.header("Content-Type") or "").startswith("text/html")
    assert b"<html" in page.body.lower()


def test_prometheus_metrics_after_a_known_sequence_of_requests(backend, ingress):
    app = backend("app")
    metrics_port = free_port()
    proxy = ingress(
        {
            "http": {
                "routers": {"app": {"rule": "Host(`app.test`)", "service": "app"}},
                "services": {"app": lb_service(app.url)},
            }
        },
        "--metrics.prometheus=true",
        "--metrics.prometheus.entryPoint=metrics",
        "--metrics.prometheus.addRoutersLabels=true",
        f"--entrypoints.metrics.address=127.0.0.1:{metrics_port}",
    )
    for _ in range(3):
        assert http_request(proxy.port, path="/", headers={"Host": "app.test"}).status == 200
    text = http_request(metrics_port, path="/metrics").body.decode()
    assert 'hanzo_ingress_router_requests_total{code="200",method="GET",protocol="http",router="app@file",' in text
    lines = [line for line in text.splitlines() if line.startswith("hanzo_ingress_service_requests_total{")]
    assert any('service="app@file"' in line and line.endswith(" 3") for line in lines), lines
    assert "hanzo_ingress_config_reloads_total 1" in text


def test_access_log_times_the_backend_separately_from_the_proxy(backend, ingress, tmp_path):
    app = backend("app")
    log = tmp_path / "access.log"
    proxy = ingress(
        {
            "http": {
                "routers": {"app": {"rule": "Host(`app.test`)", "service": "app", "middlewares": ["strip"]}},
                "middlewares": {"strip": {"stripPrefix": {"prefixes": ["/api"]}}},
                "services": {"app": lb_service(app.url)},
            }
        },
        "--accesslog=true",
        "--accesslog.format=json",
        f"--accesslog.filePath={log}",
    )
    assert http_request(proxy.port, path="/api/slow?ms=150", headers={"Host": "app.test"}).status == 200

    def line() -> dict[str, int] | None:
        if not log.exists():
            return None
        for text in log.read_text().splitlines():
            entry = json.loads(text)
            if entry.get("RequestPath") == "/api/slow?ms=150":
                return entry
        return None

    eventually(lambda: line() is not None, timeout=5)
    entry = line()
    assert entry is not None
    assert entry["OriginStatus"] == 200
    assert entry["OriginDuration"] >= 150_000_000, "the backend took 150 ms"
    assert 0 <= entry["Overhead"] < entry["OriginDuration"]
    assert entry["Overhead"] + entry["OriginDuration"] == entry["Duration"]


def test_router_observability_overrides_the_entrypoint(backend, ingress, tmp_path):
    app = backend("app")
    log = tmp_path / "access.log"
    metrics_port = free_port()
    proxy = ingress(
        {
            "http": {
                "routers": {
                    "loud": {"rule": "Host(`loud.test`)", "service": "app"},
                    "quiet": {
                        "rule": "Host(`quiet.test`)",
                        "service": "app",
                        "observability": {"accessLogs": False, "metrics": False},
                    },
                },
                "services": {"app": lb_service(app.url)},
            }
        },
        "--accesslog=true",
        "--accesslog.format=json",
        f"--accesslog.filePath={log}",
        "--metrics.prometheus=true",
        "--metrics.prometheus.addRoutersLabels=true",
        "--metrics.prometheus.entryPoint=metrics",
        f"--entrypoints.metrics.address=127.0.0.1:{metrics_port}",
    )
    assert http_request(proxy.port, path="/q", headers={"Host": "quiet.test"}).status == 200
    assert http_request(proxy.port, path="/l", headers={"Host": "loud.test"}).status == 200

    def paths() -> list[str]:
        if not log.exists():
            return []
        return [json.loads(text)["RequestPath"] for text in log.read_text().splitlines() if text.strip()]

    eventually(lambda: "/l" in paths(), timeout=5)
    assert "/q" not in paths()
    scrape = http_request(metrics_port, path="/metrics").body.decode()
    assert 'router="loud@file"' in scrape
    assert 'router="quiet@file"' not in scrape
