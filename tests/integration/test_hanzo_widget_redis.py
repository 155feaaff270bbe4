"""``WIDGET_RATE_LIMIT_REDIS``: two gateway replicas share the widget windows in Redis; Redis down falls back to the
process's own windows (requests are still limited, never all refused nor all admitted)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from edge_harness import http_request
from gateway_fixtures import JsonBackend, start_gateway
from redis_server import RedisServer


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


def _config(backend: str) -> dict[str, Any]:
    return {
        "version": 3,
        "listen_ip": "127.0.0.1",
        "endpoints": [
            {
                "endpoint": "/api/echo",
                "output_encoding": "no-op",
                "backend": [{"host": [backend], "url_pattern": "/echo", "encoding": "no-op"}],
            }
        ],
    }


WIDGET = {"Authorization": "Bearer hz_site", "Origin": "https://chat.hanzo.ai", "X-Forwarded-For": "192.0.2.44"}


def test_replicas_share_the_widget_windows(tmp_path: Path, redis_server: RedisServer) -> None:
    backend = JsonBackend().start()
    env = {
        "AUTH_ENABLED": "false",
        "WIDGET_RATE_LIMIT_PER_IP": "3",
        "WIDGET_RATE_LIMIT_WINDOW": "1m",
        "WIDGET_RATE_LIMIT_REDIS": f"redis://{redis_server.endpoint}/0",
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = start_gateway(tmp_path / "a", _config(backend.url), env)
    second = start_gateway(tmp_path / "b", _config(backend.url), env)
    try:
        statuses = [http_request(gw.port, "GET", "/api/echo", WIDGET).status for gw in (first, second, first, second)]
        assert statuses == [200, 200, 200, 429]  # 3 per IP across both replicas
        other = {**WIDGET, "X-Forwarded-For": "192.0.2.45"}
        assert http_request(second.port, "GET", "/api/echo", other).status == 200
        redis_server.kill()
        # Redis gone: each process's own windows answer (this one has admitted nothing for .46 yet).
        fresh = {**WIDGET, "X-Forwarded-For": "192.0.2.46"}
        assert [http_request(first.port, "GET", "/api/echo", fresh).status for _ in range(4)] == [200, 200, 200, 429]
        assert "using this process's windows" in first.output()
    finally:
        first.stop()
        second.stop()
        backend.stop()
