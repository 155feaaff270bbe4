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


def test_router_options_error_message_version_header_and_error_bodies(tmp_path: Path) -> None:
    backend = JsonBackend().start()
    try:
        gateway = start_gateway(
            tmp_path,
            {
                "host": [backend.url],
                "extra_config": {
                    "router": {
                        "return_error_msg": True,
                        "hide_version_header": True,
                        "error_body": {"404": {"error": "no such endpoint"}},
                        "disable_handle_method_not_allowed": True,
                        "health_path": "/healthz",
                    }
                },
                "endpoints": [{"endpoint": "/missing", "backend": [{"url_pattern": "/status/404"}]}],
            },
            health="/healthz",
        )
        try:
            failed = http_request(gateway.port, "GET", "/missing")
            assert failed.status == 500
            assert failed.body == f"invalid status code 404 [GET /status/404]: {backend.url}/status/404".encode()
            assert failed.header("X-KrakenD") == "Version undefined"
            missing = http_request(gateway.port, "GET", "/nothing")
            assert (missing.status, missing.json()) == (404, {"error": "no such endpoint"})
            assert http_request(gateway.port, "POST", "/missing").status == 404  # no 405 when disabled
            assert http_request(gateway.port, "GET", "/healthz").status == 200
            assert http_request(gateway.port, "GET", "/__health").status == 404
        finally:
            assert gateway.stop() == 0
    finally:
        backend.stop()
