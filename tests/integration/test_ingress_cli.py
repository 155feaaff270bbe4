"""The command line itself: configuration errors, help, ``gateway``, and the env / ``--configFile`` sources."""

from __future__ import annotations

import pytest
from edge_harness import GATEWAY, catch_all, free_port, http_request, run_cli, write_dynamic

pytestmark = pytest.mark.integration


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected exactly one stderr line, got {len(lines)}:\n{stderr}"
    return lines[0]


def test_unknown_flag_exits_nonzero_with_one_line_naming_it():
    result = run_cli(["--entrypoints.web.adress=:1"])

    assert result.returncode != 0
    line = _one_line(result.stderr)
    assert "entrypoints.web.adress" in line.lower()


def test_invalid_duration_exits_nonzero_with_one_line_naming_the_option():
    result = run_cli(
        ["--entrypoints.web.address=127.0.0.1:1", "--entrypoints.web.transport.respondingTimeouts.idleTimeout=abc"]
    )

    assert result.returncode != 0
    line = _one_line(result.stderr)
    assert "entrypoints.web.transport.respondingtimeouts.idletimeout" in line.lower()
    assert "abc" in line


def test_help_exits_0_and_lists_the_entrypoint_address_option():
    result = run_cli(["--help"])

    assert result.returncode == 0, result.stderr
    assert "--entrypoints.<name>.address" in result.stdout


def test_gateway_without_a_command_prints_usage_and_exits_2():
    result = run_cli([], program=GATEWAY)

    assert result.returncode == 2
    assert "usage: gateway {run|check} -c FILE" in result.stderr


def test_traefik_environment_variables_configure_the_ingress(backend, ingress, tmp_path):
    app = backend("from-env")
    port = free_port()
    dynamic = write_dynamic(tmp_path / "env-dynamic.yml", catch_all(app.url))
    (tmp_path / "xdg").mkdir()
    proxy = ingress(
        args=[],
        port=port,
        env={
            "TRAEFIK_ENTRYPOINTS_WEB_ADDRESS": f"127.0.0.1:{port}",
            "TRAEFIK_PROVIDERS_FILE_FILENAME": str(dynamic),
            "HOME": str(tmp_path),
            "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        },
    )

    resp = http_request(proxy.port, path="/via-env")

    assert resp.status == 200
    assert resp.body == b"from-env /via-env"


def test_config_file_flag_configures_the_ingress(backend, ingress, tmp_path):
    app = backend("from-file")
    port = free_port()
    dynamic = write_dynamic(tmp_path / "file-dynamic.yml", catch_all(app.url))
    static = write_dynamic(
        tmp_path / "static.yml",
        {
            "entryPoints": {
                "web": {
                    "address": f"127.0.0.1:{port}",
                    "transport": {"respondingTimeouts": {"idleTimeout": "5s"}},
                }
            },
            "providers": {"file": {"filename": str(dynamic)}},
            "ping": {"entryPoint": "web"},
        },
    )
    proxy = ingress(args=[f"--configFile={static}"], port=port)

    resp = http_request(proxy.port, path="/via-file")
    ping = http_request(proxy.port, path="/ping")

    assert resp.status == 200
    assert resp.body == b"from-file /via-file"
    assert (ping.status, ping.body) == (200, b"OK")
