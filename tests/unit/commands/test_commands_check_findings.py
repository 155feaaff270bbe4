"""``ingress check`` findings added by issue 9: unsupported static options, entrypoint TLS, every error of a router,
router/service name clashes, v2 syntax under v3, and dynamic files left out."""

from __future__ import annotations

from pathlib import Path

import pytest

from hanzo_edge.cli import ingress_main
from hanzo_edge.config.loader import load_static
from hanzo_edge.config.support import unsupported_options

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


def _check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    code = ingress_main(["check", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_unsupported_static_options_are_warnings_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dynamic = _write(tmp_path, "http:\n  routers:\n    a:\n      rule: Host(`a.test`)\n      service: app\n" + SERVICE)

    code, out, err = _check(
        capsys,
        "--entrypoints.web.address=:1",
        f"--providers.file.filename={dynamic}",
        "--providers.rest=true",
        "--providers.kubernetesgateway=true",
        "--certificatesresolvers.le.acme.email=ops@example.com",
        "--experimental.plugins.demo.modulename=github.com/x/demo",
        "--experimental.localplugins.local.modulename=github.com/x/local",
        "--metrics.datadog=true",
    )

    assert code == 1
    assert out == [
        "WARNING providers.kubernetesGateway: parsed, not supported yet",
        "WARNING providers.rest: parsed, not supported yet",
        "WARNING metrics.datadog: parsed, not supported yet",
        "WARNING certificatesResolvers.le: parsed, not supported yet",
        "WARNING experimental.plugins: parsed, not supported yet",
        "WARNING experimental.localplugins: parsed, not supported yet",  # raw sections keep the spelling used
    ]
    assert err.strip() == "check: 0 errors, 6 warnings, 0 shadowed routers"


def test_defaults_and_implemented_options_are_not_reported() -> None:
    static = load_static(
        [
            "--entrypoints.web.address=:1",
            "--ping",
            "--api",
            "--metrics.prometheus",
            "--accesslog.format=json",
            "--tracing",
            "--providers.file.directory=/x",
            "--entrypoints.web.http2.maxconcurrentstreams=250",  # the default value: nothing set in effect
        ],
        {},
        search=False,
    )

    assert unsupported_options(static) == []


def test_an_entrypoint_cert_resolver_is_a_warning_and_its_routers_serve_with_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dynamic = _write(
        tmp_path,
        "http:\n  routers:\n    a:\n      rule: Host(`a.test`)\n      service: app\n"
        "    b:\n      rule: Host(`b.test`)\n      service: app\n      entryPoints: [web]\n" + SERVICE,
    )

    code, out, _ = _check(
        capsys,
        "--entrypoints.web.address=:1",
        "--entrypoints.websecure.address=:2",
        "--entrypoints.websecure.http.tls.certresolver=le",
        f"--providers.file.filename={dynamic}",
    )

    assert code == 1
    assert out == [
        "WARNING entryPoints.websecure.http.tls.certResolver: parsed, not supported yet (the certificate comes from"
        " the TLS store)",
    ]


def test_every_error_of_a_router_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dynamic = _write(
        tmp_path,
        "http:\n  routers:\n    r:\n      rule: Host(`a.test`) &&\n      service: nope\n      middlewares: [gone]\n",
    )

    code, out, _ = _check(capsys, "--entrypoints.web.address=:1", f"--providers.file.filename={dynamic}")

    assert code == 1
    assert len(out) == 3
    assert out[0].startswith("ERROR router r@file: invalid rule 'Host(`a.test`) &&': ")
    assert out[1:] == [
        'ERROR router r@file: the service "nope@file" does not exist',
        'ERROR router r@file: middleware "gone@file" does not exist',
    ]


def test_a_router_error_is_never_called_a_service_error_when_the_names_clash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dynamic = _write(
        tmp_path,
        "http:\n  routers:\n    app:\n      rule: Host(`a.test`)\n      service: app\n      middlewares: [gone]\n"
        "  middlewares:\n    broken:\n      grpcWeb: {}\n" + SERVICE,
    )

    code, out, _ = _check(capsys, "--entrypoints.web.address=:1", f"--providers.file.filename={dynamic}")

    assert code == 1
    assert out == ['ERROR router app@file: middleware "gone@file" does not exist']


@pytest.mark.parametrize(
    ("rule", "error", "hint"),
    [
        pytest.param(
            "HostRegexp(`{host:.+}`)",
            False,
            "HostRegexp(`{host:.+}`) holds a v2 {name:pattern} template (v3 reads the braces literally)): set "
            "`ruleSyntax: v2` on the router, or write it in v3: HostRegexp(`^.+$`)",
            id="host template",
        ),
        pytest.param(
            "Host(`a.com`, `b.com`)",
            True,
            "Host(`a.com`, `b.com`) has 2 values (a v3 Host takes one)): set `ruleSyntax: v2` on the router, or "
            "write it in v3: Host(`a.com`) || Host(`b.com`)",
            id="several values",
        ),
        pytest.param(
            "PathPrefix(`/users/{id:[0-9]+}`) && Headers(`X-Env`, `prod`)",
            True,
            "PathPrefix(`/users/{id:[0-9]+}`) holds a v2 {name:pattern} template (v3 reads the braces literally); "
            "Headers is v2 only (v3: Header)): set `ruleSyntax: v2` on the router, or write it in v3: "
            "PathRegexp(`^/users/[0-9]+`) && Header(`X-Env`, `prod`)",
            id="path template and Headers",
        ),
        pytest.param(
            "Query(`env=prod`)",
            False,
            "Query(`env=prod`) is a v2 key=value (v3 takes the name and the value as two arguments)): set "
            "`ruleSyntax: v2` on the router, or write it in v3: Query(`env`, `prod`)",
            id="query pair",
        ),
    ],
)
def test_v2_syntax_under_v3_is_a_warning_with_the_v3_form(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rule: str, error: bool, hint: str
) -> None:
    dynamic = _write(tmp_path, f"http:\n  routers:\n    old:\n      rule: '{rule}'\n      service: app\n" + SERVICE)

    code, out, _ = _check(capsys, "--entrypoints.web.address=:1", f"--providers.file.filename={dynamic}")

    assert code == 1
    assert out[-1] == f"WARNING router old@file: the rule uses v2 syntax under the v3 rule syntax ({hint}"
    assert len(out) == (2 if error else 1)
    if error:
        assert out[0].startswith("ERROR router old@file: invalid rule")


def test_a_v2_router_is_not_warned_about(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dynamic = _write(
        tmp_path,
        "http:\n  routers:\n    old:\n      rule: 'HostRegexp(`{host:.+}`)'\n      ruleSyntax: v2\n      service: app\n"
        + SERVICE,
    )

    code, out, _ = _check(capsys, "--entrypoints.web.address=:1", f"--providers.file.filename={dynamic}")

    assert (code, out) == (0, [])


def test_a_bad_file_in_a_directory_is_reported_and_the_others_are_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path, "http:\n  routers:\n    a:\n      rule: Host(`a.test`)\n      service: nope\n", "a.yml")
    _write(tmp_path, "http:\n  routers: [\n", "b.yml")

    code, out, _ = _check(capsys, "--entrypoints.web.address=:1", f"--providers.file.directory={tmp_path}")

    assert code == 1
    assert len(out) == 2
    assert out[0].startswith(f"ERROR {tmp_path}/b.yml:")
    assert out[1] == 'ERROR router a@file: the service "nope@file" does not exist'
