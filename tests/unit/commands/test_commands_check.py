"""``ingress check``: findings, their format and the exit codes (through ``cli.ingress_main``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hanzo_edge.cli import ingress_main
from hanzo_edge.commands import Outcome
from hanzo_edge.commands.check import run_check

SERVICE = """\
  services:
    app:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:8081
"""


def _write(tmp_path: Path, body: str, name: str = "dynamic.yml") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    code = ingress_main(["check", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_a_clean_configuration_exits_0_with_no_finding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dynamic = _write(
        tmp_path, "http:\n  routers:\n    app:\n      rule: Host(`app.test`)\n      service: app\n" + SERVICE
    )

    code, out, err = _run(capsys, "--entrypoints.web.address=:1", f"--providers.file.filename={dynamic}")

    assert (code, out) == (0, [])
    assert err.strip() == "check: OK (1 router, 1 entrypoint)"


def test_errors_warnings_and_shadows_are_one_line_each_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dynamic = _write(
        tmp_path,
        """\
http:
  routers:
    a:
      rule: PathPrefix(`/api`)
      service: app
      priority: 25
    b:
      rule: PathPrefix(`/api/v1`)
      service: app
      priority: 20
    web-app:
      rule: Host(`app.test`)
      service: nope
      colour: blue
"""
        + SERVICE,
    )

    code, out, err = _run(capsys, "--entrypoints.web.address=:1", f"--providers.file.filename={dynamic}")

    assert code == 1
    assert len(out) == 3
    assert out[0] == f"WARNING {dynamic}:14: http.routers.web-app.colour: unknown option (ignored)"
    assert re.fullmatch(r"ERROR router web-app@file: the service .nope@file. does not exist", out[1])
    assert out[2] == (
        "SHADOWED router b@file (priority 20) on entrypoint web can never match: a@file (priority 25) matches first"
    )
    assert err.strip() == "check: 1 error, 1 warning, 1 shadowed router"


def test_a_file_that_does_not_parse_gives_its_location_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dynamic = _write(tmp_path, "http:\n  routers: [\n")

    code, out, _ = _run(capsys, "--entrypoints.web.address=:1", f"--providers.file.filename={dynamic}")

    assert code == 1
    assert len(out) == 1
    assert out[0].startswith(f"ERROR {dynamic}:")


def test_a_bad_static_option_is_an_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--entrypoints.web.adress=:1")

    assert (code, out) == (1, ["ERROR --entrypoints.web.adress: unknown option"])


def test_static_configuration_file_is_loaded_like_ingress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dynamic = _write(
        tmp_path,
        "http:\n  routers:\n    a:\n      rule: Host(`x`)\n      service: app\n      priority: 100\n"
        "    b:\n      rule: Host(`x`) && Path(`/y`)\n      service: app\n" + SERVICE,
    )
    static = _write(
        tmp_path,
        f"entryPoints:\n  web:\n    address: ':1'\n  other:\n    address: ':2'\nproviders:\n  file:\n"
        f"    filename: {dynamic}\n",
        "traefik.yml",
    )

    code, out, _ = _run(capsys, f"--configFile={static}")

    assert code == 1
    assert out == [
        "SHADOWED router b@file (priority 23) on entrypoint web can never match: a@file (priority 100) matches first",
        "SHADOWED router b@file (priority 23) on entrypoint other can never match: a@file (priority 100) matches first",
    ]


def test_a_router_on_a_missing_entrypoint_and_a_broken_service_are_reported(tmp_path: Path) -> None:
    dynamic = _write(
        tmp_path,
        """\
http:
  routers:
    a:
      rule: Host(`x`)
      service: good
      entryPoints: [nowhere]
    app:
      rule: Host(`y`)
      service: app
  services:
    app:
      loadBalancer:
        serversTransport: missing
        servers:
          - url: http://127.0.0.1:8081
    good:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:8081
""",
    )

    result = run_check(["--entrypoints.web.address=:1", f"--providers.file.filename={dynamic}"], {})

    assert result.outcome is Outcome.PROBLEMS
    assert len(result.stdout) == 3
    assert re.fullmatch(r"ERROR router a@file: entryPoint .nowhere. doesn't exist", result.stdout[0])
    # app@file names both a router and a service: each message is attributed to the right one.
    assert re.fullmatch(r"ERROR service app@file: serversTransport .missing@file. does not exist", result.stdout[1])
    assert re.fullmatch(r"ERROR router app@file: the service .app@file. could not be built", result.stdout[2])


def test_the_usual_redirection_is_not_reported_but_an_explicit_router_on_it_is(tmp_path: Path) -> None:
    dynamic = _write(
        tmp_path,
        "http:\n  routers:\n    a:\n      rule: Host(`x`)\n      service: app\n"
        "    b:\n      rule: Host(`y`)\n      service: app\n      entryPoints: [web]\n" + SERVICE,
    )
    flags = [
        "--entrypoints.web.address=:1",
        "--entrypoints.websecure.address=:2",
        "--entrypoints.web.http.redirections.entryPoint.to=websecure",
        f"--providers.file.filename={dynamic}",
    ]

    result = run_check(flags, {})

    assert result.stdout == [
        "SHADOWED router b@file (priority 9) on entrypoint web can never match: "
        "web-to-websecure@internal (priority 9223372036854775806) matches first"
    ]


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--help")

    assert code == 0
    assert out[0].startswith("usage: ingress check")
