"""Rule syntax tree: matcher calls combined with ``&&``, ``||`` and ``!``, and its canonical text form.

The tree keeps the shape the rule was written in: ``!`` stays a :class:`Not` node (Traefik pushes it down to the
leaves with De Morgan; evaluation is the same) and chains of one operator are left-associative, so
``parse_rule(render(node)) == node`` for every tree whose strings are valid Unicode (no lone surrogates).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from hanzo_edge.rules.errors import go_quote

__all__ = ["And", "Matcher", "Node", "Not", "Or", "iter_matchers", "render", "render_literal"]


@dataclass(frozen=True, slots=True)
class Matcher:
    """A matcher call such as ``Host(`example.com`)``: the canonical matcher name and its string arguments."""

    name: str
    args: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class And:
    """``left && right``."""

    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Or:
    """``left || right``."""

    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Not:
    """``!operand``."""

    operand: Node


Node: TypeAlias = Matcher | And | Or | Not
"""Any rule tree node."""

# Characters a Go raw string literal cannot carry faithfully: the delimiter itself, carriage returns (discarded by
# the Go scanner inside raw strings), NUL and the byte order mark (both rejected by the Go scanner).
_NOT_RAW = frozenset("`\r\x00\ufeff")


def render_literal(value: str) -> str:
    """Return ``value`` as a rule string literal: a backtick raw string when possible, else a Go quoted string."""
    if _NOT_RAW.isdisjoint(value):
        return f"`{value}`"
    return go_quote(value)


def render(node: Node) -> str:
    """Return the canonical rule text for ``node``.

    Operators are written `` && `` and `` || ``; parentheses are added only where the tree shape needs them
    (``||`` inside ``&&``, a right-hand operand of the same operator, any operator under ``!``).
    """
    if isinstance(node, Matcher):
        return f"{node.name}({', '.join(render_literal(arg) for arg in node.args)})"
    if isinstance(node, Not):
        inner = render(node.operand)
        return f"!({inner})" if isinstance(node.operand, And | Or) else f"!{inner}"
    if isinstance(node, And):
        left = render(node.left)
        right = render(node.right)
        if isinstance(node.left, Or):
            left = f"({left})"
        if isinstance(node.right, And | Or):
            right = f"({right})"
        return f"{left} && {right}"
    left = render(node.left)
    right = render(node.right)
    if isinstance(node.right, Or):
        right = f"({right})"
    return f"{left} || {right}"


def iter_matchers(node: Node) -> list[Matcher]:
    """Return every :class:`Matcher` leaf of ``node``, left to right."""
    out: list[Matcher] = []
    stack: list[Node] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Matcher):
            out.append(current)
        elif isinstance(current, Not):
            stack.append(current.operand)
        else:
            stack.append(current.right)
            stack.append(current.left)
    return out
