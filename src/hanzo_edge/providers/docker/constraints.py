"""``providers.docker.constraints``: Traefik's expression over container labels.

``Label(`key`, `value`)`` is true when the label exists with that exact value; ``LabelRegex(`key`, `expr`)``
when the Go regexp ``expr`` matches the label's value anywhere (Go's ``regexp.MatchString``; a missing label is the
empty string), combined with ``&&``, ``||``, ``!`` and parentheses. The syntax is the router rules' (Go expression
syntax), so the rules parser reads it with these two matcher names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from hanzo_edge.rules.ast import And, Matcher, Node, Not, Or
from hanzo_edge.rules.errors import RuleError
from hanzo_edge.rules.goregexp import GoRegexpError, compile_go_regexp
from hanzo_edge.rules.parser import parse_rule

__all__ = ["LabelPredicate", "compile_constraints"]

LabelPredicate = Callable[[Mapping[str, str]], bool]


def _always(_labels: Mapping[str, str]) -> bool:
    return True


def compile_constraints(expression: str) -> LabelPredicate:
    """Return the predicate of ``expression`` ("" accepts every container).

    Raises:
        ValueError: a syntax error, an unknown function or a wrong number of arguments, or an invalid regexp.
    """
    if not expression.strip():
        return _always
    try:
        tree = parse_rule(expression, matchers=("Label", "LabelRegex"))
    except RuleError as exc:
        raise ValueError(f"constraints {expression!r}: {exc}") from None
    return _compile(tree, expression)


def _compile(node: Node, expression: str) -> LabelPredicate:
    if isinstance(node, Matcher):
        if len(node.args) != 2:
            raise ValueError(f"constraints {expression!r}: {node.name} takes 2 arguments, got {len(node.args)}")
        key, value = node.args
        if node.name == "Label":
            return lambda labels: labels.get(key) == value
        try:
            regexp = compile_go_regexp(value)
        except GoRegexpError as exc:
            raise ValueError(f"constraints {expression!r}: {exc}") from None
        return lambda labels: regexp.is_match(labels.get(key, ""))
    if isinstance(node, Not):
        inner = _compile(node.operand, expression)
        return lambda labels: not inner(labels)
    left = _compile(node.left, expression)
    right = _compile(node.right, expression)
    if isinstance(node, And):
        return lambda labels: left(labels) and right(labels)
    if isinstance(node, Or):
        return lambda labels: left(labels) or right(labels)
    raise ValueError(f"constraints {expression!r}: unexpected expression")  # pragma: no cover - Node is closed
