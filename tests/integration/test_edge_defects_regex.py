"""Issue 9, regexps on RE2, through the real CLI: a pathological pattern in a rule and in the path middlewares
answers at once (the backtracking ``re`` it ran on before stalled the whole proxy), and what Go rejects is reported
with Go's texts by ``ingress check``."""

from __future__ import annotations

from pathlib import Path

import pytest
from edge_harness import http_request, lb_service, run_cli, write_dynamic

pytestmark = pytest.mark.integration

HOST = {"Host": "app.test"}
PATHOLOGICAL = "^/files/([a-z0-9]+-?)+/download$"
NEAR_MISS = "/files/" + "a" * 4000 + "!"  # 27 letters took Python's re 4.7 s; this many, for ever


def test_pathological_patterns_answer_and_do_not_stall_the_proxy(backend, ingress):
    app = backend("app")
    proxy = ingress(
        {
            "http": {
                "routers": {
                    "files": {"rule": f"PathRegexp(`{PATHOLOGICAL}`)", "service": "app", "priority": 100},
                    "rewrite": {"rule": "PathPrefix(`/r`)", "service": "app", "middlewares": ["rx"]},
                    "strip": {"rule": "PathPrefix(`/s`)", "service": "app", "middlewares": ["strip"]},
                },
                "middlewares": {
                    "rx": {"replacePathRegex": {"regex": "^/r/([a-z0-9]+-?)+/x$", "replacement": "/rewritten"}},
                    "strip": {"stripPrefixRegex": {"regex": ["^/s/([a-z0-9]+-?)+/"]}},
                },
                "services": {"app": lb_service(app.url)},
            }
        }
    )

    assert http_request(proxy.port, path=NEAR_MISS, headers=HOST).status == 404
    assert http_request(proxy.port, path="/files/a-b-1/download", headers=HOST).status == 200
    assert app.last().target == "/files/a-b-1/download"

    assert http_request(proxy.port, path="/r/" + "a" * 4000 + "!", headers=HOST).status == 200
    assert app.last().target == "/r/" + "a" * 4000 + "!"
    assert http_request(proxy.port, path="/r/a-b/x", headers=HOST).status == 200
    assert app.last().target == "/rewritten"

    assert http_request(proxy.port, path="/s/" + "a" * 4000 + "!", headers=HOST).status == 200
    assert app.last().header("X-Forwarded-Prefix") is None
    assert http_request(proxy.port, path="/s/a-b/rest", headers=HOST).status == 200
    assert app.last().target == "/rest"


def test_check_reports_what_go_rejects_with_go_texts(tmp_path: Path):
    dynamic = write_dynamic(
        tmp_path / "dynamic.yml",
        {
            "http": {
                "routers": {
                    "lookbehind": {"rule": "PathRegexp(`^/a(?<=x)`)", "service": "app"},
                    "backreference": {"rule": "PathPrefix(`/m`)", "service": "app", "middlewares": ["rx"]},
                },
                "middlewares": {"rx": {"replacePathRegex": {"regex": r"^/m(b)\1", "replacement": "/x"}}},
                "services": {"app": lb_service("http://127.0.0.1:9")},
            }
        },
    )

    result = run_cli(["check", "--entrypoints.web.address=127.0.0.1:0", f"--providers.file.filename={dynamic}"])

    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert (
        "ERROR router lookbehind@file: invalid rule 'PathRegexp(`^/a(?<=x)`)': compiling PathRegexp matcher: "
        "error parsing regexp: invalid named capture: `(?<=x)`"
    ) in lines
    assert any(
        line.startswith("ERROR ")
        and line.endswith(
            r"error compiling regular expression ^/m(b)\1: error parsing regexp: invalid escape sequence: `\1`"
        )
        for line in lines
    ), lines
