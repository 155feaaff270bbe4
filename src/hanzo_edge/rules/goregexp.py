"""Go (RE2) regular expressions, run on Python's :mod:`re`.

Traefik compiles every matcher regexp with Go's ``regexp`` package. :func:`translate` rewrites the Go syntax into
an equivalent Python pattern and rejects what RE2 does not accept, so a rule means the same thing here as in
Traefik, and a rule Traefik refuses is refused here too.

Translated:

* ``$`` outside multi-line mode is the end of the text in Go; Python's ``$`` also matches before a final
  ``\\n`` (and routing paths may hold a decoded ``%0A``), so it becomes ``\\Z``. ``\\z`` becomes ``\\Z`` too.
* ``\\Q...\\E`` quoting, ``\\x{10FFFF}`` and octal (``\\0``, ``\\012``) escapes, POSIX classes such as
  ``[[:alpha:]]``, and ``(?<name>...)`` groups, none of which :mod:`re` knows.
* A flag group such as ``(?i)`` anywhere but the start (Python accepts global flags only there): it applies to
  the rest of the enclosing group, so it becomes a scoped ``(?i:...)`` closed at the end of that group and
  closed/re-opened around each ``|``.
* ``{`` that does not start a valid Go repeat is a literal in Go; Python would read ``{,3}`` as a repeat.
* ``\\s`` is ``[\\t\\n\\f\\r ]`` in Go (Python's also matches ``\\v``).
* Character-class items are re-emitted escaped, so Python never sees its nested-set and set-operation syntax
  (``[[``, ``--``, ``&&``, ``~~``, ``||``, which Go reads as plain characters).

Rejected with :class:`GoRegexpError` (RE2 has no such syntax, or :mod:`re` cannot express it): lookarounds,
atomic groups, conditionals, ``(?#...)`` comments, backreferences (``\\1``, ``(?P=name)``), possessive and other
nested repeats (``a*+``, ``a**``), repeat counts above 1000, Unicode classes (``\\pL``, ``\\p{Greek}``), ``\\C``,
the ``U`` (ungreedy) flag, negated POSIX classes, and anything :mod:`re` itself fails to compile.

Differences that remain: patterns compile with :data:`re.ASCII`, so ``\\w``, ``\\d`` and ``\\b`` are ASCII-only as
in Go, but ``(?i)`` then folds ASCII letters only (Go folds Unicode); and :mod:`re` backtracks, so a pathological
pattern can take exponential time where RE2 is linear (patterns come from configuration, not from clients).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

__all__ = ["GoRegexpError", "compile_go_regexp", "translate"]

_MAX_REPEAT = 1000
_REPEAT = re.compile(r"\{(\d+)(,(\d*))?\}")
_FLAGS = re.compile(r"\(\?([imsU]*)(?:-([imsU]*))?([:)])")
_GROUP_NAME = re.compile(r"[A-Za-z0-9_]+")
_OCTAL = "01234567"
_HEX = frozenset("0123456789abcdefABCDEF")
_CONTROL_ESCAPES = {"a": 7, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11}
_GO_SPACE = ((9, 10), (12, 13), (32, 32))  # \t \n \f \r and space

_POSIX: dict[str, tuple[tuple[int, int], ...]] = {
    "alnum": ((48, 57), (65, 90), (97, 122)),
    "alpha": ((65, 90), (97, 122)),
    "ascii": ((0, 127),),
    "blank": ((9, 9), (32, 32)),
    "cntrl": ((0, 31), (127, 127)),
    "digit": ((48, 57),),
    "graph": ((33, 126),),
    "lower": ((97, 122),),
    "print": ((32, 126),),
    "punct": ((33, 47), (58, 64), (91, 96), (123, 126)),
    "space": ((9, 13), (32, 32)),
    "upper": ((65, 90),),
    "word": ((48, 57), (65, 90), (95, 95), (97, 122)),
    "xdigit": ((48, 57), (65, 70), (97, 102)),
}


class GoRegexpError(ValueError):
    """A regexp that Go's RE2 would reject, or that Python's :mod:`re` cannot run with the same meaning."""


def _char(code: int) -> str:
    """Return a Python pattern for the single character ``code``, safe inside and outside a class."""
    if code >= 128 or chr(code).isalnum():
        return chr(code)
    return f"\\x{code:02x}"


def _ranges(ranges: tuple[tuple[int, int], ...]) -> str:
    return "".join(_char(lo) if lo == hi else f"{_char(lo)}-{_char(hi)}" for lo, hi in ranges)


@dataclass(slots=True)
class _Frame:
    multiline: bool
    scoped: list[str] = field(default_factory=list)  # flags of mid-group "(?flags)", each emitted as "(?flags:"


class _Translator:
    __slots__ = ("frames", "names", "out", "pattern")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.out: list[str] = []
        self.frames = [_Frame(multiline=False)]
        self.names: set[str] = set()

    def error(self, message: str) -> GoRegexpError:
        return GoRegexpError(f"error parsing regexp: {message}: `{self.pattern}`")

    def run(self) -> str:
        p, n, out = self.pattern, len(self.pattern), self.out
        i = 0
        while i < n:
            ch = p[i]
            if ch == "\\":
                i = self._escape_outside(i)
            elif ch == "[":
                i = self._char_class(i)
            elif ch == "(":
                i = self._open_group(i)
            elif ch == ")":
                if len(self.frames) == 1:
                    raise self.error("unexpected )")
                frame = self.frames.pop()
                out.append(")" * (len(frame.scoped) + 1))
                i += 1
            elif ch == "|":
                scoped = self.frames[-1].scoped
                out.append(")" * len(scoped) + "|" + "".join(f"(?{flags}:" for flags in scoped))
                i += 1
            elif ch == "$":
                out.append("$" if self.frames[-1].multiline else "\\Z")
                i += 1
            elif ch in "*+?":
                out.append(ch)
                i = self._after_repeat(i + 1)
            elif ch == "{":
                i = self._brace(i)
            else:
                out.append(ch)
                i += 1
        if len(self.frames) > 1:
            raise self.error("missing closing )")
        out.append(")" * len(self.frames[0].scoped))
        return "".join(out)

    def _brace(self, i: int) -> int:
        match = _REPEAT.match(self.pattern, i)
        if match is None:
            self.out.append("\\{")  # not a repeat: a literal brace in Go
            return i + 1
        low = int(match.group(1))
        high = low if match.group(2) is None else (int(match.group(3)) if match.group(3) else None)
        if low > _MAX_REPEAT or (high is not None and (high > _MAX_REPEAT or high < low)):
            raise self.error(f"invalid repeat count: `{match.group()}`")
        self.out.append(match.group())
        return self._after_repeat(match.end())

    def _after_repeat(self, i: int) -> int:
        p = self.pattern
        if p[i : i + 1] == "?":
            self.out.append("?")
            i += 1
        if p[i : i + 1] in ("*", "+", "?") or (p[i : i + 1] == "{" and _REPEAT.match(p, i)):
            raise self.error("invalid nested repetition operator")
        return i

    def _open_group(self, i: int) -> int:
        p, top = self.pattern, self.frames[-1]
        if not p.startswith("(?", i):
            self.out.append("(")
            self.frames.append(_Frame(top.multiline))
            return i + 1
        rest = p[i + 2 : i + 4]
        if rest.startswith(("P<", "<")) and not rest.startswith(("<=", "<!")):
            start = i + (4 if rest.startswith("P") else 3)
            end = p.find(">", start)
            name = p[start:end] if end >= 0 else ""
            if not _GROUP_NAME.fullmatch(name):
                raise self.error(f"invalid named capture: `{p[i : end + 1 if end >= 0 else len(p)]}`")
            if name in self.names:
                raise self.error(f"duplicate capture group name: `{name}`")
            self.names.add(name)
            self.out.append("(")  # names do not matter for matching; Go's names may be invalid in Python
            self.frames.append(_Frame(top.multiline))
            return end + 1
        if rest.startswith(":"):
            self.out.append("(?:")
            self.frames.append(_Frame(top.multiline))
            return i + 3
        match = _FLAGS.match(p, i)
        if match is None or (not match.group(1) and not match.group(2)) or match.group(2) == "":
            raise self.error(f"invalid or unsupported Perl syntax: `{p[i : i + 3]}`")
        on, off = match.group(1), match.group(2) or ""
        if "U" in on + off:
            raise self.error("the U (ungreedy) flag is not supported")
        flags = on + (f"-{off}" if off else "")
        multiline = (top.multiline or "m" in on) and "m" not in off
        self.out.append(f"(?{flags}:")
        if match.group(3) == ")":
            top.scoped.append(flags)
            top.multiline = multiline
        else:
            self.frames.append(_Frame(multiline))
        return match.end()

    def _escape_outside(self, i: int) -> int:
        p = self.pattern
        kind = p[i + 1 : i + 2]
        if kind == "Q":
            end = p.find("\\E", i + 2)
            literal = p[i + 2 :] if end < 0 else p[i + 2 : end]
            self.out.append("".join(_char(ord(c)) for c in literal))
            return len(p) if end < 0 else end + 2
        if kind in ("A", "b", "B"):
            self.out.append("\\" + kind)
            return i + 2
        if kind == "z":
            self.out.append("\\Z")
            return i + 2
        if kind == "s":
            self.out.append(f"[{_ranges(_GO_SPACE)}]")
            return i + 2
        if kind == "S":
            self.out.append(f"[^{_ranges(_GO_SPACE)}]")
            return i + 2
        text, end = self._escape(i)
        self.out.append(text)
        return end

    def _escape(self, i: int) -> tuple[str, int]:
        """Translate the escape at ``i`` valid both inside and outside a class; return (python text, next offset)."""
        p = self.pattern
        kind = p[i + 1 : i + 2]
        if kind == "":
            raise self.error("trailing backslash at end of expression")
        if kind in "dDwW":
            return "\\" + kind, i + 2
        code, end = self._escape_char(i)
        return _char(code), end

    def _escape_char(self, i: int) -> tuple[int, int]:
        """Decode the escape at ``i`` that stands for one character; return (code point, next offset)."""
        p = self.pattern
        kind = p[i + 1 : i + 2]
        if kind == "":
            raise self.error("trailing backslash at end of expression")
        if kind == "0" or (kind in "1234567" and p[i + 2 : i + 3] in tuple(_OCTAL)):
            j = i + 2
            while j < i + 4 and p[j : j + 1] in tuple(_OCTAL):
                j += 1
            return int(p[i + 1 : j], 8), j
        if kind in "123456789":
            raise self.error(f"invalid escape sequence: `\\{kind}` (backreferences are not supported)")
        if kind == "x":
            if p[i + 2 : i + 3] == "{":
                end = p.find("}", i + 3)
                digits = p[i + 3 : end] if end >= 0 else ""
                if not digits or any(d not in _HEX for d in digits) or int(digits, 16) > 0x10FFFF:
                    raise self.error(f"invalid escape sequence: `{p[i : end + 1 if end >= 0 else i + 3]}`")
                return int(digits, 16), end + 1
            digits = p[i + 2 : i + 4]
            if len(digits) != 2 or any(d not in _HEX for d in digits):
                raise self.error(f"invalid escape sequence: `{p[i : i + 4]}`")
            return int(digits, 16), i + 4
        if kind in _CONTROL_ESCAPES:
            return _CONTROL_ESCAPES[kind], i + 2
        if kind in "pP":
            raise self.error(f"Unicode character classes are not supported: `\\{kind}`")
        if ord(kind) < 128 and not kind.isalnum():
            return ord(kind), i + 2
        raise self.error(f"invalid escape sequence: `\\{kind}`")

    def _class_item(self, j: int) -> tuple[int | None, str, int]:
        """Read one class item at ``j``: (code point or None, python text, next offset)."""
        p = self.pattern
        if p[j] != "\\":
            return ord(p[j]), _char(ord(p[j])), j + 1
        kind = p[j + 1 : j + 2]
        if kind == "s":
            return None, _ranges(_GO_SPACE), j + 2
        if kind in ("d", "D", "w", "W", "S"):
            return None, "\\" + kind, j + 2
        code, end = self._escape_char(j)
        return code, _char(code), end

    def _char_class(self, i: int) -> int:
        p, n = self.pattern, len(self.pattern)
        j = i + 1
        negate = p[j : j + 1] == "^"
        if negate:
            j += 1
        items: list[str] = []
        first = True
        while True:
            if j >= n:
                raise self.error(f"missing closing ]: `{p[i:]}`")
            if p[j] == "]" and not first:
                j += 1
                break
            first = False
            if p.startswith("[:", j) and (end := p.find(":]", j + 2)) >= 0:
                name = p[j + 2 : end]
                if name.startswith("^") and name[1:] in _POSIX:
                    raise self.error(f"negated POSIX classes are not supported: `{p[j : end + 2]}`")
                if name not in _POSIX:
                    raise self.error(f"invalid character class range: `{p[j : end + 2]}`")
                items.append(_ranges(_POSIX[name]))
                j = end + 2
                continue
            low, text, j = self._class_item(j)
            if low is not None and p[j : j + 1] == "-" and p[j + 1 : j + 2] not in ("]", ""):
                high, high_text, after = self._class_item(j + 1)
                if high is None or high < low:
                    raise self.error(f"invalid character class range: `{p[j - 1 : after]}`")
                text = f"{text}-{high_text}"
                j = after
            items.append(text)
        self.out.append("[" + ("^" if negate else "") + "".join(items) + "]")
        return j


def translate(pattern: str) -> str:
    """Return the Python :mod:`re` source equivalent to Go regexp ``pattern`` (to compile with :data:`re.ASCII`).

    Raises :class:`GoRegexpError` for syntax Go rejects or that has no faithful Python equivalent.
    """
    return _Translator(pattern).run()


def compile_go_regexp(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """Compile Go regexp ``pattern`` for unanchored ``search`` (Go's ``MatchString``); ``ignore_case`` adds ``(?i)``.

    Returns the compiled pattern. Raises :class:`GoRegexpError` (message ``error parsing regexp: ...``) when Go
    would reject the pattern or Python cannot run it with the same meaning.
    """
    source = translate(pattern)
    flags = re.ASCII | (re.IGNORECASE if ignore_case else 0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return re.compile(source, flags)
    except re.error as exc:
        raise GoRegexpError(f"error parsing regexp: {exc.msg}: `{pattern}`") from None
    except (RecursionError, OverflowError):
        raise GoRegexpError(f"error parsing regexp: expression too large: `{pattern}`") from None
