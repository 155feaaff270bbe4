"""KrakenD's service-level server and client keys through the real ``gateway run`` with a real backend:
``idle_timeout`` closes an idle keep-alive connection, ``read_timeout`` cuts a slow request, ``max_header_bytes``
gives 431, ``response_header_timeout`` turns a slow backend into KrakenD's 500, ``max_shutdown_wait_time`` bounds
the drain on SIGTERM with a request in flight, a reload that changes one says it needs a restart, and ``check``
names every key it cannot honour."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from edge_harness import GATEWAY, eventually, http_request, run_cli
from gateway_fixtures import Gateway, JsonBackend, start_gateway

pytestmark = pytest.mark.integration

IDLE = 0.3
READ = 0.5
HEADER_LIMIT = 1024
RESPONSE_HEADER = 0.3
SHUTDOWN_WAIT = 1.0


@pytest.fixture(scope="module")
def backend() -> Iterator[JsonBackend]:
    server = JsonBackend().start()
    yield server
    server.stop()


def _config(backend: JsonBackend, **overrides: Any) -> dict[str, Any]:
    return {
        "timeout": "10s",
        "host": [backend.url],
        "idle_timeout": f"{IDLE}s",
        "read_timeout": f"{READ}s",
        "max_header_bytes": HEADER_LIMIT,
        "response_header_timeout": f"{RESPONSE_HEADER}s",
        "max_shutdown_wait_time": f"{SHUTDOWN_WAIT}s",
        "endpoints": [
            {"endpoint": "/user", "backend": [{"url_pattern": "/user/1"}]},
            {"endpoint": "/echo", "method": "POST", "backend": [{"url_pattern": "/echo"}]},
            {"endpoint": "/slow", "backend": [{"url_pattern": "/slow?ms=3000"}]},
            {"endpoint": "/slow-noop", "output_encoding": "no-op", "backend": [{"url_pattern": "/slow?ms=3000"}]},
            {"endpoint": "/stream", "output_encoding": "no-op", "backend": [{"url_pattern": "/chunks?n=2"}]},
        ],
        **overrides,
    }


@pytest.fixture(scope="module")
def gateway(backend: JsonBackend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = start_gateway(tmp_path_factory.mktemp("gsrv"), _config(backend))
    yield gw
    gw.stop()


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _read_response(sock: socket.socket) -> bytes:
    """One whole response with a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, data
        body += chunk
    return head


def _seconds_until_closed(sock: socket.socket, limit: float) -> float:
    """Read until the peer closes, with no answer on the way; seconds it took (fails past ``limit``)."""
    start = time.monotonic()
    sock.settimeout(limit)
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        raise AssertionError(f"an answer instead of a close: {data!r}")
    return time.monotonic() - start


def test_idle_timeout_closes_an_idle_keep_alive_connection(gateway: Gateway) -> None:
    with _connect(gateway.port) as sock:
        sock.sendall(b"GET /__health HTTP/1.1\r\nHost: gw\r\n\r\n")
        head = _read_response(sock)
        assert head.startswith(b"HTTP/1.1 200"), head
        waited = _seconds_until_closed(sock, 5.0)
    # Closed by the idle timer (0.3s), far before our default (180s) and not at once.
    assert IDLE * 0.5 <= waited < 4.0


def test_read_timeout_cuts_a_slow_request(gateway: Gateway) -> None:
    with _connect(gateway.port) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
        waited = _seconds_until_closed(sock, 6.0)
    assert READ * 0.5 <= waited < 5.0


def test_max_header_bytes_gives_431(gateway: Gateway) -> None:
    assert http_request(gateway.port, "GET", "/user", headers={"X-Pad": "a" * 200}).status == 200
    # Go reads a head up to MaxHeaderBytes + 4096 bytes before its 431: past the value but within that, KrakenD serves.
    assert http_request(gateway.port, "GET", "/user", headers={"X-Pad": "a" * (HEADER_LIMIT * 2)}).status == 200
    response = http_request(gateway.port, "GET", "/user", headers={"X-Pad": "a" * (HEADER_LIMIT + 4096 + 100)})
    assert response.status == 431


@pytest.mark.parametrize("path", ["/slow", "/slow-noop"])
def test_response_header_timeout_gives_krakends_backend_failure_status(gateway: Gateway, path: str) -> None:
    start = time.monotonic()
    response = http_request(gateway.port, "GET", path)
    elapsed = time.monotonic() - start
    # Lura: a transport error is a failed backend, 500 with X-Krakend-Completed: false (the backend sleeps 3s).
    assert response.status == 500
    assert response.header("X-Krakend-Completed") == "false"
    assert elapsed < 2.5


def test_shutdown_wait_bounds_the_drain_and_a_changed_key_needs_a_restart(backend: JsonBackend, tmp_path: Path) -> None:
    gw = start_gateway(tmp_path, _config(backend), env={"HANZO_GATEWAY_WATCH_INTERVAL": "0.05"})
    try:
        # A reload that changes a listener-level key is logged, not silently kept.
        config = json.loads((tmp_path / "gateway.json").read_text())
        config["read_timeout"] = "2s"
        (tmp_path / "gateway.tmp").write_text(json.dumps(config))
        os.replace(tmp_path / "gateway.tmp", tmp_path / "gateway.json")
        eventually(lambda: "read_timeout changed in" in gw.output() and "needs a restart" in gw.output(), timeout=10)
        with _connect(gw.port) as sock:
            # A stream whose second chunk never comes (the backend waits 10s for it): a request in flight.
            sock.sendall(b"GET /stream HTTP/1.1\r\nHost: gw\r\n\r\n")
            seen = b""
            while b"chunk-0" not in seen:
                chunk = sock.recv(65536)
                assert chunk, seen
                seen += chunk
            start = time.monotonic()
            gw.proc.send_signal(signal.SIGTERM)
            code = gw.proc.wait(15)
            elapsed = time.monotonic() - start
        assert code == 0
        # max_shutdown_wait_time (1s) + slack, where our default drain would wait 10s.
        assert elapsed < SHUTDOWN_WAIT + 4.0, elapsed
    finally:
        gw.stop()
        backend.release(1)


def test_check_names_every_key_it_cannot_honour(backend: JsonBackend, tmp_path: Path) -> None:
    warned = {
        "read_header_timeout": "1s",
        "max_idle_connections": 10,
        "expect_continue_timeout": "1s",
        "dialer_fallback_delay": "300ms",
    }
    honoured = {
        "disable_keep_alives": True,
        "dialer_timeout": "1s",
        "allow_insecure_connections": True,
        "dialer_keep_alive": "15s",
        "disable_compression": True,
    }
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps({"version": 3, **_config(backend), **warned, **honoured}, indent=2))
    result = run_cli(["check", "-c", str(path)], program=GATEWAY)
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    for key in warned:
        assert f"WARNING $.{key} (line " in output, key
    for key in (*honoured, "read_timeout", "idle_timeout", "max_header_bytes", "max_shutdown_wait_time"):
        assert f"$.{key} " not in output, key
    assert "Syntax OK!" in output
