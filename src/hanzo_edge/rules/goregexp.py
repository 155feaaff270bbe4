"""Go regular expressions on RE2: the one place that compiles a pattern taken from configuration.

Traefik compiles every user pattern (rule matchers, ``redirectRegex``, ``replacePathRegex``, ``stripPrefixRegex``,
CORS origin regexes, ``authResponseHeadersRegex``) with Go's ``regexp``, whose syntax and semantics are RE2's. We
compile them with RE2 itself (``google-re2``), so matching takes linear time whatever the pattern and the input,
and never blocks the event loop the way a backtracking :mod:`re` pattern can.

Options are Go's ``regexp.Compile`` (``syntax.Perl``): leftmost-first matching, Perl classes and ``\\b`` ASCII-only,
``^``/``$`` at the text's ends unless ``(?m)``, ``.`` not matching ``\\n`` unless ``(?s)``, Unicode classes and
case folding. RE2 does not log to stderr (``log_errors`` off).

Where RE2 and Go differ, Go wins:

* RE2's C++ error texts become Go's ``regexp/syntax`` texts (``error parsing regexp: <code>: `<fragment>```), see
  :func:`go_error_text`.
* ``\\C`` (any byte) and repeat counts of ten digits or more (``x{9876543210}``) are accepted by RE2 (as a byte
  match, and as literal text) and rejected by Go; they are rejected here with Go's text before RE2 sees them.
* A lookbehind ``(?<=``/``(?<!`` is refused by both, but Go reads it as a bad named group; the text follows Go.

Differences that remain (documented in ``docs/compat.md``): RE2's program budget is smaller than Go's, so a huge
pattern such as ``\\pL{1000}`` is refused as ``expression too large`` where Go accepts it; Go refuses nesting deeper
than 1000, which RE2 accepts.

Subjects are Python strings matched as their UTF-8 encoding; a lone surrogate (an undecodable byte kept by
``surrogateescape``) is matched as U+FFFD, which is how Go reads an invalid byte.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import Protocol

from re2 import _re2  # type: ignore[import-untyped]  # no type information shipped; see _Program

__all__ = ["GoMatch", "GoRegexp", "GoRegexpError", "compile_go_regexp", "go_error_text", "quote_meta"]


class GoRegexpError(ValueError):
    """A pattern Go's ``regexp.Compile`` would reject; ``str(err)`` is Go's message, ``error parsing regexp: ...``."""


class _Program(Protocol):
    """The part of ``re2._re2.RE2`` used here (the binding ships no type information).

    We call the binding's ``RE2`` directly instead of the ``re2`` module's Python wrapper: the wrapper builds a
    generator and a byte-to-character offset table on every call (about 3.7 µs against 0.5 µs per match).
    """

    def ok(self) -> bool: ...

    def error(self) -> bytes: ...

    def NumberOfCapturingGroups(self) -> int: ...

    def NamedCapturingGroups(self) -> list[tuple[bytes, int]]: ...

    def Match(self, anchor: object, text: bytes, pos: int, endpos: int) -> list[tuple[int, int]]: ...


_UNANCHORED = _re2.RE2.Anchor.UNANCHORED
_NO_SPAN = (-1, -1)

# RE2 CodeText (re2/regexp.cc) → Go ErrorCode (regexp/syntax/parse.go). Longest first, as some are prefixes.
_GO_CODES: tuple[tuple[str, str], ...] = tuple(
    sorted(
        {
            "invalid escape sequence": "invalid escape sequence",
            "invalid character class": "invalid character class",
            "invalid character class range": "invalid character class range",
            "missing ]": "missing closing ]",
            "missing )": "missing closing )",
            "unexpected )": "unexpected )",
            "missing (": "unexpected )",  # RE2 releases before 2023 named it so
            "trailing \\": "trailing backslash at end of expression",
            "no argument for repetition operator": "missing argument to repetition operator",
            "invalid repetition size": "invalid repeat count",
            "bad repetition operator": "invalid nested repetition operator",
            "invalid perl operator": "invalid or unsupported Perl syntax",
            "invalid UTF-8": "invalid UTF-8",
            "invalid named capture group": "invalid named capture",
            "pattern too large - compile failed": "expression too large",
            "pattern too large - reverse compile failed": "expression too large",
        }.items(),
        key=lambda item: -len(item[0]),
    )
)
# Go reports the whole expression for these, whatever RE2 reports.
_WHOLE_PATTERN = frozenset({"missing closing )", "unexpected )", "expression too large"})
_REPEAT = re.compile(r"\{([0-9]+)(?:(,)([0-9]*))?\}\??\Z")  # the last {n,m} operator of a fragment (internal)
_MAX_REPEAT = 1000
# A {n}, {n,} or {n,m} operator with a number Go's parseInt refuses (ten digits or more, no leading zero): RE2 reads
# the braces as literal text, Go reports "invalid repeat count".
_HUGE_REPEAT = re.compile(r"\{(?:[1-9][0-9]{9,}(?:,(?:0|[1-9][0-9]*)?)?|(?:0|[1-9][0-9]*),[1-9][0-9]{9,})\}")
_REPEAT_PROBE_CODES = frozenset(
    {"invalid repetition size", "no argument for repetition operator", "bad repetition operator"}
)
_LOOKBEHINDS = ("(?<=", "(?<!")
_SURROGATES = {code: 0xFFFD for code in range(0xD800, 0xE000)}


def go_error_text(pattern: str, re2_text: str) -> str:
    """Return Go's ``regexp.Compile`` error message for ``pattern``, given RE2's error text for it.

    RE2 writes ``<code>: <fragment>`` (or ``<code>`` alone); Go writes ``error parsing regexp: <code>: `<fragment>```
    with its own code texts, and the whole pattern as fragment for an unbalanced ``)``/``(`` and for a pattern
    that is too large. A text RE2 may add later and that has no Go equivalent keeps RE2's words.
    """
    known = next((pair for pair in _GO_CODES if re2_text == pair[0] or re2_text.startswith(pair[0] + ": ")), None)
    if known is None:
        return f"error parsing regexp: {re2_text}: `{pattern}`"
    re2_code, go_code = known
    fragment = re2_text[len(re2_code) + 2 :]
    if go_code in _WHOLE_PATTERN:
        fragment = pattern
    elif go_code == "trailing backslash at end of expression":
        fragment = ""
    elif go_code == "invalid nested repetition operator":
        # Go checks the size of a {n,m} before it looks at the operator before it: x{2}{1001} is a bad count.
        repeat = _REPEAT.search(fragment)
        if repeat is not None and _bad_count(repeat):
            go_code, fragment = "invalid repeat count", repeat.group().rstrip("?")
    elif go_code == "invalid or unsupported Perl syntax" and fragment in _LOOKBEHINDS:
        # Go has no lookbehind check: "(?<" starts a named group, whose name runs to the next ">".
        start = _first_real(pattern, fragment, probe=fragment + ")", expect=re2_text)
        if start is not None:
            close = pattern.find(">", start)
            go_code = "invalid named capture"
            fragment = pattern[start:] if close < 0 else pattern[start : close + 1]
    return f"error parsing regexp: {go_code}: `{fragment}`"


def _bad_count(repeat: re.Match[str]) -> bool:
    low = int(repeat.group(1))
    if repeat.group(2) is None:
        return low > _MAX_REPEAT
    high = int(repeat.group(3)) if repeat.group(3) else None
    return low > _MAX_REPEAT or (high is not None and (high > _MAX_REPEAT or low > high))


def _options(*, capture: bool, ignore_case: bool) -> object:
    options = _re2.RE2.Options()
    options.log_errors = False  # RE2 would print every rejected pattern to stderr
    options.never_capture = not capture  # a yes/no test needs no submatch engine
    options.case_sensitive = not ignore_case
    return options


def _program(pattern: bytes, *, capture: bool, ignore_case: bool) -> _Program:
    program: _Program = _re2.RE2(pattern, _options(capture=capture, ignore_case=ignore_case))
    return program


def _re2_error(source: str) -> str | None:
    """Return RE2's error text for ``source``, or None when RE2 compiles it."""
    program = _program(source.encode("utf-8"), capture=False, ignore_case=False)
    return None if program.ok() else program.error().decode("utf-8", "replace")


def _first_real(pattern: str, needle: str, *, probe: str, expect: str) -> int | None:
    """Return the offset of the first ``needle`` in ``pattern`` that RE2's parser reads as syntax, else None.

    Text search also finds occurrences inside ``\\Q...\\E``, after an escaping backslash or inside a class.
    ``probe`` put where an occurrence starts gives RE2's error ``expect`` only when the parser reaches that offset
    as syntax and nothing before it is an error: an occurrence that is literal text gives another answer.
    """
    start = pattern.find(needle)
    while start >= 0:
        if _re2_error(pattern[:start] + probe) == expect:
            return start
        start = pattern.find(needle, start + 1)
    return None


def _go_only_error(pattern: str) -> str | None:
    """Return Go's error for the first construct RE2 accepts but Go refuses (``\\C``, a ten-digit count), if any."""
    found: list[tuple[int, str]] = []
    if "\\C" in pattern:
        start = _first_real(pattern, "\\C", probe="\\8", expect="invalid escape sequence: \\8")
        if start is not None:
            found.append((start, "error parsing regexp: invalid escape sequence: `\\C`"))
    for repeat in _HUGE_REPEAT.finditer(pattern):
        # A bad count where the parser reads an operator gives one of these; literal text gives another answer.
        error = _re2_error(pattern[: repeat.start()] + "{1001}") or ""
        code = error.rpartition(": ")[0]
        if error.endswith("{1001}") and code in _REPEAT_PROBE_CODES:
            found.append((repeat.start(), f"error parsing regexp: invalid repeat count: `{repeat.group()}`"))
            break
    return min(found)[1] if found else None


def _utf8_pattern(pattern: str) -> bytes:
    # A Python string can hold a lone surrogate, which has no UTF-8 form: Go's "invalid UTF-8" for the rest.
    try:
        return pattern.encode("utf-8")
    except UnicodeEncodeError as exc:
        rest = pattern[exc.start :].translate(_SURROGATES)
        raise GoRegexpError(f"error parsing regexp: invalid UTF-8: `{rest}`") from None


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a surrogate-escaped byte: Go reads an invalid byte as U+FFFD
        return text.translate(_SURROGATES).encode("utf-8")


def _char_starts(text: str) -> list[int]:
    """Return the UTF-8 offset where each character of ``text`` starts, and the total length at the end."""
    starts = [0]
    total = 0
    for char in text:
        code = ord(char)
        total += 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4  # surrogate: 3 (U+FFFD)
        starts.append(total)
    return starts


def _tester(program: _Program) -> Callable[[str], bool]:
    match = program.Match

    def is_match(text: str) -> bool:
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # a surrogate-escaped byte: Go reads an invalid byte as U+FFFD
            data = text.translate(_SURROGATES).encode("utf-8")
        return match(_UNANCHORED, data, 0, len(data))[0][0] >= 0

    return is_match


class GoMatch:
    """One match: the whole match (group 0) and each capture group, as character offsets into the subject."""

    __slots__ = ("_spans", "_text")

    def __init__(self, text: str, spans: Sequence[tuple[int, int]]) -> None:
        self._text = text
        self._spans = spans

    def span(self, group: int = 0) -> tuple[int, int]:
        """Return ``(start, end)`` of ``group``; ``(-1, -1)`` when it took no part in the match."""
        return self._spans[group]

    def group(self, group: int = 0) -> str | None:
        """Return the text of ``group``, or None when it took no part in the match."""
        start, end = self._spans[group]
        return None if start < 0 else self._text[start:end]


class GoRegexp:
    """A compiled Go regexp. ``is_match`` is Go's ``MatchString``; ``search`` finds the leftmost-first match.

    ``groups`` is the number of capture groups; ``group_names[i]`` is the name of group ``i`` (``""`` when unnamed;
    index 0 is the whole match). A name used twice names its leftmost group only.
    """

    __slots__ = ("_capturing", "_ignore_case", "is_match", "pattern")

    def __init__(self, pattern: str, test: _Program, *, ignore_case: bool) -> None:
        self.pattern = pattern
        self._ignore_case = ignore_case
        self._capturing: _Program | None = None
        self.is_match: Callable[[str], bool] = _tester(test)
        """``is_match(text)``: True when the pattern matches anywhere in ``text`` (a closure: no method lookup)."""

    def __repr__(self) -> str:
        return f"GoRegexp({self.pattern!r})"

    def _with_groups(self) -> _Program:
        program = self._capturing
        if program is None:  # compiled on first use: the rule matchers only ever ask yes or no
            program = _program(self.pattern.encode("utf-8"), capture=True, ignore_case=self._ignore_case)
            self._capturing = program
        return program

    @property
    def groups(self) -> int:
        return self._with_groups().NumberOfCapturingGroups()

    @property
    def group_names(self) -> list[str]:
        names = [""] * (self.groups + 1)
        for name, index in self._with_groups().NamedCapturingGroups():
            names[index] = name.decode("utf-8")
        return names

    def search(self, text: str, pos: int = 0) -> GoMatch | None:
        """Return the leftmost-first match that starts at character ``pos`` or later, or None.

        The text before ``pos`` still counts as context for ``^``, ``\\A`` and ``\\b``, as in Go's ``ReplaceAll``.
        """
        program = self._with_groups()
        data = _utf8(text)
        if len(data) == len(text):  # ASCII: byte offsets are character offsets
            spans = program.Match(_UNANCHORED, data, pos, len(data))
            return None if spans[0][0] < 0 else GoMatch(text, spans)
        starts = _char_starts(text)
        spans = program.Match(_UNANCHORED, data, starts[pos], len(data))
        if spans[0][0] < 0:
            return None
        # RE2 matches whole characters, so every offset it returns starts a character: its index is exact.
        return GoMatch(
            text,
            [_NO_SPAN if start < 0 else (bisect_left(starts, start), bisect_left(starts, end)) for start, end in spans],
        )


def compile_go_regexp(pattern: str, *, ignore_case: bool = False) -> GoRegexp:
    """Compile Go regexp ``pattern`` on RE2; ``ignore_case`` is a leading ``(?i)``.

    Raises :class:`GoRegexpError` with Go's message (``error parsing regexp: <code>: `<fragment>```) for a pattern
    Go's ``regexp.Compile`` rejects.
    """
    source = _utf8_pattern(pattern)
    go_only = _go_only_error(pattern) if ("\\C" in pattern or "{" in pattern) else None
    if go_only is not None:
        raise GoRegexpError(go_only)
    test = _program(source, capture=False, ignore_case=ignore_case)
    if not test.ok():
        raise GoRegexpError(go_error_text(pattern, test.error().decode("utf-8", "replace")))
    return GoRegexp(pattern, test, ignore_case=ignore_case)


_GO_SPECIAL = frozenset("\\.+*?()|[]{}^$")


def quote_meta(text: str) -> str:
    """Return ``text`` with Go's regexp metacharacters escaped (Go's ``regexp.QuoteMeta``)."""
    return "".join("\\" + char if char in _GO_SPECIAL else char for char in text)
