"""Go regexps on RE2: Go's matching semantics, the syntax Go accepts, and what Go refuses with Go's texts."""

from __future__ import annotations

import pytest

from hanzo_edge.rules.goregexp import GoRegexpError, compile_go_regexp

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
        # Syntax Go accepts that Python's re has no equivalent for.
        P(r"^\pL+$", "héllo", True, id="unicode-class"),
        P(r"^\p{Greek}+$", "αβγ", True, id="unicode-script"),
        P(r"^\P{Greek}$", "a", True, id="negated-unicode-script"),
        P("(?U)a+", "aaa", True, id="ungreedy-flag"),
        P("^[[:^alpha:]]+$", "123", True, id="negated-posix"),
        P("^[[:^alpha:]]+$", "a1", False, id="negated-posix-miss"),
        P("(?)a", "a", True, id="empty-flag-group"),
        P("(?P<a>x)|(?P<a>y)", "y", True, id="duplicate-group-name"),
        P("(?i)\u017f", "S", True, id="long-s-folds-to-s"),
        P("(?i)k", "\u212a", True, id="kelvin-sign-folds-to-k"),
        P(r"^\x{1F600}$", "😀", True, id="astral-escape"),
        P("^.$", "\udcff", True, id="undecodable-byte-is-one-character"),
        P("x{9876543210,01}", "x{9876543210,01}", True, id="leading-zero-count-is-literal"),
    ],
)
def test_go_semantics(pattern: str, subject: str, expected: bool) -> None:
    regexp = compile_go_regexp(pattern)
    assert regexp.is_match(subject) is expected
    assert (regexp.search(subject) is not None) is expected


def test_ignore_case_flag() -> None:
    assert compile_go_regexp("^[a-z]+$", ignore_case=True).search("ABC")
    assert not compile_go_regexp("^[a-z]+$").search("ABC")


@pytest.mark.parametrize(
    ("pattern", "code", "fragment"),
    [
        P("(a", "missing closing )", "(a", id="unclosed-group"),
        P("a)", "unexpected )", "a)", id="unopened-group"),
        P("x[ab", "missing closing ]", "[ab", id="unclosed-class"),
        P("a\\", "trailing backslash at end of expression", "", id="trailing-backslash"),
        P("(?=a)", "invalid or unsupported Perl syntax", "(?=", id="lookahead"),
        P("(?!a)", "invalid or unsupported Perl syntax", "(?!", id="negative-lookahead"),
        P("(?<=a)", "invalid named capture", "(?<=a)", id="lookbehind"),
        P("(?<!a)", "invalid named capture", "(?<!a)", id="negative-lookbehind"),
        P("x(?<=a)b>c", "invalid named capture", "(?<=a)b>", id="lookbehind-name-runs-to-gt"),
        P("(?>a)", "invalid or unsupported Perl syntax", "(?>", id="atomic"),
        P("(?#c)", "invalid or unsupported Perl syntax", "(?#", id="comment"),
        P("(?(1)a|b)", "invalid or unsupported Perl syntax", "(?(", id="conditional"),
        P("(?P<n>a)(?P=n)", "invalid or unsupported Perl syntax", "(?P", id="named-backreference"),
        P("(?x)a", "invalid or unsupported Perl syntax", "(?x", id="verbose-flag"),
        P("(?i-)a", "invalid or unsupported Perl syntax", "(?i-)", id="dangling-minus"),
        P("(?<", "invalid or unsupported Perl syntax", "(?<", id="bare-group-open"),
        P("(?P<a-b>x)", "invalid named capture", "(?P<a-b>", id="bad-group-name"),
        P("(?P<>x)", "invalid named capture", "(?P<>", id="empty-group-name"),
        P("(?P<n", "invalid named capture", "(?P<n", id="unterminated-group-name"),
        P(r"(a)\1", "invalid escape sequence", r"\1", id="backreference"),
        P(r"\8", "invalid escape sequence", r"\8", id="escape-8"),
        P(r"\Z", "invalid escape sequence", r"\Z", id="python-end-anchor"),
        P(r"\u0041", "invalid escape sequence", r"\u", id="python-unicode-escape"),
        P(r"\N{DASH}", "invalid escape sequence", r"\N", id="python-named-char"),
        P(r"a\C", "invalid escape sequence", r"\C", id="any-byte"),
        P(r"(\C", "invalid escape sequence", r"\C", id="any-byte-before-missing-paren"),
        P(r"[\C]", "invalid escape sequence", r"\C", id="any-byte-in-class"),
        P(r"\é", "invalid escape sequence", r"\é", id="non-ascii-escape"),
        P(r"[\b]", "invalid escape sequence", r"\b", id="backspace-in-class"),
        P(r"[a-\d]", "invalid escape sequence", r"\d", id="class-range-to-perl-class"),
        P(r"\xZ1", "invalid escape sequence", r"\xZ1", id="bad-hex"),
        P(r"\x{110000}", "invalid escape sequence", r"\x{110000", id="hex-too-big"),
        P(r"\p{Foo}", "invalid character class range", r"\p{Foo}", id="unknown-unicode-class"),
        P("a*+", "invalid nested repetition operator", "*+", id="possessive-star"),
        P("a++", "invalid nested repetition operator", "++", id="possessive-plus"),
        P("a**", "invalid nested repetition operator", "**", id="double-star"),
        P("a*??", "invalid nested repetition operator", "*??", id="lazy-then-optional"),
        P("a{2}{3}", "invalid nested repetition operator", "{2}{3}", id="double-brace-repeat"),
        P("a{2}{1001}", "invalid repeat count", "{1001}", id="bad-count-before-nesting"),
        P("a{1001}", "invalid repeat count", "{1001}", id="repeat-too-big"),
        P("a{3,2}", "invalid repeat count", "{3,2}", id="repeat-reversed"),
        P("x{9876543210}", "invalid repeat count", "{9876543210}", id="repeat-ten-digits"),
        P("x{1,9876543210}", "invalid repeat count", "{1,9876543210}", id="repeat-max-ten-digits"),
        P(r"(x{9876543210}\1", "invalid repeat count", "{9876543210}", id="repeat-ten-digits-comes-first"),
        P("(?:a{4}){0,251}", "invalid repeat count", "{0,251}", id="nested-repeat-product"),
        P("[[:foo:]]", "invalid character class range", "[:foo:]", id="unknown-posix"),
        P("[z-a]", "invalid character class range", "z-a", id="reversed-range"),
        P("*a", "missing argument to repetition operator", "*", id="nothing-to-repeat"),
        P("a|*", "missing argument to repetition operator", "*", id="nothing-to-repeat-after-bar"),
        P("a\ud800b", "invalid UTF-8", "\ufffdb", id="lone-surrogate"),
    ],
)
def test_refused_with_go_text(pattern: str, code: str, fragment: str) -> None:
    with pytest.raises(GoRegexpError) as info:
        compile_go_regexp(pattern)
    assert str(info.value) == f"error parsing regexp: {code}: `{fragment}`"


@pytest.mark.parametrize(
    ("pattern", "subject"),
    [
        P(r"\\C", "\\C", id="escaped-backslash-then-c"),
        P(r"\Qa\Cb\E", "a\\Cb", id="quoted-any-byte"),
        P(r"\{9876543210}", "{9876543210}", id="escaped-brace"),
        P("^[{9876543210}]+$", "{}0", id="braces-in-class"),
        P("^[(?<=a)]+$", "(?<=)", id="lookbehind-text-in-class"),
    ],
)
def test_go_only_refusals_skip_literal_text(pattern: str, subject: str) -> None:
    # \C, huge counts and lookbehinds are found by text search; only those the parser reads as syntax count.
    assert compile_go_regexp(pattern).is_match(subject)


def test_pattern_beyond_re2_budget_is_too_large() -> None:
    # RE2's program budget is smaller than Go's: Go accepts this one (listed in docs/compat.md).
    with pytest.raises(GoRegexpError) as info:
        compile_go_regexp(r"\pL{1000}")
    assert str(info.value) == "error parsing regexp: expression too large: `\\pL{1000}`"
