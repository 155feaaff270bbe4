"""Spot v2 rule syntax in a router that uses the v3 syntax, and say how to write it in v3.

Traefik v3 reads rules as v3 unless a router sets ``ruleSyntax: v2``. Rules copied from v2 configurations then
either fail to compile (``Host(`a`, `b`)``: v3 matchers take one value; ``Headers``, ``HostHeader`` are gone) or,
worse, compile and never match: ``HostRegexp(`{host:.+}`)`` is a v3 regular expression whose braces are literal,
``PathPrefix(`/u/{id}`)`` a literal prefix, ``Query(`k=v`)`` asks for a parameter named ``k=v``. ``ingress check``
warns about both, naming what is v2 and offering the v3 form (v2 templates become anchored regular expressions,
several values become ``||``, ``Headers`` becomes ``Header``, ``Query(`k=v`)`` becomes ``Query(`k`, `v`)``).
"""

from __future__ import annotations

import re
from functools import reduce

from hanzo_edge.rules import And, Matcher, Node, Not, Or, RuleError, compile_rule, parse_rule, render

__all__ = ["v2_syntax_hint", "v3_form"]

# Matchers that take exactly one value in v3 but any number in v2 (any value matching).
_ONE_VALUE = {"Host", "HostRegexp", "Path", "PathPrefix", "Method", "ClientIP"}
_RENAMED = {"Headers": "Header", "HeadersRegexp": "HeaderRegexp", "HostHeader": "Host"}
_TEMPLATED = {"HostRegexp": "host", "Path": "path", "PathPrefix": "prefix", "PathRegexp": "path"}
_DEFAULT_PATTERN = {"host": "[^.]+", "path": "[^/]+", "prefix": "[^/]+", "query": ".*"}
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?::.*)?", re.DOTALL)
_GO_META = frozenset("\\.+*?()|[]{}^$")


class _NotTranslatable(Exception):
    pass


def _quote_meta(text: str) -> str:
    """Go's ``regexp.QuoteMeta``."""
    return "".join("\\" + ch if ch in _GO_META else ch for ch in text)


def _variables(template: str) -> list[tuple[int, int]] | None:
    """Spans of the top-level gorilla/mux ``{name}`` / ``{name:pattern}`` variables, None if braces don't balance."""
    spans: list[tuple[int, int]] = []
    level = start = 0
    for index, ch in enumerate(template):
        if ch == "{":
            level += 1
            if level == 1:
                start = index
        elif ch == "}":
            level -= 1
            if level < 0:
                return None
            if level == 0 and _VARIABLE.fullmatch(template[start + 1 : index]):
                spans.append((start, index + 1))
    return spans if level == 0 else None


def _has_template(value: str) -> bool:
    return bool(_variables(value))


def _template_regexp(template: str, kind: str) -> str:
    """The v3 (RE2) regular expression a v2 template stands for, anchored like gorilla/mux anchors it."""
    spans = _variables(template)
    if spans is None:
        raise _NotTranslatable
    parts = ["^"]
    end = 0
    for start, stop in spans:
        parts.append(_quote_meta(template[end:start]))
        _, colon, pattern = template[start + 1 : stop - 1].partition(":")
        parts.append(pattern if colon else _DEFAULT_PATTERN[kind])
        end = stop
    parts.append(_quote_meta(template[end:]))
    if kind != "prefix":
        parts.append("$")
    return "".join(parts)


def _any_of(nodes: list[Node]) -> Node:
    return reduce(Or, nodes)


def _all_of(nodes: list[Node]) -> Node:
    return reduce(And, nodes)


def _one(name: str, value: str) -> Node:
    kind = _TEMPLATED.get(name)
    if kind is not None and _has_template(value):
        return Matcher("HostRegexp" if kind == "host" else "PathRegexp", (_template_regexp(value, kind),))
    return Matcher(name, (value,))


def _query(args: tuple[str, ...]) -> Node:
    checks: list[Node] = []
    for item in args:
        key, equals, value = item.partition("=")
        if not equals or not value:
            checks.append(Matcher("Query", (key,)))
        elif _has_template(value):
            checks.append(Matcher("QueryRegexp", (key, _template_regexp(value, "query"))))
        else:
            checks.append(Matcher("Query", (key, value)))
    return _all_of(checks)


def _pairs(name: str, args: tuple[str, ...]) -> Node:
    if len(args) % 2:
        raise _NotTranslatable
    return _all_of([Matcher(name, (key, value)) for key, value in zip(args[::2], args[1::2], strict=True)])


def _translate(node: Node) -> Node:
    if isinstance(node, Not):
        return Not(_translate(node.operand))
    if isinstance(node, And):
        return And(_translate(node.left), _translate(node.right))
    if isinstance(node, Or):
        return Or(_translate(node.left), _translate(node.right))
    name = _RENAMED.get(node.name, node.name)
    if name == "Query" and all("=" in arg for arg in node.args):
        return _query(node.args)
    if name in ("Header", "HeaderRegexp") and len(node.args) != 2:
        return _pairs(name, node.args)
    if name in _ONE_VALUE and node.args:
        return _any_of([_one(name, value) for value in node.args])
    return Matcher(name, node.args)


def v3_form(rule: str) -> str | None:
    """Return ``rule`` (read as v2) rewritten in v3 syntax, or None when it cannot be parsed or translated."""
    try:
        return render(_translate(parse_rule(rule)))
    except (RuleError, _NotTranslatable):
        return None


def _findings(tree: Node) -> list[str]:
    found: list[str] = []
    stack: list[Node] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Not):
            stack.append(node.operand)
            continue
        if isinstance(node, And | Or):
            stack.extend((node.right, node.left))
            continue
        shown = render(node)
        if node.name in _RENAMED:
            found.append(f"{node.name} is v2 only (v3: {_RENAMED[node.name]})")
        elif node.name in _ONE_VALUE and len(node.args) > 1:
            found.append(f"{shown} has {len(node.args)} values (a v3 {node.name} takes one)")
        elif node.name in _TEMPLATED and any(_has_template(arg) for arg in node.args):
            found.append(f"{shown} holds a v2 {{name:pattern}} template (v3 reads the braces literally)")
        elif node.name == "Query" and len(node.args) == 1 and "=" in node.args[0]:
            found.append(f"{shown} is a v2 key=value (v3 takes the name and the value as two arguments)")
    return found


def v2_syntax_hint(rule: str) -> str | None:
    """Return a hint when ``rule``, read as v3, uses v2 syntax (failing to compile, or never matching as meant).

    None when the rule is plain v3, does not parse at all, or is not valid v2 either.
    """
    try:
        tree = parse_rule(rule)
        compile_rule(rule, "v2")
    except RuleError:
        return None
    findings = _findings(tree)
    if not findings:
        return None
    suggestion = v3_form(rule)
    fix = "set `ruleSyntax: v2` on the router"
    if suggestion is not None and suggestion != rule:
        fix += f", or write it in v3: {suggestion}"
    return f"the rule uses v2 syntax under the v3 rule syntax ({'; '.join(findings)}): {fix}"
