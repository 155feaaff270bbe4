"""``providers.docker.constraints``: Traefik's expression over container labels.

``Label(`key`, `value`)`` is true when the label exists with that exact value; ``LabelRegex(`key`, `expr`)``
when the Go regexp ``expr`` (RE2, Go's syntax) matches the label's value anywhere (Go's ``regexp.MatchString``; a
missing label is the empty string). They combine with ``&&``, ``||``, ``!`` and parentheses, with Go's precedence
(``!`` > ``&&`` > ``||``). Arguments are Go string literals: raw ```...``` or ``"..."`` with Go escapes.

The language is the router rules' (Traefik parses both with ``go/parser``), but the layering keeps providers away
from ``rules/``, and this grammar is ten lines, so it has its own small recursive-descent parser here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import re2  # type: ignore[import-untyped]  # google-re2 ships no type information

from hanzo_edge.config.gotemplate import unquote_go_string

__all__ = ["LabelPredicate", "compile_constraints"]

LabelPredicate = Callable[[Mapping[str, str]], bool]

MAX_DEPTH = 100
"""Deepest nesting of parentheses and ``!`` an expression may have (bounds the recursion)."""

_TOKEN = re.compile(r'\s*(?:(&&|\|\||!|\(|\)|,)|(`[^`]*`)|("(?:[^"\\\n]|\\.)*")|([A-Za-z_][A-Za-z0-9_]*)|(\S))')
_FUNCTIONS = frozenset({"Label", "LabelRegex"})  # exact names, as Traefik's predicate parser


def _always(_labels: Mapping[str, str]) -> bool:
    return True


def compile_constraints(expression: str) -> LabelPredicate:
    """Return the predicate of ``expression`` ("" accepts every container).

    Raises:
        ValueError: a syntax error, an unknown function, a wrong number of arguments or an invalid regexp, with the
            expression in the message.
    """
    if not expression.strip():
        return _always
    try:
        parser = _Parser(expression)
        predicate = parser.expression(0)
        if parser.peek() is not None:
            raise ValueError(f"unexpected {parser.peek()!r}")
    except ValueError as exc:
        raise ValueError(f"constraints {expression!r}: {exc}") from None
    return predicate


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[str] = []
        position = 0
        while position < len(text):
            if not text[position:].strip():
                break
            match = _TOKEN.match(text, position)
            if match is None or match.group(5) is not None:
                raise ValueError(f"unexpected character {text[match.start(5) if match else position]!r}")
            self.tokens.append(match.group(match.lastindex or 0))
            position = match.end()
        self.index = 0

    def peek(self) -> str | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ValueError("unexpected end of expression")
        self.index += 1
        return token

    def expect(self, wanted: str) -> None:
        token = self.take()
        if token != wanted:
            raise ValueError(f"expected {wanted!r}, found {token!r}")

    def expression(self, depth: int) -> LabelPredicate:
        left = self.conjunction(depth)
        while self.peek() == "||":
            self.take()
            right = self.conjunction(depth)
            left = _or(left, right)
        return left

    def conjunction(self, depth: int) -> LabelPredicate:
        left = self.unary(depth)
        while self.peek() == "&&":
            self.take()
            right = self.unary(depth)
            left = _and(left, right)
        return left

    def unary(self, depth: int) -> LabelPredicate:
        if depth > MAX_DEPTH:
            raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
        token = self.take()
        if token == "!":
            inner = self.unary(depth + 1)
            return lambda labels: not inner(labels)
        if token == "(":
            inner = self.expression(depth + 1)
            self.expect(")")
            return inner
        if token not in _FUNCTIONS:
            raise ValueError(f"unsupported function: {token}")
        name = token
        self.expect("(")
        args: list[str] = []
        while self.peek() != ")":
            literal = self.take()
            if literal.startswith("`"):
                args.append(literal[1:-1])
            elif literal.startswith('"'):
                args.append(unquote_go_string(literal))
            else:
                raise ValueError(f"{name}: arguments must be strings, found {literal!r}")
            if self.peek() == ",":
                self.take()
            elif self.peek() != ")":
                raise ValueError(f"{name}: expected ',' or ')', found {self.peek()!r}")
        self.take()
        if len(args) != 2:
            raise ValueError(f"{name} takes 2 arguments, got {len(args)}")
        return _matcher(name, args[0], args[1])


def _or(left: LabelPredicate, right: LabelPredicate) -> LabelPredicate:
    return lambda labels: left(labels) or right(labels)


def _and(left: LabelPredicate, right: LabelPredicate) -> LabelPredicate:
    return lambda labels: left(labels) and right(labels)


def _matcher(name: str, key: str, value: str) -> LabelPredicate:
    if name == "Label":
        return lambda labels: labels.get(key) == value
    try:
        regexp = re2.compile(value)
    except re2.error as exc:
        raise ValueError(f"LabelRegex: invalid regexp {value!r}: {exc}") from None
    return lambda labels: regexp.search(labels.get(key, "")) is not None
