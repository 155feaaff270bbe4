"""``gateway run`` reloads its file with no dropped request: 50 rewrites under a steady load give 0 errors, each
version is served once applied, and a broken write keeps the last good configuration (the error logged with its
line and column)."""

from __future__ import annotations

import http.client
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from edge_harness import eventually, http_request
from gateway_fixtures import JsonBackend, start_gateway

pytestmark = pytest.mark.integration

REWRITES = 50


@pytest.fixture
def backend() -> Iterator[JsonBackend]:
    server = JsonBackend().start()
    yield server
    server.stop()


def _config(backend: JsonBackend, port: int, version: int) -> dict[str, Any]:
    endpoints: list[dict[str, Any]] = [
        {
            "endpoint": "/v",
            "extra_config": {"proxy": {"static": {"strategy": "always", "data": {"version": version}}}},
            "backend": [{"url_pattern": "/user/1", "allow": ["id"]}],
        }
    ]
    # Every other version adds an endpoint, so the route table itself changes too.
    if version % 2 == 0:
        endpoints.append({"endpoint": f"/extra/{version}", "backend": [{"url_pattern": "/user/x"}]})
    return {"version": 3, "listen_ip": "127.0.0.1", "port": port, "host": [backend.url], "endpoints": endpoints}


def _write(path: Path, text: str) -> None:
    # Atomically, as a ConfigMap update (the symlink swap) or an editor's save-and-rename.
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class _Load:
    """Threads sending keep-alive GET /v until stopped; every status other than 200 and every error is kept."""

    def __init__(self, port: int, threads: int = 4) -> None:
        self.port = port
        self.stop = threading.Event()
        self.ok = 0
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> _Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(10)

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self.stop.is_set():
            try:
                conn.request("GET", "/v")
                response = conn.getresponse()
                response.read()
                with self.lock:
                    if response.status == 200:
                        self.ok += 1
                    else:
                        self.errors.append(f"status {response.status}")
            except (OSError, http.client.HTTPException) as exc:
                with self.lock:
                    self.errors.append(repr(exc))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.close()


def _version(port: int) -> int:
    return int(json.loads(http_request(port, "GET", "/v").body)["version"])


def test_fifty_rewrites_under_load_drop_no_request(tmp_path: Path, backend: JsonBackend) -> None:
    env = {"HANZO_GATEWAY_WATCH_INTERVAL": "0.05"}
    gateway = start_gateway(tmp_path, {"host": [backend.url], "endpoints": _config(backend, 0, 0)["endpoints"]}, env)
    path = tmp_path / "gateway.json"
    try:
        with _Load(gateway.port) as load:
            for version in range(1, REWRITES + 1):
                _write(path, json.dumps(_config(backend, gateway.port, version)))
                eventually(lambda v=version: _version(gateway.port) == v, timeout=10, message=f"v{version} not live")
                if version == REWRITES // 2:
                    # A broken write: logged, and version 25 keeps serving while the load goes on.
                    _write(path, '{"version": 3,\n  "endpoints": [}')
                    eventually(lambda: "reloading" in gateway.output(), timeout=10, message="no reload error logged")
                    assert _version(gateway.port) == version
            served_during = load.ok
        assert load.errors == []
        assert served_during > REWRITES
        assert http_request(gateway.port, "GET", f"/extra/{REWRITES}").status == 200
        assert http_request(gateway.port, "GET", f"/extra/{REWRITES - 2}").status == 404
        output = gateway.output()
        assert "line 2, column" in output or "row: 2" in output, output[-2000:]
    finally:
        assert gateway.stop() == 0, gateway.output()
