"""TCP router rules (Traefik ``pkg/muxer/tcp``): ``HostSNI``, ``HostSNIRegexp``, ``ClientIP`` and ``ALPN``.

The grammar, the argument checks and the ``&& || !`` tree are the HTTP rules' (:mod:`~hanzo_edge.rules.parser`,
:func:`~hanzo_edge.rules.compile.build_predicate`); only the matcher table differs. A TCP rule reads a
:class:`TCPConnInfo`: the ClientHello's server name (lower-case, no trailing dot; "" on a plain connection or a
hello without SNI), the client address (after a PROXY header) and the ALPN protocols the client offered.

Priorities are Traefik's ``GetRulePriority``: the rule's length, except exactly ``HostSNI(`*`)``, which gets -1 so
that every other router is tried first. A rule that is exactly ``HostSNI(`*`)`` is also a *catch-all*: the
entrypoint tries the more specific HTTPS routers before it (see :mod:`hanzo_edge.routing.tcp_table`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

from hanzo_edge.rules.ast import Matcher, Node, Not
from hanzo_edge.rules.compile import build_predicate, default_priority
from hanzo_edge.rules.errors import RuleError, go_quote
from hanzo_edge.rules.ipcheck import parse_ip_ranges
from hanzo_edge.rules.matchers import MatcherSpec, Predicate, compile_regexp
from hanzo_edge.rules.matchers_v2 import compile_template
from hanzo_edge.rules.parser import parse_rule

__all__ = [
    "CATCH_ALL_RULE",
    "TCP_SYNTAXES",
    "CompiledTCPRule",
    "TCPConnInfo",
    "compile_tcp_rule",
    "tcp_rule_priority",
]

CATCH_ALL_RULE = "HostSNI(`*`)"
"""The rule that matches every connection, TLS or not (Traefik's non-TLS catch-all)."""

_ACME_TLS = "acme-tls/1"
# Traefik's hostOrIP: `^[[:word:]\.\-\:]+$`.
_HOST_OR_IP = re.compile(r"[0-9A-Za-z_.\-:]+")


@dataclass(frozen=True, slots=True)
class TCPConnInfo:
    """What a TCP rule looks at (Traefik's ``tcpmuxer.ConnData``)."""

    server_name: str
    client_ip: str
    alpn: tuple[str, ...] = ()


TCPPredicate = Callable[[TCPConnInfo], bool]


def _predicate(fn: TCPPredicate) -> Predicate:
    # The shared tree builder is typed for HTTP requests; it only passes its argument through.
    return cast(Predicate, fn)


def canonical_server_name(name: str) -> str:
    """Traefik's ``types.CanonicalDomain``: lower-case, trailing dot removed."""
    return name.lower().removesuffix(".")


def _host_sni(args: tuple[str, ...]) -> Predicate:
    names: set[str] = set()
    for host in args:
        if host == "*":
            # Matches every connection, including plain ones that have no server name at all.
            return _predicate(lambda _conn: True)
        if not _HOST_OR_IP.fullmatch(host):
            raise RuleError(f"invalid value for HostSNI matcher, {go_quote(host)} is not a valid hostname")
        names.add(canonical_server_name(host))
    wanted = frozenset(names)

    def match_sni(conn: TCPConnInfo) -> bool:
        return conn.server_name in wanted

    return _predicate(match_sni)


def _host_sni_regexp(args: tuple[str, ...]) -> Predicate:
    template = args[0]
    if not template.isascii():
        raise RuleError(f"invalid value for HostSNIRegexp matcher, {go_quote(template)} is not a valid hostname")
    is_match = compile_regexp(template, "HostSNIRegexp").is_match

    def match_sni_regexp(conn: TCPConnInfo) -> bool:
        return is_match(conn.server_name)

    return _predicate(match_sni_regexp)


def _client_ip(args: tuple[str, ...]) -> Predicate:
    try:
        contains = parse_ip_ranges(args).contains
    except ValueError as exc:
        raise RuleError(f"initializing IP checker for ClientIP matcher: {exc}") from None

    def match_client_ip(conn: TCPConnInfo) -> bool:
        return contains(conn.client_ip)

    return _predicate(match_client_ip)


def _alpn(args: tuple[str, ...]) -> Predicate:
    for proto in args:
        if proto == _ACME_TLS:
            raise RuleError(f"invalid protocol value for ALPN matcher, {go_quote(proto)} is not allowed")
    wanted = frozenset(args)

    def match_alpn(conn: TCPConnInfo) -> bool:
        return not wanted.isdisjoint(conn.alpn)

    return _predicate(match_alpn)


# -- the deprecated v2 syntax (Traefik ``pkg/muxer/tcp/matcher_v2.go``): lists of values, its own error wording,
# and HostSNIRegexp as a gorilla/mux host template (``{name:pattern}``, anchored, case-insensitive), not a regexp.
def _empty_v2(matcher: str) -> RuleError:
    return RuleError(f'empty value for "{matcher}" matcher is not allowed')


def _host_sni_v2(args: tuple[str, ...]) -> Predicate:
    if not args:
        raise _empty_v2("HostSNI")
    for host in args:
        if host != "*" and not _HOST_OR_IP.fullmatch(host):
            raise RuleError(f'invalid value for "HostSNI" matcher, {go_quote(host)} is not a valid hostname or IP')
    if args[0] == "*":
        return _predicate(lambda _conn: True)
    any_name = "*" in args  # a later `*` matches every connection that has a server name
    wanted = frozenset(canonical_server_name(host) for host in args if host != "*")

    def match_sni_v2(conn: TCPConnInfo) -> bool:
        return bool(conn.server_name) and (any_name or conn.server_name in wanted)

    return _predicate(match_sni_v2)


def _host_sni_regexp_v2(args: tuple[str, ...]) -> Predicate:
    if not args:
        raise _empty_v2("HostSNIRegexp")
    tests = []
    for template in args:
        try:
            tests.append(compile_template(template, "host").is_match)
        except RuleError as exc:
            if not str(exc).startswith("mux:"):
                raise
            raise RuleError(
                f'invalid pattern value for "HostSNIRegexp" matcher, {go_quote(template)} is not a valid pattern: {exc}'
            ) from None
    matchers = tuple(tests)

    def match_sni_regexp_v2(conn: TCPConnInfo) -> bool:
        return any(is_match(conn.server_name) for is_match in matchers)

    return _predicate(match_sni_regexp_v2)


def _client_ip_v2(args: tuple[str, ...]) -> Predicate:
    try:
        contains = parse_ip_ranges(args).contains
    except ValueError as exc:
        raise RuleError(f'could not initialize IP Checker for "ClientIP" matcher: {exc}') from None

    def match_client_ip_v2(conn: TCPConnInfo) -> bool:
        return contains(conn.client_ip)

    return _predicate(match_client_ip_v2)


def _alpn_v2(args: tuple[str, ...]) -> Predicate:
    if not args:
        raise _empty_v2("ALPN")
    for proto in args:
        if proto == _ACME_TLS:
            raise RuleError(f'invalid protocol value for "ALPN" matcher, {go_quote(proto)} is not allowed')
    wanted = frozenset(args)

    def match_alpn_v2(conn: TCPConnInfo) -> bool:
        return not wanted.isdisjoint(conn.alpn)

    return _predicate(match_alpn_v2)


def _table(*specs: MatcherSpec) -> Mapping[str, MatcherSpec]:
    return {spec.name: spec for spec in specs}


TCP_SYNTAXES: Mapping[str, Mapping[str, MatcherSpec]] = {
    "v3": _table(
        MatcherSpec("HostSNI", (1,), _host_sni),
        MatcherSpec("HostSNIRegexp", (1,), _host_sni_regexp),
        MatcherSpec("ClientIP", (1,), _client_ip),
        MatcherSpec("ALPN", (1,), _alpn),
    ),
    "v2": _table(
        MatcherSpec("HostSNI", None, _host_sni_v2),
        MatcherSpec("HostSNIRegexp", None, _host_sni_regexp_v2),
        MatcherSpec("ClientIP", None, _client_ip_v2),
        MatcherSpec("ALPN", None, _alpn_v2),
    ),
}
"""TCP matcher tables by rule syntax: v3 takes one argument per matcher, v2 (deprecated) a list."""


@dataclass(frozen=True, slots=True)
class CompiledTCPRule:
    """A TCP rule ready to match: ``matches(conn)``, whether it is the catch-all, and whether it reads the SNI."""

    text: str
    matches: TCPPredicate
    catch_all: bool
    needs_tls: bool
    """The rule names a server other than ``*`` or an ALPN protocol: only a TLS connection can carry those."""


def _reads_tls(node: Node) -> bool:
    if isinstance(node, Matcher):
        if node.name == "HostSNI":
            return any(arg != "*" for arg in node.args)
        return node.name in ("HostSNIRegexp", "ALPN")
    if isinstance(node, Not):
        return _reads_tls(node.operand)
    return _reads_tls(node.left) or _reads_tls(node.right)


@functools.lru_cache(maxsize=4096)
def compile_tcp_rule(text: str, syntax: str = "v3") -> CompiledTCPRule:
    """Compile a TCP router rule. Raises :class:`RuleError` with Traefik's message for a bad one."""
    key = (syntax or "v3").lower()
    if key == "default":
        key = "v3"
    table = TCP_SYNTAXES.get(key)
    if table is None:
        raise RuleError(f"unknown rule syntax {syntax!r} (expected v3 or v2)")
    ast = parse_rule(text, table.keys())
    matches = cast(TCPPredicate, build_predicate(ast, table))
    catch_all = isinstance(ast, Matcher) and ast.name == "HostSNI" and ast.args == ("*",)
    return CompiledTCPRule(text, matches, catch_all, _reads_tls(ast))


def tcp_rule_priority(rule: str) -> int:
    """Traefik's ``GetRulePriority``: -1 for exactly ``HostSNI(`*`)``, else the rule's length in bytes."""
    return -1 if rule == CATCH_ALL_RULE else default_priority(rule)
