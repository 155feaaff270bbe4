"""Rule + request → match, ported from Traefik's tables (``matcher_test.go``, ``mux_test.go``) and §3.2/§10 notes."""

from __future__ import annotations

import pytest
from rules_fakes import FakeRequest, request

from hanzo_edge.rules import compile_rule

R = request
P = pytest.param

V3_CASES = [
    # ClientIP: socket peer address only; IPv4, IPv6, CIDR.
    P("ClientIP(`127.0.0.1`)", R(client_ip="127.0.0.1"), True, id="clientip-v4-exact"),
    P("ClientIP(`127.0.0.1`)", R(client_ip="192.168.1.1"), False, id="clientip-v4-other"),
    P("ClientIP(`127.0.0.1`)", R(client_ip="1"), False, id="clientip-unparsable-peer"),
    P("ClientIP(`127.0.0.1`)", R(client_ip=""), False, id="clientip-empty-peer"),
    P("ClientIP(`192.168.1.0/24`)", R(client_ip="192.168.1.1"), True, id="clientip-cidr-first-host"),
    P("ClientIP(`192.168.1.0/24`)", R(client_ip="192.168.1.100"), True, id="clientip-cidr-inside"),
    P("ClientIP(`192.168.1.0/24`)", R(client_ip="192.168.2.1"), False, id="clientip-cidr-outside"),
    P("ClientIP(`192.168.1.5/24`)", R(client_ip="192.168.1.200"), True, id="clientip-cidr-host-bits-masked"),
    P("ClientIP(`10::10`)", R(client_ip="10::10"), True, id="clientip-v6-exact"),
    P("ClientIP(`10::10`)", R(client_ip="::1"), False, id="clientip-v6-other"),
    P("ClientIP(`10::/16`)", R(client_ip="10::10"), True, id="clientip-v6-cidr-inside"),
    P("ClientIP(`11::/16`)", R(client_ip="10::"), False, id="clientip-v6-cidr-outside"),
    P("ClientIP(`192.168.1.0/24`)", R(client_ip="::ffff:192.168.1.7"), True, id="clientip-v4-mapped-peer"),
    P("ClientIP(`::ffff:10.0.0.1`)", R(client_ip="10.0.0.1"), True, id="clientip-v4-mapped-rule"),
    P("ClientIP(`fe80::1%eth0`)", R(client_ip="fe80::1"), True, id="clientip-rule-zone-ignored"),
    P("ClientIP(`fe80::/10`)", R(client_ip="fe80::1%eth0"), True, id="clientip-peer-zone-ignored"),
    P("ClientIP(`10.0.0.0`)", R(client_ip="10.0.0.0:8456"), True, id="clientip-peer-with-port"),
    P("ClientIP(`0.0.0.0/0`)", R(client_ip="8.8.8.8"), True, id="clientip-v4-any"),
    P("ClientIP(`0.0.0.0/0`)", R(client_ip="::1"), False, id="clientip-v4-any-not-v6"),
    P("ClientIP(`::/0`)", R(client_ip="2001:db8::1"), True, id="clientip-v6-any"),
    P(
        "ClientIP(`127.0.0.1`)",
        R(client_ip="10.0.0.1", headers={"X-Forwarded-For": ["127.0.0.1"], "X-Real-Ip": ["127.0.0.1"]}),
        False,
        id="clientip-ignores-x-forwarded-for",
    ),
    # Method: upper-cased rule value, exact comparison.
    P("Method(`GET`)", R(method="GET"), True, id="method-get"),
    P("Method(`GET`)", R(method="POST"), False, id="method-post"),
    P("Method(`GET`)", R(method="get"), False, id="method-lowercase-request"),
    P("Method(`get`)", R(method="GET"), True, id="method-lowercase-rule"),
    P("Method(`PURGE`)", R(method="PURGE"), True, id="method-custom"),
    # Host: lower-cased on both sides, port ignored, trailing dot tolerated, IPv6 without brackets.
    P("Host(`example.com`)", R("https://example.com"), True, id="host-exact"),
    P("Host(`example.com`)", R("https://example.com:8080"), True, id="host-port-ignored"),
    P("Host(`example.com`)", R("https://example.com/path"), True, id="host-with-path"),
    P("Host(`example.com`)", R("https://EXAMPLE.COM/path"), True, id="host-request-uppercase"),
    P("Host(`example.com`)", R("https://example.org"), False, id="host-other"),
    P("Host(`example.com`)", R("https://sub.example.com"), False, id="host-subdomain-not-matched"),
    P("Host(`example.com.`)", R("https://example.com"), True, id="host-rule-trailing-dot"),
    P("Host(`example.com.`)", R("https://example.com./path"), True, id="host-both-trailing-dot"),
    P("Host(`example.com.`)", R("https://example.org."), False, id="host-rule-trailing-dot-other"),
    P("Host(`example.com`)", R("https://example.com."), True, id="host-request-trailing-dot"),
    P("Host(`EXAMPLE.COM`)", R("https://example.com"), True, id="host-rule-uppercase"),
    P("Host(`xn--9t9h.com`)", R("https://xn--9t9h.com/path"), True, id="host-punycode"),
    P("Host(`xn--9t9h.com`)", R("https://🦭.com"), False, id="host-punycode-needs-punycode-request"),
    P("Host(`127.0.0.1`)", R("http://127.0.0.1/foo"), True, id="host-ipv4"),
    P("Host(`10::10`)", R("http://[10::10]/foo"), True, id="host-ipv6"),
    P("Host(`[10::10]`)", R("http://[10::10]:8080/foo"), True, id="host-ipv6-brackets-in-rule"),
    P("Host(`localhost`)", FakeRequest(host=""), False, id="host-empty-request-host"),
    P("host(`localhost`)", R("http://localhost/"), True, id="host-lowercase-name"),
    P("HOST(`localhost`)", R("http://localhost/"), True, id="host-uppercase-name"),
    # HostRegexp: Go regexp on the lower-cased host, unanchored, no implicit (?i).
    P(r"HostRegexp(`^[a-zA-Z-]+\.com$`)", R("https://example.com"), True, id="hostregexp-anchored"),
    P(r"HostRegexp(`^[a-zA-Z-]+\.com$`)", R("https://example.com:8080"), True, id="hostregexp-port-ignored"),
    P(r"HostRegexp(`^[a-zA-Z-]+\.com$`)", R("https://example.org"), False, id="hostregexp-other-tld"),
    P(r"HostRegexp(`^[A-Z]+\.com$`)", R("https://EXAMPLE.com"), False, id="hostregexp-case-sensitive-class"),
    P(r"HostRegexp(`(?i)^[A-Z]+\.com$`)", R("https://example.com"), True, id="hostregexp-explicit-i-flag"),
    P(r"HostRegexp(`{domain:[a-zA-Z-]+\.com}`)", R("https://example.com"), False, id="hostregexp-v2-template-in-v3"),
    P("HostRegexp(`example.com`)", R("https://www.example.com"), True, id="hostregexp-unanchored"),
    P("HostRegexp(`example.com`)", R("https://examplexcom"), True, id="hostregexp-dot-any-char"),
    P(r"HostRegexp(`^[a-z0-9-]+\.example\.com$`)", R("https://a-1.example.com"), True, id="hostregexp-wildcard"),
    P(r"HostRegexp(`^[a-z0-9-]+\.example\.com$`)", R("https://example.com"), False, id="hostregexp-wildcard-apex"),
    P(r"hostregexp(`^a\.b$`)", R("https://a.b"), True, id="hostregexp-lowercase-name"),
    P(r"Hostregexp(`^a\.b$`)", R("https://a.b"), True, id="hostregexp-title-name"),
    P(r"HOSTREGEXP(`^a\.b$`)", R("https://a.b"), True, id="hostregexp-uppercase-name"),
    # Path: exact equality with the routing path.
    P("Path(`/css`)", R("https://example.org/css"), True, id="path-exact"),
    P("Path(`/css`)", R("https://example.com/css/"), False, id="path-trailing-slash"),
    P("Path(`/css`)", R("https://example.com/css/main.css"), False, id="path-deeper"),
    P("Path(`/css`)", R("https://example.com"), False, id="path-root"),
    P("Path(`/css`)", R("https://example.com/html"), False, id="path-other"),
    P("Path(`/CSS`)", R("https://example.com/css"), False, id="path-case-sensitive"),
    P("Path(`/foo bar`)", R("https://example.com/foo%20bar"), True, id="path-unreserved-escape-decoded"),
    P("Path(`/foo%2Fbar`)", R("https://example.com/foo%2Fbar"), True, id="path-reserved-escape-kept"),
    P("Path(`/foo/bar`)", R("https://example.com/foo%2Fbar"), False, id="path-encoded-slash-not-slash"),
    P("Path(`/café`)", R("https://example.com/caf%C3%A9"), True, id="path-utf8-escape-decoded"),
    # PathPrefix: plain string prefix.
    P("PathPrefix(`/products`)", R("http://shop/products"), True, id="pathprefix-equal"),
    P("PathPrefix(`/products`)", R("http://shop/products-for-sale"), True, id="pathprefix-not-segment-aware"),
    P("PathPrefix(`/products`)", R("http://shop/products/42"), True, id="pathprefix-deeper"),
    P("PathPrefix(`/products`)", R("http://shop/product"), False, id="pathprefix-shorter"),
    P("PathPrefix(`/products/`)", R("http://shop/products"), False, id="pathprefix-trailing-slash-required"),
    P("PathPrefix(`/`)", R("http://shop/anything/at/all"), True, id="pathprefix-root"),
    P("PathPrefix(`/api`)", R("http://shop/API"), False, id="pathprefix-case-sensitive"),
    P("PathPrefix(`/foo bar`)", R("http://shop/foo%20bar/baz"), True, id="pathprefix-escape-decoded"),
    P("PathPrefix(`/a%3Ab`)", R("http://shop/a%3Ab/c"), True, id="pathprefix-reserved-escape"),
    P('PathPrefix("/css")', R("https://example.com/css/main.css"), True, id="pathprefix-double-quoted"),
    # PathRegexp: Go regexp on the routing path, unanchored.
    P("PathRegexp(`^/(css|js)`)", R("https://example.org/css"), True, id="pathregexp-css"),
    P("PathRegexp(`^/(css|js)`)", R("https://example.com/CSS"), False, id="pathregexp-case-sensitive"),
    P("PathRegexp(`^/(css|js)`)", R("https://example.com/js/main.js"), True, id="pathregexp-js-deeper"),
    P("PathRegexp(`^/(css|js)`)", R("https://example.com/html"), False, id="pathregexp-other"),
    P('PathRegexp("/{path:(css|js)}")', R("https://example.com/{path:css}"), True, id="pathregexp-literal-braces"),
    P('PathRegexp("/{path:(css|js)}")', R("https://example.com/%7Bpath:js%7D/"), True, id="pathregexp-braces-escaped"),
    P('PathRegexp("/{path:(css|js)}")', R("https://example.com/css"), False, id="pathregexp-v2-template-in-v3"),
    P(r"PathRegexp(`\.php$`)", R("http://h/index.php"), True, id="pathregexp-suffix"),
    P(r"PathRegexp(`\.php$`)", R("http://h/index.php/x"), False, id="pathregexp-suffix-not-at-end"),
    P("PathRegexp(`^/admin$`)", R("http://h/admin%0A"), False, id="pathregexp-dollar-is-end-of-text"),
    P("PathRegexp(`(?i)^/api`)", R("http://h/API/v1"), True, id="pathregexp-i-flag"),
    P("PathRegexp(`^/users/[0-9]+$`)", R("http://h/users/42"), True, id="pathregexp-digits"),
    P("PathRegexp(`^/users/[0-9]+$`)", R("http://h/users/4a"), False, id="pathregexp-digits-mismatch"),
    P("PathRegexp(`^/[[:alpha:]]+$`)", R("http://h/abc"), True, id="pathregexp-posix-class"),
    P("PathRegexp(`^/[[:alpha:]]+$`)", R("http://h/ab1"), False, id="pathregexp-posix-class-mismatch"),
    P(r"PathRegexp(`^/\d+\z`)", R("http://h/123"), True, id="pathregexp-backslash-z"),
    # Header: canonical key (case-insensitive), any value exactly equal.
    P("Header(`X-Forwarded-Proto`, `https`)", R(headers={"X-Forwarded-Proto": ["https"]}), True, id="header-equal"),
    P(
        "Header(`X-Forwarded-Proto`, `https`)",
        R(headers={"X-Forwarded-Proto": ["http", "https"]}),
        True,
        id="header-second-value",
    ),
    P(
        "Header(`X-Forwarded-Proto`, `https`)",
        R(headers={"X-Forwarded-Proto": ["https", "http"]}),
        True,
        id="header-first-of-two",
    ),
    P(
        "Header(`X-Forwarded-Proto`, `https`)",
        R(headers={"X-Forwarded-Host": ["example.com"]}),
        False,
        id="header-absent",
    ),
    P("Header(`x-forwarded-proto`, `https`)", R(headers={"X-Forwarded-Proto": ["https"]}), True, id="header-key-case"),
    P(
        "Header(`X-Forwarded-Proto`, `https`)",
        R(headers={"X-Forwarded-Proto": ["HTTPS"]}),
        False,
        id="header-value-case",
    ),
    P(
        "Header(`Content-Type`, `application/json`)",
        R(headers={"Content-Type": ["application/json; charset=utf-8"]}),
        False,
        id="header-exact-not-substring",
    ),
    # HeaderRegexp: any value matches, unanchored.
    P("HeaderRegexp(`X-Forwarded-Proto`, `^https?$`)", R(headers={"X-Forwarded-Proto": ["http"]}), True, id="hre-http"),
    P(
        "HeaderRegexp(`X-Forwarded-Proto`, `^https?$`)",
        R(headers={"X-Forwarded-Proto": ["https"]}),
        True,
        id="hre-https",
    ),
    P(
        "HeaderRegexp(`X-Forwarded-Proto`, `^https?$`)",
        R(headers={"X-Forwarded-Proto": ["HTTPS"]}),
        False,
        id="hre-case",
    ),
    P(
        "HeaderRegexp(`X-Forwarded-Proto`, `^https?$`)",
        R(headers={"X-Forwarded-Proto": ["ws", "https"]}),
        True,
        id="hre-any-value",
    ),
    P("HeaderRegexp(`X-Forwarded-Proto`, `^https?$`)", R(headers={"X-Other": ["https"]}), False, id="hre-absent"),
    P(
        "HeaderRegexp(`X-Forwarded-Proto`, `http{secure:s?}`)",
        R(headers={"X-Forwarded-Proto": ["http{secure:s}"]}),
        True,
        id="hre-braces-literal",
    ),
    P(
        "HeaderRegexp(`X-Forwarded-Proto`, `http{secure:s?}`)",
        R(headers={"X-Forwarded-Proto": ["https"]}),
        False,
        id="hre-v2-template-in-v3",
    ),
    P(
        "HeaderRegexp(`Content-Type`, `json`)",
        R(headers={"Content-Type": ["application/json; charset=utf-8"]}),
        True,
        id="hre-unanchored",
    ),
    # Query: decoded values; one argument means "present with an empty value".
    P("Query(`q`, `traefik`)", R("https://example.com?q=traefik"), True, id="query-equal"),
    P("Query(`q`, `traefik`)", R("https://example.com?rel=ddg&q=traefik"), True, id="query-second-param"),
    P("Query(`q`, `traefik`)", R("https://example.com?q=traefik&q=proxy"), True, id="query-first-of-two"),
    P("Query(`q`, `traefik`)", R("https://example.com?q=awesome&q=traefik"), True, id="query-second-of-two"),
    P("Query(`q`, `traefik`)", R("https://example.com?q=nginx"), False, id="query-other-value"),
    P("Query(`q`, `traefik`)", R("https://example.com"), False, id="query-none"),
    P("Query(`q`, `traefik`)", R("https://example.com?q=TRAEFIK"), False, id="query-value-case"),
    P("Query(`q`, `traefik`)", R("https://example.com?Q=traefik"), False, id="query-key-case"),
    P("Query(`q`, `traefik`)", R("https://example.com?rel=traefik"), False, id="query-other-key"),
    P("Query(`q`, `a b`)", R("https://example.com?q=a%20b"), True, id="query-percent-decoded"),
    P("Query(`q`, `a b`)", R("https://example.com?q=a+b"), True, id="query-plus-decoded"),
    P("Query(`mobile`)", R("https://example.com?mobile"), True, id="query-flag-bare"),
    P("Query(`mobile`)", R("https://example.com?mobile="), True, id="query-flag-empty-value"),
    P("Query(`mobile`)", R("https://example.com?mobile=true"), False, id="query-flag-with-value"),
    P("Query(`mobile`)", R("https://example.com"), False, id="query-flag-absent"),
    # QueryRegexp: any value matches; one argument is Query(k).
    P("QueryRegexp(`q`, `^(traefik|nginx)$`)", R("https://e.com?q=nginx"), True, id="qre-alternative"),
    P("QueryRegexp(`q`, `^(traefik|nginx)$`)", R("https://e.com?q=awesome&q=nginx"), True, id="qre-any-value"),
    P("QueryRegexp(`q`, `^(traefik|nginx)$`)", R("https://e.com?q=haproxy"), False, id="qre-other"),
    P("QueryRegexp(`q`, `^(traefik|nginx)$`)", R("https://e.com?q=NGINX"), False, id="qre-case"),
    P("QueryRegexp(`q`, `^.*$`)", R("https://e.com?q=TRAEFIK"), True, id="qre-dot-star"),
    P("QueryRegexp(`q`, `^.*$`)", R("https://e.com?Q=traefik"), False, id="qre-dot-star-key-absent"),
    P("QueryRegexp(`q`, `{value:(traefik|nginx)}`)", R("https://e.com?q={value:traefik}"), True, id="qre-braces"),
    P("QueryRegexp(`q`, `{value:(traefik|nginx)}`)", R("https://e.com?q=traefik"), False, id="qre-v2-template"),
    P("QueryRegexp(`mobile`)", R("https://e.com?mobile"), True, id="qre-one-arg-flag"),
    P("QueryRegexp(`mobile`)", R("https://e.com?mobile=1"), False, id="qre-one-arg-with-value"),
    # Operators, precedence (! > && > ||), De Morgan, parentheses, name variants.
    P("Host(`localhost`) && PathPrefix(`/css`)", R("https://localhost/css"), True, id="and-both"),
    P("Host(`localhost`) && PathPrefix(`/css`)", R("https://localhost/js"), False, id="and-one"),
    P("Host(`example.com`) || Host(`example.org`)", R("https://example.org/js"), True, id="or-second"),
    P("Host(`example.com`) || Host(`example.org`)", R("https://example.eu/html"), False, id="or-neither"),
    P('Host("example.com") || (Host("example.org") && Path("/css"))', R("https://example.com/js"), True, id="or-and-1"),
    P(
        'Host("example.com") || (Host("example.org") && Path("/css"))',
        R("https://example.org/js"),
        False,
        id="or-and-2",
    ),
    P('Host("example.com") || Host("example.org") && Path("/css")', R("https://example.com/js"), True, id="prec-and-1"),
    P(
        'Host("example.com") || Host("example.org") && Path("/css")',
        R("https://example.org/css"),
        True,
        id="prec-and-2",
    ),
    P(
        'Host("example.com") || Host("example.org") && Path("/css")',
        R("https://example.org/js"),
        False,
        id="prec-and-3",
    ),
    P(
        '(Host("example.com") || Host("example.org")) && Path("/css")',
        R("https://example.com/js"),
        False,
        id="paren-or",
    ),
    P(
        '(Host("example.com") && Path("/js")) || ((Host("example.org")) && Path("/css"))',
        R("https://example.org/css"),
        True,
        id="nested-parens",
    ),
    P('!Host("example.com")', R("https://example.org"), True, id="not-other"),
    P('!Host("example.com")', R("https://example.com"), False, id="not-same"),
    P('!(Host("example.com") || Host("example.org"))', R("https://example.eu/js"), True, id="not-or-neither"),
    P('!(Host("example.com") || Host("example.org"))', R("https://example.org/js"), False, id="not-or-one"),
    P('!(Host("example.com") && Path("/css"))', R("https://example.com/js"), True, id="demorgan-and-1"),
    P('!(Host("example.com") && Path("/css"))', R("https://example.eu/css"), True, id="demorgan-and-2"),
    P('!(Host("example.com") && Path("/css"))', R("https://example.com/css"), False, id="demorgan-and-3"),
    P('!(Host("example.com") && !Path("/css"))', R("https://example.org/css"), True, id="demorgan-inner-not-1"),
    P('!(Host("example.com") && !Path("/css"))', R("https://example.com/js"), False, id="demorgan-inner-not-2"),
    P('!Host("example.com") || !Path("/css")', R("https://example.com/css"), False, id="not-or-not"),
    P('!(!(Host("example.com") && Pathprefix("/css")))', R("https://example.com/css"), True, id="double-not-1"),
    P('!(!(Host("example.com") && Pathprefix("/css")))', R("https://example.org/css"), False, id="double-not-2"),
    P('!Host("example.com") && Pathprefix("/css")', R("https://example.org/css"), True, id="not-binds-tighter-1"),
    P('!Host("example.com") && Pathprefix("/css")', R("https://example.com/css"), False, id="not-binds-tighter-2"),
    P("!!Host(`example.com`)", R("https://example.com"), True, id="bang-bang"),
    P("((((Host(`example.com`)))))", R("https://example.com"), True, id="many-parens"),
    P('PATHPREFIX("/css")', R("https://example.com/css"), True, id="name-upper"),
    P('pathprefix("/css")', R("https://example.com/css"), True, id="name-lower"),
    P('Pathprefix("/css")', R("https://example.com/css"), True, id="name-title"),
    P(
        "Method(`POST`) && (Path(`/a`) || Path(`/b`)) && !Header(`X-Debug`, `1`)",
        R("http://h/b", method="POST"),
        True,
        id="three-way",
    ),
    P(
        "Method(`POST`) && (Path(`/a`) || Path(`/b`)) && !Header(`X-Debug`, `1`)",
        R("http://h/b", method="POST", headers={"X-Debug": ["1"]}),
        False,
        id="three-way-negated-header",
    ),
    P("Host(`a.com`) &&\n  PathPrefix(`/x`)\n", R("http://a.com/x"), True, id="multi-line-rule"),
    P("Host(`a.com`) /* web */ && PathPrefix(`/x`) // api", R("http://a.com/x/y"), True, id="go-comments"),
    P("Host(`a.com`,)", R("http://a.com/"), True, id="trailing-comma"),
]


@pytest.mark.parametrize(("rule", "req", "expected"), V3_CASES)
def test_v3_rule_matching(rule: str, req: FakeRequest, expected: bool) -> None:
    assert compile_rule(rule).matches(req) is expected


def test_v3_table_is_large_enough() -> None:
    assert len(V3_CASES) >= 100


V2_CASES = [
    P("Host(`example.com`, `example.org`)", R("https://example.org/path"), True, id="v2-host-many"),
    P("Host(`example.com`, `example.org`)", R("https://EXAMPLE.COM:8080/"), True, id="v2-host-case-port"),
    P("Host(`example.com`, `example.org`)", R("https://example.eu/"), False, id="v2-host-many-neither"),
    P("HostHeader(`localhost`)", R("http://localhost/foo"), True, id="v2-hostheader"),
    P("HostHeader(`localhost`)", R("http://bar/foo"), False, id="v2-hostheader-other"),
    P("Host(`localhost.`)", R("http://localhost./foo"), True, id="v2-host-trailing-dots"),
    P(r"HostRegexp(`{subdomain:(foo\.)?bar\.com}`)", R("http://foo.bar.com"), True, id="v2-hre-capturing-1"),
    P(r"HostRegexp(`{subdomain:(foo\.)?bar\.com}`)", R("http://bar.com"), True, id="v2-hre-capturing-2"),
    P(r"HostRegexp(`{subdomain:(foo\.)?bar\.com}`)", R("http://fooubar.com"), False, id="v2-hre-capturing-3"),
    P(r"HostRegexp(`{subdomain:(?:foo\.)?bar\.com}`)", R("http://barcom"), False, id="v2-hre-noncapturing"),
    P(r"HostRegexp(`{dummy:[a-z-]+\.bar\.com}`)", R("http://FOO.bar.com"), True, id="v2-hre-insensitive"),
    P(r"HostRegexp(`{dummy:[A-Z-]+\.bar\.com}`)", R("http://foo.bar.com"), True, id="v2-hre-insensitive-class"),
    P("HostRegexp(`foo.bar.com`)", R("http://FOO.bar.com"), True, id="v2-hre-literal"),
    P("HostRegexp(`foo.bar.com`)", R("http://fooubar.com"), False, id="v2-hre-literal-dot"),
    P("HostRegexp(`(example.com`)", R("https://example.com"), False, id="v2-hre-parenthesis-literal"),
    P(r"HostRegexp(`^[A-Z]+\.com$`)", R("https://example.com"), False, id="v2-hre-regexp-is-literal"),
    P("HostRegexp(`{sub}.example.com`)", R("http://a.example.com"), True, id="v2-hre-default-pattern"),
    P("HostRegexp(`{sub}.example.com`)", R("http://a.b.example.com"), False, id="v2-hre-default-one-label"),
    P("HostRegexp(`example.com`, `{x:[a-z]+}.org`)", R("http://abc.org"), True, id="v2-hre-many"),
    P("Path(`/css`, `/js`)", R("https://example.com/js"), True, id="v2-path-many"),
    P("Path(`/css`, `/js`)", R("https://example.com/css/"), False, id="v2-path-exact"),
    P("Path(`/css{path:(/.*)?}`)", R("https://example.com/css/main.css"), True, id="v2-path-template"),
    P("Path(`/css{path:(/.*)?}`)", R("https://example.com/css.css"), False, id="v2-path-template-miss"),
    P("Path(`/users/{id:[0-9]+}`)", R("http://h/users/42"), True, id="v2-path-var"),
    P("Path(`/users/{id:[0-9]+}`)", R("http://h/users/42/x"), False, id="v2-path-var-anchored"),
    P("PathPrefix(`/css-{name:[0-9]?}`)", R("https://example.org/css-222/main.css"), True, id="v2-prefix-template"),
    P("PathPrefix(`/css-{name:[0-9]?}`)", R("https://example.com/css.css"), False, id="v2-prefix-template-miss"),
    P("PathPrefix(`/css`, `/js`)", R("https://example.com/js/main.js"), True, id="v2-prefix-many"),
    P("PathPrefix(`/users/{id}`)", R("http://h/users/42/x"), True, id="v2-prefix-default-var"),
    P("PathPrefix(`/users/{id}`)", R("http://h/users/"), False, id="v2-prefix-default-var-nonempty"),
    P("Method(`GET`, `POST`)", R(method="POST"), True, id="v2-method-many"),
    P("Method(`GET`, `POST`)", R(method="PUT"), False, id="v2-method-many-miss"),
    P(
        "Headers(`Content-Type`, `application/json`)",
        R(headers={"Content-Type": ["application/json"]}),
        True,
        id="v2-headers",
    ),
    P(
        "Headers(`Content-Type`, `application/foo`)",
        R(headers={"Content-Type": ["application/json"]}),
        False,
        id="v2-headers-miss",
    ),
    P("Headers(`X-A`, `1`, `X-B`, `2`)", R(headers={"X-A": ["1"], "X-B": ["2"]}), True, id="v2-headers-pairs-all"),
    P("Headers(`X-A`, `1`, `X-B`, `2`)", R(headers={"X-A": ["1"]}), False, id="v2-headers-pairs-one"),
    P(
        "HeadersRegexp(`Content-Type`, `application/(text|json)`)",
        R(headers={"Content-Type": ["application/text"]}),
        True,
        id="v2-headersregexp",
    ),
    P(
        "HeadersRegexp(`Content-Type`, `application/(text|json)`)",
        R(headers={"Content-Type": ["application/foo"]}),
        False,
        id="v2-headersregexp-miss",
    ),
    P("Query(`foo=bar`, `bar=baz`)", R("http://localhost/foo?foo=bar&bar=baz"), True, id="v2-query-pairs"),
    P("Query(`foo=bar`, `bar=baz`)", R("http://localhost/foo?bar=baz"), False, id="v2-query-pairs-one"),
    P("Query(`foo=b=ar`)", R("http://localhost/foo?foo=b=ar"), True, id="v2-query-equals-in-value"),
    P("Query(`foo=b=ar`)", R("http://localhost/foo?foo=bar"), False, id="v2-query-equals-miss"),
    P("Query(`foo=`)", R("http://h/?foo=anything"), True, id="v2-query-any-value"),
    P("Query(`foo=`)", R("http://h/?other=1"), False, id="v2-query-any-value-absent"),
    P("Query(`foo={v:[0-9]+}`)", R("http://h/?foo=12"), True, id="v2-query-template"),
    P("Query(`foo={v:[0-9]+}`)", R("http://h/?foo=1a"), False, id="v2-query-template-miss"),
    P("Query(`q=b`)", R("http://h/?q=a&q=b"), False, id="v2-query-first-value-only"),
    P("ClientIP(`10.0.0.1`, `10.0.0.0/16`)", R(client_ip="10.0.3.4"), True, id="v2-clientip-many"),
    P("ClientIP(`11.0.0.0/16`, `10.0.0.0`)", R(client_ip="10.0.0.0"), True, id="v2-clientip-ip-after-cidr"),
    P(
        '!(Host("tchouk","pouet") && Path("/powpow", "/titi"))',
        R("http://pouet/toto"),
        True,
        id="v2-not-multi-1",
    ),
    P(
        '!(Host("tchouk","pouet") && Path("/powpow", "/titi"))',
        R("http://tchouk/titi"),
        False,
        id="v2-not-multi-2",
    ),
    P('(HOST("tchouk") && PATHPREFIX("/titi"))', R("http://tchouk/titi"), True, id="v2-upper-names"),
]


@pytest.mark.parametrize(("rule", "req", "expected"), V2_CASES)
def test_v2_rule_matching(rule: str, req: FakeRequest, expected: bool) -> None:
    assert compile_rule(rule, "v2").matches(req) is expected


def test_request_object_from_http_package_is_accepted() -> None:
    from hanzo_edge.http.headers import Headers
    from hanzo_edge.http.messages import Request

    req = Request(
        "GET",
        "/api/x?debug",
        Headers([(b"X-Team", b"blue")]),
        path="/api/x",
        query="debug",
        host="example.com",
        client_ip="10.1.2.3",
    )
    rule = compile_rule(
        "Host(`example.com`) && PathPrefix(`/api`) && Header(`x-team`, `blue`) && Query(`debug`) "
        "&& ClientIP(`10.0.0.0/8`) && Method(`GET`)"
    )
    assert rule.matches(req)
