"""CompiledRule: host extraction for the routing table's index, default priority, identity and caching."""

from __future__ import annotations

import pytest
from rules_fakes import request

from hanzo_edge.rules import CompiledRule, compile_rule, default_priority

P = pytest.param

HOSTS_CASES = [
    P("Host(`a`) && PathPrefix(`/x`)", frozenset({"a"}), id="host-and-path"),
    P("Host(`a`) || Host(`b`)", frozenset({"a", "b"}), id="host-or-host"),
    P("Host(`a`) || PathPrefix(`/x`)", None, id="host-or-path"),
    P("!Host(`a`)", None, id="negated-host"),
    P("HostRegexp(`^a$`)", None, id="hostregexp"),
    P("PathPrefix(`/x`)", None, id="no-host"),
    P("Host(`A.Example.COM.`)", frozenset({"a.example.com"}), id="canonical-case-and-dot"),
    P("Host(`[::1]`) || Host(`::2`)", frozenset({"::1", "::2"}), id="ipv6"),
    P("(Host(`a`) || Host(`b`)) && Path(`/x`)", frozenset({"a", "b"}), id="or-under-and"),
    P("Host(`a`) && Host(`b`)", frozenset(), id="contradiction"),
    P("(Host(`a`) || Host(`b`)) && (Host(`b`) || Host(`c`))", frozenset({"b"}), id="intersection"),
    P("!(!Host(`a`))", frozenset({"a"}), id="double-negation"),
    P("!(!Host(`a`) || PathPrefix(`/x`))", frozenset({"a"}), id="de-morgan-or"),
    P("!(Host(`a`) && Path(`/x`))", None, id="de-morgan-and"),
    P("!(!Host(`a`) && !Host(`b`))", frozenset({"a", "b"}), id="de-morgan-both-negated"),
    P("Host(`a`) && !Host(`b`)", frozenset({"a"}), id="and-not-host"),
    P("Host(`a`) || (Host(`b`) && Method(`GET`))", frozenset({"a", "b"}), id="or-of-and"),
    P("Host(`a`) || (PathPrefix(`/x`) && Method(`GET`))", None, id="or-with-hostless-branch"),
    P("Method(`GET`) && (Host(`a`) || HostRegexp(`b`))", None, id="regexp-branch"),
    P("Host(`.`)", frozenset(), id="empty-host-matches-nothing"),
]


@pytest.mark.parametrize(("rule", "hosts"), HOSTS_CASES)
def test_hosts(rule: str, hosts: frozenset[str] | None) -> None:
    assert compile_rule(rule).hosts == hosts


@pytest.mark.parametrize(
    ("rule", "hosts"),
    [
        P("Host(`a`, `B.`)", frozenset({"a", "b"}), id="v2-multi-host"),
        P("HostHeader(`a`) && Path(`/x`, `/y`)", frozenset({"a"}), id="v2-hostheader"),
        P("!Host(`a`, `b`)", None, id="v2-negated"),
        P("HostRegexp(`{x:[a-z]+}.com`)", None, id="v2-hostregexp"),
        P("Host(`a`) || Headers(`X`, `y`)", None, id="v2-or-hostless"),
    ],
)
def test_hosts_v2(rule: str, hosts: frozenset[str] | None) -> None:
    assert compile_rule(rule, "v2").hosts == hosts


@pytest.mark.parametrize(
    ("rule", "host_only"),
    [
        P("Host(`a`)", True, id="host"),
        P("Host(`a`) || Host(`B.`)", True, id="host-or-host"),
        P("Host(`a`) && Host(`a`)", True, id="host-and-host"),
        P("!!Host(`a`)", True, id="double-negation"),
        P("Host(`a`) && Path(`/x`)", False, id="host-and-path"),
        P("!Host(`a`)", False, id="negated"),
        P("!(Host(`a`) || Host(`b`))", False, id="negated-or"),
        P("HostRegexp(`a`)", False, id="regexp"),
        P("PathPrefix(`/`)", False, id="no-host"),
    ],
)
def test_host_only(rule: str, host_only: bool) -> None:
    assert compile_rule(rule).host_only is host_only


def test_hosts_agree_with_matching() -> None:
    rule = compile_rule("(Host(`a.com`) || Host(`b.com`)) && PathPrefix(`/x`)")
    assert rule.hosts == frozenset({"a.com", "b.com"})
    for host in ("a.com", "b.com", "c.com"):
        req = request(f"http://{host}/x")
        assert rule.matches(req) == (host in rule.hosts)


@pytest.mark.parametrize(
    ("rule", "priority"),
    [
        P("Host(`example.org`)", 19, id="doc-host"),
        P(r"HostRegexp(`[a-z]+\.traefik\.com`)", 34, id="doc-hostregexp"),
        P("Host(`foobar.traefik.com`)", 26, id="doc-host-foobar"),
        P("PathPrefix(`/my`)", 17, id="prefix-short"),
        P("PathPrefix(`/mypath`)", 21, id="prefix-long"),
        P("Path(`/é`)", 11, id="bytes-not-characters"),
        P("Host(`a`) && Path(`/`)", 22, id="with-operator"),
    ],
)
def test_default_priority(rule: str, priority: int) -> None:
    assert default_priority(rule) == priority
    assert compile_rule(rule).priority == priority


def test_default_priority_orders_like_traefik() -> None:
    """The regexp rule (34) outranks the plain host rule (26); longer path prefixes outrank shorter ones."""
    rules = ["Host(`foobar.traefik.com`)", r"HostRegexp(`[a-z]+\.traefik\.com`)", "PathPrefix(`/my`)"]
    rules.append("PathPrefix(`/mypath`)")
    ranked = sorted(rules, key=default_priority, reverse=True)
    assert ranked[0] == r"HostRegexp(`[a-z]+\.traefik\.com`)"
    assert ranked.index("PathPrefix(`/mypath`)") < ranked.index("PathPrefix(`/my`)")


def test_compiled_rule_identity_and_cache() -> None:
    first = compile_rule("Host(`a`)")
    assert compile_rule("Host(`a`)") is first
    assert first == compile_rule("Host(`a`)", "")
    assert first != compile_rule("Host(`a`)", "v2")
    assert len({first, compile_rule("Host(`a`)", "default")}) == 1
    assert first.text == "Host(`a`)"
    assert first.syntax == "v3"
    assert repr(first) == "<CompiledRule v3 'Host(`a`)'>"
    assert isinstance(first, CompiledRule)


def test_matches_is_a_plain_closure() -> None:
    rule = compile_rule("Host(`a`) && PathPrefix(`/x`)")
    matches = rule.matches
    assert matches(request("http://a/x/y"))
    assert not matches(request("http://a/y"))
