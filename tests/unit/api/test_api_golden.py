"""Byte-for-byte golden answers of ``/api/*`` over a configuration with every status, error kind and used-by.

Written before the runtime-configuration refactor (issue 10) so that it proves the JSON did not move by a byte: the
answers of every endpoint, list and item, are compared with ``golden/runtime_api.json``. The configuration has two
providers, internal routers and services (ping, metrics, API, an entrypoint redirection), an entrypoint middleware,
a TLS entrypoint, routers that are enabled, warning (unknown entrypoint, TLS entrypoint among others) and disabled
(bad rule, missing service, missing middleware, chain cycle, TLS router, unbuildable middleware, unimplemented
kind, broken service), services of every kind (one with a server marked down), and TCP/UDP objects.

Regenerate (only when an answer is meant to change, and say why in the commit):
``HANZO_REGENERATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/api/test_api_golden.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from pathlib import Path
from typing import Any

import orjson

from hanzo_edge.api.handlers import ApiHandler
from hanzo_edge.api.runtime import RuntimeView
from hanzo_edge.commands.common import build_offline
from hanzo_edge.config.dynamic import Configuration, decode_dynamic
from hanzo_edge.config.loader import load_static
from hanzo_edge.config.static import StaticConfig
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request

GOLDEN = Path(__file__).parent / "golden" / "runtime_api.json"

STATIC_ARGS = [
    "--entryPoints.web.address=:80",
    "--entryPoints.web.http.middlewares=hdr@file",
    "--entryPoints.web.http.redirections.entryPoint.to=websecure",
    "--entryPoints.web.http.redirections.entryPoint.priority=1",
    "--entryPoints.websecure.address=:443",
    "--entryPoints.websecure.http.tls=true",
    "--entryPoints.admin.address=:9090",
    "--ping.entryPoint=admin",
    "--metrics.prometheus.entryPoint=admin",
    "--api.dashboard=true",
    "--providers.file.filename=dynamic.yml",
]

FILE: dict[str, Any] = {
    "http": {
        "routers": {
            "r-app": {"rule": "Host(`app.test`)", "service": "app", "middlewares": ["strip"], "entryPoints": ["web"]},
            "r-defaults": {"rule": "PathPrefix(`/d`)", "service": "app"},
            "r-bad-rule": {"rule": "Host(`x.test`", "service": "missing", "entryPoints": ["web"]},
            "r-mw-missing": {"rule": "Path(`/m`)", "service": "app", "middlewares": ["nope"], "entryPoints": ["web"]},
            "r-cycle": {"rule": "Path(`/c`)", "service": "app", "middlewares": ["loop1"], "entryPoints": ["admin"]},
            "r-tls": {"rule": "Path(`/t`)", "service": "app", "tls": {}, "entryPoints": ["web"]},
            "r-unknown-ep": {"rule": "Path(`/u`)", "service": "weighted", "entryPoints": ["web", "nope"]},
            "r-only-unknown": {"rule": "Path(`/o`)", "service": "app", "entryPoints": ["nope"]},
            "r-secure": {"rule": "Path(`/s`)", "service": "app", "entryPoints": ["websecure"]},
            "r-prio": {"rule": "Path(`/p`)", "service": "failover", "priority": 7, "entryPoints": ["admin"]},
            "r-api": {"rule": "PathPrefix(`/api`)", "service": "api@internal", "entryPoints": ["admin"]},
            "r-reserved": {"rule": "Path(`/r`)", "service": "nothing@internal", "entryPoints": ["admin"]},
            "r-observed": {
                "rule": "Path(`/obs`)",
                "service": "mirror",
                "observability": {"accessLogs": False},
                "entryPoints": ["admin"],
            },
            "r-bad-mw": {"rule": "Path(`/b`)", "service": "app", "middlewares": ["badre"], "entryPoints": ["admin"]},
            "r-grpc": {"rule": "Path(`/g`)", "service": "app", "middlewares": ["grpc"], "entryPoints": ["admin"]},
            "r-hrw": {"rule": "Path(`/h`)", "service": "hrw", "entryPoints": ["admin"]},
            "r-transport": {"rule": "Path(`/x`)", "service": "bad-transport", "entryPoints": ["admin"]},
            "r-svc-cycle": {"rule": "Path(`/y`)", "service": "cyc1", "entryPoints": ["admin"]},
            "r-no-service": {"rule": "Path(`/n`)", "entryPoints": ["admin"]},
            "r-v2": {"rule": "PathPrefix(`/v2`)", "ruleSyntax": "v2", "service": "app", "entryPoints": ["admin"]},
        },
        "services": {
            "app": {
                "loadBalancer": {
                    "servers": [{"url": "http://127.0.0.1:9001"}, {"url": "http://127.0.0.1:9002", "weight": 3}],
                    "passHostHeader": False,
                    "serversTransport": "st",
                    "healthCheck": {"path": "/health", "interval": "10s"},
                }
            },
            "spare": {"weighted": {"services": [{"name": "app", "weight": 2}]}},
            "weighted": {"weighted": {"services": [{"name": "app", "weight": 1}, {"name": "app@other", "weight": 1}]}},
            "failover": {"failover": {"service": "app", "fallback": "spare"}},
            "mirror": {"mirroring": {"service": "app", "mirrors": [{"name": "spare", "percent": 10}]}},
            "hrw": {"highestRandomWeight": {"services": [{"name": "app", "weight": 1}]}},
            "bad-transport": {
                "loadBalancer": {"servers": [{"url": "http://127.0.0.1:9003"}], "serversTransport": "absent"}
            },
            "cyc1": {"weighted": {"services": [{"name": "cyc2"}]}},
            "cyc2": {"weighted": {"services": [{"name": "cyc1"}]}},
        },
        "middlewares": {
            "strip": {"stripPrefix": {"prefixes": ["/api"]}},
            "idle": {"addPrefix": {"prefix": "/v1"}},
            "hdr": {"headers": {"customRequestHeaders": {"X-Edge": "1"}}},
            "loop1": {"chain": {"middlewares": ["loop2"]}},
            "loop2": {"chain": {"middlewares": ["loop1"]}},
            "badre": {"replacePathRegex": {"regex": "(", "replacement": "/"}},
            "grpc": {"grpcWeb": {"allowOrigins": ["*"]}},
        },
        "serversTransports": {"st": {"maxIdleConnsPerHost": 7, "forwardingTimeouts": {"dialTimeout": "3s"}}},
    },
    "tcp": {
        "routers": {"db": {"rule": "HostSNI(`*`)", "service": "db", "middlewares": ["only"], "entryPoints": ["web"]}},
        "services": {"db": {"loadBalancer": {"servers": [{"address": "127.0.0.1:5432"}]}}},
        "middlewares": {"only": {"ipAllowList": {"sourceRange": ["10.0.0.0/8"]}}},
    },
    "udp": {
        "routers": {"dns": {"service": "dns", "entryPoints": ["web"]}},
        "services": {"dns": {"loadBalancer": {"servers": [{"address": "127.0.0.1:53"}]}}},
    },
}

OTHER: dict[str, Any] = {
    "http": {
        "routers": {
            "r-cross": {"rule": "Host(`cross.test`)", "service": "app@file", "middlewares": ["strip@file", "own"]},
            "r-local": {
                "rule": "Host(`local.test`)",
                "service": "app",
                "middlewares": ["strip"],
                "entryPoints": ["web"],
            },
        },
        "services": {"app": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9101"}]}}},
        "middlewares": {"own": {"addPrefix": {"prefix": "/own"}}},
    }
}

STARTED = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)

SECTIONS = (
    "http/routers",
    "http/services",
    "http/middlewares",
    "tcp/routers",
    "tcp/services",
    "tcp/middlewares",
    "udp/routers",
    "udp/services",
)

QUERIES = (
    "/api/http/routers?status=disabled",
    "/api/http/routers?status=warning&sortBy=priority&direction=desc",
    "/api/http/routers?serviceName=app@file",
    "/api/http/routers?middlewareName=strip@file",
    "/api/http/services?sortBy=type",
    "/api/http/middlewares?search=loop",
    "/api/http/routers?per_page=5&page=2",
)


def _decode(data: dict[str, Any]) -> Configuration:
    config, _ = decode_dynamic(data)
    return config


def _static() -> StaticConfig:
    return load_static(STATIC_ARGS, {})


def view() -> RuntimeView:
    """The view of the first build of both providers, with server :9002 of app@file marked down."""
    static = _static()
    snapshots = {"file": _decode(FILE), "other": _decode(OTHER)}
    loaded = build_offline(static, snapshots)
    balancer: Any = loaded.build.built["app@file"][1]
    balancer.set_status("http://127.0.0.1:9002", False)
    return RuntimeView(static, snapshots, loaded.build, started=STARTED, version="golden")


def _get(handler: ApiHandler, target: str) -> dict[str, Any]:
    path, _, query = target.partition("?")
    req = Request("GET", target, Headers([]), path=path, query=query)
    response = asyncio.run(handler(req))
    assert isinstance(response.body, bytes)
    headers = {k.decode().lower(): v.decode() for k, v in response.headers if k.lower() == b"x-next-page"}
    return {"status": response.status, "headers": headers, "body": response.body.decode()}


def answers() -> dict[str, dict[str, Any]]:
    """Every endpoint's answer (status, X-Next-Page, body text) by request target."""
    current = view()
    handler = ApiHandler(lambda: current)
    targets = ["/api/version", "/api/overview", "/api/entrypoints", "/api/entrypoints/web", "/api/rawdata"]
    for section in SECTIONS:
        targets.append(f"/api/{section}")
        targets.extend(f"/api/{section}/{item['name']}" for item in current.items(section))
    targets.extend(QUERIES)
    return {target: _get(handler, target) for target in targets}


def test_every_answer_is_byte_identical_to_the_golden_file() -> None:
    got = answers()
    if os.environ.get("HANZO_REGENERATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_bytes(orjson.dumps(got, option=orjson.OPT_INDENT_2) + b"\n")
    want = orjson.loads(GOLDEN.read_bytes())
    assert sorted(got) == sorted(want)
    for target, answer in want.items():
        assert got[target] == answer, target


def test_the_golden_configuration_covers_every_status() -> None:
    current = view()
    for section in ("http/routers", "http/services", "http/middlewares"):
        statuses = {item["status"] for item in current.items(section)}
        assert statuses >= {"enabled", "disabled"}, section
    assert "warning" in {item["status"] for item in current.items("http/routers")}
    providers = {item["provider"] for item in current.items("http/routers")}
    assert providers == {"file", "other", "internal"}


CHECK_GOLDEN = Path(__file__).parent / "golden" / "runtime_check.txt"


def test_check_findings_over_the_same_configuration_are_unchanged() -> None:
    # ``ingress check`` reads the same runtime records as the API: its lines are pinned alongside.
    from hanzo_edge.commands.check import check_findings

    loaded = build_offline(_static(), {"file": _decode(FILE), "other": _decode(OTHER)})
    got = "\n".join(check_findings(loaded)) + "\n"
    if os.environ.get("HANZO_REGENERATE_GOLDEN"):
        CHECK_GOLDEN.write_text(got)
    assert got == CHECK_GOLDEN.read_text()
