"""``ingress check`` and ``ingress explain`` through the installed CLI, on files in a temporary directory.

Neither command listens: both run while the entrypoint's port is held by another socket.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from edge_harness import lb_service, run_cli, write_dynamic

pytestmark = pytest.mark.integration


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 held (listening) for the whole test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _config(tmp_path: Path) -> Path:
    return write_dynamic(
        tmp_path / "dynamic.yml",
        {
            "http": {
                "routers": {
                    "api": {"rule": "PathPrefix(`/api`)", "service": "app", "priority": 25},
                    "v1": {"rule": "PathPrefix(`/api/v1`)", "service": "app", "priority": 20},
                    "site": {"rule": "Host(`app.test`)", "service": "app"},
                },
                "services": {"app": lb_service("http://127.0.0.1:9")},
            }
        },
    )


def test_check_reports_a_shadowed_router_and_exits_1(tmp_path: Path, busy_port: int) -> None:
    dynamic = _config(tmp_path)

    result = run_cli(
        ["check", f"--entrypoints.web.address=127.0.0.1:{busy_port}", f"--providers.file.filename={dynamic}"]
    )

    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        "SHADOWED router v1@file (priority 20) on entrypoint web can never match: api@file (priority 25) matches first"
    ]
    assert result.stderr.strip() == "check: 0 errors, 0 warnings, 1 shadowed router"


def test_check_a_clean_configuration_exits_0(tmp_path: Path, busy_port: int) -> None:
    dynamic = write_dynamic(
        tmp_path / "dynamic.yml",
        {
            "http": {
                "routers": {"a": {"rule": "Host(`a.test`)", "service": "s"}},
                "services": {"s": lb_service("http://127.0.0.1:9")},
            }
        },
    )

    result = run_cli(
        ["check", f"--entrypoints.web.address=127.0.0.1:{busy_port}", f"--providers.file.filename={dynamic}"]
    )

    assert (result.returncode, result.stdout) == (0, ""), result.stderr


def test_check_a_broken_file_names_its_line(tmp_path: Path) -> None:
    dynamic = tmp_path / "dynamic.yml"
    dynamic.write_text("http:\n  routers:\n    a:\n      rule: [\n")

    result = run_cli(["check", f"--providers.file.filename={dynamic}"])

    assert result.returncode == 1
    (line,) = result.stdout.splitlines()
    assert line.startswith(f"ERROR {dynamic}:")


def test_explain_a_match(tmp_path: Path, busy_port: int) -> None:
    dynamic = _config(tmp_path)
    static = [f"--entrypoints.web.address=127.0.0.1:{busy_port}", f"--providers.file.filename={dynamic}"]

    result = run_cli(["explain", *static, "GET", "http://app.test/x?y=1", "-H", "X-A: 1"])

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "entrypoint: web",
        'request: GET /x?y=1 (host "app.test", path "/x", client 127.0.0.1)',
        'not matched: api@file (priority 25): PathPrefix(`/api`) false: path is "/x"',
        'not matched: v1@file (priority 20): PathPrefix(`/api/v1`) false: path is "/x"',
        "matched: site@file (priority 16): Host(`app.test`)",
        "middlewares: none",
        "service: app@file (loadBalancer, strategy wrr)",
        "server: http://127.0.0.1:9 (weight 1)",
    ]


def test_explain_no_match_exits_1_and_a_usage_error_exits_2(tmp_path: Path) -> None:
    dynamic = _config(tmp_path)
    static = ["--entrypoints.web.address=127.0.0.1:1", f"--providers.file.filename={dynamic}"]

    missing = run_cli(["explain", *static, "GET", "http://other.test/"])
    usage = run_cli(["explain", *static, "GET"])

    assert missing.returncode == 1
    assert missing.stdout.splitlines()[-1] == "result: no router matched; the request gets 404 page not found"
    assert usage.returncode == 2
    assert usage.stderr.startswith("explain: ")
