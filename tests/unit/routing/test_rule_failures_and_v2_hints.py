"""What made a rule fail (for explain's summary) and the v2 → v3 rewrite behind check's hints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from hanzo_edge.routing.explain import failed_matchers, failure_kind
from hanzo_edge.routing.v2_hints import v2_syntax_hint, v3_form
from hanzo_edge.rules import compile_rule, render


@dataclass
class _Req:
    method: str = "GET"
    host: str = "app.test"
    routing_path: str = "/x"
    client_ip: str = "10.0.0.1"
    headers: dict[str, list[str]] = field(default_factory=dict)

    def header_values(self, name: str) -> Sequence[str]:
        return self.headers.get(name.lower(), [])

    def query_params(self) -> Mapping[str, Sequence[str]]:
        return {}


def _failed(rule: str, req: _Req | None = None) -> list[str] | None:
    found = failed_matchers(compile_rule(rule).ast, req or _Req())
    return None if found is None else [("" if positive else "!") + render(m) for m, positive in found]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        pytest.param("Host(`app.test`) && PathPrefix(`/x`)", None, id="matches"),
        pytest.param(
            "Host(`b.test`) && Method(`POST`) && PathPrefix(`/x`)",
            ["Host(`b.test`)", "Method(`POST`)"],
            id="every failing side of &&",
        ),
        pytest.param("Path(`/a`) || Method(`POST`)", ["Path(`/a`)", "Method(`POST`)"], id="both sides of ||"),
        pytest.param("Path(`/a`) || Method(`GET`)", None, id="one side of || holds"),
        pytest.param("!Method(`GET`) && Host(`app.test`)", ["!Method(`GET`)"], id="negation"),
        pytest.param("!(Method(`GET`) || Path(`/a`))", ["!Method(`GET`)"], id="De Morgan"),
    ],
)
def test_failed_matchers(rule: str, expected: list[str] | None) -> None:
    assert _failed(rule) == expected


def test_failure_kind_names_the_attribute() -> None:
    found = failed_matchers(compile_rule("Header(`X-A`, `1`) && !ClientIP(`10.0.0.0/8`)").ast, _Req())

    assert found is not None
    assert [failure_kind(m, positive) for m, positive in found] == ["header differs", "client IP excluded"]


@pytest.mark.parametrize(
    ("v2", "v3"),
    [
        ("HostRegexp(`{sub:[a-z]+}.example.com`)", r"HostRegexp(`^[a-z]+\.example\.com$`)"),
        ("HostRegexp(`{name}.example.com`)", r"HostRegexp(`^[^.]+\.example\.com$`)"),
        ("Path(`/users/{id}`)", "PathRegexp(`^/users/[^/]+$`)"),
        ("Method(`GET`, `HEAD`) && Path(`/a`)", "(Method(`GET`) || Method(`HEAD`)) && Path(`/a`)"),
        ("HeadersRegexp(`X-A`, `^1`)", "HeaderRegexp(`X-A`, `^1`)"),
        ("HostHeader(`a.test`)", "Host(`a.test`)"),
        ("Query(`a=1`, `b=`)", "Query(`a`, `1`) && Query(`b`)"),
        ("Query(`id={id:[0-9]+}`)", "QueryRegexp(`id`, `^[0-9]+$`)"),
        ("!ClientIP(`10.0.0.0/8`, `::1`)", "!(ClientIP(`10.0.0.0/8`) || ClientIP(`::1`))"),
    ],
)
def test_v3_form_of_v2_rules(v2: str, v3: str) -> None:
    assert v3_form(v2) == v3
    compile_rule(v3)  # the suggestion is valid v3


@pytest.mark.parametrize(
    "rule",
    ["Host(`a.test`) && PathPrefix(`/api`)", "HostRegexp(`^[a-z]{2}\\.test$`)", "Header(`X`, `1`)", "Host("],
)
def test_plain_v3_and_broken_rules_get_no_hint(rule: str) -> None:
    assert v2_syntax_hint(rule) is None
