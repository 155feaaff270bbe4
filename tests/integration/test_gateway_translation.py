"""Namespaces attached by the translation, through the real CLI: the service-level ``qos/ratelimit/router`` limits
every endpoint with one bucket per client (interface item 9), and ``security/cors`` answers preflights before
routing (for a path no endpoint has)."""

from __future__ import annotations

from pathlib import Path

import pytest
from edge_harness import http_request
from gateway_fixtures import JsonBackend, start_gateway

pytestmark = pytest.mark.integration


def test_service_level_limit_spans_endpoints_and_cors_wraps_the_router(tmp_path: Path) -> None:
    backend = JsonBackend().start()
    try:
        gateway = start_gateway(
            tmp_path,
            {
                "host": [backend.url],
                "extra_config": {
                    "qos/ratelimit/router": {
                        "client_max_rate": 2,
                        "client_capacity": 2,
                        "every": "1h",
                        "strategy": "ip",
                    },
                    "security/cors": {"allow_origins": ["*"], "allow_methods": ["GET", "POST"]},
                },
                "endpoints": [
                    {"endpoint": "/one", "backend": [{"url_pattern": "/user/1"}]},
                    {"endpoint": "/two", "backend": [{"url_pattern": "/user/2"}]},
                ],
            },
        )
        try:
            preflight = http_request(
                gateway.port,
                "OPTIONS",
                "/nowhere",
                headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"},
            )
            assert preflight.status == 204
            assert preflight.header("Access-Control-Allow-Origin") == "*"
            statuses = [http_request(gateway.port, "GET", path).status for path in ("/one", "/two", "/one", "/two")]
            # One bucket of 2 per client across both endpoints: the third request is refused, whichever endpoint.
            assert statuses == [200, 200, 429, 429]
            assert http_request(gateway.port, "GET", "/__health").status == 200
        finally:
            assert gateway.stop() == 0
    finally:
        backend.stop()
