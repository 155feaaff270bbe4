"""Matcher builders of the v3 rule syntax (Traefik ``pkg/muxer/http/matcher.go``, ``httpFuncs``).

Each builder validates its arguments once and returns a predicate closure that does only the per-request
comparison. Requests are :class:`~hanzo_edge.rules.compile.RuleRequest`: ``host`` is already canonical
(lower-case, no port, no brackets, no trailing dot) and ``routing_path`` already has its unreserved escapes decoded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from hanzo_edge.rules.errors import RuleError, go_quote
from hanzo_edge.rules.goregexp import GoRegexp, GoRegexpError, compile_go_regexp
from hanzo_edge.rules.ipcheck import parse_ip_ranges

if TYPE_CHECKING:
    from hanzo_edge.rules.compile import RuleRequest

__all__ = [
    "V3_MATCHERS",
    "MatcherSpec",
    "Predicate",
    "canonical_rule_host",
    "check_ascii",
    "compile_regexp",
    "never",
]

Predicate: TypeAlias = "Callable[[RuleRequest], bool]"
"""A compiled matcher: request in, match or not out."""


@dataclass(frozen=True, slots=True)
class MatcherSpec:
    """How to build one matcher.

    ``arities`` is the tuple of accepted argument counts (None: any non-zero count). ``build`` turns validated
    arguments into a predicate and raises :class:`RuleError`. ``hosts`` (Host-like matchers only) returns the
    canonical hosts a positive use of the matcher restricts requests to.
    """

    name: str
    arities: tuple[int, ...] | None
    build: Callable[[tuple[str, ...]], Predicate]
    hosts: Callable[[tuple[str, ...]], frozenset[str]] | None = None


def never(_req: RuleRequest) -> bool:
    """A predicate that matches nothing."""
    return False


def canonical_rule_host(value: str) -> str:
    """Return the rule-side host in the request's canonical form: lower-case, one trailing dot and IPv6 brackets
    removed (Traefik tolerates a trailing dot on either side; request hosts here never have one)."""
    host = value.lower()
    if host == value:
        host = value  # lower() always copies: keep the rule's own string (10,000 Host rules held two copies each)
    if host.endswith("."):
        host = host[:-1]
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host


def check_ascii(value: str, matcher: str) -> None:
    """Raise Traefik's error for a non-ASCII ``Host``/``HostRegexp`` value."""
    if not value.isascii():
        raise RuleError(f"invalid value {go_quote(value)} for {matcher} matcher, non-ASCII characters are not allowed")


def compile_regexp(pattern: str, matcher: str) -> GoRegexp:
    """Compile a Go regexp argument (on RE2); raise ``compiling <matcher> matcher: error parsing regexp: ...``."""
    try:
        return compile_go_regexp(pattern)
    except GoRegexpError as exc:
        raise RuleError(f"compiling {matcher} matcher: {exc}") from None


def _client_ip(args: tuple[str, ...]) -> Predicate:
    try:
        ranges = parse_ip_ranges(args)
    except ValueError as exc:
        raise RuleError(f"initializing IP checker for ClientIP matcher: {exc}") from None
    contains = ranges.contains

    def client_ip(req: RuleRequest) -> bool:
        return contains(req.client_ip)

    return client_ip


def _method(args: tuple[str, ...]) -> Predicate:
    method = args[0].upper()

    def match_method(req: RuleRequest) -> bool:
        return req.method == method

    return match_method


def _host_set(args: tuple[str, ...]) -> frozenset[str]:
    return frozenset(host for host in map(canonical_rule_host, args) if host)


def _host(args: tuple[str, ...]) -> Predicate:
    check_ascii(args[0], "Host")
    host = canonical_rule_host(args[0])
    if not host:
        return never  # Traefik never matches an empty request host

    def match_host(req: RuleRequest) -> bool:
        return req.host == host

    return match_host


def _host_regexp(args: tuple[str, ...]) -> Predicate:
    check_ascii(args[0], "HostRegexp")
    is_match = compile_regexp(args[0], "HostRegexp").is_match

    def match_host_regexp(req: RuleRequest) -> bool:
        return is_match(req.host)

    return match_host_regexp


def _check_path(path: str) -> None:
    if not path.startswith("/"):
        raise RuleError(f"path {go_quote(path)} does not start with a '/'")


def _path(args: tuple[str, ...]) -> Predicate:
    path = args[0]
    _check_path(path)

    def match_path(req: RuleRequest) -> bool:
        return req.routing_path == path

    return match_path


def _path_prefix(args: tuple[str, ...]) -> Predicate:
    prefix = args[0]
    _check_path(prefix)

    def match_path_prefix(req: RuleRequest) -> bool:
        return req.routing_path.startswith(prefix)

    return match_path_prefix


def _path_regexp(args: tuple[str, ...]) -> Predicate:
    # Traefik's message says "compiling PathPrefix matcher" here (a copy-paste slip); we name the right matcher.
    is_match = compile_regexp(args[0], "PathRegexp").is_match

    def match_path_regexp(req: RuleRequest) -> bool:
        return is_match(req.routing_path)

    return match_path_regexp


def _header(args: tuple[str, ...]) -> Predicate:
    key, value = args

    def match_header(req: RuleRequest) -> bool:
        return value in req.header_values(key)

    return match_header


def _header_regexp(args: tuple[str, ...]) -> Predicate:
    key = args[0]
    is_match = compile_regexp(args[1], "HeaderRegexp").is_match

    def match_header_regexp(req: RuleRequest) -> bool:
        return any(is_match(value) for value in req.header_values(key))

    return match_header_regexp


def _query(args: tuple[str, ...]) -> Predicate:
    key = args[0]
    value = args[1] if len(args) == 2 else ""

    def match_query(req: RuleRequest) -> bool:
        values = req.query_params().get(key)
        return values is not None and value in values

    return match_query


def _query_regexp(args: tuple[str, ...]) -> Predicate:
    if len(args) == 1:
        return _query(args)
    key = args[0]
    is_match = compile_regexp(args[1], "QueryRegexp").is_match

    def match_query_regexp(req: RuleRequest) -> bool:
        values = req.query_params().get(key)
        return values is not None and any(is_match(value) for value in values)

    return match_query_regexp


V3_MATCHERS: dict[str, MatcherSpec] = {
    spec.name: spec
    for spec in (
        MatcherSpec("ClientIP", (1,), _client_ip),
        MatcherSpec("Method", (1,), _method),
        MatcherSpec("Host", (1,), _host, _host_set),
        MatcherSpec("HostRegexp", (1,), _host_regexp),
        MatcherSpec("Path", (1,), _path),
        MatcherSpec("PathRegexp", (1,), _path_regexp),
        MatcherSpec("PathPrefix", (1,), _path_prefix),
        MatcherSpec("Header", (2,), _header),
        MatcherSpec("HeaderRegexp", (2,), _header_regexp),
        MatcherSpec("Query", (1, 2), _query),
        MatcherSpec("QueryRegexp", (1, 2), _query_regexp),
    )
}
"""The v3 matcher table, by canonical name."""
