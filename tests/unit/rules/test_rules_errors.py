"""Rules that must be refused, with their exact messages (Traefik's wording where Traefik has one)."""

from __future__ import annotations

import pytest

from hanzo_edge.rules import RuleError, compile_rule, parse_rule

P = pytest.param

V3_ERRORS = [
    # Syntax (parser).
    P("", "empty rule", id="empty"),
    P("   \n\t ", "empty rule", id="blank"),
    P(
        "rulewithnotmatcher",
        "expected '(' after rulewithnotmatcher (a matcher needs its arguments), found end of rule at column 19",
        id="bare-identifier",
    ),
    P(
        "Host(example.com)",
        "expected a string literal argument, found identifier example (quote values with backticks or double quotes)"
        " at column 6",
        id="unquoted-value",
    ),
    P(
        "Host('example.com')",
        "single-quoted literals are not allowed (use backticks or double quotes) at column 6",
        id="single-quotes",
    ),
    P(
        "Host(42)",
        "expected a string literal argument, found number 42 (quote values with backticks or double quotes)"
        " at column 6",
        id="number-argument",
    ),
    P("Host(,)", "expected a string literal argument, found ',' at column 6", id="lonely-comma"),
    P(
        "Host(`a` `b`)",
        "expected ',' or ')' in the arguments of Host, found string literal at column 10",
        id="missing-comma",
    ),
    P(
        "Host(`a`, `b`",
        "expected ',' or ')' in the arguments of Host, found end of rule at column 14",
        id="unclosed-call",
    ),
    P("Host(`a`) &&", "expected a matcher, '(' or '!', found end of rule at column 13", id="dangling-and"),
    P("Host(`a`) ||", "expected a matcher, '(' or '!', found end of rule at column 13", id="dangling-or"),
    P("&& Host(`a`)", "expected a matcher, '(' or '!', found '&&' at column 1", id="leading-and"),
    P("Host(`a`) && && Path(`/`)", "expected a matcher, '(' or '!', found '&&' at column 14", id="double-and"),
    P("!", "expected a matcher, '(' or '!', found end of rule at column 2", id="lonely-not"),
    P("Host(`a`)  Path(`/`)", "unexpected identifier Path at column 12", id="missing-operator"),
    P("Host(`a)", "raw string literal not terminated at column 6", id="unterminated-raw-string"),
    P('Host("a)', "string literal not terminated at column 6", id="unterminated-string"),
    P('Host("a\nb")', "string literal not terminated at column 6", id="newline-in-string"),
    P(r'Host("\q")', r"unknown escape sequence \q at column 7", id="bad-escape"),
    P(r'Host("\x4")', r"\x escape needs exactly 2 hexadecimal digits at column 7", id="short-hex-escape"),
    P(r'Host("\400")', r"octal escape \400 is above \377 at column 7", id="octal-escape-too-big"),
    P(
        r'Host("\ud800")',
        r"escape sequence \ud800 is not a valid Unicode code point at column 7",
        id="surrogate-escape",
    ),
    P(r'Host("\xff")', "string literal is not valid UTF-8 once unescaped at column 6", id="invalid-utf8-escape"),
    P("Host(`a\x00`)", "illegal character U+0000 (NUL) at column 8", id="nul"),
    P("Host(`a`))", "unexpected ')' at column 10", id="extra-closing-paren"),
    P(
        "(Host(`a`)",
        "unbalanced parentheses: the '(' at column 1 is not closed, found end of rule at column 11",
        id="missing-closing-paren",
    ),
    P(
        "((Host(`a`)) && Path(`/`)",
        "unbalanced parentheses: the '(' at column 1 is not closed, found end of rule at column 26",
        id="missing-outer-paren",
    ),
    P("()", "expected a matcher, '(' or '!', found ')' at column 2", id="empty-parens"),
    P("Host(`a`) & Path(`/`)", "unsupported operator '&' (did you mean '&&'?) at column 11", id="single-ampersand"),
    P("Host(`a`) | Path(`/`)", "unsupported operator '|' (did you mean '||'?) at column 11", id="single-bar"),
    P("Host(`a`) == Path(`/`)", "unexpected character '=' at column 11", id="equals"),
    P("Host(`a`) != Path(`/`)", "unsupported operator '!=' at column 11", id="not-equals"),
    P("Host(`a`);", "unexpected character ';' at column 10", id="semicolon"),
    P("Host(`a`...)", "unexpected character '.' at column 9", id="ellipsis"),
    P("x.Host(`a`)", "unexpected character '.' at column 2", id="selector"),
    P(
        "Host(`a`)\n&& Path(`/`)",
        "unexpected '&&' after the line break (Go ends the expression at a line break that follows a matcher call or "
        "')': end lines with the operator instead) at column 10",
        id="operator-starts-line",
    ),
    P("/* open", "comment not terminated at column 1", id="open-comment"),
    # Unknown matchers (Traefik: vulcand/predicate).
    P("Foo(`a`)", "unsupported function: Foo", id="unknown-matcher"),
    P("hOST(`a`)", "unsupported function: hOST", id="mixed-case-name"),
    P("HostRegExp(`a`)", "unsupported function: HostRegExp", id="wrong-inner-case"),
    P("Headers(`a`, `b`)", "unsupported function: Headers", id="v2-only-headers"),
    P("HeadersRegexp(`a`, `b`)", "unsupported function: HeadersRegexp", id="v2-only-headersregexp"),
    P("HostHeader(`a`)", "unsupported function: HostHeader", id="v2-only-hostheader"),
    P("HostSNI(`a`)", "unsupported function: HostSNI", id="tcp-matcher"),
    # Argument checks (CheckRule, expectNParameters).
    P("Host()", "no args for matcher Host", id="no-args"),
    P("Host(``)", "empty args for matcher Host, []", id="empty-arg"),
    P('Path("")', "empty args for matcher Path, []", id="empty-quoted-arg"),
    P("Header(``, `example.com`)", "empty args for matcher Header, [ example.com]", id="empty-key"),
    P("Header(`X-Forwarded-Host`, ``)", "empty args for matcher Header, [X-Forwarded-Host ]", id="empty-value"),
    P("Query(`q`, ``)", "empty args for matcher Query, [q ]", id="query-empty-value"),
    P("Host(`a`) && Path()", "no args for matcher Path", id="no-args-on-the-right"),
    P("Host(`example.com`, `example.org`)", "unexpected number of parameters; got 2, expected one of [1]", id="host-2"),
    P(
        "ClientIP(`127.0.0.1`, `192.168.1.0/24`)",
        "unexpected number of parameters; got 2, expected one of [1]",
        id="ip2",
    ),
    P("Method(`GET`, `POST`)", "unexpected number of parameters; got 2, expected one of [1]", id="method-2"),
    P("HostRegexp(`a`, `b`)", "unexpected number of parameters; got 2, expected one of [1]", id="hostregexp-2"),
    P("Path(`/css`, `/js`)", "unexpected number of parameters; got 2, expected one of [1]", id="path-2"),
    P("PathPrefix(`/css`, `/js`)", "unexpected number of parameters; got 2, expected one of [1]", id="pathprefix-2"),
    P("PathRegexp(`/css`, `/js`)", "unexpected number of parameters; got 2, expected one of [1]", id="pathregexp-2"),
    P("Header(`X-Forwarded-Host`)", "unexpected number of parameters; got 1, expected one of [2]", id="header-1"),
    P("Header(`a`, `b`, `c`)", "unexpected number of parameters; got 3, expected one of [2]", id="header-3"),
    P("HeaderRegexp(`X-Forwarded-Host`)", "unexpected number of parameters; got 1, expected one of [2]", id="hre-1"),
    P("Query(`q`, `traefik`, `proxy`)", "unexpected number of parameters; got 3, expected one of [1 2]", id="query-3"),
    P("QueryRegexp(`q`, `a`, `b`)", "unexpected number of parameters; got 3, expected one of [1 2]", id="qre-3"),
    # Matcher-specific checks.
    P("Path(`css`)", "path \"css\" does not start with a '/'", id="path-no-slash"),
    P("PathPrefix(`css`)", "path \"css\" does not start with a '/'", id="pathprefix-no-slash"),
    P(
        "Host(`🦭.com`)",
        'invalid value "🦭.com" for Host matcher, non-ASCII characters are not allowed',
        id="host-utf8",
    ),
    P("Host(`locàlhost`)", 'invalid value "locàlhost" for Host matcher, non-ASCII characters are not allowed', id="à"),
    P(
        "HostRegexp(`🦭.com`)",
        'invalid value "🦭.com" for HostRegexp matcher, non-ASCII characters are not allowed',
        id="hostregexp-utf8",
    ),
    P(
        "HostRegexp(`(example.com`)",
        "compiling HostRegexp matcher: error parsing regexp: missing closing ): `(example.com`",
        id="hostregexp-unclosed-group",
    ),
    P(
        "PathRegexp(`/(css`)",
        "compiling PathRegexp matcher: error parsing regexp: missing closing ): `/(css`",
        id="pathregexp-unclosed-group",
    ),
    P(
        "HeaderRegexp(`X-Forwarded-Host`,`(example.com`)",
        "compiling HeaderRegexp matcher: error parsing regexp: missing closing ): `(example.com`",
        id="headerregexp-bad",
    ),
    P(
        "QueryRegexp(`q`, `(traefik`)",
        "compiling QueryRegexp matcher: error parsing regexp: missing closing ): `(traefik`",
        id="queryregexp-bad",
    ),
    # Go's regexp/syntax texts: "error parsing regexp: <code>: `<fragment>`" (the fragment, not the pattern).
    P(
        "PathRegexp(`^/a(?=b)`)",
        "compiling PathRegexp matcher: error parsing regexp: invalid or unsupported Perl syntax: `(?=`",
        id="lookahead",
    ),
    P(
        "PathRegexp(`^/a(?<=b)`)",
        "compiling PathRegexp matcher: error parsing regexp: invalid named capture: `(?<=b)`",
        id="lookbehind",
    ),
    P(
        r"PathRegexp(`(a)\1`)",
        r"compiling PathRegexp matcher: error parsing regexp: invalid escape sequence: `\1`",
        id="backreference",
    ),
    P(
        "PathRegexp(`/a*+`)",
        "compiling PathRegexp matcher: error parsing regexp: invalid nested repetition operator: `*+`",
        id="possessive",
    ),
    P(
        "PathRegexp(`/x{1001}`)",
        "compiling PathRegexp matcher: error parsing regexp: invalid repeat count: `{1001}`",
        id="repeat-too-big",
    ),
    P(
        r"PathRegexp(`\p{Foo}`)",
        r"compiling PathRegexp matcher: error parsing regexp: invalid character class range: `\p{Foo}`",
        id="unknown-unicode-class",
    ),
    P(
        r"HostRegexp(`^a\C$`)",
        r"compiling HostRegexp matcher: error parsing regexp: invalid escape sequence: `\C`",
        id="any-byte",
    ),
    P(
        "ClientIP(`1`)",
        "initializing IP checker for ClientIP matcher: parsing CIDR trusted IPs 1: netip.ParsePrefix(\"1\"): no '/'",
        id="clientip-not-an-ip",
    ),
    P(
        "ClientIP(`invalid/24`)",
        "initializing IP checker for ClientIP matcher: parsing CIDR trusted IPs invalid/24: "
        'netip.ParsePrefix("invalid/24"): ParseAddr("invalid"): unable to parse IP',
        id="clientip-bad-prefix-address",
    ),
    P(
        "ClientIP(`10.0.0.0/33`)",
        "initializing IP checker for ClientIP matcher: parsing CIDR trusted IPs 10.0.0.0/33: "
        'netip.ParsePrefix("10.0.0.0/33"): prefix length out of range',
        id="clientip-prefix-too-long",
    ),
    P(
        "ClientIP(`10.0.0.0/x`)",
        "initializing IP checker for ClientIP matcher: parsing CIDR trusted IPs 10.0.0.0/x: "
        'netip.ParsePrefix("10.0.0.0/x"): bad bits after slash: "x"',
        id="clientip-prefix-not-a-number",
    ),
    P(
        "ClientIP(`192.168.01.1`)",
        "initializing IP checker for ClientIP matcher: parsing CIDR trusted IPs 192.168.01.1: "
        "netip.ParsePrefix(\"192.168.01.1\"): no '/'",
        id="clientip-leading-zero",
    ),
]


@pytest.mark.parametrize(("rule", "message"), V3_ERRORS)
def test_v3_errors(rule: str, message: str) -> None:
    with pytest.raises(RuleError) as info:
        compile_rule(rule)
    assert str(info.value) == message


V2_ERRORS = [
    P("Query(`titi`)", "mux: number of parameters must be multiple of 2, got [titi]", id="query-no-equals"),
    P("Query(`a=1`, `b`)", "mux: number of parameters must be multiple of 2, got [a 1 b]", id="query-odd"),
    P("Query(`titi={test`)", 'mux: unbalanced braces in "titi={test"', id="query-unbalanced"),
    P("Headers(`titi`)", "mux: number of parameters must be multiple of 2, got [titi]", id="headers-odd"),
    P("HeadersRegexp(`titi`)", "mux: number of parameters must be multiple of 2, got [titi]", id="headersregexp-odd"),
    P(
        "HeadersRegexp(`X-Forwarded-Host`,`(example.com`)",
        "compiling HeadersRegexp matcher: error parsing regexp: missing closing ): `(example.com`",
        id="headersregexp-bad-regexp",
    ),
    P("HostRegexp(`{test`)", 'mux: unbalanced braces in "{test"', id="hostregexp-unbalanced"),
    P("HostRegexp(`a}`)", 'mux: unbalanced braces in "a}"', id="hostregexp-close-brace"),
    P("HostRegexp(`{:[a-z]+}.com`)", 'mux: missing name or pattern in "{:[a-z]+}"', id="hostregexp-no-name"),
    P("HostRegexp(`{x:}.com`)", 'mux: missing name or pattern in "{x:}"', id="hostregexp-no-pattern"),
    P(
        # gorilla/mux compiles each variable alone as ^pattern$ first: Go names that expression.
        "HostRegexp(`{x:(}.com`)",
        "error parsing regexp: missing closing ): `^($`",
        id="hostregexp-bad-variable-regexp",
    ),
    P(
        "Path(`/{id:a)(b}`)",
        "error parsing regexp: unexpected ): `^a)(b$`",
        id="path-variable-unbalanced",
    ),
    P("Path(`titi`)", 'mux: path must start with a slash, got "titi"', id="path-no-slash"),
    P("PathPrefix(`titi`)", 'mux: path must start with a slash, got "titi"', id="pathprefix-no-slash"),
    P("Path()", "no args for matcher Path", id="path-no-args"),
    P('Path("", "/titi")', "empty args for matcher Path, [ /titi]", id="path-empty-arg"),
    P(
        "ClientIP(`invalid`)",
        'could not initialize IP Checker for "ClientIP" matcher: parsing CIDR trusted IPs invalid: '
        "netip.ParsePrefix(\"invalid\"): no '/'",
        id="clientip-invalid",
    ),
    P(
        "Host(`locàlhost`)",
        'invalid value "locàlhost" for "Host" matcher, non-ASCII characters are not allowed',
        id="à",
    ),
    P(
        "HostRegexp(`locàlhost`)",
        'invalid value "locàlhost" for HostRegexp matcher, non-ASCII characters are not allowed',
        id="hostregexp-utf8",
    ),
    P("Header(`a`, `b`)", "unsupported function: Header", id="v3-only-header"),
    P("QueryRegexp(`a`)", "unsupported function: QueryRegexp", id="v3-only-queryregexp"),
    P("PathRegexp(`/a`)", "unsupported function: PathRegexp", id="v3-only-pathregexp"),
]


@pytest.mark.parametrize(("rule", "message"), V2_ERRORS)
def test_v2_errors(rule: str, message: str) -> None:
    with pytest.raises(RuleError) as info:
        compile_rule(rule, "v2")
    assert str(info.value) == message


def test_rule_error_is_a_value_error_with_position() -> None:
    with pytest.raises(ValueError, match="unexpected '\\)'") as info:
        parse_rule("Host(`a`))")
    assert isinstance(info.value, RuleError)
    assert info.value.position == 9


def test_position_on_second_line() -> None:
    with pytest.raises(RuleError) as info:
        parse_rule("Host(`a`) &&\n  Path(x)")
    assert str(info.value).endswith("at line 2, column 8")
    assert info.value.position == 20


def test_compile_error_names_the_matcher() -> None:
    with pytest.raises(RuleError) as info:
        compile_rule("Path(`/a`) && Host(`a`, `b`)")
    assert info.value.matcher == "Host"
    assert info.value.position is None


def test_unknown_syntax() -> None:
    with pytest.raises(RuleError, match="unknown rule syntax 'v4'"):
        compile_rule("Host(`a`)", "v4")


@pytest.mark.parametrize("syntax", ["", "default", "V3", "v3"])
def test_v3_syntax_spellings(syntax: str) -> None:
    assert compile_rule("Host(`a`)", syntax).syntax == "v3"


def test_parse_accepts_any_argument_count() -> None:
    """Argument checks belong to compilation, as Traefik's CheckRule runs after parsing."""
    assert parse_rule("Host()") is not None
    assert parse_rule("Host(``, `b`, `c`)") is not None


def test_parse_with_custom_matcher_names() -> None:
    tree = parse_rule("hostsni(`a`) && ALPN(`h2`)", matchers={"HostSNI", "ALPN"})
    assert tree is not None
    with pytest.raises(RuleError, match="unsupported function: Host"):
        parse_rule("Host(`a`)", matchers={"HostSNI"})


def test_too_deep_nesting_is_refused() -> None:
    with pytest.raises(RuleError, match="too deeply"):
        parse_rule("(" * 200 + "Host(`a`)" + ")" * 200)
    with pytest.raises(RuleError, match="nested more than 256 operators deep"):
        parse_rule(" && ".join(["Host(`a`)"] * 400))
    with pytest.raises(RuleError, match="nested more than 256 operators deep"):
        parse_rule("!" * 400 + "Host(`a`)")
