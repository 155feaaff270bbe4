"""``gateway check`` and ``gateway run`` through the real CLI: located errors, exit codes, refusing bad files."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from edge_harness import GATEWAY, clean_env, free_port, http_request
from gateway_fixtures import Gateway, JsonBackend, start_gateway, write_gateway

pytestmark = pytest.mark.integration


def _check(path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GATEWAY, "check", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**clean_env(), **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def _config(**extra: Any) -> dict[str, Any]:
    return {
        "version": 3,
        "port": 8080,
        "host": ["http://127.0.0.1:9000"],
        "endpoints": [{"endpoint": "/users/{id}", "backend": [{"url_pattern": "/u/{id}"}]}],
        **extra,
    }


def test_check_ok_with_warnings_exits_0(tmp_path: Path) -> None:
    config = _config(extra_config={"telemetry/unknown-thing": {}})
    config["endpoints"][0]["extra_config"] = {"modifier/lua-endpoint": {"sources": []}}
    result = _check(write_gateway(tmp_path / "g.json", config))
    assert result.returncode == 0, result.stderr
    assert "Syntax OK" in result.stdout
    assert '$.extra_config["telemetry/unknown-thing"]' in result.stdout
    assert '$.endpoints[0].extra_config["modifier/lua-endpoint"] (line ' in result.stdout


@pytest.mark.parametrize(
    ("mutate", "needles"),
    [
        (lambda c: c.update(version=2), ["unsupported version: 2", "$.version", "line 2"]),
        (
            lambda c: c["endpoints"][0]["backend"][0].update(url_pattern="/u/{who}"),
            ["{who}", "url_pattern", "/u/{who}"],
        ),
        (lambda c: c.update(host=["http://h/with/path"]), ["invalid host", "$.host[0]"]),
        (lambda c: c.update(listen_ip="not-an-ip"), ["invalid listen_ip", "not-an-ip"]),
        (lambda c: c["endpoints"].append(dict(c["endpoints"][0])), ["duplicate endpoint GET /users/{id}"]),
        (lambda c: c.pop("host"), ["backend has no host", "$.endpoints[0].backend[0].host"]),
    ],
)
def test_check_rejects_with_location(tmp_path: Path, mutate: Any, needles: list[str]) -> None:
    config = _config()
    mutate(config)
    result = _check(write_gateway(tmp_path / "g.json", config))
    assert result.returncode == 1
    assert "Syntax OK" not in result.stdout
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_check_syntax_error_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "version": 3,\n  "endpoints": [\n}\n')
    result = _check(bad)
    assert result.returncode == 1
    assert "row: 4, col: 1" in result.stderr
    missing = _check(tmp_path / "missing.json")
    assert missing.returncode == 1
    assert "missing.json" in missing.stderr
    assert "no such file" in missing.stderr


def test_run_refuses_a_file_check_rejects_before_listening(tmp_path: Path) -> None:
    port = free_port()
    config = _config(port=port, listen_ip="127.0.0.1")
    config["endpoints"][0]["backend"][0]["url_pattern"] = "/u/{nope}"
    path = write_gateway(tmp_path / "g.json", config)
    result = subprocess.run(
        [GATEWAY, "run", "-c", str(path)], capture_output=True, text=True, timeout=30, env=clean_env()
    )
    assert result.returncode == 1
    assert "{nope}" in result.stderr
    with pytest.raises(OSError):
        http_request(port, "GET", "/__health", timeout=1)


def test_run_honours_krakend_port_and_stops_on_sigterm(tmp_path: Path) -> None:
    backend = JsonBackend().start()
    try:
        port = free_port()
        path = write_gateway(
            tmp_path / "g.json",
            {"version": 3, "port": 1, "listen_ip": "127.0.0.1", "host": [backend.url], "endpoints": []},
        )
        gateway = Gateway(path, port, {**clean_env(), "KRAKEND_PORT": str(port)}).ready()
        health = http_request(port, "GET", "/__health")
        body = json.loads(health.body)
        assert (body["agents"], body["status"]) == ({}, "ok")
        # Go's time.Now().String(): the UTC wall time, then the monotonic reading KrakenD's /__health shows too.
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC m=\+\d+\.\d{9}", body["now"]), body[
            "now"
        ]
        gateway.proc.send_signal(signal.SIGTERM)
        assert gateway.proc.wait(10) == 0
        gateway.stop()
    finally:
        backend.stop()


def test_usage_errors_exit_2() -> None:
    assert subprocess.run([GATEWAY], capture_output=True, timeout=30, env=clean_env()).returncode == 2
    assert subprocess.run([GATEWAY, "check"], capture_output=True, timeout=30, env=clean_env()).returncode == 2


def test_start_gateway_helper_serves(tmp_path: Path) -> None:
    backend = JsonBackend().start()
    try:
        gateway = start_gateway(tmp_path, {"host": [backend.url], "endpoints": []})
        assert http_request(gateway.port, "GET", "/__health").status == 200
        assert gateway.stop() == 0
    finally:
        backend.stop()


def test_run_port_flag_wins_and_a_taken_port_exits_1(tmp_path: Path) -> None:
    backend = JsonBackend().start()
    try:
        port = free_port()
        config = {"version": 3, "port": free_port(), "listen_ip": "127.0.0.1", "host": [backend.url], "endpoints": []}
        path = write_gateway(tmp_path / "g.json", config)
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            busy = taken.getsockname()[1]
            result = subprocess.run(
                [GATEWAY, "run", "-c", str(path), "-p", str(busy)],
                capture_output=True,
                text=True,
                timeout=30,
                env=clean_env(),
            )
            assert result.returncode == 1
            assert "cannot listen" in result.stderr
        gateway = Gateway(path, port, clean_env(), ["-p", str(port)])  # the flag beats the file's port
        gateway.ready()
        assert gateway.stop() == 0
    finally:
        backend.stop()
