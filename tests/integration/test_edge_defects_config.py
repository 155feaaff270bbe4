"""Issue 9, configuration items, through the real CLI: ``@internal`` services in ``check`` and the server alike,
entrypoint TLS refused, unsupported static options warned about, malformed dynamic files at startup and at runtime
(served around and counted), and ``check``'s router findings."""

from __future__ import annotations

import re
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from edge_backend import Backend
from edge_harness import Ingress, eventually, free_port, http_request, lb_service, run_cli, write_dynamic

pytestmark = pytest.mark.integration

BackendFactory = Callable[..., Backend]
IngressFactory = Callable[..., Ingress]

# HIP-68's production Deployment flags (examples/production-local/run.sh), on free ports of 127.0.0.1.
_BASIC_AUTH_USER = "test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"  # test:test (Traefik's documentation example)
_TEST_TEST = "Basic dGVzdDp0ZXN0"


def _production_flags(web: int, websecure: int, metrics: int) -> list[str]:
    return [
        f"--entrypoints.web.address=127.0.0.1:{web}",
        f"--entrypoints.websecure.address=127.0.0.1:{websecure}",
        f"--entrypoints.metrics.address=127.0.0.1:{metrics}",
        "--metrics.prometheus=true",
        "--metrics.prometheus.entrypoint=metrics",
        "--accesslog=true",
        "--accesslog.format=json",
        "--ping=true",
        "--ping.entrypoint=metrics",
        "--api.dashboard=false",
        "--api.insecure=false",
    ]


def _production_dynamic(app_url: str) -> dict[str, Any]:
    return {
        "http": {
            "routers": {
                "http-catchall": {
                    "rule": "HostRegexp(`^.+$`)",
                    "entryPoints": ["web"],
                    "middlewares": ["to-https"],
                    "service": "noop@internal",
                },
                "dashboard": {
                    "rule": "Host(`ingress.example.com`) && PathPrefix(`/api`)",
                    "entryPoints": ["websecure"],
                    "middlewares": ["admins"],
                    "service": "api@internal",
                },
                "app": {"rule": "Host(`app.example.com`)", "entryPoints": ["websecure"], "service": "app"},
            },
            "middlewares": {
                "to-https": {"redirectScheme": {"scheme": "https", "permanent": True}},
                "admins": {"basicAuth": {"users": [_BASIC_AUTH_USER]}},
            },
            "services": {"app": lb_service(app_url)},
        }
    }


def test_hip68_internal_routers_are_clean_in_check_and_served_by_ingress(
    tmp_path: Path, backend: BackendFactory, ingress: IngressFactory
) -> None:
    app = backend("app")
    web, websecure, metrics = free_port(), free_port(), free_port()
    dynamic = write_dynamic(tmp_path / "production.yml", _production_dynamic(app.url))
    flags = [*_production_flags(web, websecure, metrics), f"--providers.file.filename={dynamic}"]

    checked = run_cli(["check", *flags])
    explained = run_cli(["explain", *flags, "--entrypoint", "web", "GET", "http://shop.example.com/cart"])
    served = ingress(args=flags, port=websecure)

    assert (checked.returncode, checked.stdout) == (0, ""), checked.stdout + checked.stderr
    assert "matched: http-catchall@file (priority 18): HostRegexp(`^.+$`)" in explained.stdout.splitlines()
    assert "service: noop@internal" in explained.stdout.splitlines()
    redirect = http_request(web, path="/cart", headers={"Host": "shop.example.com"})
    assert (redirect.status, redirect.header("Location")) == (301, "https://shop.example.com/cart")
    denied = http_request(websecure, path="/api/overview", headers={"Host": "ingress.example.com"})
    assert denied.status == 401
    overview = http_request(
        websecure, path="/api/overview", headers={"Host": "ingress.example.com", "Authorization": _TEST_TEST}
    )
    assert overview.status == 200, overview
    assert "http" in overview.json()
    assert "does not exist" not in served.stderr()


def test_entrypoint_tls_routers_are_tls_only_and_an_unsupported_resolver_is_named(
    tmp_path: Path, backend: BackendFactory, ingress: IngressFactory
) -> None:
    # Issue 9 refused these routers until TLS was served; now entrypoint ``http.tls`` makes them TLS routers (issue
    # 12). What stays from issue 9: never answered in clear text on the TLS port, and nothing ignored silently.
    app = backend("app")
    web, websecure, api = free_port(), free_port(), free_port()
    dynamic = write_dynamic(
        tmp_path / "dynamic.yml",
        {
            "http": {
                "routers": {
                    "secure": {"rule": "Host(`app.test`)", "service": "app", "entryPoints": ["websecure"]},
                    "plain": {"rule": "Host(`app.test`)", "service": "app", "entryPoints": ["web"]},
                },
                "services": {"app": lb_service(app.url)},
            }
        },
    )
    flags = [
        f"--entrypoints.web.address=127.0.0.1:{web}",
        f"--entrypoints.websecure.address=127.0.0.1:{websecure}",
        "--entrypoints.websecure.http.tls.certResolver=le",
        "--entrypoints.websecure.http.tls.domains[0].main=app.test",
        "--entrypoints.websecure.http.tls.domains[0].sans=www.app.test",
        f"--entrypoints.traefik.address=127.0.0.1:{api}",
        "--api.insecure=true",
        f"--providers.file.filename={dynamic}",
    ]
    warning = (
        "entryPoints.websecure.http.tls.certResolver: parsed, not supported yet (the certificate comes from the TLS "
        "store)"
    )

    proc = ingress(args=flags, port=web)
    checked = run_cli(["check", *flags])

    assert http_request(web, headers={"Host": "app.test"}).status == 200
    assert http_request(websecure, headers={"Host": "app.test"}).status == 404  # never in clear text on :websecure
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the generated default certificate: no resolver, nothing in the store
    with (
        socket.create_connection(("127.0.0.1", websecure), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="app.test") as tls,
    ):
        tls.sendall(b"GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    router = http_request(api, path="/api/http/routers/secure@file").json()
    assert router["status"] == "enabled"
    # Traefik's applyModel copies the entrypoint's http.tls into a router without tls of its own, so /api shows it.
    assert router["tls"] == {"certResolver": "le", "domains": [{"main": "app.test", "sans": ["www.app.test"]}]}
    assert "tls" not in http_request(api, path="/api/http/routers/plain@file").json()
    eventually(lambda: warning in proc.stderr(), message=proc.describe)
    assert checked.returncode == 1  # a warning is a finding
    assert f"WARNING {warning}" in checked.stdout.splitlines()


def test_unsupported_static_options_are_warned_about_at_the_default_log_level(
    tmp_path: Path, backend: BackendFactory, ingress: IngressFactory
) -> None:
    app = backend("app")
    dynamic = {"http": {"routers": {"app": {"rule": "Host(`app.test`)", "service": "app"}}}}
    dynamic["http"]["services"] = {"app": lb_service(app.url)}
    unsupported = [
        "--providers.rest=true",
        "--providers.nomad=true",
        "--providers.consulcatalog=true",
        "--certificatesresolvers.le.acme.email=ops@example.com",
        "--experimental.plugins.demo.modulename=github.com/x/demo",
        "--hostresolver=true",
    ]

    proc = ingress(dynamic, *unsupported)  # no --log.level: Traefik's default, ERROR

    for option in (
        "providers.rest",
        "providers.nomad",
        "providers.consulCatalog",
        "certificatesResolvers.le",
        "experimental.plugins",
        "hostResolver",
    ):
        eventually(
            lambda option=option: re.search(
                rf"WAR {re.escape(option)}: parsed, not supported yet$", proc.stderr(), re.M
            ),
            message=proc.describe,
        )
    assert http_request(proc.port, headers={"Host": "app.test"}).status == 200
    checked = run_cli(["check", *proc.args])
    assert checked.returncode == 1  # warnings make check exit 1, as configuration warnings always did
    assert "WARNING providers.rest: parsed, not supported yet" in checked.stdout.splitlines()


def _metric(port: int, name: str) -> float | None:
    text = http_request(port, path="/metrics").body.decode()
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(match.group(1)) if match else None


def test_a_malformed_file_in_a_watched_directory_counts_as_a_failed_reload(
    tmp_path: Path, backend: BackendFactory, ingress: IngressFactory
) -> None:
    app = backend("app")
    directory = tmp_path / "dynamic"
    directory.mkdir()
    write_dynamic(
        directory / "app.yml",
        {
            "http": {
                "routers": {"app": {"rule": "Host(`app.test`)", "service": "app"}},
                "services": {"app": lb_service(app.url)},
            }
        },
    )
    web, metrics = free_port(), free_port()
    proc = ingress(
        args=[
            f"--entrypoints.web.address=127.0.0.1:{web}",
            f"--entrypoints.metrics.address=127.0.0.1:{metrics}",
            "--metrics.prometheus=true",
            "--metrics.prometheus.entrypoint=metrics",
            f"--providers.file.directory={directory}",
        ],
        port=web,
    )
    assert _metric(metrics, "hanzo_ingress_config_reloads_failure_total") == 0
    before = time.time()

    (directory / "broken.yml").write_text("http:\n  routers:\n    b:\n      rule: [oops]\n")

    eventually(lambda: _metric(metrics, "hanzo_ingress_config_reloads_failure_total") == 1, message=proc.describe)
    last_failure = _metric(metrics, "hanzo_ingress_config_last_reload_failure")
    assert last_failure is not None
    assert last_failure >= before - 1
    assert f"{directory}/broken.yml:4: http.routers.b.rule: expected string" in proc.stderr()
    assert http_request(web, headers={"Host": "app.test"}).status == 200


def test_at_startup_a_malformed_file_in_a_directory_is_reported_and_the_good_ones_are_served(
    tmp_path: Path, backend: BackendFactory, ingress: IngressFactory
) -> None:
    app = backend("app")
    directory = tmp_path / "dynamic"
    directory.mkdir()
    write_dynamic(
        directory / "app.yml",
        {
            "http": {
                "routers": {"app": {"rule": "Host(`app.test`)", "service": "app"}},
                "services": {"app": lb_service(app.url)},
            }
        },
    )
    (directory / "broken.yml").write_text("http:\n  routers: [\n")
    web = free_port()

    proc = ingress(
        args=[f"--entrypoints.web.address=127.0.0.1:{web}", f"--providers.file.directory={directory}"], port=web
    )

    assert http_request(web, headers={"Host": "app.test"}).status == 200
    eventually(lambda: re.search(rf"ERR file provider: {re.escape(str(directory))}/broken.yml:\d+: ", proc.stderr()))


def test_at_startup_a_malformed_single_file_serves_nothing_until_fixed_and_the_process_runs(
    tmp_path: Path, backend: BackendFactory, ingress: IngressFactory
) -> None:
    app = backend("app")
    dynamic = tmp_path / "dynamic.yml"
    dynamic.write_text("http:\n  routers: [\n")
    web = free_port()

    proc = ingress(
        args=[f"--entrypoints.web.address=127.0.0.1:{web}", f"--providers.file.filename={dynamic}"], port=web
    )

    assert http_request(web, headers={"Host": "app.test"}).status == 404
    assert f"{dynamic}:3: invalid YAML" in proc.stderr()
    write_dynamic(
        dynamic,
        {
            "http": {
                "routers": {"app": {"rule": "Host(`app.test`)", "service": "app"}},
                "services": {"app": lb_service(app.url)},
            }
        },
    )
    eventually(lambda: http_request(web, headers={"Host": "app.test"}).status == 200, message=proc.describe)


def test_check_reports_every_error_of_a_router_and_v2_syntax(tmp_path: Path) -> None:
    dynamic = write_dynamic(
        tmp_path / "dynamic.yml",
        {
            "http": {
                "routers": {
                    "broken": {"rule": "Host(`a.test`", "service": "nope", "middlewares": ["gone"]},
                    "legacy": {"rule": "HostRegexp(`{host:.+}`)", "service": "app"},
                    "app": {"rule": "Host(`app.test`)", "service": "app", "middlewares": ["missing"]},
                },
                "services": {"app": lb_service("http://127.0.0.1:9")},
            }
        },
    )

    result = run_cli(["check", "--entrypoints.web.address=127.0.0.1:1", f"--providers.file.filename={dynamic}"])

    lines = result.stdout.splitlines()
    assert result.returncode == 1
    assert lines[0] == 'ERROR router app@file: middleware "missing@file" does not exist'  # never "service app@file"
    assert lines[1].startswith("ERROR router broken@file: invalid rule ")
    assert lines[2:4] == [
        'ERROR router broken@file: the service "nope@file" does not exist',
        'ERROR router broken@file: middleware "gone@file" does not exist',
    ]
    assert lines[4].startswith("WARNING router legacy@file: the rule uses v2 syntax")
    assert lines[4].endswith("set `ruleSyntax: v2` on the router, or write it in v3: HostRegexp(`^.+$`)")
    assert len(lines) == 5
