"""KrakenD's ``dialer_keep_alive`` and ``disable_compression`` through the real ``gateway run`` with real backends.

The ingress side has no such key, but Traefik's transport dials with ``KeepAlive: 30s``: so does ``ingress``.

Three gateways, each with its own backend (so the backend port names the gateway's connections in ``ss``):
``dialer_keep_alive: "40s"`` with ``disable_compression: true``, the defaults (Go's dialer: probes after 15 s; gzip
asked for and decoded), and ``dialer_keep_alive: "-1s"`` (no probes). The kernel's own view of the gateway's idle
backend connection (``ss -to``: its ``keepalive`` timer) shows the probes are armed as the file says; the backend's
record of each request shows whether gzip was asked for, on a merging endpoint and on a no-op one (the fast path).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from edge_harness import catch_all, eventually, http_request
from gateway_fixtures import Gateway, JsonBackend, start_gateway

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("ss") is None, reason="needs iproute2's ss to read the kernel's socket timers"),
]

ENDPOINTS = [
    {"endpoint": "/echo", "backend": [{"url_pattern": "/echo/merge"}]},
    {"endpoint": "/echo-noop", "output_encoding": "no-op", "backend": [{"url_pattern": "/echo/noop"}]},
    {"endpoint": "/gzip", "backend": [{"url_pattern": "/gzip"}]},
    {"endpoint": "/gzip-noop", "output_encoding": "no-op", "backend": [{"url_pattern": "/gzip"}]},
]


class _Setup:
    def __init__(self, backend: JsonBackend, gateway: Gateway) -> None:
        self.backend = backend
        self.gateway = gateway


def _start(tmp: Path, **keys: Any) -> Iterator[_Setup]:
    backend = JsonBackend().start()
    gateway = start_gateway(tmp, {"timeout": "5s", "host": [backend.url], "endpoints": ENDPOINTS, **keys})
    try:
        yield _Setup(backend, gateway)
    finally:
        gateway.stop()
        backend.stop()


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Setup]:
    yield from _start(tmp_path_factory.mktemp("gwk-tuned"), dialer_keep_alive="40s", disable_compression=True)


@pytest.fixture(scope="module")
def defaults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Setup]:
    yield from _start(tmp_path_factory.mktemp("gwk-defaults"))


@pytest.fixture(scope="module")
def no_probes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Setup]:
    yield from _start(tmp_path_factory.mktemp("gwk-off"), dialer_keep_alive="-1s")


_TIMER = re.compile(r"timer:\((\w+),([^,]+),")


def _timers_to(port: int) -> list[tuple[str, str]]:
    """The kernel's timers of the established connections to ``port`` (the gateway's, to its backend)."""
    out = subprocess.run(
        ["ss", "-tnoH", "state", "established", f"( dport = :{port} )"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    return [(m.group(1), m.group(2)) if (m := _TIMER.search(line)) else ("", "") for line in out.splitlines()]


# ss's print_ms_timer: minutes, then seconds ("sec", or "." when milliseconds follow), then "%03dms"; e.g. "1min",
# "1min2sec", "39sec", "5.696ms" (5.696 s, not 696 ms), "480ms".
_SS_TIMER = re.compile(r"(?:(\d+)min)?(?:(\d+)(?:sec|\.))?(?:(\d+)ms)?")


def _seconds(remaining: str) -> float:
    """An ``ss`` timer value in seconds."""
    match = _SS_TIMER.fullmatch(remaining)
    assert match is not None, remaining
    minutes, seconds, millis = (int(part or 0) for part in match.groups())
    return minutes * 60.0 + seconds + millis / 1000.0


@pytest.mark.parametrize(
    ("printed", "seconds"),
    [("39sec", 39.0), ("1min2sec", 62.0), ("10min", 600.0), ("480ms", 0.48), ("5.696ms", 5.696), ("9.007ms", 9.007)],
)
def test_ss_timer_values_read_as_ss_prints_them(printed: str, seconds: float) -> None:
    assert _seconds(printed) == pytest.approx(seconds)


def _idle_backend_connection(setup: _Setup) -> list[tuple[str, str]]:
    response = http_request(setup.gateway.port, path="/echo")
    assert response.status == 200, response
    timers: list[tuple[str, str]] = []

    def seen() -> bool:
        timers[:] = _timers_to(setup.backend.port)
        return bool(timers)

    eventually(seen, timeout=5.0)
    return timers


def test_dialer_keep_alive_arms_the_probes_on_the_backend_connection(tuned: _Setup) -> None:
    timers = _idle_backend_connection(tuned)
    kinds = {kind for kind, _ in timers}
    assert kinds == {"keepalive"}, timers
    # Idle 40 s before the first probe: the timer counts down from 40 s, well past Go's default 15 s.
    assert all(15.0 < _seconds(left) <= 40.0 for _, left in timers), timers


def test_an_unset_dialer_keep_alive_is_gos_15_seconds(defaults: _Setup) -> None:
    timers = _idle_backend_connection(defaults)
    assert {kind for kind, _ in timers} == {"keepalive"}, timers
    assert all(0.0 < _seconds(left) <= 15.0 for _, left in timers), timers


def test_a_negative_dialer_keep_alive_sends_no_probes(no_probes: _Setup) -> None:
    timers = _idle_backend_connection(no_probes)
    assert all(kind != "keepalive" for kind, _ in timers), timers


@pytest.mark.parametrize(("path", "backend_path"), [("/echo", "/echo/merge"), ("/echo-noop", "/echo/noop")])
def test_disable_compression_asks_for_no_gzip(tuned: _Setup, defaults: _Setup, path: str, backend_path: str) -> None:
    for setup, want in ((tuned, None), (defaults, ["gzip"])):
        assert http_request(setup.gateway.port, path=path).status == 200
        _method, _target, headers = setup.backend.last(backend_path)
        assert headers.get("accept-encoding") == want, (path, headers)
    # A client's own Accept-Encoding is not forwarded (input_headers is Content-Type only): still none.
    assert http_request(tuned.gateway.port, path=path, headers={"Accept-Encoding": "gzip"}).status == 200
    assert "accept-encoding" not in tuned.backend.last(backend_path)[2]


def test_a_gzip_answer_is_relayed_as_is_on_no_op(tuned: _Setup, defaults: _Setup) -> None:
    relayed = http_request(tuned.gateway.port, path="/gzip-noop")
    assert relayed.status == 200
    assert relayed.header("content-encoding") == "gzip"
    assert json.loads(gzip.decompress(relayed.body)) == {"zipped": True}
    decoded = http_request(defaults.gateway.port, path="/gzip-noop")  # gzip we asked for: decoded on the way
    assert decoded.status == 200
    assert decoded.header("content-encoding") is None
    assert json.loads(decoded.body) == {"zipped": True}


def test_a_gzip_answer_is_not_decoded_for_the_json_encoding(tuned: _Setup, defaults: _Setup) -> None:
    # Go's Transport decodes only the gzip it asked for: with disable_compression the JSON decoder gets gzip bytes,
    # the only backend fails, and KrakenD answers 500.
    assert http_request(tuned.gateway.port, path="/gzip").status == 500
    merged = http_request(defaults.gateway.port, path="/gzip")
    assert merged.status == 200
    assert json.loads(merged.body) == {"zipped": True}


def test_the_ingress_dials_as_traefiks_transport(backend: Any, ingress: Any) -> None:
    app = backend()
    proxy = ingress(catch_all(app.url))
    assert http_request(proxy.port, path="/").status == 200
    timers = eventually(lambda: _timers_to(app.port), timeout=5.0)
    assert {kind for kind, _ in timers} == {"keepalive"}, timers
    assert all(15.0 < _seconds(left) <= 30.0 for _, left in timers), timers


def test_a_reload_that_changes_them_needs_a_restart(tmp_path: Path) -> None:
    backend = JsonBackend().start()
    config = {"timeout": "5s", "host": [backend.url], "endpoints": ENDPOINTS}
    gateway = start_gateway(tmp_path, config, env={"HANZO_GATEWAY_WATCH_INTERVAL": "0.05"})
    try:
        written = json.loads((tmp_path / "gateway.json").read_text())
        written.update(dialer_keep_alive="40s", disable_compression=True)
        written["endpoints"] = [*ENDPOINTS, {"endpoint": "/echo-new", "backend": [{"url_pattern": "/echo/new"}]}]
        (tmp_path / "gateway.tmp").write_text(json.dumps(written))
        os.replace(tmp_path / "gateway.tmp", tmp_path / "gateway.json")
        eventually(lambda: http_request(gateway.port, path="/echo-new").status == 200, timeout=10)
        assert "dialer_keep_alive, disable_compression changed in" in gateway.output()
        assert "needs a restart" in gateway.output()
        # The endpoint the reload added is built on the transport the process started with: gzip is still asked for.
        assert backend.last("/echo/new")[2].get("accept-encoding") == ["gzip"]
    finally:
        gateway.stop()
        backend.stop()
