"""Go RE2 syntax on Python's re: translations that keep Go's meaning, and what must be refused."""

from __future__ import annotations

import pytest

from hanzo_edge.rules.goregexp import GoRegexpError, compile_go_regexp, translate

P = pytest.param


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        P("^/a$", "/a", True, id="dollar-end"),
        P("^/a$", "/a\n", False, id="dollar-not-before-final-newline"),
        P("(?m)^b$", "a\nb\nc", True, id="multiline-dollar"),
        P("(?m:^b$)", "a\nb\nc", True, id="scoped-multiline"),
        P("(?m:x)^b$", "a\nb", False, id="multiline-scope-ends"),
        P(r"^a\z", "a", True, id="backslash-z"),
        P(r"^a\z", "a\n", False, id="backslash-z-strict"),
        P("(?i)abc", "xABCx", True, id="leading-flag"),
        P("a(?i)b|c", "aB", True, id="mid-flag-applies-after"),
        P("a(?i)b|c", "C", True, id="mid-flag-spans-alternation"),
        P("^a(?i)b", "Ab", False, id="mid-flag-not-before"),
        P("(x(?i)y)z", "xYz", True, id="mid-flag-in-group"),
        P("(x(?i)y)z", "xYZ", False, id="mid-flag-ends-with-group"),
        P("(?i)a(?-i)b", "Ab", True, id="flag-cleared"),
        P("(?i)a(?-i)b", "AB", False, id="flag-cleared-miss"),
        P("(?s)a.b", "a\nb", True, id="dotall"),
        P("a.b", "a\nb", False, id="dot-no-newline"),
        P(r"\Qa.b\E", "a.b", True, id="quote-literal"),
        P(r"\Qa.b\E", "axb", False, id="quote-literal-dot"),
        P(r"\Qa.b", "a.b", True, id="quote-to-end"),
        P("x{,3}", "x{,3}", True, id="brace-literal"),
        P("x{,3}", "xxx", False, id="brace-not-repeat"),
        P("x{2}", "xx", True, id="repeat"),
        P("a{2,}b", "aaab", True, id="repeat-open"),
        P("a{1000}", "a" * 1000, True, id="repeat-max"),
        P("^[[:word:]]+$", "ab_9", True, id="posix-word"),
        P("^[[:alpha:][:digit:]]+$", "ab9", True, id="posix-two"),
        P("^[^[:space:]]+$", "ab", True, id="posix-in-negated-class"),
        P("^[[:space:]]$", "\v", True, id="posix-space-has-vt"),
        P(r"^\s$", "\v", False, id="perl-space-has-no-vt"),
        P(r"^\s+$", " \t\r\n\f", True, id="perl-space"),
        P(r"^\S$", "x", True, id="perl-non-space"),
        P(r"^[\s]$", "\t", True, id="perl-space-in-class"),
        P(r"^\d$", "٣", False, id="digit-ascii-only"),
        P(r"^\w+$", "é", False, id="word-ascii-only"),
        P(r"\bfoo\b", "a foo b", True, id="word-boundary"),
        P(r"^\x41\x{263a}\101\0$", "A☺A\x00", True, id="numeric-escapes"),
        P(r"^[\x{263a}-\x{263c}]$", "☻", True, id="hex-range"),
        P("^[]a]+$", "]a", True, id="class-leading-bracket"),
        P("^[^]a]$", "b", True, id="negated-class-leading-bracket"),
        P("^[a-]$", "-", True, id="class-trailing-dash"),
        P("^[[a]$", "[", True, id="class-open-bracket"),
        P("^[a&&b]$", "&", True, id="class-ampersands"),
        P("^[a||b]$", "|", True, id="class-bars"),
        P("^[a~~b]$", "~", True, id="class-tildes"),
        P("^[+--]$", ",", True, id="class-range-to-dash"),
        P(r"^[\]\\]$", "\\", True, id="class-escapes"),
        P("(?P<id>[0-9]+)", "x42", True, id="python-named-group"),
        P("(?<id>[0-9]+)", "x42", True, id="go-named-group"),
        P("(?P<1st>a)", "a", True, id="digit-led-group-name"),
        P("a|b|", "", True, id="empty-alternative"),
        P("{}", "{}", True, id="braces-literal"),
        P("a}", "a}", True, id="closing-brace-literal"),
        P("/{path:(css|js)}", "/{path:js}", True, id="gorilla-looking-literal"),
    ],
)
def test_go_semantics(pattern: str, subject: str, expected: bool) -> None:
    assert (compile_go_regexp(pattern).search(subject) is not None) is expected


def test_ignore_case_flag() -> None:
    assert compile_go_regexp("^[a-z]+$", ignore_case=True).search("ABC")
    assert not compile_go_regexp("^[a-z]+$").search("ABC")


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        P("(a", "missing closing )", id="unclosed-group"),
        P("a)", "unexpected )", id="unopened-group"),
        P("[a", "missing closing ]: `[a`", id="unclosed-class"),
        P("a\\", "trailing backslash at end of expression", id="trailing-backslash"),
        P("(?=a)", "invalid or unsupported Perl syntax: `(?=`", id="lookahead"),
        P("(?!a)", "invalid or unsupported Perl syntax: `(?!`", id="negative-lookahead"),
        P("(?<=a)", "invalid or unsupported Perl syntax: `(?<`", id="lookbehind"),
        P("(?<!a)", "invalid or unsupported Perl syntax: `(?<`", id="negative-lookbehind"),
        P("(?>a)", "invalid or unsupported Perl syntax: `(?>`", id="atomic"),
        P("(?#c)", "invalid or unsupported Perl syntax: `(?#`", id="comment"),
        P("(?(1)a|b)", "invalid or unsupported Perl syntax: `(?(`", id="conditional"),
        P("(?P<n>a)(?P=n)", "invalid or unsupported Perl syntax: `(?P`", id="named-backreference"),
        P("(?x)a", "invalid or unsupported Perl syntax: `(?x`", id="verbose-flag"),
        P("(?)a", "invalid or unsupported Perl syntax: `(?)`", id="empty-flags"),
        P("(?i-)a", "invalid or unsupported Perl syntax: `(?i`", id="dangling-minus"),
        P("(?U)a", "the U (ungreedy) flag is not supported", id="ungreedy"),
        P("(?P<a>x)(?P<a>y)", "duplicate capture group name: `a`", id="duplicate-name"),
        P("(?P<a-b>x)", "invalid named capture: `(?P<a-b>`", id="bad-group-name"),
        P(r"(a)\1", r"invalid escape sequence: `\1` (backreferences are not supported)", id="backreference"),
        P(r"\8", r"invalid escape sequence: `\8` (backreferences are not supported)", id="escape-8"),
        P(r"\Z", r"invalid escape sequence: `\Z`", id="python-end-anchor"),
        P(r"\u0041", r"invalid escape sequence: `\u`", id="python-unicode-escape"),
        P(r"\N{DASH}", r"invalid escape sequence: `\N`", id="python-named-char"),
        P(r"\C", r"invalid escape sequence: `\C`", id="any-byte"),
        P(r"\é", r"invalid escape sequence: `\é`", id="non-ascii-escape"),
        P(r"[\b]", r"invalid escape sequence: `\b`", id="backspace-in-class"),
        P(r"\xZ1", r"invalid escape sequence: `\xZ1`", id="bad-hex"),
        P(r"\x{110000}", r"invalid escape sequence: `\x{110000}`", id="hex-too-big"),
        P(r"\pL", r"Unicode character classes are not supported: `\p`", id="unicode-class"),
        P(r"\P{Greek}", r"Unicode character classes are not supported: `\P`", id="negated-unicode-class"),
        P("a*+", "invalid nested repetition operator", id="possessive-star"),
        P("a++", "invalid nested repetition operator", id="possessive-plus"),
        P("a**", "invalid nested repetition operator", id="double-star"),
        P("a*??", "invalid nested repetition operator", id="lazy-then-optional"),
        P("a{2}{3}", "invalid nested repetition operator", id="double-brace-repeat"),
        P("a{1001}", "invalid repeat count: `{1001}`", id="repeat-too-big"),
        P("a{3,2}", "invalid repeat count: `{3,2}`", id="repeat-reversed"),
        P("[[:foo:]]", "invalid character class range: `[:foo:]`", id="unknown-posix"),
        P("[[:^alpha:]]", "negated POSIX classes are not supported: `[:^alpha:]`", id="negated-posix"),
        P("[z-a]", "invalid character class range: `z-a`", id="reversed-range"),
        P("*a", "nothing to repeat", id="python-nothing-to-repeat"),
    ],
)
def test_refused(pattern: str, message: str) -> None:
    with pytest.raises(GoRegexpError) as info:
        compile_go_regexp(pattern)
    assert str(info.value) == f"error parsing regexp: {message}: `{pattern}`"


@pytest.mark.parametrize(
    ("pattern", "python"),
    [
        P("^/a$", r"^/a\Z", id="dollar"),
        P("(?m)a$", "(?m:a$)", id="multiline-dollar"),
        P("a(?i)b|c", "a(?i:b)|(?i:c)", id="mid-flag"),
        P("x{,3}", r"x\{,3}", id="brace"),
        P("[[:digit:]]", "[0-9]", id="posix"),
        P("(?<n>a)", "(a)", id="named-group"),
    ],
)
def test_translation(pattern: str, python: str) -> None:
    assert translate(pattern) == python
