"""Reasoning about router rules for humans: which routers can never match, and why a router did not match a request.

Shadowing (:func:`covers`, :func:`find_shadows`) is decided on the rule trees and is *sound but incomplete*: when it
says that router A matches every request router B matches, that is proved; when it cannot prove it, it says no.
The proof puts B in disjunctive normal form and A in conjunctive normal form; A covers B when every conjunction of B
implies every clause of A, and a conjunction implies a clause when one of its literals implies one of the clause's
literals. Literal implication knows the v3 matchers:

* a literal that pins an attribute (``Host(x)`` pins the host, ``Path(p)`` the routing path, ``Method(m)`` the
  method) decides every matcher on that attribute, positive or negated, by evaluating it on that value;
* ``PathPrefix(p)`` implies ``PathPrefix(q)`` when ``p`` starts with ``q``, and excludes ``Path(q)``/``PathPrefix(q)``
  when neither string starts with the other;
* ``Header(k, v)`` / ``Query(k, v)`` imply the matchers on ``k`` that accept the value ``v`` (those matchers ask
  whether *some* value qualifies, so the other values a request may carry cannot hurt);
* ``ClientIP`` ranges imply larger ranges and exclude disjoint ones;
* identical matchers imply each other, and ``!X`` implies ``!Y`` when ``Y`` implies ``X``.

Rules of the v2 syntax are never reported (their matchers take templates and several values). Trees whose normal
forms would exceed :data:`MAX_TERMS` terms are not analysed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from hanzo_edge.routing.table import Route, RoutingTable
from hanzo_edge.rules import And, Matcher, Node, Not, Or, RuleError, compile_rule, render
from hanzo_edge.rules.compile import RuleRequest
from hanzo_edge.rules.ipcheck import parse_ip_ranges
from hanzo_edge.rules.matchers import canonical_rule_host

__all__ = [
    "MAX_TERMS",
    "Shadow",
    "covers",
    "describe_failure",
    "failed_matchers",
    "failure_kind",
    "find_shadows",
    "rule_syntax",
    "why_not",
]

MAX_TERMS = 256
"""Largest normal form (number of conjunctions or clauses) the shadow analysis builds before giving up."""

_V3 = "v3"


def rule_syntax(syntax: str) -> str:
    """Return the canonical syntax name of a router's ``ruleSyntax`` (``""`` and ``"default"`` are v3)."""
    key = (syntax or _V3).lower()
    return _V3 if key == "default" else key


# -- literals and normal forms ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Literal:
    """A matcher or its negation. ``key`` is the matcher with its arguments in the form the compiled predicate
    compares (so equal keys match the same requests); ``matcher`` is the matcher as written, for evaluation."""

    key: Matcher
    matcher: Matcher
    positive: bool


_Form = list[list[_Literal]]


class _TooBig(Exception):
    pass


def _canonical(matcher: Matcher) -> Matcher:
    name, args = matcher.name, matcher.args
    if name == "Host":
        return Matcher(name, (canonical_rule_host(args[0]),))
    if name == "Method":
        return Matcher(name, (args[0].upper(),))
    if name in ("Header", "HeaderRegexp"):
        return Matcher(name, (args[0].lower(), *args[1:]))
    if name in ("Query", "QueryRegexp") and len(args) == 1:
        return Matcher("Query", (args[0], ""))
    return matcher


def _literal(matcher: Matcher, positive: bool) -> _Literal:
    return _Literal(_canonical(matcher), matcher, positive)


def _normal_form(node: Node, disjunctive: bool, positive: bool = True) -> _Form:
    """DNF (``disjunctive``: a list of conjunctions) or CNF (a list of clauses) of ``node``, ``!`` pushed to leaves."""
    if isinstance(node, Matcher):
        return [[_literal(node, positive)]]
    if isinstance(node, Not):
        return _normal_form(node.operand, disjunctive, not positive)
    left = _normal_form(node.left, disjunctive, positive)
    right = _normal_form(node.right, disjunctive, positive)
    # Under an odd number of "!", "&&" acts as "||" and vice versa (De Morgan).
    outer = Or if disjunctive else And
    joined = left + right if isinstance(node, outer) == positive else [a + b for a, b in itertools.product(left, right)]
    if len(joined) > MAX_TERMS:
        raise _TooBig
    return joined


# -- literal implication ---------------------------------------------------------------------------------------------
_ATTRIBUTE = {
    "Host": "host",
    "HostRegexp": "host",
    "Path": "path",
    "PathPrefix": "path",
    "PathRegexp": "path",
    "Method": "method",
}


class _Probe:
    """A request with one known attribute (the others are blank): enough to evaluate matchers on that attribute."""

    __slots__ = ("client_ip", "headers", "host", "method", "params", "routing_path")

    def __init__(
        self,
        *,
        host: str = "",
        routing_path: str = "",
        method: str = "",
        headers: Mapping[str, Sequence[str]] | None = None,
        params: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.host = host
        self.routing_path = routing_path
        self.method = method
        self.client_ip = ""
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.params = dict(params or {})

    def header_values(self, name: str) -> Sequence[str]:
        return self.headers.get(name.lower(), ())

    def query_params(self) -> Mapping[str, Sequence[str]]:
        return self.params


def _evaluate(matcher: Matcher, req: RuleRequest) -> bool | None:
    """Evaluate one v3 matcher with the compiled predicate (None if it does not compile)."""
    try:
        compiled = compile_rule(render(matcher), _V3)
    except RuleError:
        return None
    return compiled.matches(req)


def _pinned(lit: _Literal) -> tuple[str, _Probe] | None:
    """The attribute a positive matcher pins to one value, with a probe request carrying that value."""
    name, value = lit.key.name, lit.key.args[0]
    if name == "Host" and value:  # the canonical host every matching request has ("" never matches)
        return "host", _Probe(host=value)
    if name == "Path":
        return "path", _Probe(routing_path=value)
    if name == "Method":
        return "method", _Probe(method=value)
    return None


def _value_probe(lit: _Literal) -> _Probe | None:
    """For ``Header(k, v)`` / ``Query(k, v)``: a probe whose only value of ``k`` is ``v``."""
    args = lit.key.args
    if lit.key.name == "Header":
        return _Probe(headers={args[0]: [args[1]]})
    if lit.key.name == "Query":
        return _Probe(params={args[0]: [args[1]]})
    return None


_VALUE_KEYED = {"Header": "header", "HeaderRegexp": "header", "Query": "query", "QueryRegexp": "query"}


def _ranges(matcher: Matcher) -> tuple[tuple[int, int, int], ...] | None:
    try:
        return parse_ip_ranges(matcher.args).ranges
    except ValueError:
        return None


def _implies(x: _Literal, y: _Literal) -> bool:
    """Every request the matcher of ``x`` matches, the matcher of ``y`` matches (signs ignored)."""
    if x.key == y.key:
        return True
    pinned = _pinned(x)
    if pinned is not None and _ATTRIBUTE.get(y.key.name) == pinned[0]:
        return _evaluate(y.matcher, pinned[1]) is True
    if x.key.name == "PathPrefix" and y.key.name == "PathPrefix":
        return x.key.args[0].startswith(y.key.args[0])
    kind = _VALUE_KEYED.get(x.key.name)
    if kind is not None and kind == _VALUE_KEYED.get(y.key.name) and x.key.args[0] == y.key.args[0]:
        # These matchers ask whether *some* value of the key qualifies: true on {v} means true on every superset.
        probe = _value_probe(x)
        return probe is not None and _evaluate(y.matcher, probe) is True
    if x.key.name == "ClientIP" and y.key.name == "ClientIP":
        inner, outer = _ranges(x.matcher), _ranges(y.matcher)
        if inner is None or outer is None:
            return False
        return all(any(v == w and lo >= a and hi <= b for w, a, b in outer) for v, lo, hi in inner)
    return False


def _disjoint(x: _Literal, y: _Literal) -> bool:
    """No request matches both matchers (signs ignored)."""
    for first, second in ((x, y), (y, x)):
        pinned = _pinned(first)
        if pinned is not None and _ATTRIBUTE.get(second.key.name) == pinned[0]:
            return _evaluate(second.matcher, pinned[1]) is False
    names = (x.key.name, y.key.name)
    if names == ("PathPrefix", "PathPrefix"):
        p, q = x.key.args[0], y.key.args[0]
        return not (p.startswith(q) or q.startswith(p))
    if x.key.name == "ClientIP" and y.key.name == "ClientIP":
        first_ranges, second_ranges = _ranges(x.matcher), _ranges(y.matcher)
        if first_ranges is None or second_ranges is None:
            return False
        return all(v != w or hi < a or b < lo for v, lo, hi in first_ranges for w, a, b in second_ranges)
    return False


def _literal_implies(d: _Literal, lit: _Literal) -> bool:
    if d.positive and lit.positive:
        return _implies(d, lit)
    if not d.positive and not lit.positive:
        return _implies(lit, d)  # contraposition: !X => !Y iff Y => X
    if d.positive:
        return _disjoint(d, lit)  # X => !Y iff X and Y never both hold
    return False  # !X => Y is never proved


def _tautology(clause: list[_Literal]) -> bool:
    positives = {lit.key for lit in clause if lit.positive}
    return any(not lit.positive and lit.key in positives for lit in clause)


@dataclass(frozen=True, slots=True)
class _Forms:
    dnf: _Form | None
    cnf: _Form | None


def _forms(node: Node | None) -> _Forms:
    if node is None:
        return _Forms(None, None)
    try:
        dnf: _Form | None = _normal_form(node, disjunctive=True)
    except _TooBig:
        dnf = None
    try:
        cnf: _Form | None = _normal_form(node, disjunctive=False)
    except _TooBig:
        cnf = None
    return _Forms(dnf, cnf)


def _covers_forms(a: _Forms, b: _Forms) -> bool:
    if a.cnf is None or b.dnf is None:
        return False
    for conjunction in b.dnf:
        for clause in a.cnf:
            if _tautology(clause):
                continue
            if not any(_literal_implies(d, lit) for d in conjunction for lit in clause):
                return False
    return True


def covers(a: Node, b: Node) -> bool:
    """Return True only if it is proved that rule ``a`` matches every request rule ``b`` matches (v3 trees).

    False means "not proved", never "proved not".
    """
    return _covers_forms(_forms(a), _forms(b))


# -- shadowed routers ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Shadow:
    """Router ``router`` on ``entry_point`` can never match: ``by``, checked before it, matches all its requests."""

    entry_point: str
    router: str
    priority: int
    by: str
    by_priority: int

    def __str__(self) -> str:
        """Return the ``SHADOWED router ...`` line of ``ingress check``."""
        tie = ""
        if self.priority == self.by_priority:
            tie = " (equal priorities: the name that sorts first is checked first)"
        return (
            f"SHADOWED router {self.router} (priority {self.priority}) on entrypoint {self.entry_point} can never "
            f"match: {self.by} (priority {self.by_priority}) matches first{tie}"
        )


def _tree(route: Route, syntax: str) -> Node | None:
    if rule_syntax(syntax) != _V3 or not route.rule:
        return None
    try:
        return compile_rule(route.rule, _V3).ast
    except RuleError:
        return None


def find_shadows(
    entry_point: str,
    table: RoutingTable,
    syntax_of: Callable[[str], str | None],
) -> list[Shadow]:
    """Return the routers of ``table`` that can never match because an earlier router matches all their requests.

    ``syntax_of(router_name)`` returns the router's ``ruleSyntax`` ("" for the default), or None for a router whose
    rule text is not the whole truth (internal routers): such routers may shadow others but are never reported.
    Each shadowed router is reported once, with the first router (in table order) that covers it.
    """
    shadows: list[Shadow] = []
    any_host: list[tuple[int, Route, _Forms]] = []
    by_host: dict[str, list[tuple[int, Route, _Forms]]] = {}
    for index, route in enumerate(table.routes):
        syntax = syntax_of(route.name)
        forms = _forms(_tree(route, syntax if syntax is not None else _V3))
        if syntax is not None and forms.dnf is not None and route.hosts != frozenset():
            candidates = list(any_host)
            if route.hosts:
                first = next(iter(route.hosts))
                candidates.extend(c for c in by_host.get(first, ()) if route.hosts <= (c[1].hosts or frozenset()))
                candidates.sort(key=lambda c: c[0])
            for _, earlier, earlier_forms in candidates:
                if _covers_forms(earlier_forms, forms):
                    shadows.append(Shadow(entry_point, route.name, route.priority, earlier.name, earlier.priority))
                    break
        if forms.cnf is None:
            continue
        entry = (index, route, forms)
        if route.hosts is None:
            any_host.append(entry)
        else:
            for host in route.hosts:
                by_host.setdefault(host, []).append(entry)
    return shadows


# -- why a rule did not match ----------------------------------------------------------------------------------------
def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def _values(values: Sequence[str]) -> str:
    return ", ".join(_quote(v) for v in values)


def describe_failure(matcher: Matcher, req: RuleRequest, syntax: str = _V3) -> str:
    """Return what the request has for the attribute ``matcher`` tests, e.g. ``host is "app.test"``."""
    name = matcher.name
    if name in ("Host", "HostRegexp", "HostHeader"):
        return f"host is {_quote(req.host)}"
    if name in ("Path", "PathPrefix", "PathRegexp"):
        return f"path is {_quote(req.routing_path)}"
    if name == "Method":
        return f"method is {_quote(req.method)}"
    if name == "ClientIP":
        return f"client IP is {_quote(req.client_ip)}"
    if name in ("Header", "HeaderRegexp", "Headers", "HeadersRegexp") and matcher.args:
        key = matcher.args[0]
        values = req.header_values(key)
        return f"header {key} is {_values(values)}" if values else f"header {key} is absent"
    if name in ("Query", "QueryRegexp") and rule_syntax(syntax) != _V3:
        return f"query is {_quote(_query_text(req))}"
    if name in ("Query", "QueryRegexp") and matcher.args:
        key = matcher.args[0]
        params = req.query_params().get(key)
        return f"query parameter {key} is {_values(params)}" if params else f"query parameter {key} is absent"
    return "the request does not satisfy it"


def _query_text(req: RuleRequest) -> str:
    return "&".join(f"{k}={v}" for k, values in req.query_params().items() for v in values)


def _matcher_result(matcher: Matcher, req: RuleRequest, syntax: str) -> bool | None:
    try:
        return compile_rule(render(matcher), syntax).matches(req)
    except RuleError:
        return None


def why_not(node: Node, req: RuleRequest, syntax: str = _V3) -> str | None:
    """Return why rule ``node`` does not match ``req`` (None if it matches), evaluating left to right like the router.

    The reason names the first matcher that failed: ``Host(`other`) false: host is "app.test"``; a failed ``||``
    gives the reasons of both sides joined by ``; ``; a failed ``!X`` says what made ``X`` true.
    """
    syntax = rule_syntax(syntax)
    if isinstance(node, Matcher):
        result = _matcher_result(node, req, syntax)
        if result is None or result:
            return None if result else f"{render(node)} could not be evaluated"
        return f"{render(node)} false: {describe_failure(node, req, syntax)}"
    if isinstance(node, Not):
        if why_not(node.operand, req, syntax) is not None:
            return None
        operand = node.operand
        detail = (
            describe_failure(operand, req, syntax) if isinstance(operand, Matcher) else "the negated expression matched"
        )
        return f"{render(node)} false: {detail}"
    left = why_not(node.left, req, syntax)
    if isinstance(node, And):
        return left if left is not None else why_not(node.right, req, syntax)
    if left is None:
        return None
    right = why_not(node.right, req, syntax)
    return None if right is None else f"{left}; {right}"


# -- what made a rule fail, for summaries ----------------------------------------------------------------------------
_ATTRIBUTE_OF = {
    "Host": "host",
    "HostRegexp": "host",
    "HostHeader": "host",
    "Path": "path",
    "PathPrefix": "path",
    "PathRegexp": "path",
    "Method": "method",
    "Header": "header",
    "HeaderRegexp": "header",
    "Headers": "header",
    "HeadersRegexp": "header",
    "Query": "query",
    "QueryRegexp": "query",
    "ClientIP": "client IP",
}


def failed_matchers(node: Node, req: RuleRequest, syntax: str = _V3) -> list[tuple[Matcher, bool]] | None:
    """Return every matcher that keeps rule ``node`` from matching ``req``, None if it matches.

    Each entry is ``(matcher, positive)``: ``positive`` is False for a negated matcher that matched. Unlike
    :func:`why_not`, both sides of a failed ``&&`` are examined, so the count says how far the request is from
    matching; the first entry is the one :func:`why_not` names first.
    """
    syntax = rule_syntax(syntax)
    found: list[tuple[Matcher, bool]] = []
    return found if _collect(node, req, syntax, True, found) is False else None


def _collect(node: Node, req: RuleRequest, syntax: str, positive: bool, found: list[tuple[Matcher, bool]]) -> bool:
    """Evaluate ``node`` (negated when not ``positive``) and append the failing matchers; return the result."""
    if isinstance(node, Matcher):
        result = _matcher_result(node, req, syntax) is True
        if result != positive:
            found.append((node, positive))
        return result == positive
    if isinstance(node, Not):
        return _collect(node.operand, req, syntax, not positive, found)
    # Under an odd number of "!", "&&" fails like "||" and vice versa (De Morgan).
    conjunction = isinstance(node, And) == positive
    mark = len(found)
    left = _collect(node.left, req, syntax, positive, found)
    right = _collect(node.right, req, syntax, positive, found)
    if conjunction:
        return left and right
    if left or right:
        del found[mark:]  # one side holds: nothing under this node failed
        return True
    return False


def failure_kind(matcher: Matcher, positive: bool) -> str:
    """Return a short reason for a summary: ``host differs``, ``path differs``, ``method excluded``..."""
    attribute = _ATTRIBUTE_OF.get(matcher.name, "rule")
    return f"{attribute} differs" if positive else f"{attribute} excluded"
