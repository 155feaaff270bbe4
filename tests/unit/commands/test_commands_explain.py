"""``ingress explain``: exact output on a small configuration, the request as the entrypoint builds it, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from hanzo_edge.cli import ingress_main
from hanzo_edge.commands.explain import Rejected, build_request, parse_args
from hanzo_edge.config.static import EntryPoint, ForwardedHeaders

DYNAMIC = """\
http:
  routers:
    admin:
      rule: Host(`admin.test`)
      service: app
      priority: 50
    beta:
      rule: Header(`X-Beta`, `1`) && PathPrefix(`/api`)
      service: beta
    api:
      rule: Host(`app.test`) && PathPrefix(`/api`)
      service: app
    office:
      rule: ClientIP(`10.0.0.0/8`)
      service: app
      priority: 1
  services:
    app:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:8081
          - url: http://127.0.0.1:8082
            weight: 3
    beta:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:9090
"""


@pytest.fixture
def flags(tmp_path: Path) -> list[str]:
    path = tmp_path / "dynamic.yml"
    path.write_text(DYNAMIC)
    return ["--entrypoints.web.address=:1", f"--providers.file.filename={path}"]


def _explain(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    code = ingress_main(["explain", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_a_match_prints_the_routers_checked_first_the_chain_and_the_service(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _explain(capsys, *flags, "GET", "http://App.Test:8080/api/x?y=1", "-H", "X-A: 1")

    assert code == 0
    assert out == [
        "entrypoint: web",
        'request: GET /api/x?y=1 (host "app.test", path "/api/x", client 127.0.0.1)',
        'not matched: admin@file (priority 50): Host(`admin.test`) false: host is "app.test"',
        "not matched: beta@file (priority 43): Header(`X-Beta`, `1`) false: header X-Beta is absent",
        "matched: api@file (priority 38): Host(`app.test`) && PathPrefix(`/api`)",
        "middlewares: none",
        "service: app@file (loadBalancer, strategy wrr)",
        "server: http://127.0.0.1:8081 (weight 1)",
        "server: http://127.0.0.1:8082 (weight 3)",
    ]


def test_headers_take_part_in_matching(flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _explain(capsys, *flags, "GET", "http://app.test/api/x", "-H", "X-Beta: 1")

    assert code == 0
    assert out[3:] == [
        "matched: beta@file (priority 43): Header(`X-Beta`, `1`) && PathPrefix(`/api`)",
        "middlewares: none",
        "service: beta@file (loadBalancer, strategy wrr)",
        "server: http://127.0.0.1:9090 (weight 1)",
    ]


def test_no_match_says_404_and_exits_1(flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _explain(capsys, *flags, "POST", "http://other.test/")

    assert code == 1
    assert out == [
        "entrypoint: web",
        'request: POST / (host "other.test", path "/", client 127.0.0.1)',
        'not matched: admin@file (priority 50): Host(`admin.test`) false: host is "other.test"',
        "not matched: beta@file (priority 43): Header(`X-Beta`, `1`) false: header X-Beta is absent",
        'not matched: api@file (priority 38): Host(`app.test`) false: host is "other.test"',
        'not matched: office@file (priority 1): ClientIP(`10.0.0.0/8`) false: client IP is "127.0.0.1"',
        "result: no router matched; the request gets 404 page not found",
    ]


def test_client_ip_option(flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _explain(capsys, *flags, "--client-ip", "10.1.2.3", "GET", "http://other.test/")

    assert code == 0
    assert "matched: office@file (priority 1): ClientIP(`10.0.0.0/8`)" in out


def test_the_path_is_normalised_like_the_entrypoint_does(flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _explain(capsys, *flags, "GET", "http://app.test/%61pi/../api/v%31")

    assert code == 0
    assert out[1] == 'request: GET /%61pi/../api/v%31 (host "app.test", path "/api/v1", client 127.0.0.1)'
    assert "matched: api@file (priority 38): Host(`app.test`) && PathPrefix(`/api`)" in out


def test_a_service_of_services_is_shown_with_the_services_it_uses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dynamic.yml"
    path.write_text(
        """\
http:
  routers:
    canary:
      rule: Host(`app.test`)
      service: split
  services:
    split:
      weighted:
        services:
          - name: stable
            weight: 9
          - name: next
    stable:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:8081
    next:
      loadBalancer:
        servers: []
"""
    )

    code, out, _ = _explain(capsys, f"--providers.file.filename={path}", "GET", "http://app.test/")

    assert code == 0
    assert out[2:] == [
        "matched: canary@file (priority 16): Host(`app.test`)",
        "middlewares: none",
        "service: split@file (weighted)",
        "child: stable@file (weight 9)",
        "child: next@file (weight 1)",
        "service: stable@file (loadBalancer, strategy wrr)",
        "server: http://127.0.0.1:8081 (weight 1)",
        "service: next@file (loadBalancer, strategy wrr)",
        "server: none (the service answers 503)",
    ]


def test_a_request_the_entrypoint_rejects(flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _explain(capsys, *flags, "GET", "http://app.test/%zz")

    assert code == 1
    assert out == [
        "entrypoint: web",
        "result: the entrypoint answers 400 Bad Request before routing (invalid URL escape)",
    ]


def test_disabled_routers_of_the_entrypoint_are_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dynamic.yml"
    path.write_text("http:\n  routers:\n    broken:\n      rule: Host(`x`)\n      service: nope\n")

    code, out, _ = _explain(capsys, "--providers.file.filename", str(path), "GET", "http://x/")

    assert code == 1
    assert out[0] == "entrypoint: http"  # Traefik's implicit entrypoint when none is defined
    assert out[2].startswith("disabled: broken@file: the service ")
    assert out[-1] == "result: no router matched; the request gets 404 page not found"


@pytest.mark.parametrize(
    "args",
    [
        ["GET"],
        ["--entrypoints.web.address=:1", "http://app.test/"],
        ["--entrypoints.web.address=:1", "--entrypoint", "nope", "GET", "http://app.test/"],
        ["--entrypoints.web.adress=:1", "GET", "http://app.test/"],
        ["--entrypoints.web.address=:1", "GET", "http://app.test/", "-H", "no colon"],
        ["--entrypoints.web.address=:1", "GET", "http://app.test/", "-H"],
    ],
)
def test_usage_errors_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _explain(capsys, *args)

    assert (code, out) == (2, [])
    assert err.startswith("explain: ")


def test_a_dynamic_file_that_does_not_load_is_left_out_as_the_server_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dynamic.yml"
    path.write_text("http: [\n")

    code, out, err = _explain(capsys, f"--providers.file.filename={path}", "GET", "http://x/")

    # ingress serves nothing from a file that does not load (and keeps running): the request gets 404.
    assert code == 1
    assert out[-1] == "result: no router matched; the request gets 404 page not found"
    assert err.startswith(f"explain: {path}:2: invalid YAML")
    assert "(left out, as ingress does)" in err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _explain(capsys, "--help")

    assert code == 0
    assert out[0].startswith("usage: ingress explain")


# -- argument parsing and the request ---------------------------------------------------------------------------------
def test_parse_args_separates_the_request_explain_options_and_static_options() -> None:
    parsed = parse_args(
        [
            "-H",
            "X-A: 1",
            "--providers.file.filename",
            "d.yml",
            "--entrypoint=web",
            "GET",
            "http://app.test/x",
            "--header=X-B:2",
            "-HX-C: 3",
            "--ping",
            "--client-ip",
            "10.0.0.1",
        ]
    )

    assert (parsed.method, parsed.url, parsed.entry_point, parsed.client_ip) == (
        "GET",
        "http://app.test/x",
        "web",
        "10.0.0.1",
    )
    assert parsed.headers == [("X-A", "1"), ("X-B", "2"), ("X-C", "3")]
    assert parsed.static_args == ["--providers.file.filename", "d.yml", "--ping"]


def test_a_url_given_as_an_option_value_is_not_the_request() -> None:
    parsed = parse_args(["--entrypoint", "GET", "PUT", "http://a/"])

    assert (parsed.entry_point, parsed.method, parsed.url) == ("GET", "PUT", "http://a/")


def test_build_request_is_what_the_entrypoint_routes() -> None:
    headers = [
        ("Host", "API.Example.com.:8443"),
        ("X-Forwarded-For", "6.6.6.6"),
        ("Connection", "X-Hop"),
        ("X-Hop", "1"),
    ]

    req = build_request("GET", "http://ignored.test/a/./b//c?x=1;y=2", headers, "web", EntryPoint(address=":1"))

    assert not isinstance(req, Rejected)
    assert req.host == "api.example.com"
    assert (req.path, req.routing_path, req.query, req.target) == ("/a/b/c", "/a/b/c", "x=1&y=2", "/a/./b//c?x=1;y=2")
    assert req.client_ip == "127.0.0.1"
    assert req.headers.get_all("X-Forwarded-For") == []  # untrusted peer: stripped
    assert req.headers.get_all("X-Hop") == []  # named by Connection: hop-by-hop
    assert req.headers.get("X-Forwarded-Proto") == "http"
    assert req.headers.get("X-Forwarded-Host") == "API.Example.com.:8443"
    assert req.headers.get("X-Real-Ip") == "127.0.0.1"


def test_build_request_repeated_host_is_a_400() -> None:
    req = build_request("GET", "http://a/", [("Host", "a"), ("host", "b")], "web", EntryPoint(address=":1"))

    assert req == Rejected(400, "missing or repeated Host header")


def test_build_request_host_go_rejects_is_a_400_as_at_the_entrypoint() -> None:
    req = build_request("GET", "http://a/", [("Host", "u@x")], "web", EntryPoint(address=":1"))

    assert req == Rejected(400, "invalid Host header")


def test_build_request_keeps_forwarded_headers_connection_names_for_the_rules() -> None:
    ep = EntryPoint(address=":1", forwarded_headers=ForwardedHeaders(connection=("X-Custom",)))
    headers = [("Connection", "X-Custom, X-Hop"), ("X-Custom", "yes"), ("X-Hop", "1")]

    req = build_request("GET", "http://a.test/", headers, "web", ep)

    assert not isinstance(req, Rejected)
    assert req.headers.get("X-Custom") == "yes"
    assert req.headers.get_all("X-Hop") == []


@pytest.mark.parametrize(
    ("headers", "upgrade"),
    [
        ([("Upgrade", "h2c"), ("HTTP2-Settings", "AAMAAABkAAQAAP__")], False),
        ([("Upgrade", "websocket"), ("Connection", "Upgrade")], True),
    ],
)
def test_build_request_upgrades_only_when_connection_lists_upgrade(
    headers: list[tuple[str, str]], upgrade: bool
) -> None:
    req = build_request("GET", "http://a.test/", headers, "web", EntryPoint(address=":1"))

    assert not isinstance(req, Rejected)
    assert req.upgrade is upgrade
