"""TCP router rules (Traefik ``pkg/muxer/tcp/matcher_test.go``, ``mux_test.go``): matchers, operators, errors,
priorities; and a Hypothesis property for ``HostSNI``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hanzo_edge.config.runtime import tcp_default_priority
from hanzo_edge.rules.errors import RuleError
from hanzo_edge.rules.tcp_matchers import TCPConnInfo, compile_tcp_rule, tcp_rule_priority


def conn(server_name: str = "", client_ip: str = "10.0.0.1", alpn: tuple[str, ...] = ()) -> TCPConnInfo:
    return TCPConnInfo(server_name, client_ip, alpn)


@pytest.mark.parametrize(
    ("rule", "connection", "expected"),
    [
        ("HostSNI(`*`)", conn(""), True),  # the catch-all matches plain connections too
        ("HostSNI(`*`)", conn("foo.bar"), True),
        ("HostSNI(`foo.bar`)", conn("foo.bar"), True),
        ("HostSNI(`foo.bar`)", conn(""), False),
        ("HostSNI(`foo.bar`)", conn("bar.foo"), False),
        ("HostSNI(`Foo.Bar.`)", conn("foo.bar"), True),  # canonical: lower-case, trailing dot trimmed
        ("HostSNI(`127.0.0.1`)", conn("127.0.0.1"), True),
        ("HostSNIRegexp(`^foo\\.[a-z]+$`)", conn("foo.bar"), True),
        ("HostSNIRegexp(`^foo\\.[a-z]+$`)", conn("foo.bar.baz"), False),
        ("HostSNIRegexp(`bar`)", conn("foo.bar.baz"), True),  # unanchored, as Go's MatchString
        ("ClientIP(`10.0.0.0/8`)", conn(client_ip="10.1.2.3"), True),
        ("ClientIP(`10.0.0.0/8`)", conn(client_ip="192.168.1.1"), False),
        ("ClientIP(`::1`)", conn(client_ip="::1"), True),
        ("ALPN(`h2`)", conn("x", alpn=("h2", "http/1.1")), True),
        ("ALPN(`h2`)", conn("x", alpn=("http/1.1",)), False),
        ("ALPN(`h2`)", conn(""), False),
        ("HostSNI(`a.b`) && ClientIP(`10.0.0.0/8`)", conn("a.b", "10.9.9.9"), True),
        ("HostSNI(`a.b`) && ClientIP(`10.0.0.0/8`)", conn("a.b", "11.9.9.9"), False),
        ("HostSNI(`a.b`) || HostSNI(`c.d`)", conn("c.d"), True),
        ("!HostSNI(`a.b`)", conn("c.d"), True),
        ("!(HostSNI(`a.b`) || ALPN(`h2`))", conn("c.d", alpn=("h2",)), False),
    ],
)
def test_rule_matches_like_traefik(rule: str, connection: TCPConnInfo, expected: bool) -> None:
    assert compile_tcp_rule(rule).matches(connection) is expected


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("HostSNI(``)", "empty args for matcher HostSNI"),
        ("HostSNI()", "no args for matcher HostSNI"),
        ("HostSNI(`a`, `b`)", "unexpected number of parameters; got 2, expected one of [1]"),
        # Traefik v3's matcher.go says "hostname" only ("or IP" is the v2 syntax's wording).
        ("HostSNI(`*.foo`)", 'invalid value for HostSNI matcher, "*.foo" is not a valid hostname$'),
        ("HostSNI(`foo bar`)", "is not a valid hostname$"),
        ("HostSNIRegexp(`(`)", "compiling HostSNIRegexp matcher"),
        ("HostSNIRegexp(`é`)", "is not a valid hostname"),
        ("ALPN(`acme-tls/1`)", 'invalid protocol value for ALPN matcher, "acme-tls/1" is not allowed'),
        ("ClientIP(`nope`)", "initializing IP checker for ClientIP matcher"),
        ("Host(`a.b`)", "unsupported function: Host"),  # HTTP matchers are not TCP ones
        ("HostSNI(`a`) &&", "end of rule"),
    ],
)
def test_bad_rules_are_refused_with_traefiks_words(rule: str, message: str) -> None:
    with pytest.raises(
        RuleError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("*", r"\*")
    ):
        compile_tcp_rule(rule)


def test_v2_syntax_takes_several_values() -> None:
    rule = compile_tcp_rule("HostSNI(`a.b`, `c.d`) && ClientIP(`10.0.0.0/8`, `::1`)", "v2")
    assert rule.matches(conn("c.d", "::1"))
    assert not rule.matches(conn("e.f", "::1"))


def test_v2_host_sni_regexp_is_a_gorilla_template_anchored_and_case_insensitive() -> None:
    # Traefik matcher_v2.go: preparePattern turns `{name:pattern}` variables into (?i)^...$, as HTTP v2 HostRegexp.
    rule = compile_tcp_rule("HostSNIRegexp(`{sub:[a-z]+}.example.com`, `db.{zone}.test`)", "v2")
    assert rule.matches(conn("api.example.com"))
    assert rule.matches(conn("db.eu.test"))
    assert not rule.matches(conn("api.example.com.evil"))
    assert not rule.matches(conn("x.db.eu.test"))


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("HostSNI(`foo bar`)", 'invalid value for "HostSNI" matcher, "foo bar" is not a valid hostname or IP'),
        ("ALPN(`acme-tls/1`)", 'invalid protocol value for "ALPN" matcher, "acme-tls/1" is not allowed'),
        ("ClientIP(`nope`)", 'could not initialize IP Checker for "ClientIP" matcher: '),
        ("HostSNIRegexp(`{a`)", 'invalid pattern value for "HostSNIRegexp" matcher, "{a" is not a valid pattern: '),
    ],
)
def test_v2_errors_use_the_v2_wording(rule: str, message: str) -> None:
    with pytest.raises(RuleError) as raised:
        compile_tcp_rule(rule, "v2")
    assert str(raised.value).startswith(message)


def test_catch_all_and_tls_needs() -> None:
    assert compile_tcp_rule("HostSNI(`*`)").catch_all
    assert not compile_tcp_rule("HostSNI(`*`) && ClientIP(`10.0.0.0/8`)").catch_all
    assert not compile_tcp_rule("HostSNI(`*`)").needs_tls
    assert not compile_tcp_rule("ClientIP(`10.0.0.0/8`)").needs_tls
    assert compile_tcp_rule("HostSNI(`a.b`)").needs_tls
    assert compile_tcp_rule("!ALPN(`h2`)").needs_tls
    assert compile_tcp_rule("ClientIP(`::1`) || HostSNIRegexp(`x`)").needs_tls


@pytest.mark.parametrize(
    ("rule", "priority"),
    [
        ("HostSNI(`*`)", -1),
        ("HostSNI(`foo.bar`)", len("HostSNI(`foo.bar`)")),
        ("HostSNI(`*`) && ClientIP(`10.0.0.0/8`)", len("HostSNI(`*`) && ClientIP(`10.0.0.0/8`)")),
    ],
)
def test_default_priority_is_traefiks_get_rule_priority(rule: str, priority: int) -> None:
    assert tcp_rule_priority(rule) == priority
    assert tcp_default_priority(rule) == priority  # the merge's copy (config may not import rules)


_LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)
_NAME = st.lists(_LABEL, min_size=1, max_size=4).map(".".join)


@given(rule_name=_NAME, server_name=_NAME, upper=st.booleans(), dot=st.booleans())
def test_host_sni_matches_exactly_the_canonical_name(rule_name: str, server_name: str, upper: bool, dot: bool) -> None:
    written = (rule_name.upper() if upper else rule_name) + ("." if dot else "")
    rule = compile_tcp_rule(f"HostSNI(`{written}`)")
    assert rule.matches(conn(server_name)) is (server_name == rule_name)
    assert rule.matches(conn(rule_name))
