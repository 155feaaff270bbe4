"""``check`` and ``explain`` know Traefik's ``@internal`` services exactly as the server does (issue 9).

HIP-68's production flags (``--api.insecure=false``, ``--api.dashboard=false``, metrics and ping on their own
entrypoint) with the two routers every such deployment has: the http→https catch-all to ``noop@internal`` and a
secured router to ``api@internal``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hanzo_edge.app import IngressApp
from hanzo_edge.cli import ingress_main
from hanzo_edge.commands.common import build_offline, load_dynamic
from hanzo_edge.config.loader import load_static
from hanzo_edge.config.static import StaticConfig
from hanzo_edge.routing.build import BuildResult
from hanzo_edge.routing.internal import InternalHandlers, PingHandler, internal_services

PRODUCTION_FLAGS = [
    "--entrypoints.web.address=:8080",
    "--entrypoints.websecure.address=:8443",
    "--entrypoints.metrics.address=:9100",
    "--metrics.prometheus=true",
    "--metrics.prometheus.entrypoint=metrics",
    "--accesslog=true",
    "--accesslog.format=json",
    "--ping=true",
    "--ping.entrypoint=metrics",
    "--api.dashboard=false",
    "--api.insecure=false",
]

ROUTERS = """\
    http-catchall:
      rule: HostRegexp(`^.+$`)
      entryPoints: [web]
      middlewares: [to-https]
      service: noop@internal
    dashboard:
      rule: Host(`ingress.example.com`) && PathPrefix(`/api`)
      entryPoints: [websecure]
      middlewares: [admins]
      service: api@internal
"""

MIDDLEWARES = """\
  middlewares:
    to-https:
      redirectScheme:
        scheme: https
        permanent: true
    admins:
      basicAuth:
        users:
          - "test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"
"""

DYNAMIC = "http:\n  routers:\n" + ROUTERS + MIDDLEWARES


@pytest.fixture
def flags(tmp_path: Path) -> list[str]:
    path = tmp_path / "dynamic.yml"
    path.write_text(DYNAMIC)
    return [*PRODUCTION_FLAGS, f"--providers.file.filename={path}"]


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    code = ingress_main(list(args))
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_check_is_clean_for_the_catch_all_and_the_secured_api(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "check", *flags)

    assert (code, out) == (0, []), err
    assert err.strip() == "check: OK (2 routers, 3 entrypoints)"


def test_explain_routes_the_catch_all_to_noop_internal(flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "explain", *flags, "--entrypoint", "web", "GET", "http://shop.example.com/cart")

    assert code == 0
    assert out[2:] == [
        "matched: http-catchall@file (priority 18): HostRegexp(`^.+$`)",
        "middlewares: to-https@file",
        "service: noop@internal",
    ]


def test_explain_routes_the_secured_router_to_api_internal(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(
        capsys, "explain", *flags, "--entrypoint", "websecure", "GET", "http://ingress.example.com/api/overview"
    )

    assert code == 0
    assert out[2:] == [
        "matched: dashboard@file (priority 49): Host(`ingress.example.com`) && PathPrefix(`/api`)",
        "middlewares: admins@file",
        "service: api@internal",
    ]


def test_an_internal_service_the_static_configuration_does_not_enable_stays_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dynamic.yml"
    path.write_text(
        "http:\n  routers:\n    board:\n      rule: PathPrefix(`/dashboard`)\n      service: dashboard@internal\n"
    )

    # --api.dashboard=false: Traefik's internal provider has api@internal but no dashboard@internal.
    code, out, _ = _run(capsys, "check", *PRODUCTION_FLAGS, f"--providers.file.filename={path}")

    assert code == 1
    assert out == ['ERROR router board@file: the service "dashboard@internal" does not exist (@internal is reserved)']


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        pytest.param([], {"noop@internal"}, id="nothing enabled"),
        pytest.param(["--ping"], {"noop@internal", "ping@internal"}, id="ping"),
        pytest.param(["--metrics.prometheus"], {"noop@internal", "prometheus@internal"}, id="prometheus"),
        pytest.param(["--api.dashboard=false"], {"noop@internal", "api@internal"}, id="api without dashboard"),
        pytest.param(["--api"], {"noop@internal", "api@internal", "dashboard@internal"}, id="api"),
    ],
)
def test_internal_services_follow_the_static_configuration(flags: list[str], expected: set[str]) -> None:
    static = load_static(["--entrypoints.web.address=:1", *flags], {}, search=False)
    handlers = InternalHandlers(ping=PingHandler(), prometheus=PingHandler(), api=PingHandler())

    assert set(internal_services(static, handlers)) == expected


def _routers(result: BuildResult) -> dict[str, list[tuple[str, int, str, str, tuple[str, ...]]]]:
    return {
        ep: [(r.name, r.priority, r.rule, r.service, r.middlewares) for r in table.routes]
        for ep, table in result.tables.items()
    }


def test_check_builds_the_same_table_as_the_server_with_every_internal_service(tmp_path: Path) -> None:
    path = tmp_path / "dynamic.yml"
    path.write_text(
        "http:\n  routers:\n"
        + ROUTERS
        + """\
    board:
      rule: Host(`board.example.com`)
      service: dashboard@internal
    health:
      rule: Path(`/healthz`)
      service: ping@internal
    scrape:
      rule: Path(`/scrape`)
      service: prometheus@internal
"""
        + MIDDLEWARES
    )
    static: StaticConfig = load_static(
        [
            "--entrypoints.web.address=:1",
            "--entrypoints.websecure.address=:2",
            "--entrypoints.web.http.redirections.entryPoint.to=websecure",
            "--api.insecure=true",
            "--ping",
            "--metrics.prometheus",
            f"--providers.file.filename={path}",
        ],
        {},
        search=False,
    )
    dynamic = load_dynamic(static)
    assert dynamic.errors == []
    server = IngressApp(static)
    server.snapshots = dict(dynamic.snapshots)
    served = server.rebuild()

    checked = build_offline(static, dynamic.snapshots)

    assert served.errors == {}
    assert checked.build.errors == {}
    assert _routers(checked.build) == _routers(served)
    names = {route[0] for routes in _routers(served).values() for route in routes}
    assert {"board@file", "health@file", "scrape@file", "dashboard@file", "http-catchall@file"} <= names
    assert {"ping@internal", "prometheus@internal", "api@internal", "web-to-websecure@internal"} <= names
