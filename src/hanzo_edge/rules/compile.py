"""Rule text → :class:`CompiledRule`: a request predicate, the hosts it is limited to, and the default priority.

Compilation checks what Traefik's ``matchersTree.addRule`` checks, in the same order, with its messages: every
matcher has arguments (``no args for matcher Host``) and none is empty (``empty args for matcher Host, []``), the
count fits (``unexpected number of parameters; got 2, expected one of [1]``), then the matcher's own checks.
All the work happens here, once; :attr:`CompiledRule.matches` only runs the comparisons.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from hanzo_edge.rules.ast import And, Matcher, Node, Not
from hanzo_edge.rules.errors import RuleError, go_list
from hanzo_edge.rules.matchers import V3_MATCHERS, MatcherSpec, Predicate
from hanzo_edge.rules.matchers_v2 import V2_MATCHERS
from hanzo_edge.rules.parser import parse_rule

__all__ = [
    "SYNTAXES",
    "CompiledRule",
    "RuleRequest",
    "build_predicate",
    "compile_rule",
    "default_priority",
    "rule_hosts",
]

SYNTAXES: Mapping[str, Mapping[str, MatcherSpec]] = {"v3": V3_MATCHERS, "v2": V2_MATCHERS}
"""Matcher tables by rule syntax name."""


class RuleRequest(Protocol):
    """What a compiled rule reads from a request (``hanzo_edge.http.Request`` provides it).

    ``method`` is upper-case as received; ``host`` is canonical (lower-case, no port, no IPv6 brackets, no
    trailing dot); ``routing_path`` has unreserved percent-escapes decoded and reserved ones kept upper-case;
    ``client_ip`` is the socket peer address. ``header_values`` looks the name up case-insensitively;
    ``query_params`` returns decoded values, keeping blank ones (``?k`` → ``{"k": [""]}``).
    """

    @property
    def method(self) -> str: ...

    @property
    def host(self) -> str: ...

    @property
    def routing_path(self) -> str: ...

    @property
    def client_ip(self) -> str: ...

    def header_values(self, name: str) -> Sequence[str]: ...

    def query_params(self) -> Mapping[str, Sequence[str]]: ...


class CompiledRule:
    """A rule ready to match requests. Immutable; equal (and hashing equal) when text and syntax are equal.

    Attributes:
        text: the rule as written.
        syntax: ``"v3"`` or ``"v2"``.
        ast: the parsed tree.
        hosts: the canonical hosts the rule is limited to: it can match a request only if ``request.host`` is in
            this set (empty: it matches no host at all). None when some branch does not require ``Host(...)``
            (``HostRegexp``, a negated ``Host``, ``Host(a) || PathPrefix(/x)``...).
        host_only: True when the rule tests nothing but the host, i.e. ``matches(r) == (r.host in hosts)`` for
            every request (``Host(a)``, ``Host(a) || Host(b)``): a host-index hit then needs no further check.
        matches: ``matches(request) -> bool``; a plain closure attribute, so a call costs no method binding.
        path_rule: ``(is_prefix, path)`` when, for a request whose host is in ``hosts`` (any request when ``hosts``
            is None), ``matches`` is exactly ``routing_path.startswith(path)`` (or ``== path``): a lone literal
            ``Path``/``PathPrefix``, or one beside a ``Host`` under ``&&``. The routing table tests it natively
            instead of calling the closure (issue 22); None for every other shape.
    """

    __slots__ = ("ast", "host_only", "hosts", "matches", "path_rule", "syntax", "text")

    text: str
    syntax: str
    ast: Node
    hosts: frozenset[str] | None
    host_only: bool
    matches: Predicate
    path_rule: tuple[bool, str] | None

    def __init__(
        self,
        text: str,
        syntax: str,
        ast: Node,
        hosts: frozenset[str] | None,
        matches: Predicate,
        *,
        host_only: bool = False,
        path_rule: tuple[bool, str] | None = None,
    ) -> None:
        init = object.__setattr__  # __setattr__ below refuses every later assignment
        init(self, "text", text)
        init(self, "syntax", syntax)
        init(self, "ast", ast)
        init(self, "hosts", hosts)
        init(self, "host_only", host_only and hosts is not None)
        init(self, "matches", matches)
        init(self, "path_rule", path_rule)

    def __setattr__(self, name: str, value: object) -> None:
        # The rule cache hands one compiled rule to every router with the same text: state set on it by one router's
        # build would show in the others'. Per-router data belongs in the router's own route.
        raise AttributeError(f"CompiledRule is immutable (shared by the routers with this rule): cannot set {name}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"CompiledRule is immutable (shared by the routers with this rule): cannot delete {name}")

    @property
    def priority(self) -> int:
        """The default priority of this rule: :func:`default_priority` of its text."""
        return default_priority(self.text)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompiledRule):
            return NotImplemented
        return self.text == other.text and self.syntax == other.syntax

    def __hash__(self) -> int:
        return hash((self.text, self.syntax))

    def __repr__(self) -> str:
        return f"<CompiledRule {self.syntax} {self.text!r}>"


def default_priority(text: str) -> int:
    """Return Traefik's default router priority for rule ``text``: its length in UTF-8 bytes."""
    return len(text.encode("utf-8", "surrogatepass"))


def _check_args(node: Matcher, spec: MatcherSpec) -> None:
    if not node.args:
        raise RuleError(f"no args for matcher {node.name}")
    if any(arg == "" for arg in node.args):
        raise RuleError(f"empty args for matcher {node.name}, {go_list(node.args)}")
    if spec.arities is not None and len(node.args) not in spec.arities:
        expected = go_list([str(n) for n in spec.arities])
        raise RuleError(f"unexpected number of parameters; got {len(node.args)}, expected one of {expected}")


def _build(node: Node, table: Mapping[str, MatcherSpec]) -> Predicate:
    if isinstance(node, Matcher):
        spec = table.get(node.name)
        if spec is None:
            raise RuleError(f"unsupported function: {node.name}")
        try:
            _check_args(node, spec)
            return spec.build(node.args)
        except RuleError as exc:
            if exc.matcher is None:
                exc.matcher = node.name
            raise
    if isinstance(node, Not):
        operand = _build(node.operand, table)

        def negate(req: RuleRequest) -> bool:
            return not operand(req)

        return negate
    left = _build(node.left, table)
    right = _build(node.right, table)
    if isinstance(node, And):

        def both(req: RuleRequest) -> bool:
            return left(req) and right(req)

        return both

    def either(req: RuleRequest) -> bool:
        return left(req) or right(req)

    return either


def build_predicate(node: Node, table: Mapping[str, MatcherSpec]) -> Predicate:
    """Compile a parsed tree with a matcher table (the HTTP ones, or the TCP one of ``rules/tcp_matchers.py``)."""
    return _build(node, table)


def rule_hosts(node: Node, table: Mapping[str, MatcherSpec], positive: bool = True) -> frozenset[str] | None:
    """Return the hosts ``node`` restricts matching requests to, or None if it does not restrict the host.

    ``positive`` is False under an odd number of ``!``: then ``&&`` behaves as ``||`` and vice versa (De Morgan)
    and a ``Host`` leaf restricts nothing.
    """
    if isinstance(node, Matcher):
        spec = table.get(node.name)
        if positive and spec is not None and spec.hosts is not None:
            return spec.hosts(node.args)
        return None
    if isinstance(node, Not):
        return rule_hosts(node.operand, table, not positive)
    left = rule_hosts(node.left, table, positive)
    right = rule_hosts(node.right, table, positive)
    if isinstance(node, And) == positive:  # a conjunction: either side's restriction holds
        if left is None:
            return right
        return left if right is None else left & right
    if left is None or right is None:  # a disjunction: restricted only if both sides are
        return None
    return left | right


def _host_only(node: Node, table: Mapping[str, MatcherSpec], positive: bool = True) -> bool:
    if isinstance(node, Matcher):
        spec = table.get(node.name)
        return positive and spec is not None and spec.hosts is not None
    if isinstance(node, Not):
        return _host_only(node.operand, table, not positive)
    return _host_only(node.left, table, positive) and _host_only(node.right, table, positive)


_PATH_TESTS = {"Path": False, "PathPrefix": True}  # matcher name -> is_prefix, for the literal path shapes


def _literal_path(node: Node, syntax: str) -> tuple[bool, str] | None:
    """``(is_prefix, path)`` for a one-argument ``Path``/``PathPrefix`` whose closure compares the path as text.

    v3 takes the argument literally; a v2 argument with ``{``/``}`` is a gorilla/mux template (a regexp), which stays
    the closure's job.
    """
    if not isinstance(node, Matcher) or len(node.args) != 1:
        return None
    is_prefix = _PATH_TESTS.get(node.name)
    path = node.args[0]
    if is_prefix is None or (syntax != "v3" and ("{" in path or "}" in path)):
        return None
    return is_prefix, path


def _path_rule(node: Node, syntax: str, table: Mapping[str, MatcherSpec]) -> tuple[bool, str] | None:
    """The :attr:`CompiledRule.path_rule` of a parsed tree: a literal path test alone, or beside a Host matcher under
    ``&&`` (either side). The host side is then true for every request filed under the rule's hosts, since those
    are the Host matcher's own canonical hosts (``rule_hosts``)."""
    if isinstance(node, And):
        for host_side, path_side in ((node.left, node.right), (node.right, node.left)):
            spec = table.get(host_side.name) if isinstance(host_side, Matcher) else None
            if spec is not None and spec.hosts is not None:
                return _literal_path(path_side, syntax)
        return None
    return _literal_path(node, syntax)


def _syntax_table(syntax: str) -> tuple[str, Mapping[str, MatcherSpec]]:
    key = syntax.lower() if syntax else "v3"
    if key == "default":
        key = "v3"
    # Every compiled rule keeps its syntax: the table's own key string, not a fresh copy per rule (lower() copies).
    key = next((name for name in SYNTAXES if name == key), key)
    table = SYNTAXES.get(key)
    if table is None:
        raise RuleError(f"unknown rule syntax {syntax!r} (expected v3 or v2)")
    return key, table


RULE_CACHE_SIZE = 65536
"""Compiled rules kept. Sized past the largest tables we measure (10,000+ routers, each with its own rule, plus the
v2/v3 twins), so a reload never recompiles an unchanged rule: an evicted entry costs a parse."""

# Least recently used first. A v3 rule is keyed by its text alone (the string the compiled rule keeps anyway), any
# other syntax by (text, syntax): ``functools.lru_cache`` spent a link list and a key object per entry (~1.2 MiB for
# 10,000 rules) where a dict entry is all it takes. Concurrent callers at worst compile a rule twice.
_RULES: dict[str | tuple[str, str], CompiledRule] = {}


def _cached(text: str, syntax: str) -> CompiledRule:
    key: str | tuple[str, str] = text if syntax == "v3" else (text, syntax)
    compiled = _RULES.pop(key, None)
    if compiled is None:
        compiled = _compile(text, syntax)
        if len(_RULES) >= RULE_CACHE_SIZE:
            _RULES.pop(next(iter(_RULES), text), None)  # the least recently used
    _RULES[key] = compiled  # (re)inserted last: the most recently used
    return compiled


def _compile(text: str, syntax: str) -> CompiledRule:
    key, table = _syntax_table(syntax)
    ast = parse_rule(text, table.keys())
    matches = _build(ast, table)
    return CompiledRule(
        text,
        key,
        ast,
        rule_hosts(ast, table),
        matches,
        host_only=_host_only(ast, table),
        path_rule=_path_rule(ast, key, table),
    )


def compile_rule(text: str, syntax: str = "v3") -> CompiledRule:
    """Compile rule ``text`` of rule syntax ``syntax`` (``"v3"``, the default; ``"v2"``; ``""``/``"default"`` = v3).

    Returns a :class:`CompiledRule` (cached by ``(text, syntax)``; compiled rules are immutable). Raises
    :class:`RuleError` for a syntax error, an unknown matcher (``unsupported function: Foo``), a missing, empty or
    extra argument, a path without a leading ``/``, a non-ASCII host, a bad regexp or a bad ``ClientIP`` value.
    """
    return _cached(text, syntax)
