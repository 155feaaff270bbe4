"""Properties of the Go template subset: only TemplateError ever escapes, literal text round-trips, and quoted
strings print back their value."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.config.gotemplate import TemplateError, parse_template, render_template
from hanzo_edge.rules.errors import go_quote

# Pieces that exercise every branch of the lexer and parser when shuffled together.
_PIECES = st.sampled_from(
    [
        "{{",
        "}}",
        "{{-",
        "-}}",
        " ",
        "\n",
        "if",
        "else",
        "end",
        "range",
        "with",
        "break",
        "continue",
        "define",
        ".",
        ".A",
        ".A.B",
        "$",
        "$x",
        ":=",
        "=",
        "|",
        "(",
        ")",
        ",",
        '"s"',
        "`r`",
        "'c'",
        "1",
        "-2.5",
        "0x1F",
        "true",
        "nil",
        "printf",
        "index",
        "len",
        "eq",
        "and",
        "or",
        "not",
        "list",
        "dict",
        "until",
        "default",
        "normalize",
        "split",
        "/*",
        "*/",
        "\\",
        '"',
        "x",
    ]
)
_DATA = {"A": {"B": [1, "two", None]}, "L": ["a", "b"], "N": 3}


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=30).map("".join))
def test_only_template_errors_escape(text: str) -> None:
    message = "template: p:"
    try:
        render_template(text, _DATA, name="p")
    except TemplateError as exc:
        message = str(exc)
    assert message.startswith("template: p:")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes(text: str) -> None:
    try:
        render_template(text, _DATA, name="p")
    except TemplateError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200).filter(lambda t: "{{" not in t))
def test_literal_text_round_trips(text: str) -> None:
    assert render_template(text) == text
    assert parse_template(text, "p").render(_DATA) == text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60))
def test_a_quoted_string_prints_its_value(value: str) -> None:
    assert parse_template("{{ " + go_quote(value) + " }}", "p").render(None) == value
    if "`" not in value and "\r" not in value:
        assert parse_template("{{ `" + value + "` }}", "p").render(None) == value


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=10).filter(lambda t: "{" not in t and "}" not in t), min_size=1, max_size=5))
def test_text_around_actions_is_kept(parts: list[str]) -> None:
    template = "{{ `x` }}".join(parts)
    assert render_template(template) == "x".join(parts)
