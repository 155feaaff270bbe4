"""Rule text → :mod:`~hanzo_edge.rules.ast` tree, by hand-written recursive descent (no ``eval``).

Traefik hands the rule to ``go/parser.ParseExpr`` and walks the Go expression with ``vulcand/predicate``. This
module accepts the same language:

* ``expr := or``; ``or := and ('||' and)*``; ``and := unary ('&&' unary)*``; ``unary := '!'* primary``;
  ``primary := '(' expr ')' | NAME '(' [STRING (',' STRING)* [',']] ')'``. So ``!`` binds tighter than ``&&``,
  which binds tighter than ``||``; both binary operators are left-associative.
* Strings are Go literals: raw ```...``` (carriage returns dropped, as Go does) or ``"..."`` with Go escapes
  (``\\a \\b \\f \\n \\r \\t \\v \\\\ \\"``, ``\\xHH`` and ``\\OOO`` bytes, ``\\uHHHH``,
  ``\\UHHHHHHHH``); the unescaped bytes must be UTF-8. Single-quoted (Go rune)
  literals, numbers and bare identifiers are not arguments.
* Matcher names are accepted as written in the table, all lower-case, all upper-case and Title-case of the
  lower-case name (``HostRegexp``, ``hostregexp``, ``HOSTREGEXP``, ``Hostregexp``) and normalised to the table
  spelling. Unknown names fail with Traefik's ``unsupported function: <name>``.
* Go's lexical rules apply: ``//`` and ``/* */`` comments are blanks, and a line break right after a name, a
  literal or ``)`` ends the expression (Go inserts a semicolon there), so an operator must end a line, not start
  the next one.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from hanzo_edge.rules.ast import And, Matcher, Node, Not, Or
from hanzo_edge.rules.errors import RuleError
from hanzo_edge.rules.names import ALL_MATCHER_NAMES

__all__ = ["MAX_DEPTH", "parse_rule"]

MAX_DEPTH = 256
"""Deepest tree (operators stacked on one path) or parenthesis nesting a rule may have."""

# A line break after one of these tokens is where Go inserts an automatic semicolon.
_SEMICOLON_AFTER = frozenset({"ident", "string", "number", ")"})
_ILLEGAL = re.compile("[\x00\ufeff\ud800-\udfff]")
_DQ_SPECIAL = re.compile(r'[\\"\n]')
_NUMBER = re.compile(r"[0-9A-Za-z_.]*")
_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34}
_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # ident string number && || ! ( ) , newline eof
    value: str
    pos: int


def _where(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"column {column}" if line == 1 else f"line {line}, column {column}"


def _describe(tok: _Token) -> str:
    if tok.kind == "eof":
        return "end of rule"
    if tok.kind == "newline":
        return "line break"
    if tok.kind == "string":
        return "string literal"
    if tok.kind == "ident":
        return f"identifier {tok.value}"
    if tok.kind == "number":
        return f"number {tok.value}"
    return f"'{tok.kind}'"


class _Lexer:
    __slots__ = ("last", "n", "pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.pos = 1 if text.startswith("\ufeff") else 0  # Go ignores a byte order mark at the very start
        self.last = ""
        bad = _ILLEGAL.search(text, self.pos)
        if bad is not None:
            ch = bad.group()
            what = "NUL" if ch == "\x00" else "byte order mark" if ch == "\ufeff" else "lone surrogate"
            raise self.error(f"illegal character U+{ord(ch):04X} ({what})", bad.start())

    def error(self, message: str, pos: int) -> RuleError:
        return RuleError(f"{message} at {_where(self.text, pos)}", pos)

    def _skip_blanks(self) -> int:
        """Skip blanks and comments; return the offset of the first line break skipped, or -1."""
        text, n, i = self.text, self.n, self.pos
        newline_at = -1
        while i < n:
            ch = text[i]
            if ch in " \t\r":
                i += 1
            elif ch == "\n":
                if newline_at < 0:
                    newline_at = i
                i += 1
            elif ch == "/" and text.startswith("//", i):
                if newline_at < 0:
                    newline_at = i  # a line comment acts like a line break
                end = text.find("\n", i)
                i = n if end < 0 else end + 1
            elif ch == "/" and text.startswith("/*", i):
                end = text.find("*/", i + 2)
                if end < 0:
                    raise self.error("comment not terminated", i)
                if newline_at < 0 and "\n" in text[i:end]:
                    newline_at = i
                i = end + 2
            else:
                break
        self.pos = i
        return newline_at

    def next(self) -> _Token:
        newline_at = self._skip_blanks()
        if newline_at >= 0 and self.last in _SEMICOLON_AFTER:
            self.last = "newline"
            return _Token("newline", "", newline_at)
        text, i = self.text, self.pos
        if i >= self.n:
            self.last = "eof"
            return _Token("eof", "", i)
        ch = text[i]
        nxt = text[i + 1 : i + 2]
        if ch == "`":
            tok = self._raw_string(i)
        elif ch == '"':
            tok = self._quoted_string(i)
        elif ch == "'":
            raise self.error("single-quoted literals are not allowed (use backticks or double quotes)", i)
        elif ch in "&|":
            if nxt != ch:
                raise self.error(f"unsupported operator '{ch}' (did you mean '{ch}{ch}'?)", i)
            tok = _Token(ch + ch, "", i)
            self.pos = i + 2
        elif ch in "!(),":
            if ch == "!" and nxt == "=":
                raise self.error("unsupported operator '!='", i)
            tok = _Token(ch, "", i)
            self.pos = i + 1
        elif ch.isalpha() or ch == "_":
            j = i + 1
            while j < self.n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            tok = _Token("ident", text[i:j], i)
            self.pos = j
        elif ch.isdigit() or (ch == "." and nxt.isdigit()):
            match = _NUMBER.match(text, i)
            end = match.end() if match is not None else i + 1
            tok = _Token("number", text[i:end], i)
            self.pos = end
        else:
            raise self.error(f"unexpected character {ch!r}", i)
        self.last = tok.kind
        return tok

    def _raw_string(self, start: int) -> _Token:
        end = self.text.find("`", start + 1)
        if end < 0:
            raise self.error("raw string literal not terminated", start)
        self.pos = end + 1
        return _Token("string", self.text[start + 1 : end].replace("\r", ""), start)

    def _quoted_string(self, start: int) -> _Token:
        text = self.text
        buf = bytearray()
        i = start + 1
        while True:
            match = _DQ_SPECIAL.search(text, i)
            if match is None or match.group() == "\n":
                raise self.error("string literal not terminated", start)
            j = match.start()
            buf += text[i:j].encode("utf-8")
            if match.group() == '"':
                i = j + 1
                break
            i = self._escape(j, buf)
        self.pos = i
        try:
            value = buf.decode("utf-8")
        except UnicodeDecodeError:
            raise self.error("string literal is not valid UTF-8 once unescaped", start) from None
        return _Token("string", value, start)

    def _escape(self, at: int, buf: bytearray) -> int:
        """Decode the escape sequence starting with the backslash at ``at`` into ``buf``; return the next offset."""
        text = self.text
        kind = text[at + 1 : at + 2]
        if kind == "":
            raise self.error("string literal not terminated", at)
        simple = _SIMPLE_ESCAPES.get(kind)
        if simple is not None:
            buf.append(simple)
            return at + 2
        if kind in "01234567":
            digits = text[at + 1 : at + 4]
            if len(digits) != 3 or any(d not in "01234567" for d in digits):
                raise self.error("octal escape needs exactly three octal digits", at)
            value = int(digits, 8)
            if value > 255:
                raise self.error(f"octal escape \\{digits} is above \\377", at)
            buf.append(value)
            return at + 4
        width = {"x": 2, "u": 4, "U": 8}.get(kind)
        if width is None:
            raise self.error(f"unknown escape sequence \\{kind}", at)
        digits = text[at + 2 : at + 2 + width]
        if len(digits) != width or any(d not in _HEX for d in digits):
            raise self.error(f"\\{kind} escape needs exactly {width} hexadecimal digits", at)
        value = int(digits, 16)
        if kind == "x":
            buf.append(value)
        elif value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
            raise self.error(f"escape sequence \\{kind}{digits} is not a valid Unicode code point", at)
        else:
            buf += chr(value).encode("utf-8")
        return at + 2 + width


@functools.lru_cache(maxsize=32)
def _spellings(names: frozenset[str]) -> dict[str, str]:
    """Map each accepted spelling of each name to the name (exact spellings win over generated variants)."""
    table = {name: name for name in names}
    for name in sorted(names):
        lower = name.lower()
        for variant in (lower, name.upper(), lower.title()):
            table.setdefault(variant, name)
    return table


class _Parser:
    __slots__ = ("lexer", "nesting", "spellings", "text", "tok")

    def __init__(self, text: str, spellings: dict[str, str]) -> None:
        self.text = text
        self.spellings = spellings
        self.lexer = _Lexer(text)
        self.tok = self.lexer.next()
        self.nesting = 0

    def error(self, message: str, tok: _Token) -> RuleError:
        return RuleError(f"{message} at {_where(self.text, tok.pos)}", tok.pos)

    def advance(self) -> None:
        self.tok = self.lexer.next()

    def parse(self) -> Node:
        if self.tok.kind == "eof":
            raise RuleError("empty rule", 0)
        node = self.parse_or()
        if self.tok.kind == "newline":  # a single trailing line break is what ParseExpr tolerates
            newline = self.tok
            self.advance()
            if self.tok.kind != "eof":
                raise self.error(
                    f"unexpected {_describe(self.tok)} after the line break (Go ends the expression at a line break "
                    "that follows a matcher call or ')': end lines with the operator instead)",
                    newline,
                )
        if self.tok.kind != "eof":
            raise self.error(f"unexpected {_describe(self.tok)}", self.tok)
        return node

    def parse_or(self) -> Node:
        node = self.parse_and()
        while self.tok.kind == "||":
            self.advance()
            node = Or(node, self.parse_and())
        return node

    def parse_and(self) -> Node:
        node = self.parse_unary()
        while self.tok.kind == "&&":
            self.advance()
            node = And(node, self.parse_unary())
        return node

    def parse_unary(self) -> Node:
        count = 0
        while self.tok.kind == "!":
            count += 1
            self.advance()
        node = self.parse_primary()
        for _ in range(count):
            node = Not(node)
        return node

    def parse_primary(self) -> Node:
        tok = self.tok
        if tok.kind == "(":
            self.nesting += 1
            if self.nesting > MAX_DEPTH // 4:
                raise self.error("rule nests parentheses too deeply", tok)
            self.advance()
            node = self.parse_or()
            if self.tok.kind != ")":
                raise self.error(
                    f"unbalanced parentheses: the '(' at {_where(self.text, tok.pos)} is not closed, found "
                    f"{_describe(self.tok)}",
                    self.tok,
                )
            self.advance()
            self.nesting -= 1
            return node
        if tok.kind == "ident":
            return self.parse_call()
        raise self.error(f"expected a matcher, '(' or '!', found {_describe(tok)}", tok)

    def parse_call(self) -> Matcher:
        name_tok = self.tok
        self.advance()
        if self.tok.kind != "(":
            raise self.error(
                f"expected '(' after {name_tok.value} (a matcher needs its arguments), found {_describe(self.tok)}",
                self.tok,
            )
        name = self.spellings.get(name_tok.value)
        if name is None:
            raise RuleError(f"unsupported function: {name_tok.value}", name_tok.pos)
        self.advance()
        args: list[str] = []
        while self.tok.kind != ")":
            if self.tok.kind != "string":
                hint = " (quote values with backticks or double quotes)" if self.tok.kind in ("ident", "number") else ""
                raise self.error(f"expected a string literal argument, found {_describe(self.tok)}{hint}", self.tok)
            args.append(self.tok.value)
            self.advance()
            if self.tok.kind == ",":
                self.advance()
            elif self.tok.kind != ")":
                raise self.error(
                    f"expected ',' or ')' in the arguments of {name_tok.value}, found {_describe(self.tok)}", self.tok
                )
        self.advance()
        return Matcher(name, tuple(args))


def _depth(node: Node) -> int:
    deepest = 0
    stack: list[tuple[Node, int]] = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(current, Not):
            stack.append((current.operand, depth + 1))
        elif isinstance(current, And | Or):
            stack.append((current.left, depth + 1))
            stack.append((current.right, depth + 1))
    return deepest


# Literals without backtick, CR or any character the lexer rejects (NUL, byte order mark, lone surrogates).
_SIMPLE_HOST = re.compile(
    r"Host\(`([^`\r\x00\ufeff\ud800-\udfff]*)`\)(?: && PathPrefix\(`([^`\r\x00\ufeff\ud800-\udfff]*)`\))?"
)


def parse_rule(text: str, matchers: Iterable[str] | None = None) -> Node:
    """Parse rule ``text`` into a tree whose matcher names are canonical.

    ``matchers`` is the set of known matcher names (default: every HTTP matcher of the v2 and v3 syntaxes). Only
    the syntax is checked here: arguments are not validated (``Host()`` parses; :func:`compile_rule` rejects it).

    Returns the root :data:`~hanzo_edge.rules.ast.Node`. Raises :class:`RuleError` on any syntax error (empty rule,
    bare identifier, unquoted or single-quoted value, bad literal, unbalanced parentheses, unknown matcher,
    operators other than ``&&``, ``||`` and ``!``, a tree deeper than :data:`MAX_DEPTH`), with the position.
    """
    if matchers is None:
        simple = _SIMPLE_HOST.fullmatch(text)
        if simple is not None:
            # The overwhelmingly common shapes (a host, or a host and a path prefix, backtick literals); the full
            # parser builds exactly this tree for them (tested), ten times slower, which matters at 10,000 routers.
            host = Matcher("Host", (simple.group(1),))
            prefix = simple.group(2)
            return host if prefix is None else And(host, Matcher("PathPrefix", (prefix,)))
    names = ALL_MATCHER_NAMES if matchers is None else frozenset(matchers)
    node = _Parser(text, _spellings(names)).parse()
    if _depth(node) > MAX_DEPTH:
        raise RuleError(f"rule is nested more than {MAX_DEPTH} operators deep", 0)
    return node
