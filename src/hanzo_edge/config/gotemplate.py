"""A subset of Go's ``text/template`` with the sprig functions Traefik configurations use.

Traefik renders two things with Go templates: the Docker provider's ``defaultRule`` (data: the container's
``Name``, ``ContainerName`` and ``Labels``) and every file-provider dynamic file (before it is parsed). This module
implements the language those use, with Go's semantics:

* text and actions ``{{ }}`` with the trim markers ``{{- `` and `` -}}``, and comments ``{{/* */}}``;
* pipelines (``a | b``, the previous value is the last argument), parenthesised pipelines, field access on the dot,
  on variables and on a parenthesised result (``(index .L 0).Name``);
* variables (``$x := ...``, ``$x = ...``, ``$`` is the data), ``if``/``else if``/``else``, ``with``/``else``,
  ``range`` (``$v :=``, ``$i, $v :=``, over lists, maps in key order and integers), ``break``, ``continue``;
* constants: strings (``"..."`` with Go escapes, raw ```...```), integers, floats, ``true``, ``false``, ``nil``;
* the functions of :mod:`hanzo_edge.config.gotemplate_funcs` (Go's built-ins and the sprig subset).

``define``, ``template``, ``block`` and any function outside the subset are refused when the template is parsed,
with Go's message naming the template's line (``template: defaultRule:1: function "foo" not defined``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from hanzo_edge.config.errors import ConfigError
from hanzo_edge.config.gotemplate_funcs import (
    FUNCTIONS,
    LAZY_FUNCTIONS,
    FuncError,
    StringMap,
    go_print,
    go_type,
    truth,
)

__all__ = [
    "GoTemplate",
    "StringMap",
    "TemplateError",
    "parse_template",
    "read_template_file",
    "render_template",
    "unquote_go_string",
]

MAX_NESTING = 100
"""Deepest nesting of parentheses and control blocks a template may have (bounds the recursion)."""

MAX_OUTPUT = 16 * 1024 * 1024
"""Largest output a template may produce (a runaway ``range`` fails instead of filling memory)."""


class TemplateError(ValueError):
    """A template that does not parse or fails while executing; ``str()`` is Go's wording with the line."""

    def __init__(self, name: str, line: int, message: str) -> None:
        super().__init__(f"template: {name}:{line}: {message}")
        self.name = name
        self.line = line
        self.message = message


# -- lexer ------------------------------------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\n]+)
  | (?P<declare>:=)
  | (?P<punct>[|(),=])
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\\n]|\\.)+')
  | (?P<number>[+-]?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?))
  | (?P<variable>\$[A-Za-z0-9_]*)
  | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+)
  | (?P<dot>\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)
_KEYWORDS = frozenset({"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"})
_GO_SPACE = " \t\r\n"
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"', "'": "'"}


@dataclass(slots=True)
class _Tok:
    kind: str
    value: str
    line: int
    glued: bool = False  # no blank between this token and the previous one (a field chained on ``)``)


@dataclass(slots=True)
class _Action:
    line: int
    tokens: list[_Tok]


def unquote_go_string(text: str) -> str:
    """Return the value of Go interpreted string literal ``text`` (quotes included; ``\\n``, ``\\xHH`` and
    octal bytes decoded as UTF-8 together, ``\\uHHHH``, ``\\UHHHHHHHH``).

    Raises:
        ValueError: an unknown or malformed escape.
    """
    out: list[str] = []
    raw: list[int] = []  # pending \x / octal bytes, decoded as UTF-8 together
    i, end = 1, len(text) - 1
    while i < end:
        ch = text[i]
        if ch != "\\":
            if raw:
                out.append(bytes(raw).decode("utf-8", "replace"))
                raw.clear()
            out.append(ch)
            i += 1
            continue
        esc = text[i + 1]
        if esc in _ESCAPES:
            if raw:
                out.append(bytes(raw).decode("utf-8", "replace"))
                raw.clear()
            out.append(_ESCAPES[esc])
            i += 2
        elif esc == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", text[i + 2 : i + 4]):
            raw.append(int(text[i + 2 : i + 4], 16))
            i += 4
        elif esc in "01234567" and re.fullmatch(r"[0-7]{3}", text[i + 1 : i + 4]) and int(text[i + 1 : i + 4], 8) < 256:
            raw.append(int(text[i + 1 : i + 4], 8))
            i += 4
        elif esc in "uU":
            width = 4 if esc == "u" else 8
            digits = text[i + 2 : i + 2 + width]
            if len(digits) != width or not re.fullmatch(r"[0-9a-fA-F]+", digits) or int(digits, 16) > 0x10FFFF:
                raise ValueError(f"invalid syntax: {text}")
            if raw:
                out.append(bytes(raw).decode("utf-8", "replace"))
                raw.clear()
            out.append(chr(int(digits, 16)))
            i += 2 + width
        else:
            raise ValueError(f"invalid syntax: {text}")
    if raw:
        out.append(bytes(raw).decode("utf-8", "replace"))
    return "".join(out)


def _lex(text: str, name: str) -> Iterator[str | _Action]:
    """Yield the text pieces (trim markers applied) and the actions of ``text``, in order."""
    pos, line, length = 0, 1, len(text)
    trim_next = False
    while pos < length:
        start = text.find("{{", pos)
        piece = text[pos:] if start < 0 else text[pos:start]
        if trim_next:
            piece = piece.lstrip(_GO_SPACE)
        if start < 0:
            if piece:
                yield piece
            return
        cursor = start + 2
        if text.startswith("- ", cursor) or text.startswith("-\t", cursor) or text.startswith("-\n", cursor):
            piece = piece.rstrip(_GO_SPACE)
            cursor += 1
        if piece:
            yield piece
        line += text.count("\n", pos, start)
        action_line = line
        stripped = text[cursor:].lstrip(_GO_SPACE)
        if stripped.startswith("/*"):
            comment_start = cursor + (len(text) - cursor - len(stripped))
            close = text.find("*/", comment_start + 2)
            if close < 0:
                raise TemplateError(name, action_line, "unclosed comment")
            after = close + 2
            rest = text[after:]
            trimmed = rest.lstrip(_GO_SPACE)
            if trimmed.startswith("-}}") and trimmed is not rest:
                end, trim_next = after + (len(rest) - len(trimmed)) + 3, True
            elif trimmed.startswith("}}"):
                end, trim_next = after + (len(rest) - len(trimmed)) + 2, False
            else:
                raise TemplateError(name, action_line, "comment ends before closing delimiter")
            line += text.count("\n", start, end)
            pos = end
            continue
        tokens, pos, trim_next = _lex_action(text, cursor, name, action_line)
        line += text.count("\n", start, pos)
        yield _Action(action_line, tokens)


def _lex_action(text: str, pos: int, name: str, line: int) -> tuple[list[_Tok], int, bool]:
    tokens: list[_Tok] = []
    glued = False
    length = len(text)
    while True:
        if pos >= length:
            raise TemplateError(name, line, "unclosed action")
        if text.startswith("}}", pos):
            return tokens, pos + 2, False
        if text[pos] in _GO_SPACE:
            end = pos
            while end < length and text[end] in _GO_SPACE:
                end += 1
            if text.startswith("-}}", end):
                return tokens, end + 3, True
            line += text.count("\n", pos, end)
            pos, glued = end, False
            continue
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup is None:
            raise TemplateError(name, line, f"unexpected {text[pos]!r} in command")
        kind, value = match.lastgroup, match.group()
        if kind == "string":
            try:
                value = unquote_go_string(value)
            except ValueError as exc:
                raise TemplateError(name, line, str(exc)) from None
        elif kind == "raw":
            line += value.count("\n")
            value = value[1:-1].replace("\r", "")
            kind = "string"
        elif kind == "char":
            raise TemplateError(name, line, f"character constants are not supported: {value}")
        elif kind == "ident" and value in _KEYWORDS:
            kind = "keyword"
        tokens.append(_Tok(kind, value, line, glued))
        pos, glued = match.end(), True


# -- syntax tree ------------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Const:
    value: Any


@dataclass(slots=True)
class _Dot:
    pass


@dataclass(slots=True)
class _Field:
    names: tuple[str, ...]  # on the dot


@dataclass(slots=True)
class _Var:
    name: str
    names: tuple[str, ...]


@dataclass(slots=True)
class _Func:
    name: str


@dataclass(slots=True)
class _Chain:
    node: _Pipe
    names: tuple[str, ...]


_Arg: TypeAlias = "_Const | _Dot | _Field | _Var | _Func | _Chain | _Pipe"


@dataclass(slots=True)
class _Pipe:
    line: int
    decl: list[str] = field(default_factory=list)
    assign: bool = False  # ``=`` rather than ``:=``
    cmds: list[list[_Arg]] = field(default_factory=list)


@dataclass(slots=True)
class _Block:
    kind: str  # if with range
    line: int
    pipe: _Pipe
    body: list[_Node]
    orelse: list[_Node]


@dataclass(slots=True)
class _Jump:
    kind: str  # break continue
    line: int


_Node: TypeAlias = "str | _Pipe | _Block | _Jump"


class _Parser:
    def __init__(self, text: str, name: str, funcs: Mapping[str, Callable[..., Any]]) -> None:
        self.name = name
        self.funcs = funcs
        self.items = list(_lex(text, name))
        self.index = 0
        self.depth = 0
        self.loops = 0

    def error(self, line: int, message: str) -> TemplateError:
        return TemplateError(self.name, line, message)

    def parse(self) -> list[_Node]:
        nodes, stop = self.parse_list()
        if stop is not None:
            raise self.error(stop.line, f"unexpected {{{{{stop.tokens[0].value}}}}}")
        return nodes

    def parse_list(self) -> tuple[list[_Node], _Action | None]:
        """Parse nodes until ``{{end}}``/``{{else}}`` (returned, not consumed further) or the end of the text."""
        nodes: list[_Node] = []
        while self.index < len(self.items):
            item = self.items[self.index]
            self.index += 1
            if isinstance(item, str):
                nodes.append(item)
                continue
            tokens = item.tokens
            if not tokens:
                raise self.error(item.line, "missing value for command")
            head = tokens[0]
            if head.kind == "keyword":
                if head.value in ("end", "else"):
                    return nodes, item
                nodes.append(self.keyword(item))
            else:
                nodes.append(self.pipeline(tokens, item.line, allow_decl=True))
        return nodes, None

    def keyword(self, item: _Action) -> _Node:
        head, rest = item.tokens[0], item.tokens[1:]
        if head.value in ("break", "continue"):
            if rest:
                raise self.error(item.line, f"unexpected {rest[0].value} in {{{{{head.value}}}}}")
            if not self.loops:
                raise self.error(item.line, f"{{{{{head.value}}}}} outside {{{{range}}}}")
            return _Jump(head.value, item.line)
        if head.value in ("if", "with", "range"):
            return self.block(head.value, rest, item.line)
        raise self.error(item.line, f"{{{{{head.value}}}}} is not supported (no define/template/block)")

    def block(self, kind: str, tokens: list[_Tok], line: int) -> _Block:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(line, "nesting too deep")
        pipe = self.pipeline(tokens, line, allow_decl=True, range_decl=kind == "range")
        if kind == "range":
            self.loops += 1
        body, stop = self.parse_list()
        if kind == "range":
            self.loops -= 1
        orelse: list[_Node] = []
        if stop is None:
            raise self.error(line, f"unexpected EOF (unclosed {{{{{kind}}}}})")
        if stop.tokens[0].value == "else":
            rest = stop.tokens[1:]
            if rest and rest[0].kind == "keyword" and rest[0].value in ("if", "with") and kind != "range":
                # ``{{else if x}}`` is ``{{else}}{{if x}}...{{end}}`` sharing the outer ``{{end}}``.
                orelse = [self.block(rest[0].value, rest[1:], stop.line)]
                self.depth -= 1
                return _Block(kind, line, pipe, body, orelse)
            if rest:
                raise self.error(stop.line, f"unexpected {rest[0].value} in {{{{else}}}}")
            orelse, stop = self.parse_list()
            if stop is None or stop.tokens[0].value != "end":
                raise self.error(line, f"expected end; found {'EOF' if stop is None else 'else'}")
        if len(stop.tokens) > 1:
            raise self.error(stop.line, f"unexpected {stop.tokens[1].value} in end")
        self.depth -= 1
        return _Block(kind, line, pipe, body, orelse)

    def pipeline(self, tokens: list[_Tok], line: int, *, allow_decl: bool, range_decl: bool = False) -> _Pipe:
        pipe = _Pipe(line)
        position = 0
        if allow_decl:
            position = self.declaration(tokens, pipe, range_decl)
        if position >= len(tokens):
            raise self.error(line, "missing value for command")
        args: list[_Arg] = []
        while position < len(tokens):
            tok = tokens[position]
            if tok.value == "|" and tok.kind == "punct":
                if not args:
                    raise self.error(tok.line, "missing value for command")
                pipe.cmds.append(args)
                args = []
                position += 1
                continue
            arg, position = self.operand(tokens, position)
            args.append(arg)
        if not args:
            raise self.error(line, "missing value for command")
        pipe.cmds.append(args)
        for later in pipe.cmds[1:]:
            if isinstance(later[0], (_Const, _Dot)):  # a value cannot take the previous stage's result
                raise self.error(line, "non executable command in pipeline stage 2")
        return pipe

    def declaration(self, tokens: list[_Tok], pipe: _Pipe, range_decl: bool) -> int:
        names: list[str] = []
        position = 0
        while position < len(tokens) and tokens[position].kind == "variable":
            names.append(tokens[position].value)
            nxt = tokens[position + 1] if position + 1 < len(tokens) else None
            if nxt is not None and nxt.kind == "punct" and nxt.value == "," and range_decl and len(names) == 1:
                position += 2
                continue
            if nxt is not None and (nxt.kind == "declare" or (nxt.kind == "punct" and nxt.value == "=")):
                pipe.decl = names
                pipe.assign = nxt.kind == "punct"
                return position + 2
            return 0
        return 0

    def operand(self, tokens: list[_Tok], position: int) -> tuple[_Arg, int]:
        tok = tokens[position]
        kind, value = tok.kind, tok.value
        node: _Arg
        if kind == "punct" and value == "(":
            depth, end = 0, position
            for end in range(position, len(tokens)):
                if tokens[end].kind == "punct" and tokens[end].value in "()":
                    depth += 1 if tokens[end].value == "(" else -1
                    if depth == 0:
                        break
            if depth:
                raise self.error(tok.line, "unclosed left paren")
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise self.error(tok.line, "nesting too deep")
            inner = self.pipeline(tokens[position + 1 : end], tok.line, allow_decl=False)
            self.depth -= 1
            node, position = inner, end + 1
            if position < len(tokens) and tokens[position].kind == "field" and tokens[position].glued:
                node = _Chain(inner, tuple(tokens[position].value[1:].split(".")))
                position += 1
            return node, position
        position += 1
        if kind == "string":
            return _Const(value), position
        if kind == "number":
            return _Const(_number(value, self.name, tok.line)), position
        if kind == "field":
            return _Field(tuple(value[1:].split("."))), position
        if kind == "dot":
            return _Dot(), position
        if kind == "variable":
            names: tuple[str, ...] = ()
            if position < len(tokens) and tokens[position].kind == "field" and tokens[position].glued:
                names = tuple(tokens[position].value[1:].split("."))
                position += 1
            return _Var(value, names), position
        if kind == "ident":
            if value in ("true", "false"):
                return _Const(value == "true"), position
            if value == "nil":
                return _Const(None), position
            if value not in self.funcs and value not in LAZY_FUNCTIONS:
                raise self.error(tok.line, f'function "{value}" not defined')
            return _Func(value), position
        raise self.error(tok.line, f"unexpected {value} in operand")


def _number(text: str, name: str, line: int) -> int | float:
    clean = text.replace("_", "")
    try:
        return int(clean, 0)
    except ValueError:
        pass
    try:
        return float(clean)
    except ValueError:
        raise TemplateError(name, line, f"illegal number syntax: {text!r}") from None


# -- execution --------------------------------------------------------------------------------------------------------
class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _State:
    def __init__(self, name: str, funcs: Mapping[str, Callable[..., Any]], root: Any) -> None:
        self.name = name
        self.funcs = funcs
        self.vars: list[tuple[str, Any]] = [("$", root)]
        self.out: list[str] = []
        self.size = 0

    def fail(self, line: int, at: str, message: str) -> TemplateError:
        return TemplateError(self.name, line, f'executing "{self.name}" at <{at}>: {message}')

    def emit(self, text: str, line: int) -> None:
        self.size += len(text)
        if self.size > MAX_OUTPUT:
            raise TemplateError(self.name, line, "output too large")
        self.out.append(text)

    def lookup(self, name: str, line: int) -> Any:
        for var, value in reversed(self.vars):
            if var == name:
                return value
        raise TemplateError(self.name, line, f"undefined variable: {name}")

    def assign(self, name: str, value: Any, line: int) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        raise TemplateError(self.name, line, f"undefined variable: {name}")

    def walk(self, nodes: list[_Node], dot: Any) -> None:
        for node in nodes:
            if isinstance(node, str):
                self.emit(node, 0)
            elif isinstance(node, _Pipe):
                value = self.pipe(node, dot)
                if not node.decl:
                    self.emit(go_print(value), node.line)
            elif isinstance(node, _Block):
                self.block(node, dot)
            else:
                raise _Break() if node.kind == "break" else _Continue()

    def block(self, node: _Block, dot: Any) -> None:
        mark = len(self.vars)
        try:
            value = self.pipe(node.pipe, dot, declare=node.kind != "range")
            if node.kind == "range":
                self.range(node, value, dot)
            elif truth(value):
                self.walk(node.body, value if node.kind == "with" else dot)
            else:
                self.walk(node.orelse, dot)
        finally:
            del self.vars[mark:]

    def range(self, node: _Block, value: Any, dot: Any) -> None:
        items: list[tuple[Any, Any]]
        if value is None:
            items = []
        elif isinstance(value, (bool, str, float)):
            raise self.fail(node.line, "range", f"range can't iterate over {go_print(value)}")
        elif isinstance(value, int):
            items = [(i, i) for i in range(value)]
        elif isinstance(value, Mapping):
            items = [(k, value[k]) for k in sorted(value, key=_sort_key)]
        elif isinstance(value, (list, tuple)):
            items = list(enumerate(value))
        else:
            raise self.fail(node.line, "range", f"range can't iterate over {go_print(value)}")
        if not items:
            self.walk(node.orelse, dot)
            return
        decl = node.pipe.decl
        for key, elem in items:
            mark = len(self.vars)
            if len(decl) == 1:
                self.vars.append((decl[0], elem))
            elif len(decl) == 2:
                self.vars.append((decl[0], key))
                self.vars.append((decl[1], elem))
            try:
                self.walk(node.body, elem)
            except _Break:
                break
            except _Continue:
                continue
            finally:
                del self.vars[mark:]

    def pipe(self, pipe: _Pipe, dot: Any, *, declare: bool = True) -> Any:
        value: Any = _NO_FINAL
        for cmd in pipe.cmds:
            value = self.command(cmd, dot, value, pipe.line)
        if pipe.decl and declare:
            for var in pipe.decl:
                if pipe.assign:
                    self.assign(var, value, pipe.line)
                else:
                    self.vars.append((var, value))
        return value

    def command(self, cmd: list[_Arg], dot: Any, final: Any, line: int) -> Any:
        first = cmd[0]
        if isinstance(first, _Func):
            return self.call(first.name, cmd[1:], dot, final, line)
        if len(cmd) > 1 or final is not _NO_FINAL:
            raise self.fail(line, _show(first), f"can't give argument to non-function {_show(first)}")
        return self.arg(first, dot, line)

    def arg(self, arg: _Arg, dot: Any, line: int) -> Any:
        if isinstance(arg, _Const):
            return arg.value
        if isinstance(arg, _Dot):
            return dot
        if isinstance(arg, _Field):
            return self.fields(dot, arg.names, line, _show(arg))
        if isinstance(arg, _Var):
            return self.fields(self.lookup(arg.name, line), arg.names, line, _show(arg))
        if isinstance(arg, _Pipe):
            return self.pipe(arg, dot)
        if isinstance(arg, _Chain):
            return self.fields(self.pipe(arg.node, dot), arg.names, line, _show(arg))
        return self.call(arg.name, [], dot, _NO_FINAL, line)

    def fields(self, value: Any, names: tuple[str, ...], line: int, shown: str) -> Any:
        for name in names:
            if isinstance(value, StringMap):
                value = value.get(name, "")
            elif isinstance(value, Mapping):
                value = value.get(name)
            elif value is None:
                raise self.fail(line, shown, f"nil pointer evaluating interface {{}}.{name}")
            else:
                raise self.fail(line, shown, f"can't evaluate field {name} in type {go_type(value)}")
        return value

    def call(self, name: str, args: list[_Arg], dot: Any, final: Any, line: int) -> Any:
        if name in LAZY_FUNCTIONS:  # and / or: short-circuit, as Go does since 1.18
            if not args and final is _NO_FINAL:
                raise self.fail(line, name, f"wrong number of args for {name}: want at least 1 got 0")
            want = name == "or"
            value: Any = None
            for arg in args:
                value = self.arg(arg, dot, line)
                if truth(value) == want:
                    return value
            if final is not _NO_FINAL:
                value = final
            return value
        values = [self.arg(a, dot, line) for a in args]
        if final is not _NO_FINAL:
            values.append(final)
        try:
            return self.funcs[name](*values)
        except FuncError as exc:
            raise self.fail(line, name, f"error calling {name}: {exc}") from None
        except TypeError:
            raise self.fail(line, name, f"wrong number of args for {name}: got {len(values)}") from None


class _NoFinal:
    __slots__ = ()


_NO_FINAL: Any = _NoFinal()


def _sort_key(key: Any) -> tuple[int, Any]:
    return (0, key) if isinstance(key, (int, float)) and not isinstance(key, bool) else (1, str(key))


def _show(arg: _Arg) -> str:
    if isinstance(arg, _Const):
        return go_print(arg.value) if not isinstance(arg.value, str) else f'"{arg.value}"'
    if isinstance(arg, _Dot):
        return "."
    if isinstance(arg, _Field):
        return "." + ".".join(arg.names)
    if isinstance(arg, _Var):
        return arg.name + "".join("." + n for n in arg.names)
    if isinstance(arg, _Func):
        return arg.name
    if isinstance(arg, _Chain):
        return "(...)." + ".".join(arg.names)
    return "(...)"


class GoTemplate:
    """A parsed template; :meth:`render` executes it on some data (many times, it keeps no state)."""

    __slots__ = ("_nodes", "funcs", "name")

    def __init__(self, name: str, nodes: list[_Node], funcs: Mapping[str, Callable[..., Any]]) -> None:
        self.name = name
        self._nodes = nodes
        self.funcs = funcs

    def render(self, data: Any = None) -> str:
        """Return the text the template produces with ``data`` as the dot.

        Raises:
            TemplateError: execution failed (Go's wording, with the line of the action).
        """
        state = _State(self.name, self.funcs, data)
        try:
            state.walk(self._nodes, data)
        except RecursionError:
            raise TemplateError(self.name, 0, "template too deeply nested") from None
        return "".join(state.out)


def parse_template(
    text: str, name: str = "template", funcs: Mapping[str, Callable[..., Any]] | None = None
) -> GoTemplate:
    """Parse ``text``; ``funcs`` replaces the default function table (:data:`FUNCTIONS`).

    Raises:
        TemplateError: a syntax error or a function outside the table, naming the line.
    """
    table = FUNCTIONS if funcs is None else funcs
    return GoTemplate(name, _Parser(text, name, table).parse(), table)


def render_template(text: str, data: Any = None, name: str = "template") -> str:
    """Parse and execute ``text`` once; text without ``{{`` is returned as it is without being parsed."""
    if "{{" not in text:
        return text
    return parse_template(text, name).render(data)


def read_template_file(filename: str) -> str:
    """Return the text of dynamic-configuration file ``filename`` rendered as a Go template, as Traefik's file
    provider does before parsing it (no data: the dot is nil). A file without ``{{`` is returned as read.

    Raises:
        OSError / UnicodeDecodeError: the file cannot be read.
        ConfigError: the template does not parse or fails, located at ``filename:line``.
    """
    with open(filename, encoding="utf-8") as handle:
        text = handle.read()
    if "{{" not in text:
        return text
    try:
        return parse_template(text, os.path.basename(filename)).render(None)
    except TemplateError as exc:
        location = f"{filename}:{exc.line}" if exc.line else filename
        raise ConfigError("", f"template: {exc.message}", location=location) from None
