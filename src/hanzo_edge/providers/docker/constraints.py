"""``providers.docker.constraints``: Traefik's expression over container labels.

``Label(`key`, `value`)`` is true when the label exists with that exact value; ``LabelRegex(`key`, `expr`)``
when the Go regexp ``expr`` (RE2, Go's syntax) matches the label's value anywhere (Go's ``regexp.MatchString``; a
missing label is the empty string). They combine with ``&&``, ``||``, ``!`` and parentheses, with Go's precedence
(``!`` > ``&&`` > ``||``). Arguments are Go string literals: raw ```...``` or ``"..."`` with Go escapes.

The language is the router rules' (Traefik parses both with ``go/parser``), but the layering keeps providers away
from ``rules/``, and this grammar is ten lines, so it has its own small recursive-descent parser here. Regexps are
compiled by the engine the application lends (``ProviderHooks.compile_regexp``: RE2 with Go's syntax).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from hanzo_edge.config.gotemplate import unquote_go_string

__all__ = ["LabelPredicate", "compile_constraints"]

LabelPredicate = Callable[[Mapping[str, str]], bool]
RegexpCompiler = Callable[[str], Callable[[str], bool]]
"""``pattern -> is_match`` (ValueError when the pattern is invalid)."""

MAX_DEPTH = 100
"""Deepest nesting of parentheses and ``!`` an expression may have (bounds the recursion)."""

_TOKEN = re.compile(r'\s*(?:(&&|\|\||!|\(|\)|,)|(`[^`]*`)|("(?:[^"\\\n]|\\.)*")|([A-Za-z_][A-Za-z0-9_]*)|(\S))')
_FUNCTIONS = frozenset({"Label", "LabelRegex"})  # exact names, as Traefik's predicate parser


def _always(_labels: Mapping[str, str]) -> bool:
    return True


def compile_constraints(expression: str, compile_regexp: RegexpCompiler | None = None) -> LabelPredicate:
    """Return the predicate of ``expression`` ("" accepts every container); ``compile_regexp`` compiles
    ``LabelRegex`` patterns (without it, ``LabelRegex`` is refused).

    Raises:
        ValueError: a syntax error, an unknown function, a wrong number of arguments or an invalid regexp, with the
            expression in the message.
    """
    if not expression.strip():
        return _always
    try:
        parser = _Parser(expression, compile_regexp)
        predicate = parser.expression(0)
        if parser.peek() is not None:
            raise ValueError(f"unexpected {parser.peek()!r}")
    except ValueError as exc:
        raise ValueError(f"constraints {expression!r}: {exc}") from None
    return predicate


class _Parser:
    def __init__(self, text: str, compile_regexp: RegexpCompiler | None) -> None:
        self.compile_regexp = compile_regexp
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
        key, value = args
        if name == "Label":
            return lambda labels: labels.get(key) == value
        if self.compile_regexp is None:
            raise ValueError("LabelRegex: no regexp engine (the application lends one)")
        try:
            is_match = self.compile_regexp(value)
        except ValueError as exc:
            raise ValueError(f"LabelRegex: invalid regexp {value!r}: {exc}") from None
        return lambda labels: is_match(labels.get(key, ""))


def _or(left: LabelPredicate, right: LabelPredicate) -> LabelPredicate:
    return lambda labels: left(labels) or right(labels)


def _and(left: LabelPredicate, right: LabelPredicate) -> LabelPredicate:
    return lambda labels: left(labels) and right(labels)
