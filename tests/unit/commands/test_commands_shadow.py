"""The shadow prover (``routing.explain.covers`` / ``find_shadows``): what it proves, and that it never lies.

Soundness is checked by brute force: every pair it claims is compared with real matching (the compiled rules) on
an adversarial request space (``commands_space``). Completeness is not a goal; the true cases below are the ones
users hit (a catch-all or host router above a more specific one, nested prefixes, duplicate rules).
"""

from __future__ import annotations

import itertools

import pytest
from commands_space import bits
from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.http.messages import Request, Response
from hanzo_edge.routing.explain import Shadow, covers, find_shadows, why_not
from hanzo_edge.routing.table import Route, RoutingTable
from hanzo_edge.rules import And, Matcher, Node, Not, Or, compile_rule, render


async def _handler(req: Request) -> Response:
    return Response(200)


def _covers(a: str, b: str) -> bool:
    return covers(compile_rule(a).ast, compile_rule(b).ast)


PROVED = [
    ("PathPrefix(`/`)", "Host(`x`) && PathPrefix(`/a`)"),
    ("Host(`x`)", "Host(`x`) && PathPrefix(`/a`)"),
    ("PathPrefix(`/a`)", "PathPrefix(`/a/`)"),
    ("Host(`x`)", "Host(`x`)"),
    ("Host(`X.`)", "host(`x`)"),
    ("Host(`x`) || Host(`y`)", "Host(`y`) && Method(`GET`)"),
    ("HostRegexp(`^.+\\.example\\.com$`)", "Host(`svc.example.com`)"),
    ("PathPrefix(`/a`)", "Path(`/a/b`)"),
    ("PathRegexp(`^/a/[0-9]+$`)", "Path(`/a/12`)"),
    ("Method(`get`)", "Method(`GET`) && Path(`/b`)"),
    ("!Host(`y`)", "Host(`x`)"),
    ("!PathPrefix(`/b`)", "PathPrefix(`/a`)"),
    ("!Method(`POST`)", "Method(`GET`)"),
    ("Host(`x`) && !PathPrefix(`/b`)", "Host(`x`) && PathPrefix(`/a`)"),
    ("Header(`X-A`, `1`)", "header(`x-a`, `1`) && Path(`/`)"),
    ("HeaderRegexp(`X-A`, `^1`)", "Header(`x-a`, `12`)"),
    ("Query(`y`)", "QueryRegexp(`y`)"),
    ("QueryRegexp(`y`, `^[0-9]+$`)", "Query(`y`, `42`)"),
    ("ClientIP(`10.0.0.0/8`)", "ClientIP(`10.1.0.0/16`)"),
    ("!ClientIP(`192.168.0.0/16`)", "ClientIP(`10.0.0.1`)"),
    ("PathPrefix(`/a`) || PathPrefix(`/b`)", "PathPrefix(`/a/`) || Path(`/b`)"),
    ("(Host(`x`) || Host(`y`)) && PathPrefix(`/`)", "Host(`y`) && Path(`/b`)"),
    ("!(Host(`y`) || Method(`POST`))", "Host(`x`) && Method(`GET`)"),
    ("Host(`x`) || !Host(`x`)", "PathPrefix(`/a`)"),
]

# Every pair here has a request of the space that the second rule matches and the first does not.
NOT_COVERED = [
    ("PathPrefix(`/`)", "Host(`x`)"),  # OPTIONS * has the path "*"
    ("PathPrefix(`/a/`)", "PathPrefix(`/a`)"),
    ("Host(`x`) && PathPrefix(`/a`)", "Host(`x`)"),
    ("Host(`x`)", "Host(`y`)"),
    ("Host(`x.`)", "Host(`x..`)"),  # "x.." is canonically "x.", another host than "x"
    ("Path(`/a`)", "PathPrefix(`/a`)"),
    ("Header(`X-A`, `1`)", "HeaderRegexp(`X-A`, `1`)"),  # X-A: 12
    ("Header(`X-A`, `1`)", "Query(`y`, `1`)"),
    ("!Header(`X-A`, `2`)", "Header(`X-A`, `1`)"),  # a request may carry X-A: 1 and X-A: 2
    ("!Query(`y`, `2`)", "Query(`y`, `1`)"),
    ("Query(`y`)", "Query(`y`, `1`)"),  # Query(`y`) wants the value ""
    ("Method(`GET`)", "!Method(`POST`)"),  # the method "get"
    ("ClientIP(`10.1.0.0/16`)", "ClientIP(`10.0.0.0/8`)"),
    ("Host(`x`) || Host(`y`)", "Host(`svc.example.com`)"),
    ("Host(`x`) && Method(`GET`)", "Host(`x`) || Method(`GET`)"),
    ("!Host(`x`)", "!Host(`y`)"),
    ("!PathPrefix(`/a`)", "!PathPrefix(`/a/`)"),
    ("HostRegexp(`^x$`)", "HostRegexp(`^x$`) || Host(`y`)"),
    ("HostRegexp(`^.+$`)", "PathPrefix(`/`)"),  # an HTTP/1.0 request may have no host
]


@pytest.mark.parametrize(("a", "b"), PROVED)
def test_covers_proves_the_common_cases(a: str, b: str) -> None:
    assert _covers(a, b)
    assert bits(b) & ~bits(a) == 0  # and it is true on the request space


@pytest.mark.parametrize(("a", "b"), NOT_COVERED)
def test_covers_never_claims_a_false_shadow(a: str, b: str) -> None:
    assert bits(b) & ~bits(a) != 0  # the space holds a counter-example...
    assert not _covers(a, b)  # ...so claiming coverage would be a lie


_ATOMS = [
    "PathPrefix(`/`)",
    "PathPrefix(`/a`)",
    "PathPrefix(`/a/`)",
    "Path(`/a`)",
    "Path(`/a/12`)",
    "PathRegexp(`^/a/[0-9]+$`)",
    "Host(`x`)",
    "Host(`X.`)",
    "Host(`x..`)",
    "Host(`y`)",
    "HostRegexp(`^.+$`)",
    "HostRegexp(`example`)",
    "Host(`svc.example.com`)",
    "Method(`GET`)",
    "Method(`get`)",
    "Method(`POST`)",
    "Header(`X-A`, `1`)",
    "header(`x-a`, `2`)",
    "HeaderRegexp(`X-A`, `^1`)",
    "HeaderRegexp(`X-A`, `1`)",
    "Query(`y`)",
    "Query(`y`, `1`)",
    "QueryRegexp(`y`)",
    "QueryRegexp(`y`, `^[0-9]+$`)",
    "ClientIP(`10.0.0.0/8`)",
    "ClientIP(`10.1.0.0/16`)",
    "ClientIP(`10.1.2.3`)",
    "ClientIP(`::ffff:10.0.0.0/104`)",
]


def test_covers_is_sound_on_every_pair_of_atoms_and_negations() -> None:
    rules = _ATOMS + [f"!{atom}" for atom in _ATOMS]
    masks = {rule: bits(rule) for rule in rules}
    trees = {rule: compile_rule(rule).ast for rule in rules}
    proved = 0
    for a, b in itertools.product(rules, repeat=2):
        if covers(trees[a], trees[b]):
            proved += 1
            assert masks[b] & ~masks[a] == 0, f"{a} claimed to cover {b}"
    assert proved > 2 * len(rules)  # not vacuous: more than the identities


def _trees() -> st.SearchStrategy[Node]:
    leaves = st.sampled_from(_ATOMS).map(lambda text: compile_rule(text).ast)
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.builds(And, inner, inner),
            st.builds(Or, inner, inner),
            st.builds(Not, inner),
        ),
        max_leaves=5,
    )


@settings(max_examples=300, deadline=None)
@given(_trees(), _trees(), st.booleans())
def test_covers_is_sound_on_random_rules(a: Node, b: Node, narrow: bool) -> None:
    if narrow:
        b = And(b, a) if isinstance(a, Matcher) else And(a, b)  # bias towards pairs that are covered
    if covers(a, b):
        assert bits(render(b)) & ~bits(render(a)) == 0, f"{render(a)} claimed to cover {render(b)}"


# -- find_shadows -----------------------------------------------------------------------------------------------------
def _route(name: str, rule: str, priority: int = 0) -> Route:
    compiled = compile_rule(rule)
    return Route(
        name,
        priority or len(rule),
        compiled.matches,
        _handler,
        hosts=compiled.hosts,
        host_only=compiled.host_only,
        rule=rule,
    )


def _user(name: str) -> str | None:
    return None if name.endswith("@internal") else ""


def test_find_shadows_reports_each_router_once_with_the_first_covering_router() -> None:
    table = RoutingTable(
        [
            _route("all@file", "PathPrefix(`/`)", 50),
            _route("api@file", "PathPrefix(`/api`)", 30),
            _route("v1@file", "PathPrefix(`/api/v1`)", 20),
        ],
        _handler,
    )

    assert find_shadows("web", table, _user) == [
        Shadow("web", "api@file", 30, "all@file", 50),
        Shadow("web", "v1@file", 20, "all@file", 50),
    ]


def test_find_shadows_on_a_realistic_table() -> None:
    table = RoutingTable(
        [
            _route("api@file", "PathPrefix(`/api`)", 30),
            _route("v1@file", "PathPrefix(`/api/v1`)", 20),
            _route("app@file", "Host(`app.test`)", 40),
            _route("app-api@file", "Host(`app.test`) && PathPrefix(`/x`)", 35),
            _route("other@file", "Host(`other.test`) && PathPrefix(`/x`)", 10),
            _route("catch-all@file", "PathPrefix(`/`)", 1),
        ],
        _handler,
    )

    assert find_shadows("web", table, _user) == [
        Shadow("web", "app-api@file", 35, "app@file", 40),
        Shadow("web", "v1@file", 20, "api@file", 30),
    ]


def test_equal_priorities_shadow_by_name_order_and_say_so() -> None:
    table = RoutingTable([_route("b@file", "Host(`x`)"), _route("a@file", "Host(`x`)")], _handler)

    (shadow,) = find_shadows("web", table, _user)

    assert (shadow.router, shadow.by) == ("b@file", "a@file")
    assert str(shadow) == (
        "SHADOWED router b@file (priority 9) on entrypoint web can never match: a@file (priority 9) matches first"
        " (equal priorities: the name that sorts first is checked first)"
    )


def test_the_report_line_format() -> None:
    assert str(Shadow("web", "b@file", 20, "a@file", 25)) == (
        "SHADOWED router b@file (priority 20) on entrypoint web can never match: a@file (priority 25) matches first"
    )


def test_internal_routers_shadow_but_are_never_reported() -> None:
    table = RoutingTable(
        [
            _route("ping@internal", "PathPrefix(`/ping`)", 2**63 - 1),
            _route("pingy@file", "PathPrefix(`/ping/x`)"),
            _route("redirect@internal", "PathPrefix(`/ping/x/y`)", 1),
        ],
        _handler,
    )

    assert find_shadows("web", table, _user) == [Shadow("web", "pingy@file", 21, "ping@internal", 2**63 - 1)]


def test_v2_rules_are_never_reported_nor_used() -> None:
    table = RoutingTable([_route("a@file", "PathPrefix(`/`)", 9), _route("b@file", "PathPrefix(`/x`)", 1)], _handler)

    assert find_shadows("web", table, lambda name: "v2") == []
    assert find_shadows("web", table, lambda name: "v2" if name == "a@file" else "") == []


def test_many_host_routers_are_analysed_through_the_host_index() -> None:
    routes = [_route(f"r{i}@file", f"Host(`svc-{i}.example.com`)") for i in range(2000)]
    routes.append(_route("dup@file", "Host(`svc-1999.example.com`) && PathPrefix(`/x`)", 1))

    shadows = find_shadows("web", RoutingTable(routes, _handler), _user)

    assert shadows == [Shadow("web", "dup@file", 1, "r1999@file", 28)]


# -- why_not ----------------------------------------------------------------------------------------------------------
def _req(**kw: object) -> object:
    from commands_space import SpaceRequest

    fields: dict[str, object] = {"method": "GET", "host": "app.test", "routing_path": "/api/x", "client_ip": "1.2.3.4"}
    fields.update(kw)
    return SpaceRequest(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ("Host(`other`)", 'Host(`other`) false: host is "app.test"'),
        ("Host(`app.test`) && PathPrefix(`/b`)", 'PathPrefix(`/b`) false: path is "/api/x"'),
        ("Method(`POST`) && Host(`x`)", 'Method(`POST`) false: method is "GET"'),
        ("!Host(`app.test`)", '!Host(`app.test`) false: host is "app.test"'),
        (
            "!(Host(`app.test`) && PathPrefix(`/`))",
            "!(Host(`app.test`) && PathPrefix(`/`)) false: the negated expression matched",
        ),
        ("Host(`a`) || Path(`/b`)", 'Host(`a`) false: host is "app.test"; Path(`/b`) false: path is "/api/x"'),
        ("Header(`X-A`, `1`)", "Header(`X-A`, `1`) false: header X-A is absent"),
        ("Query(`y`, `1`)", "Query(`y`, `1`) false: query parameter y is absent"),
        ("ClientIP(`10.0.0.0/8`)", 'ClientIP(`10.0.0.0/8`) false: client IP is "1.2.3.4"'),
        ("PathPrefix(`/api`)", None),
    ],
)
def test_why_not_names_the_first_failing_matcher(rule: str, reason: str | None) -> None:
    assert why_not(compile_rule(rule).ast, _req()) == reason  # type: ignore[arg-type]


def test_why_not_shows_header_values() -> None:
    req = _req(x_a=("2", "3"))
    assert why_not(compile_rule("Header(`x-a`, `1`)").ast, req) == 'Header(`x-a`, `1`) false: header x-a is "2", "3"'  # type: ignore[arg-type]
