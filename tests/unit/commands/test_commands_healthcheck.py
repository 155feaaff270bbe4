"""``ingress healthcheck``: where it asks, what it prints and its exit codes (through ``cli.ingress_main``)."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from hanzo_edge.cli import ingress_main
from hanzo_edge.commands import Outcome
from hanzo_edge.commands.healthcheck import PingTarget, ping_target, run_healthcheck
from hanzo_edge.config.loader import load_static


class _PingServer(http.server.ThreadingHTTPServer):
    status = 200
    methods: list[str]


class _PingHandler(http.server.BaseHTTPRequestHandler):
    server: _PingServer

    def _answer(self) -> None:
        self.server.methods.append(f"{self.command} {self.path}")
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = _answer
    do_GET = _answer

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output clean."""


@pytest.fixture
def ping_server() -> Iterator[_PingServer]:
    server = _PingServer(("127.0.0.1", 0), _PingHandler)
    server.methods = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def _flags(port: int, *extra: str) -> list[str]:
    return [f"--entrypoints.metrics.address=127.0.0.1:{port}", "--ping", "--ping.entryPoint=metrics", *extra]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_200_prints_ok_with_the_url_and_exits_0(ping_server: _PingServer, capsys: pytest.CaptureFixture[str]) -> None:
    port = ping_server.server_address[1]

    code = ingress_main(["healthcheck", *_flags(port)])

    assert code == 0
    assert capsys.readouterr().out == f"OK: http://127.0.0.1:{port}/ping\n"
    assert ping_server.methods == ["HEAD /ping"], "Traefik's command sends HEAD /ping"


def test_any_other_status_prints_traefiks_bad_status_line_and_exits_1(
    ping_server: _PingServer, capsys: pytest.CaptureFixture[str]
) -> None:
    ping_server.status = 503

    code = ingress_main(["healthcheck", *_flags(ping_server.server_address[1])])

    assert code == 1
    assert capsys.readouterr().out == "Bad healthcheck status: 503 Service Unavailable\n"


def test_nothing_listening_prints_the_dial_error_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    port = _closed_port()

    code = ingress_main(["healthcheck", *_flags(port)])

    url = f"http://127.0.0.1:{port}/ping"
    expected = f'Error calling healthcheck: Head "{url}": dial tcp 127.0.0.1:{port}: connect: connection refused\n'
    assert code == 1
    assert capsys.readouterr().out == expected


def test_a_listener_that_never_answers_times_out() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # the connection completes in the backlog; nobody ever answers
        port = silent.getsockname()[1]

        result = run_healthcheck(_flags(port), {}, timeout=0.2)

    assert result.outcome is Outcome.UNHEALTHY
    assert result.stdout == [
        f'Error calling healthcheck: Head "http://127.0.0.1:{port}/ping": '
        "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
    ]


def test_ping_not_enabled_is_traefiks_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert ingress_main(["healthcheck", "--entrypoints.web.address=:1"]) == 1
    assert capsys.readouterr().out == "Error calling healthcheck: please enable `ping` to use health check\n"


def test_manual_routing_on_the_default_entrypoint_has_no_entrypoint_to_ask() -> None:
    # With manualRouting, the implicit `traefik` entrypoint is not created (Traefik's SetEffectiveConfiguration).
    result = run_healthcheck(["--ping", "--ping.manualRouting=true"], {})

    assert result.outcome is Outcome.UNHEALTHY
    assert result.stdout == ["Error calling healthcheck: ping: missing traefik entry point"]


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (":8082", PingTarget("127.0.0.1", 8082)),
        ("0.0.0.0:8082", PingTarget("127.0.0.1", 8082)),
        ("[::]:8082", PingTarget("::1", 8082)),
        ("10.1.2.3:8082/tcp", PingTarget("10.1.2.3", 8082)),
    ],
)
def test_the_ping_entrypoints_address_is_asked_wildcards_on_loopback(address: str, expected: PingTarget) -> None:
    static = load_static([f"--entrypoints.metrics.address={address}", "--ping.entryPoint=metrics"], {}, search=False)

    assert ping_target(static) == expected


def test_the_implicit_traefik_entrypoint_is_used_by_default() -> None:
    static = load_static(["--ping"], {}, search=False)

    target = ping_target(static)

    assert target.url == "http://127.0.0.1:8080/ping"
    assert PingTarget("::1", 9100).url == "http://[::1]:9100/ping"


def test_the_configuration_comes_from_the_environment_too(
    ping_server: _PingServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = ping_server.server_address[1]
    monkeypatch.setenv("TRAEFIK_ENTRYPOINTS_PROBE_ADDRESS", f"127.0.0.1:{port}")
    monkeypatch.setenv("TRAEFIK_PING_ENTRYPOINT", "probe")

    assert ingress_main(["healthcheck"]) == 0
    assert capsys.readouterr().out == f"OK: http://127.0.0.1:{port}/ping\n"


def test_a_bad_option_exits_1_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert ingress_main(["healthcheck", "--ping.entrypont=x"]) == 1
    assert "--ping.entrypont" in capsys.readouterr().err
