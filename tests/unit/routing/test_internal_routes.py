"""routing/internal.py is a pure function of the static configuration: diagnostics are returned, never logged."""

from __future__ import annotations

import logging

import pytest

from hanzo_edge.config.loader import load_static
from hanzo_edge.routing.internal import Diagnostic, InternalHandlers, PingHandler, internal_routes


def _routes(*flags: str) -> tuple[dict[str, list[str]], list[str]]:
    static = load_static(["--entrypoints.web.address=:8080", *flags], {}, search=False)
    internal = internal_routes(static, InternalHandlers(ping=PingHandler()))
    names = {ep: [route.name for route in routes] for ep, routes in internal.routes.items()}
    return names, [str(diagnostic) for diagnostic in internal.diagnostics]


def test_a_redirection_to_a_missing_entrypoint_is_a_diagnostic_not_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        routes, diagnostics = _routes("--entrypoints.web.http.redirections.entryPoint.to=websecure", "--ping=true")
    assert caplog.records == [], "the internal provider decides; its caller logs or lists"
    assert routes == {"traefik": ["ping@internal"]}
    assert diagnostics == ["entryPoints.web.http.redirections.entryPoint.to: no entryPoint 'websecure'"]


def test_a_valid_redirection_has_no_diagnostic() -> None:
    routes, diagnostics = _routes(
        "--entrypoints.websecure.address=:8443", "--entrypoints.web.http.redirections.entryPoint.to=websecure"
    )
    assert routes == {"web": ["web-to-websecure@internal"]}
    assert diagnostics == []


def test_the_same_static_config_gives_equal_results() -> None:
    first = _routes("--entrypoints.web.http.redirections.entryPoint.to=nowhere")
    assert first == _routes("--entrypoints.web.http.redirections.entryPoint.to=nowhere")
    assert Diagnostic("a.b", "c").__str__() == "a.b: c"


def test_ingress_check_still_lists_the_diagnostic_as_an_error() -> None:
    from hanzo_edge.commands.check import run_check

    result = run_check(
        ["--entrypoints.web.address=:1", "--entrypoints.web.http.redirections.entryPoint.to=websecure"], {}
    )
    assert result.stdout == ["ERROR entryPoints.web.http.redirections.entryPoint.to: no entryPoint 'websecure'"]
