"""The ``circuitBreaker.expression`` language (oxy ``cbreaker/predicates.go`` on ``vulcand/predicate``).

Grammar (Go precedence: comparisons bind tighter than ``&&``, which binds tighter than ``||``)::

    expression := or
    or         := and ( "||" and )*
    and        := compare ( "&&" compare )*
    compare    := primary [ ( "<" | "<=" | ">" | ">=" | "==" | "!=" ) primary ]
    primary    := number | "-" number | call | "(" or ")"
    call       := NetworkErrorRatio "(" ")"
                | ResponseCodeRatio "(" int "," int "," int "," int ")"
                | LatencyAtQuantileMS "(" number ")"

``&&``/``||`` take conditions, comparisons take numbers, and the whole expression must be a condition. Metrics:

* ``NetworkErrorRatio()``: share of responses that were 502 or 504 (the proxy's network errors);
* ``ResponseCodeRatio(from, to, dividedByFrom, dividedByTo)``: count of statuses in ``[from, to)`` over count in
  ``[dividedByFrom, dividedByTo)`` (0 when the latter is 0);
* ``LatencyAtQuantileMS(q)``: latency in whole milliseconds at percentile ``q`` (``50.0`` is the median).

The tokenizer and recursive-descent parser are hand written (never ``eval``). Every problem raises ValueError with
the position. Differences from oxy, all accepting more: numbers compare with numbers whatever their spelling
(``NetworkErrorRatio() > 1`` and ``LatencyAtQuantileMS(50) > 100.5`` are fine), either side of a comparison may be
the metric, and a literal may be negated. ``LatencyAtQuantileMS`` requires ``0 <= q <= 100``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Protocol

__all__ = ["Expression", "Metrics", "parse_expression"]

MAX_NESTING = 32
"""Deepest parenthesis nesting accepted (keeps parsing bounded)."""

MAX_LENGTH = 4096
"""Longest expression accepted, in characters."""


class Metrics(Protocol):
    """What an expression reads: the breaker's rolling metrics at the time of the check."""

    def network_error_ratio(self) -> float:
        """Share of 502/504 responses (0 when there were none)."""

    def response_code_ratio(self, start_a: int, end_a: int, start_b: int, end_b: int) -> float:
        """count([start_a, end_a)) / count([start_b, end_b)), 0 when the denominator is 0."""

    def latency_at_quantile_ms(self, quantile: float) -> int:
        """Latency at percentile ``quantile`` in whole milliseconds."""


_Num = Callable[[Metrics], float]
_Bool = Callable[[Metrics], bool]

_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\n]+)
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>&&|\|\||<=|>=|==|!=|<|>)
  | (?P<punct>[(),\-])
    """,
    re.VERBOSE,
)

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}

_FUNCTIONS = ("NetworkErrorRatio", "ResponseCodeRatio", "LatencyAtQuantileMS")


class _Token:
    __slots__ = ("kind", "pos", "text")

    def __init__(self, kind: str, text: str, pos: int) -> None:
        self.kind = kind
        self.text = text
        self.pos = pos


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ValueError(f"unexpected character {text[pos]!r} at position {pos}")
        kind = match.lastgroup or ""
        if kind != "space":
            value = match.group()
            tokens.append(_Token(value if kind in ("op", "punct") else kind, value, pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Node:
    """A parsed sub-expression: exactly one of ``num`` (a number) or ``cond`` (a condition)."""

    __slots__ = ("cond", "literal", "num", "pos", "whole")

    def __init__(
        self,
        pos: int,
        num: _Num | None = None,
        cond: _Bool | None = None,
        literal: float | None = None,
        whole: int | None = None,
    ) -> None:
        self.pos = pos
        self.num = num
        self.cond = cond
        self.literal = literal  # set for number literals (function arguments must be literals)
        self.whole = whole  # the value of an integer literal (no '.' or exponent)


class _Parser:
    __slots__ = ("depth", "i", "tokens")

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def expect(self, kind: str, what: str) -> _Token:
        tok = self.tok
        if tok.kind != kind:
            raise ValueError(f"expected {what} at position {tok.pos}, found {_describe(tok)}")
        return self.advance()

    # -- grammar ------------------------------------------------------------------------------------------------------
    def parse(self) -> _Bool:
        node = self.parse_or()
        tok = self.tok
        if tok.kind != "end":
            raise ValueError(f"unexpected {_describe(tok)} at position {tok.pos}")
        if node.cond is None:
            raise ValueError("the expression is a number, not a condition (compare it, e.g. NetworkErrorRatio() > 0.5)")
        return node.cond

    def parse_or(self) -> _Node:
        left = self.parse_and()
        while self.tok.kind == "||":
            op = self.advance()
            right = self.parse_and()
            left = _Node(left.pos, cond=_either(_condition(left, op), _condition(right, op)))
        return left

    def parse_and(self) -> _Node:
        left = self.parse_compare()
        while self.tok.kind == "&&":
            op = self.advance()
            right = self.parse_compare()
            left = _Node(left.pos, cond=_both(_condition(left, op), _condition(right, op)))
        return left

    def parse_compare(self) -> _Node:
        left = self.parse_primary()
        if self.tok.kind in _COMPARE:
            op = self.advance()
            right = self.parse_primary()
            left = _Node(left.pos, cond=_compare(_COMPARE[op.text], _number(left, op), _number(right, op)))
            if self.tok.kind in _COMPARE:
                raise ValueError(f"comparisons cannot be chained (position {self.tok.pos}); use &&")
        return left

    def parse_primary(self) -> _Node:
        tok = self.tok
        if tok.kind == "number":
            self.advance()
            return _literal(tok, negate=False)
        if tok.kind == "-":
            self.advance()
            return _literal(self.expect("number", "a number after '-'"), negate=True)
        if tok.kind == "ident":
            return self.parse_call()
        if tok.kind == "(":
            self.advance()
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise ValueError(f"parentheses nested deeper than {MAX_NESTING} at position {tok.pos}")
            node = self.parse_or()
            self.expect(")", "')'")
            self.depth -= 1
            return node
        raise ValueError(f"expected a number, a metric or '(' at position {tok.pos}, found {_describe(tok)}")

    def parse_call(self) -> _Node:
        name = self.advance()
        if name.text not in _FUNCTIONS:
            known = ", ".join(f"{f}()" for f in _FUNCTIONS)
            raise ValueError(f"unknown function {name.text!r} at position {name.pos} (known: {known})")
        self.expect("(", f"'(' after {name.text}")
        args: list[_Node] = []
        if self.tok.kind != ")":
            while True:
                arg = self.parse_primary()
                if arg.literal is None:
                    raise ValueError(f"arguments of {name.text} must be number literals (position {arg.pos})")
                args.append(arg)
                if self.tok.kind != ",":
                    break
                self.advance()
        self.expect(")", f"')' to close {name.text}(")
        return _call(name, args)


def _describe(tok: _Token) -> str:
    return "the end of the expression" if tok.kind == "end" else repr(tok.text)


def _literal(tok: _Token, negate: bool) -> _Node:
    text = tok.text
    integer = not any(c in text for c in ".eE")
    constant = -float(text) if negate else float(text)  # float() of a huge literal is inf, never an error
    whole = (-int(text) if negate else int(text)) if integer else None

    def num(_: Metrics) -> float:
        return constant

    return _Node(tok.pos, num=num, literal=constant, whole=whole)


def _condition(node: _Node, op: _Token) -> _Bool:
    if node.cond is None:
        raise ValueError(f"{op.text!r} at position {op.pos} needs conditions on both sides, not a number")
    return node.cond


def _number(node: _Node, op: _Token) -> _Num:
    if node.num is None:
        raise ValueError(f"{op.text!r} at position {op.pos} compares numbers, not conditions")
    return node.num


def _either(a: _Bool, b: _Bool) -> _Bool:
    return lambda m: a(m) or b(m)


def _both(a: _Bool, b: _Bool) -> _Bool:
    return lambda m: a(m) and b(m)


def _compare(op: Callable[[float, float], bool], a: _Num, b: _Num) -> _Bool:
    return lambda m: op(a(m), b(m))


def _call(name: _Token, args: list[_Node]) -> _Node:
    fn = name.text
    if fn == "NetworkErrorRatio":
        if args:
            raise ValueError(f"NetworkErrorRatio() takes no arguments (position {name.pos})")
        return _Node(name.pos, num=lambda m: m.network_error_ratio())
    if fn == "ResponseCodeRatio":
        wholes = [arg.whole for arg in args]
        if len(wholes) != 4 or None in wholes:
            raise ValueError(
                f"ResponseCodeRatio takes four integers (from, to, dividedByFrom, dividedByTo) (position {name.pos})"
            )
        a, b, c, d = (int(w or 0) for w in wholes)
        return _Node(name.pos, num=lambda m: m.response_code_ratio(a, b, c, d))
    if len(args) != 1:
        raise ValueError(f"LatencyAtQuantileMS takes one quantile, e.g. LatencyAtQuantileMS(50.0) ({name.pos})")
    quantile = float(args[0].literal or 0)
    if not 0.0 <= quantile <= 100.0:
        raise ValueError(f"LatencyAtQuantileMS quantile must be between 0 and 100 (position {name.pos})")
    return _Node(name.pos, num=lambda m: float(m.latency_at_quantile_ms(quantile)))


class Expression:
    """A compiled breaker condition: ``expr(metrics)`` says whether to trip. ``text`` is the source."""

    __slots__ = ("_predicate", "text")

    def __init__(self, text: str, predicate: _Bool) -> None:
        self.text = text
        self._predicate = predicate

    def __call__(self, metrics: Metrics) -> bool:
        return bool(self._predicate(metrics))

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"


def parse_expression(text: str) -> Expression:
    """Parse and compile ``text``. Raises ValueError (only) when it is empty or invalid, naming the position."""
    if not isinstance(text, str):
        raise ValueError("the expression must be a string")
    if not text.strip():
        raise ValueError("empty circuit breaker expression")
    if len(text) > MAX_LENGTH:
        raise ValueError(f"expression longer than {MAX_LENGTH} characters")
    try:
        return Expression(text, _Parser(_tokenize(text)).parse())
    except ValueError as exc:
        raise ValueError(f"invalid circuit breaker expression {text!r}: {exc}") from None
