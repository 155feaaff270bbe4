"""Configurations of Hanzo's shape (written here, as Hanzo's own files are not ours to copy) pass ``gateway check``
and every endpoint is served by ``gateway run``.

The generator mirrors ``configs/hanzo/gateway.json`` (reference §1.8): ~190 endpoints, static routes beside
``{path}`` routes (the static one wins, as in gin), 150+ ``auth/validator`` endpoints sharing one JWKS, service-level
``qos/ratelimit/router`` and ``telemetry/opentelemetry``, 13 backends with Hanzo's ZAP namespace, and Lux-style
endpoints with ``"auth/public": true``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from edge_harness import GATEWAY, clean_env, http_request
from gateway_fixtures import JsonBackend, start_gateway
from hanzo_fixtures import ISSUER, IamKeys

SERVICES = ("auth", "analytics", "operative", "agents", "console", "chat", "base", "platform", "functions", "search")


def hanzo_shaped(backend: str, jwks: str) -> dict[str, Any]:
    """A gateway.json of Hanzo's shape; every backend is ``backend`` (its ``/echo`` answers with the path)."""
    validator = {
        "alg": "RS256",
        "jwk_url": jwks,
        "issuer": ISSUER,
        "disable_jwk_security": True,
        "propagate_claims": [["sub", "X-User-Id"], ["owner", "X-Org-Id"]],
    }
    limit = {"max_rate": 5000, "client_max_rate": 1000, "strategy": "ip", "every": "1m"}

    def endpoint(path: str, method: str, target: str, *, auth: bool = True, **extra: Any) -> dict[str, Any]:
        namespaces: dict[str, Any] = {"qos/ratelimit/router": limit}
        if auth:
            namespaces["auth/validator"] = validator
        return {
            "endpoint": path,
            "method": method,
            "input_headers": ["Authorization", "Content-Type", "X-Request-ID", "X-User-Id"],
            "output_encoding": "no-op",
            "backend": [{"url_pattern": target, "host": [backend], "encoding": "no-op", **extra.pop("backend", {})}],
            "extra_config": namespaces,
            **extra,
        }

    endpoints: list[dict[str, Any]] = []
    for service in SERVICES:  # must-gate service proxies: /<svc>/{path} and /v1/<svc>/{path} x methods
        for method in ("GET", "POST", "PUT", "DELETE"):
            endpoints.append(endpoint(f"/{service}/{{path}}", method, f"/echo/{service}/{{path}}"))
            endpoints.append(endpoint(f"/v1/{service}/{{path}}", method, f"/echo/v1/{service}/{{path}}"))
    billing = ("balance", "topup", "usage", "invoices", "plans", "subscriptions", "credits", "payment-methods")
    for name in billing:  # explicit commerce routes beside a {path} catch-all of the same prefix
        endpoints.append(endpoint(f"/v1/billing/{name}", "GET", f"/echo/static/{name}"))
        endpoints.append(endpoint(f"/v1/billing/{name}", "POST", f"/echo/static/{name}"))
    endpoints.append(endpoint("/v1/billing/{path}", "GET", "/echo/param/{path}"))
    zap = {
        "github.com/hanzoai/gateway/zap": {"node_id": "gateway", "peer_addr": "cloud-api:9651", "no_discovery": True}
    }
    for index in range(13):  # AI routes over ZAP (served over HTTP here), rate-limited only
        endpoints.append(
            endpoint(f"/v1/ai/op{index}", "POST", f"/echo/ai/{index}", auth=False, backend={"extra_config": zap})
        )
    for index in range(14):  # Lux-style: "auth/public" (validator-free)
        endpoints.append(
            endpoint(f"/v1/bc/op{index}", "POST", f"/echo/bc/{index}", auth=False, **{"auth/public": True})
        )
    while len(endpoints) < 190:
        index = len(endpoints)
        endpoints.append(endpoint(f"/v1/pricing/item{index}", "GET", f"/echo/pricing/{index}"))
    return {
        "$schema": "https://www.krakend.io/schema/v2.13/krakend.json",
        "version": 3,
        "name": "Hanzo API Gateway",
        "listen_ip": "127.0.0.1",
        "timeout": "120s",
        "cache_ttl": "0s",
        "output_encoding": "no-op",
        "extra_config": {
            "router": {"return_error_msg": True},
            "qos/ratelimit/router": {"max_rate": 5000, "client_max_rate": 1000, "strategy": "ip"},
            "telemetry/opentelemetry": {
                "service_name": "gateway",
                "trace_sample_rate": 0.1,
                "exporters": {"otlp": [{"name": "hanzo-o11y", "host": "otel-collector", "port": 4317}]},
            },
        },
        "endpoints": endpoints,
    }


def _concrete(path: str) -> str:
    return path.replace("{path}", "item-1")


def test_hanzo_shaped_config_checks_and_every_endpoint_is_served(tmp_path: Path) -> None:
    backend = JsonBackend().start()
    keys = IamKeys()
    try:
        config = hanzo_shaped(backend.url, keys.url)
        endpoints = config["endpoints"]
        assert len(endpoints) >= 190
        assert sum("auth/validator" in e["extra_config"] for e in endpoints) >= 150
        path = tmp_path / "gateway.json"
        path.write_text(json.dumps(config))
        checked = subprocess.run(
            [GATEWAY, "check", "-c", str(path)], capture_output=True, text=True, timeout=60, env=clean_env()
        )
        output = checked.stdout + checked.stderr
        assert checked.returncode == 0, output
        assert "Syntax OK" in output
        assert output.count("ZAP backends are not supported yet") == 13
        gateway = start_gateway(tmp_path, config, {})
        try:
            token = keys.token()
            for e in endpoints:
                target = _concrete(e["endpoint"])
                response = http_request(gateway.port, e["method"], target, {"Authorization": f"Bearer {token}"})
                assert response.status == 200, (e["method"], target, response.status, response.body[:200])
                expected = _concrete(e["backend"][0]["url_pattern"])
                assert response.json()["path"] == expected, target
            # gin's precedence: the static /v1/billing/balance beats /v1/billing/{path}; other names take the param.
            other = http_request(gateway.port, "GET", "/v1/billing/other", {"Authorization": f"Bearer {token}"})
            assert other.json()["path"] == "/echo/param/other"
            anonymous = http_request(gateway.port, "GET", "/v1/billing/balance")
            assert anonymous.status == 401  # the endpoint's own auth/validator
            assert http_request(gateway.port, "POST", "/v1/bc/op0").status == 200
        finally:
            gateway.stop()
    finally:
        backend.stop()
        keys.stop()
