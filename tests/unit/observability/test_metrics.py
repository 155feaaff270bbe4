"""Prometheus metrics: Traefik's names, labels and buckets, exact exposition text, multi-worker merge."""

from __future__ import annotations

import asyncio
import gzip
import os
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from hanzo_edge.config.static import Prometheus
from hanzo_edge.config.types import FrozenDict
from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.http.tls_info import TLSInfo, tls_info_of
from hanzo_edge.observability._metrics_text import go_float
from hanzo_edge.observability.metrics import METRICS_DIR_ENV, Metrics, request_protocol
from hanzo_edge.routing.table import Route

NOW = 1_721_234_567.0


async def _never(req: Request) -> Response:
    return Response(200)


_HANDLER: Handler = _never


def route(name: str = "web-app@file", service: str = "app@file") -> Route:
    return Route(name=name, priority=1, matches=lambda r: True, handler=_HANDLER, service=service)


def request(
    method: str = "GET",
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    entry_point: str = "web",
    matched: Route | None = None,
    body: bytes = b"",
    ctx: dict[str, Any] | None = None,
) -> Request:
    req = Request(method, "/", Headers(list(headers or [])), entry_point=entry_point, body=body)
    req.route = matched
    if ctx:  # what the retry middleware leaves on the request
        req.retry_attempts = ctx.get("retry_attempts")
    return req


def metrics(**config: Any) -> Metrics:
    options = {k: config.pop(k) for k in ("add_internals", "disabled_entrypoints", "directory") if k in config}
    return Metrics(Prometheus(**config), clock=lambda: NOW, **options)


def lines(m: Metrics) -> list[str]:
    return m.render().decode().splitlines()


def samples(m: Metrics) -> list[str]:
    return [line for line in lines(m) if not line.startswith("#")]


@pytest.fixture(autouse=True)
def _no_metrics_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(METRICS_DIR_ENV, raising=False)


# ------------------------------------------------------------------------------------------------- exact exposition
def test_fresh_registry_exports_only_the_label_less_families() -> None:
    assert lines(metrics()) == [
        "# HELP hanzo_ingress_config_last_reload_failure Last config reload failure",
        "# TYPE hanzo_ingress_config_last_reload_failure gauge",
        "hanzo_ingress_config_last_reload_failure 0",
        "# HELP hanzo_ingress_config_last_reload_success Last config reload success",
        "# TYPE hanzo_ingress_config_last_reload_success gauge",
        "hanzo_ingress_config_last_reload_success 0",
        "# HELP hanzo_ingress_config_reloads_failure_total Config reload failures",
        "# TYPE hanzo_ingress_config_reloads_failure_total counter",
        "hanzo_ingress_config_reloads_failure_total 0",
        "# HELP hanzo_ingress_config_reloads_total Config reloads",
        "# TYPE hanzo_ingress_config_reloads_total counter",
        "hanzo_ingress_config_reloads_total 0",
    ]


def test_known_sequence_gives_exact_text() -> None:
    m = metrics()
    app = route()
    m.observer(request(matched=app, body=b"abc"), 200, 10, 0.0625, False)
    m.observer(request(matched=app, body=b"abcd"), 200, 20, 0.25, False)
    m.observer(request("POST", matched=app, ctx={"retry_attempts": 2}), 502, 11, 7.5, False)
    m.observer(request("FOO", [(b"Accept", b"text/event-stream")]), 404, 19, 0.5, False)  # unmatched
    m.observer(request(matched=route("ping@internal", "ping@internal")), 200, 2, 0.001, False)  # not counted
    m.config_reload(True)
    m.config_reload(True)
    m.server_up("app@file", "http://10.0.0.1:80", True)
    m.server_up("app@file", "http://10.0.0.2:80", False)
    m.connection_opened("web")
    m.connection_opened("web")
    m.connection_closed("web")
    text = lines(m)
    ep_ok = 'code="200",entrypoint="web",method="GET",protocol="http"'
    ep_502 = 'code="502",entrypoint="web",method="POST",protocol="http"'
    ep_404 = 'code="404",entrypoint="web",method="EXTENSION_METHOD",protocol="sse"'
    sv_ok = 'code="200",method="GET",protocol="http",service="app@file"'
    sv_502 = 'code="502",method="POST",protocol="http",service="app@file"'
    prefix = "hanzo_ingress_"
    assert text[text.index(f"# TYPE {prefix}config_reloads_total counter") + 1] == f"{prefix}config_reloads_total 2"
    assert f"{prefix}config_last_reload_success 1.721234567e+09" in text
    expected_ep = [
        f"# HELP {prefix}entrypoint_request_duration_seconds How long it took to process the request on an entrypoint,"
        " partitioned by status code, protocol, and method.",
        f"# TYPE {prefix}entrypoint_request_duration_seconds histogram",
        f'{prefix}entrypoint_request_duration_seconds_bucket{{{ep_ok},le="0.1"}} 1',
        f'{prefix}entrypoint_request_duration_seconds_bucket{{{ep_ok},le="0.3"}} 2',
        f'{prefix}entrypoint_request_duration_seconds_bucket{{{ep_ok},le="1.2"}} 2',
        f'{prefix}entrypoint_request_duration_seconds_bucket{{{ep_ok},le="5"}} 2',
        f'{prefix}entrypoint_request_duration_seconds_bucket{{{ep_ok},le="+Inf"}} 2',
        f"{prefix}entrypoint_request_duration_seconds_sum{{{ep_ok}}} 0.3125",
        f"{prefix}entrypoint_request_duration_seconds_count{{{ep_ok}}} 2",
        f'{prefix}entrypoint_request_duration_seconds_bucket{{{ep_404},le="0.1"}} 0',
        f'{prefix}entrypoint_request_duration_seconds_bucket{{{ep_404},le="0.3"}} 0',
        f'{prefix}entrypoint_request_duration_seconds_bucket{{{ep_404},le="1.2"}} 1',
        f'{prefix}entrypoint_request_duration_seconds_bucket{{{ep_404},le="5"}} 1',
        f'{prefix}entrypoint_request_duration_seconds_bucket{{{ep_404},le="+Inf"}} 1',
        f"{prefix}entrypoint_request_duration_seconds_sum{{{ep_404}}} 0.5",
        f"{prefix}entrypoint_request_duration_seconds_count{{{ep_404}}} 1",
        f'{prefix}entrypoint_request_duration_seconds_bucket{{{ep_502},le="0.1"}} 0',
        f'{prefix}entrypoint_request_duration_seconds_bucket{{{ep_502},le="0.3"}} 0',
        f'{prefix}entrypoint_request_duration_seconds_bucket{{{ep_502},le="1.2"}} 0',
        f'{prefix}entrypoint_request_duration_seconds_bucket{{{ep_502},le="5"}} 0',
        f'{prefix}entrypoint_request_duration_seconds_bucket{{{ep_502},le="+Inf"}} 1',
        f"{prefix}entrypoint_request_duration_seconds_sum{{{ep_502}}} 7.5",
        f"{prefix}entrypoint_request_duration_seconds_count{{{ep_502}}} 1",
        f"# HELP {prefix}entrypoint_requests_bytes_total The total size of requests in bytes handled by an entrypoint,"
        " partitioned by status code, protocol, and method.",
        f"# TYPE {prefix}entrypoint_requests_bytes_total counter",
        f"{prefix}entrypoint_requests_bytes_total{{{ep_ok}}} 7",
        f"{prefix}entrypoint_requests_bytes_total{{{ep_404}}} 0",
        f"{prefix}entrypoint_requests_bytes_total{{{ep_502}}} 0",
        f"# HELP {prefix}entrypoint_requests_total How many HTTP requests processed on an entrypoint, partitioned by"
        " status code, protocol, and method.",
        f"# TYPE {prefix}entrypoint_requests_total counter",
        f"{prefix}entrypoint_requests_total{{{ep_ok}}} 2",
        f"{prefix}entrypoint_requests_total{{{ep_404}}} 1",
        f"{prefix}entrypoint_requests_total{{{ep_502}}} 1",
        f"# HELP {prefix}entrypoint_responses_bytes_total The total size of responses in bytes handled by an"
        " entrypoint, partitioned by status code, protocol, and method.",
        f"# TYPE {prefix}entrypoint_responses_bytes_total counter",
        f"{prefix}entrypoint_responses_bytes_total{{{ep_ok}}} 30",
        f"{prefix}entrypoint_responses_bytes_total{{{ep_404}}} 19",
        f"{prefix}entrypoint_responses_bytes_total{{{ep_502}}} 11",
        f"# HELP {prefix}open_connections How many open connections exist, by entryPoint and protocol",
        f"# TYPE {prefix}open_connections gauge",
        f'{prefix}open_connections{{entrypoint="web",protocol="TCP"}} 1',
    ]
    start = text.index(expected_ep[0])
    assert text[start : start + len(expected_ep)] == expected_ep
    service_samples = [line for line in text if line.startswith(f"{prefix}service_") and "_bucket" not in line]
    assert service_samples == [
        f"{prefix}service_request_duration_seconds_sum{{{sv_ok}}} 0.3125",
        f"{prefix}service_request_duration_seconds_count{{{sv_ok}}} 2",
        f"{prefix}service_request_duration_seconds_sum{{{sv_502}}} 7.5",
        f"{prefix}service_request_duration_seconds_count{{{sv_502}}} 1",
        f"{prefix}service_requests_bytes_total{{{sv_ok}}} 7",
        f"{prefix}service_requests_bytes_total{{{sv_502}}} 0",
        f"{prefix}service_requests_total{{{sv_ok}}} 2",
        f"{prefix}service_requests_total{{{sv_502}}} 1",
        f"{prefix}service_responses_bytes_total{{{sv_ok}}} 30",
        f"{prefix}service_responses_bytes_total{{{sv_502}}} 11",
        f'{prefix}service_retries_total{{service="app@file"}} 2',
        f'{prefix}service_server_up{{service="app@file",url="http://10.0.0.1:80"}} 1',
        f'{prefix}service_server_up{{service="app@file",url="http://10.0.0.2:80"}} 0',
    ]
    assert not any("router" in line or "ping@internal" in line for line in text)


def test_traefik_prefix_gives_traefiks_names() -> None:
    m = metrics(prefix="traefik", add_routers_labels=True)
    m.observer(request(matched=route()), 200, 1, 0.01, False)
    m.server_up("app@file", "http://a", True)
    m.retries("app@file", 1)
    m.connection_opened("web")
    m.set_tls_certs([("example.com", "42", ["example.com", "www.example.com"], 1.8e9)])
    names = {line.split()[2] for line in lines(m) if line.startswith("# TYPE")}
    assert names == {
        "traefik_config_reloads_total",
        "traefik_config_reloads_failure_total",
        "traefik_config_last_reload_success",
        "traefik_config_last_reload_failure",
        "traefik_open_connections",
        "traefik_tls_certs_not_after",
        "traefik_entrypoint_requests_total",
        "traefik_entrypoint_request_duration_seconds",
        "traefik_entrypoint_requests_bytes_total",
        "traefik_entrypoint_responses_bytes_total",
        "traefik_router_requests_total",
        "traefik_router_request_duration_seconds",
        "traefik_router_requests_bytes_total",
        "traefik_router_responses_bytes_total",
        "traefik_service_requests_total",
        "traefik_service_request_duration_seconds",
        "traefik_service_requests_bytes_total",
        "traefik_service_responses_bytes_total",
        "traefik_service_retries_total",
        "traefik_service_server_up",
    }
    text = samples(m)
    assert (
        'traefik_router_requests_total{code="200",method="GET",protocol="http",router="web-app@file",'
        'service="app@file"} 1'
    ) in text
    assert 'traefik_tls_certs_not_after{cn="example.com",sans="example.com,www.example.com",serial="42"} 1.8e+09' in (
        text
    )


def test_gates_remove_whole_families() -> None:
    m = metrics(add_entry_points_labels=False, add_services_labels=False)
    m.observer(request(matched=route()), 200, 1, 0.01, False)
    m.server_up("app@file", "http://a", True)
    m.retries("app@file", 3)
    assert [line for line in samples(m) if "config_" not in line] == []


def test_header_labels_only_on_requests_total() -> None:
    m = metrics(header_labels=FrozenDict({"useragent": "User-Agent", "tenant": "X-Tenant"}))
    m.observer(
        request(headers=[(b"user-agent", b"curl/8"), (b"User-Agent", b"second")], matched=route()), 200, 1, 1, False
    )
    m.observer(request(matched=route()), 200, 1, 1, False)
    text = samples(m)
    ep = 'code="200",entrypoint="web",method="GET",protocol="http"'
    assert f'hanzo_ingress_entrypoint_requests_total{{{ep},tenant="",useragent=""}} 1' in text
    assert f'hanzo_ingress_entrypoint_requests_total{{{ep},tenant="",useragent="curl/8"}} 1' in text
    sv = 'code="200",method="GET",protocol="http",service="app@file"'
    assert f'hanzo_ingress_service_requests_total{{{sv},tenant="",useragent="curl/8"}} 1' in text
    assert f"hanzo_ingress_entrypoint_requests_bytes_total{{{ep}}} 0" in text
    assert f"hanzo_ingress_entrypoint_request_duration_seconds_count{{{ep}}} 2" in text


@pytest.mark.parametrize("label", ["bad-name", "0x", "__reserved", "code", "service", "entrypoint"])
def test_bad_header_label_names_are_rejected(label: str) -> None:
    with pytest.raises(ValueError, match="headerLabels"):
        metrics(header_labels=FrozenDict({label: "X-Foo"}))


def test_bad_prefix_is_rejected() -> None:
    with pytest.raises(ValueError, match="prefix"):
        metrics(prefix="hanzo-ingress")


@pytest.mark.parametrize(
    ("duration", "bucket"),
    [(0.0, "0.1"), (0.1, "0.1"), (0.1000001, "0.3"), (0.3, "0.3"), (1.2, "1.2"), (5.0, "5"), (5.01, "+Inf")],
)
def test_bucket_placement_is_upper_inclusive(duration: float, bucket: str) -> None:
    m = metrics()
    m.observer(request(), 200, 0, duration, False)
    firsts = [line for line in samples(m) if "_bucket" in line and line.endswith(" 1")]
    assert f'le="{bucket}"' in firsts[0]


def test_custom_buckets_are_sorted_and_formatted_like_go() -> None:
    m = metrics(buckets=(2.5, 0.005, 10.0))
    m.observer(request(), 200, 0, 3.0, False)
    les = [line.split('le="')[1].split('"')[0] for line in samples(m) if "_bucket" in line]
    assert les == ["0.005", "2.5", "10", "+Inf"]


# ------------------------------------------------------------------------------------------------- label values
@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], "http"),
        ([(b"Connection", b"keep-alive, Upgrade"), (b"Upgrade", b"WebSocket")], "websocket"),
        ([(b"connection", b"upgrade"), (b"upgrade", b"h2c")], "http"),
        ([(b"Upgrade", b"websocket")], "http"),
        ([(b"ACCEPT", b"text/html, Text/Event-Stream")], "sse"),
        ([(b"Accept", b"text/event-stream;q=1")], "http"),
        ([(b"Accept", b"*/*"), (b"Accept", b"text/event-stream")], "http"),
        ([(b"Content-Type", b"application/grpc")], "grpc"),
        ([(b"content-type", b"application/grpc+proto")], "grpc"),
        ([(b"Content-Type", b"application/grpc-web+proto")], "grpc-web"),
        ([(b"Content-Type", b"Application/grpc")], "http"),
        ([(b"Connection", b"upgrade"), (b"Upgrade", b"websocket"), (b"Accept", b"text/event-stream")], "websocket"),
    ],
)
def test_request_protocol(headers: list[tuple[bytes, bytes]], expected: str) -> None:
    assert request_protocol(headers) == expected


@pytest.mark.parametrize(
    "method", ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "PRI"]
)
def test_standard_methods_are_kept(method: str) -> None:
    m = metrics()
    m.observer(request(method), 200, 0, 0, False)
    assert f'method="{method}"' in samples(m)[-1]


def test_other_methods_share_one_series_and_one_bundle() -> None:
    m = metrics()
    for i in range(50):
        m.observer(request(f"X{i}"), 200, 0, 0, False)
    assert (
        'hanzo_ingress_entrypoint_requests_total{code="200",entrypoint="web",method="EXTENSION_METHOD",'
        'protocol="http"} 50'
    ) in samples(m)
    assert len(m._bundles) == 1


def test_label_values_are_escaped() -> None:
    m = metrics()
    m.server_up('a"b\\c\nd', "http://x", True)
    assert 'hanzo_ingress_service_server_up{service="a\\"b\\\\c\\nd",url="http://x"} 1' in samples(m)


def test_internal_services_counted_with_add_internals() -> None:
    m = metrics(add_internals=True)
    m.observer(request(matched=route("ping@internal", "ping@internal")), 200, 2, 0.001, False)
    assert (
        'hanzo_ingress_service_requests_total{code="200",method="GET",protocol="http",service="ping@internal"} 1'
        in (samples(m))
    )


def test_disabled_entrypoints_are_not_counted() -> None:
    m = metrics(disabled_entrypoints={"admin"})
    m.observer(request(entry_point="admin", matched=route()), 200, 2, 0.001, False)
    assert [line for line in samples(m) if "config_" not in line] == []


def test_streamed_request_body_counts_received_bytes() -> None:
    m = metrics()
    body = StreamBody(None)
    body.feed(b"x" * 1500)
    req = request()
    req.body = body
    m.observer(req, 200, 0, 0, True)
    assert (
        'hanzo_ingress_entrypoint_requests_bytes_total{code="200",entrypoint="web",method="GET",protocol="http"} 1500'
    ) in samples(m)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (1, "1"),
        (-1, "-1"),
        (0.1, "0.1"),
        (5.0, "5"),
        (999999, "999999"),
        (1000000, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (NOW, "1.721234567e+09"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (123456.5, "123456.5"),
        (1e21, "1e+21"),
        (1.5e-300, "1.5e-300"),
        (float("inf"), "+Inf"),
        (float("nan"), "NaN"),
    ],
)
def test_go_float(value: float, text: str) -> None:
    assert go_float(value) == text


# ------------------------------------------------------------------------------------------------- other events
def test_config_reload_failures() -> None:
    m = metrics()
    m.config_reload(False)
    text = samples(m)
    assert "hanzo_ingress_config_reloads_failure_total 1" in text
    assert "hanzo_ingress_config_last_reload_failure 1.721234567e+09" in text
    assert "hanzo_ingress_config_reloads_total 0" in text


def test_watched_open_connections_are_read_at_scrape_time() -> None:
    m = metrics()
    open_now = [3]
    m.watch_open_connections("websecure", lambda: open_now[0])
    assert 'hanzo_ingress_open_connections{entrypoint="websecure",protocol="TCP"} 3' in samples(m)
    open_now[0] = 0
    assert 'hanzo_ingress_open_connections{entrypoint="websecure",protocol="TCP"} 0' in samples(m)


def test_tls_requests_are_counted_with_connection_labels() -> None:
    m = metrics(add_routers_labels=True)
    req = Request("GET", "/", Headers(), entry_point="websecure", scheme="https")
    req.route = route()
    req.tls_info = TLSInfo("1.3", "TLS_AES_128_GCM_SHA256")
    m.observer(req, 200, 0, 0, False)
    m.observer(req, 200, 0, 0, False)
    tls = [line for line in samples(m) if "_tls_total" in line]
    assert tls == [
        'hanzo_ingress_entrypoint_requests_tls_total{entrypoint="websecure",tls_cipher="TLS_AES_128_GCM_SHA256",'
        'tls_version="1.3"} 2',
        'hanzo_ingress_router_requests_tls_total{router="web-app@file",service="app@file",'
        'tls_cipher="TLS_AES_128_GCM_SHA256",tls_version="1.3"} 2',
        'hanzo_ingress_service_requests_tls_total{service="app@file",tls_cipher="TLS_AES_128_GCM_SHA256",'
        'tls_version="1.3"} 2',
    ]


def test_tls_without_connection_info_emits_no_tls_series() -> None:
    m = metrics()
    m.observer(request(matched=route()), 200, 0, 0, False)
    m.observer(Request("GET", "/", Headers(), entry_point="websecure", scheme="https"), 200, 0, 0, False)
    assert not any("_tls_total" in line for line in lines(m))


class _SSL:
    def __init__(self, version: str, cipher: str) -> None:
        self._version, self._cipher = version, cipher

    def version(self) -> str:
        return self._version

    def cipher(self) -> tuple[str, str, int]:
        return (self._cipher, self._version, 128)

    def getpeercert(self, binary_form: bool = False) -> dict[str, object]:
        return {}  # no client certificate


@pytest.mark.parametrize(
    ("version", "cipher", "expected"),
    [
        ("TLSv1.3", "TLS_AES_256_GCM_SHA384", ("1.3", "TLS_AES_256_GCM_SHA384")),
        ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", ("1.2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")),
        ("TLSv1", "DHE-RSA-AES256-SHA", ("1.0", "unknown")),
        ("SSLv3", "X", ("unknown", "unknown")),
    ],
)
def test_tls_labels(version: str, cipher: str, expected: tuple[str, str]) -> None:
    info = tls_info_of(_SSL(version, cipher))  # what the observer's labels come from
    assert (info.version, info.cipher) == expected


def test_removed_objects_are_dropped_after_one_scrape() -> None:
    m = metrics(add_routers_labels=True)
    m.on_configuration(["web"], ["web-app@file", "old@file"], {"app@file": ["http://a"], "old@file": ["http://o"]})
    m.observer(request(matched=route()), 200, 0, 0, False)
    m.observer(request(matched=route("old@file", "old@file")), 200, 0, 0, False)
    m.server_up("app@file", "http://a", True)
    m.server_up("old@file", "http://o", True)
    m.on_configuration(["web"], ["web-app@file"], {"app@file": []})
    first = samples(m)
    assert any('router="old@file"' in line for line in first)
    assert any('url="http://a"' in line for line in first)
    second = samples(m)
    assert not any("old@file" in line or 'url="http://a"' in line for line in second)
    assert any('router="web-app@file"' in line for line in second)
    m.observer(request(matched=route("old@file", "old@file")), 200, 0, 0, False)  # bundles were rebuilt
    assert any('router="old@file"' in line for line in samples(m))


# ------------------------------------------------------------------------------------------------- handler
def test_handler_serves_text_and_gzip() -> None:
    m = metrics()

    async def scrape(headers: list[tuple[bytes, bytes]]) -> Response:
        return await m.handler(request(headers=headers))

    plain = asyncio.run(scrape([]))
    assert plain.status == 200
    assert plain.headers.get("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
    assert plain.headers.get("Content-Encoding") is None
    assert isinstance(plain.body, bytes)
    assert plain.body == m.render()
    zipped = asyncio.run(scrape([(b"Accept-Encoding", b"br, GZip;q=0.5")]))
    assert zipped.headers.get("Content-Encoding") == "gzip"
    assert isinstance(zipped.body, bytes)
    assert gzip.decompress(zipped.body) == plain.body
    refused = asyncio.run(scrape([(b"Accept-Encoding", b"gzip;q=0")]))
    assert refused.headers.get("Content-Encoding") is None


# ------------------------------------------------------------------------------------------------- workers
def _worker(worker_id: int, directory: Path, clock: float = NOW) -> Metrics:
    return Metrics(Prometheus(), worker_id, directory=directory, clock=lambda: clock)


def test_two_workers_merge(tmp_path: Path) -> None:
    w0, w1 = _worker(0, tmp_path), _worker(1, tmp_path)
    app = route()
    w0.observer(request(matched=app, body=b"ab"), 200, 10, 0.05, False)
    w1.observer(request(matched=app, body=b"abc"), 200, 20, 0.2, False)
    w1.observer(request(matched=app), 500, 5, 2.0, False)
    w0.config_reload(True)
    w1.config_reload(True)
    w0.connection_opened("web")
    w1.connection_opened("web")
    w1.connection_opened("web")
    w0.server_up("app@file", "http://a", False)
    w1.server_up("app@file", "http://a", True)
    w1.retries("app@file", 2)
    assert w1.publish() == tmp_path / f"worker-1-{os.getpid()}.json"
    text = samples(w0)  # w0 merges its live state with w1's file
    ep = 'code="200",entrypoint="web",method="GET",protocol="http"'
    assert f"hanzo_ingress_entrypoint_requests_total{{{ep}}} 2" in text
    assert 'hanzo_ingress_entrypoint_requests_total{code="500",entrypoint="web",method="GET",protocol="http"} 1' in text
    assert f"hanzo_ingress_entrypoint_requests_bytes_total{{{ep}}} 5" in text
    assert f"hanzo_ingress_entrypoint_responses_bytes_total{{{ep}}} 30" in text
    assert f'hanzo_ingress_entrypoint_request_duration_seconds_bucket{{{ep},le="0.1"}} 1' in text
    assert f'hanzo_ingress_entrypoint_request_duration_seconds_bucket{{{ep},le="0.3"}} 2' in text
    assert f"hanzo_ingress_entrypoint_request_duration_seconds_sum{{{ep}}} 0.25" in text
    assert 'hanzo_ingress_open_connections{entrypoint="web",protocol="TCP"} 3' in text
    assert "hanzo_ingress_config_reloads_total 1" in text  # every worker applies every configuration: max
    assert "hanzo_ingress_config_last_reload_success 1.721234567e+09" in text
    assert 'hanzo_ingress_service_server_up{service="app@file",url="http://a"} 1' in text
    assert 'hanzo_ingress_service_retries_total{service="app@file"} 2' in text
    served = asyncio.run(w0.handler(request()))
    assert served.body == w0.render()  # the handler merges too (in a thread)
    # w0's own file is ignored by w0 (its live state counts once), and w1 sees w0 only once published
    w0.publish()
    assert f"hanzo_ingress_entrypoint_requests_total{{{ep}}} 2" in samples(w0)
    assert f"hanzo_ingress_entrypoint_requests_total{{{ep}}} 2" in samples(w1)


def test_stale_worker_keeps_counters_but_not_gauges(tmp_path: Path) -> None:
    dead = _worker(1, tmp_path, clock=NOW - 60)
    dead.observer(request(), 200, 0, 0, False)
    dead.connection_opened("web")
    dead.server_up("app@file", "http://a", True)
    dead.publish()
    live = _worker(0, tmp_path)
    text = samples(live)
    assert 'hanzo_ingress_entrypoint_requests_total{code="200",entrypoint="web",method="GET",protocol="http"} 1' in text
    assert not any("open_connections{" in line or "server_up" in line for line in text)


def test_garbage_files_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "worker-7-1.json").write_bytes(b"{not json")
    (tmp_path / "worker-8-1.json").write_bytes(orjson.dumps({"worker": 8, "pid": 1, "time": NOW}))
    bad_rows = {"entrypoint_requests_total": [[["200"], 5], "x", [["200", "GET", "http", "web"], "many"]]}
    (tmp_path / "worker-9-1.json").write_bytes(
        orjson.dumps({"worker": 9, "pid": 1, "time": NOW, "buckets": [0.1, 0.3, 1.2, 5.0], "families": bad_rows})
    )
    assert samples(_worker(0, tmp_path)) == samples(metrics())


def test_directory_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(METRICS_DIR_ENV, str(tmp_path))
    assert Metrics().directory == tmp_path


def test_run_publisher_writes_until_cancelled(tmp_path: Path) -> None:
    target = tmp_path / "metrics"
    m = Metrics(Prometheus(), 3, clock=lambda: NOW)

    async def main() -> None:
        task = asyncio.create_task(m.run_publisher(target, interval=0.01))
        for _ in range(1000):
            if list(target.glob("worker-3-*.json")):
                break
            await asyncio.sleep(0.005)
        m.observer(request(), 200, 0, 0, False)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    (path,) = target.glob("worker-3-*.json")
    data = orjson.loads(path.read_bytes())
    assert data["worker"] == 3
    assert data["families"]["entrypoint_requests_total"] == [[["200", "GET", "http", "web"], 1]]
    assert m.directory == target
    assert not [p for p in target.iterdir() if p.name.startswith(".")]


def test_run_publisher_needs_a_directory() -> None:
    with pytest.raises(ValueError, match=METRICS_DIR_ENV):
        asyncio.run(Metrics().run_publisher())


def test_grafana_dashboard_uses_exported_names() -> None:
    dashboard = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "hanzo-ingress.json"
    text = dashboard.read_text()
    orjson.loads(text)
    families = set(metrics(add_routers_labels=True).specs)
    used = set(re.findall(r"hanzo_ingress_([a-z_]+)", text))
    assert used
    for name in used:
        assert re.sub(r"_(bucket|sum|count)$", "", name) in families, name


def test_objects_back_in_the_configuration_keep_their_series() -> None:
    m = metrics()
    m.on_configuration(["web", "old"], [], {"app@file": ["http://a"]})
    m.observer(request(entry_point="old"), 200, 0, 0, False)
    m.observer(request(matched=route()), 200, 0, 0, False)
    m.on_configuration(["web"], [], {})
    m.on_configuration(["web"], [], {"app@file": ["http://a"]})  # the service came back, the entrypoint did not
    samples(m)
    text = samples(m)
    assert not any('entrypoint="old"' in line for line in text)
    assert any('service="app@file"' in line for line in text)


def test_publisher_drops_removed_objects_nobody_scraped(tmp_path: Path) -> None:
    m = Metrics(Prometheus(), 0, directory=tmp_path, stale_after=0, clock=lambda: NOW)
    m.on_configuration(["web", "old"], [], {})
    m.observer(request(entry_point="old"), 200, 0, 0, False)
    m.on_configuration(["web"], [], {})
    path = m.publish()
    assert path is not None
    assert "entrypoint_requests_total" not in orjson.loads(path.read_bytes())["families"]
