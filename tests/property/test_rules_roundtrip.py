"""Properties of the rule parser and renderer: round trip, and "only RuleError ever escapes"."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.rules import ALL_MATCHER_NAMES, And, Matcher, Node, Not, Or, RuleError, compile_rule, parse_rule, render
from hanzo_edge.rules.goregexp import GoRegexpError, compile_go_regexp

# Any Unicode text Python can encode as UTF-8 (lone surrogates cannot appear in a Go string), with the characters
# that stress literal rendering over-represented: backticks, quotes, backslashes, CR/LF, NUL, BOM and escapes.
_SPECIAL = st.sampled_from(["`", '"', "'", "\\", "\r", "\n", "\t", "\x00", "\ufeff", "\x7f", "\u00a0", "🦭", "é"])
_CHARS = st.one_of(st.characters(exclude_categories=("Cs",)), _SPECIAL)
ARG = st.text(_CHARS, max_size=12) | st.sampled_from(["\\u00e9", "\\x41", "`\\``", "${x}", "a\r\nb", ""])

MATCHER = st.builds(
    Matcher,
    st.sampled_from(sorted(ALL_MATCHER_NAMES)),
    st.lists(ARG, max_size=3).map(tuple),
)


def _extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.one_of(
        st.builds(And, children, children),
        st.builds(Or, children, children),
        st.builds(Not, children),
    )


TREE: st.SearchStrategy[Node] = st.recursive(MATCHER, _extend, max_leaves=12)


@given(TREE)
@settings(max_examples=400)
def test_parse_render_round_trip(tree: Node) -> None:
    assert parse_rule(render(tree)) == tree


@given(TREE)
def test_render_is_canonical(tree: Node) -> None:
    text = render(tree)
    assert render(parse_rule(text)) == text


# Arbitrary text, plus text assembled from rule-language fragments so the parser gets deep into its states.
_FRAGMENTS = st.sampled_from(
    ["Host", "host", "PathPrefix", "Query", "Foo", "(", ")", "(", ",", "&&", "||", "!", "&", "|", "`a`", "`", '"',
     '"a"', '"\\', "\\x", "\\u", "'", " ", "\n", "/*", "*/", "//", "1", ".", "x", "\ufeff", "\x00", "\ud800"]
)  # fmt: skip
RULE_TEXT = st.text() | st.lists(_FRAGMENTS, max_size=25).map("".join)


@given(RULE_TEXT)
@settings(max_examples=600)
def test_parse_raises_only_rule_error(text: str) -> None:
    try:
        tree = parse_rule(text)
    except RuleError:
        return
    assert parse_rule(render(tree)) == tree


@given(RULE_TEXT, st.sampled_from(["v3", "v2"]))
@settings(max_examples=300)
def test_compile_raises_only_rule_error(text: str, syntax: str) -> None:
    try:
        compile_rule(text, syntax)
    except RuleError:
        pass


@given(TREE, st.sampled_from(["v3", "v2"]))
def test_compile_of_any_tree_raises_only_rule_error(tree: Node, syntax: str) -> None:
    try:
        compile_rule(render(tree), syntax)
    except RuleError:
        pass


_REGEX_FRAGMENTS = st.sampled_from(
    ["a", "b", ".", "*", "+", "?", "{2}", "{1,3}", "{,2}", "{", "}", "(", ")", "(?:", "(?i)", "(?m)", "(?s:", "(?=",
     "(?P<n>", "(?<m>", "|", "^", "$", "[", "]", "[^", "-", "[:alpha:]", "\\", "\\d", "\\s", "\\z", "\\Q", "\\E",
     "\\x{41}", "\\1", "\\p", "&&", "--", "é"]
)  # fmt: skip


@given(st.text() | st.lists(_REGEX_FRAGMENTS, max_size=15).map("".join))
@settings(max_examples=600)
def test_go_regexp_raises_only_go_regexp_error(pattern: str) -> None:
    try:
        compile_go_regexp(pattern)
    except GoRegexpError:
        pass


# Where Go and Python already agree (no "$", no "{", no escapes), translating must not change the meaning.
_COMMON = st.sampled_from(["a", "b", "c", ".", "*", "+", "?", "*?", "(", ")", "(?:", "|", "^", "[ab]", "[^a]", "[a-c]"])


@given(st.lists(_COMMON, max_size=10).map("".join), st.text("abcx\n", max_size=8))
@settings(max_examples=600)
def test_translation_keeps_meaning_of_common_syntax(pattern: str, subject: str) -> None:
    try:
        native = re.compile(pattern, re.ASCII)
    except re.error:
        return
    try:
        translated = compile_go_regexp(pattern)
    except GoRegexpError:
        return  # Go refuses some patterns Python accepts (e.g. "a**")
    assert (translated.search(subject) is None) == (native.search(subject) is None)
