"""Matcher builders of the deprecated v2 rule syntax (Traefik ``matcher_v2.go``, built on gorilla/mux routes).

Differences from v3 (Traefik ``docs/content/migrate/v2-to-v3-details.md``):

* Every matcher takes several values. ``Host``/``HostHeader``, ``HostRegexp``, ``Path``, ``PathPrefix``, ``Method``
  and ``ClientIP`` match when **any** value matches; ``Headers``/``HeadersRegexp`` take key/value pairs and
  ``Query`` takes ``key=value`` items, and **all** pairs must match.
* ``HostRegexp``, ``Path``, ``PathPrefix`` and ``Query`` values are gorilla/mux templates: literal text with
  ``{name}`` or ``{name:regexp}`` variables (default pattern ``[^.]+`` in a host, ``[^/]+`` in a path, ``.*`` in a
  query value). The whole template is anchored (``PathPrefix`` only at the start). Host templates match
  case-insensitively. A host template that mentions a port never matches, as request hosts here carry no port.
* ``Query(`k=v`)`` compares against the first value of ``k`` only (gorilla ``findFirstQueryKey``); ``Query(`k=`)``
  only needs ``k`` present.
* ``Headers`` and ``HeadersRegexp`` (unanchored regexp) match when any value of the header matches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hanzo_edge.rules.errors import RuleError, go_list, go_quote
from hanzo_edge.rules.goregexp import GoRegexp, GoRegexpError, compile_go_regexp, quote_meta
from hanzo_edge.rules.ipcheck import parse_ip_ranges
from hanzo_edge.rules.matchers import (
    MatcherSpec,
    Predicate,
    canonical_rule_host,
    check_ascii,
    compile_regexp,
    never,
)

if TYPE_CHECKING:
    from hanzo_edge.rules.compile import RuleRequest

__all__ = ["V2_MATCHERS", "compile_template"]

_DEFAULT_PATTERN = {"host": "[^.]+", "path": "[^/]+", "prefix": "[^/]+", "query": ".*"}


def _brace_spans(template: str) -> list[tuple[int, int]]:
    """Return the (start, end) spans of the top-level ``{...}`` variables; raise on unbalanced braces."""
    spans: list[tuple[int, int]] = []
    level = start = 0
    for index, ch in enumerate(template):
        if ch == "{":
            level += 1
            if level == 1:
                start = index
        elif ch == "}":
            level -= 1
            if level == 0:
                spans.append((start, index + 1))
            elif level < 0:
                break
    if level != 0:
        raise RuleError(f"mux: unbalanced braces in {go_quote(template)}")
    return spans


def compile_template(template: str, kind: str) -> GoRegexp:
    """Compile a gorilla/mux template of ``kind`` (``host``, ``path``, ``prefix`` or ``query``) to a Go regexp.

    As gorilla does, each variable's pattern is first compiled alone as ``^pattern$`` (so its error names that
    expression), then the whole template as ``^literal(?P<v0>pattern)...$`` (no ``$`` for ``prefix``). Raises
    :class:`RuleError` for unbalanced braces, an empty variable name or pattern, or a pattern Go rejects.
    """
    parts = ["^"]
    end = 0
    for index, (start, stop) in enumerate(_brace_spans(template)):
        parts.append(quote_meta(template[end:start]))
        name, colon, pattern = template[start + 1 : stop - 1].partition(":")
        if not colon:
            pattern = _DEFAULT_PATTERN[kind]
        if not name or not pattern:
            raise RuleError(f"mux: missing name or pattern in {go_quote(template[start:stop])}")
        _compile(f"^{pattern}$")
        parts.append(f"(?P<v{index}>{pattern})")
        end = stop
    parts.append(quote_meta(template[end:]))
    if kind == "query" and template.partition("=")[2] == "":
        parts.append(_DEFAULT_PATTERN["query"])
    if kind != "prefix":
        parts.append("$")
    return _compile("".join(parts), ignore_case=kind == "host")


def _compile(pattern: str, *, ignore_case: bool = False) -> GoRegexp:
    try:
        return compile_go_regexp(pattern, ignore_case=ignore_case)
    except GoRegexpError as exc:
        raise RuleError(str(exc)) from None


def _any(predicates: list[Predicate]) -> Predicate:
    if len(predicates) == 1:
        return predicates[0]
    options = tuple(predicates)

    def match_any(req: RuleRequest) -> bool:
        return any(predicate(req) for predicate in options)

    return match_any


def _host_set(args: tuple[str, ...]) -> frozenset[str]:
    return frozenset(host for host in map(canonical_rule_host, args) if host)


def _host(args: tuple[str, ...]) -> Predicate:
    for value in args:
        if not value.isascii():
            raise RuleError(f'invalid value {go_quote(value)} for "Host" matcher, non-ASCII characters are not allowed')
    hosts = _host_set(args)
    if not hosts:
        return never

    def match_host(req: RuleRequest) -> bool:
        return req.host in hosts

    return match_host


def _host_regexp(args: tuple[str, ...]) -> Predicate:
    for value in args:
        check_ascii(value, "HostRegexp")
    matchers = tuple(compile_template(value, "host").is_match for value in args)

    def match_host_regexp(req: RuleRequest) -> bool:
        host = req.host
        return any(is_match(host) for is_match in matchers)

    return match_host_regexp


def _path_predicate(template: str, kind: str) -> Predicate:
    if not template.startswith("/"):
        raise RuleError(f"mux: path must start with a slash, got {go_quote(template)}")
    if "{" not in template and "}" not in template:  # plain text: no regexp needed
        if kind == "prefix":

            def match_prefix(req: RuleRequest) -> bool:
                return req.routing_path.startswith(template)

            return match_prefix

        def match_path(req: RuleRequest) -> bool:
            return req.routing_path == template

        return match_path
    is_match = compile_template(template, kind).is_match

    def match_template(req: RuleRequest) -> bool:
        return is_match(req.routing_path)

    return match_template


def _path(args: tuple[str, ...]) -> Predicate:
    return _any([_path_predicate(value, "path") for value in args])


def _path_prefix(args: tuple[str, ...]) -> Predicate:
    return _any([_path_predicate(value, "prefix") for value in args])


def _method(args: tuple[str, ...]) -> Predicate:
    methods = frozenset(value.upper() for value in args)

    def match_method(req: RuleRequest) -> bool:
        return req.method in methods

    return match_method


def _client_ip(args: tuple[str, ...]) -> Predicate:
    try:
        ranges = parse_ip_ranges(args)
    except ValueError as exc:
        raise RuleError(f'could not initialize IP Checker for "ClientIP" matcher: {exc}') from None
    contains = ranges.contains

    def client_ip(req: RuleRequest) -> bool:
        return contains(req.client_ip)

    return client_ip


def _pairs(values: list[str]) -> dict[str, str]:
    if len(values) % 2:
        raise RuleError(f"mux: number of parameters must be multiple of 2, got {go_list(values)}")
    return dict(zip(values[::2], values[1::2], strict=True))


def _headers(args: tuple[str, ...]) -> Predicate:
    pairs = tuple(_pairs(list(args)).items())

    def match_headers(req: RuleRequest) -> bool:
        for key, value in pairs:
            values = req.header_values(key)
            if not values or (value and value not in values):
                return False
        return True

    return match_headers


def _headers_regexp(args: tuple[str, ...]) -> Predicate:
    pairs = tuple(
        (key, compile_regexp(value, "HeadersRegexp").is_match if value else None)
        for key, value in _pairs(list(args)).items()
    )

    def match_headers_regexp(req: RuleRequest) -> bool:
        for key, is_match in pairs:
            values = req.header_values(key)
            if not values or (is_match is not None and not any(is_match(value) for value in values)):
                return False
        return True

    return match_headers_regexp


def _query(args: tuple[str, ...]) -> Predicate:
    flat: list[str] = []
    for item in args:
        key, equals, value = item.partition("=")
        flat.extend((key, value) if equals else (key,))
    if len(flat) % 2:
        raise RuleError(f"mux: number of parameters must be multiple of 2, got {go_list(flat)}")
    checks = tuple(
        (key, compile_template(f"{key}={value}", "query").is_match)
        for key, value in zip(flat[::2], flat[1::2], strict=True)
    )

    def match_query(req: RuleRequest) -> bool:
        params = req.query_params()
        for key, is_match in checks:
            values = params.get(key)
            if not values or not is_match(f"{key}={values[0]}"):
                return False
        return True

    return match_query


V2_MATCHERS: dict[str, MatcherSpec] = {
    spec.name: spec
    for spec in (
        MatcherSpec("Host", None, _host, _host_set),
        MatcherSpec("HostHeader", None, _host, _host_set),
        MatcherSpec("HostRegexp", None, _host_regexp),
        MatcherSpec("ClientIP", None, _client_ip),
        MatcherSpec("Path", None, _path),
        MatcherSpec("PathPrefix", None, _path_prefix),
        MatcherSpec("Method", None, _method),
        MatcherSpec("Headers", None, _headers),
        MatcherSpec("HeadersRegexp", None, _headers_regexp),
        MatcherSpec("Query", None, _query),
    )
}
"""The v2 matcher table, by canonical name."""
