"""Parsing into the tree, canonical rendering, and literal handling."""

from __future__ import annotations

import pytest

from hanzo_edge.rules import And, Matcher, Not, Or, iter_matchers, parse_rule, render

P = pytest.param
A = Matcher("Host", ("a",))
B = Matcher("Path", ("/b",))
C = Matcher("Method", ("GET",))


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        P("Host(`a`)", A, id="single"),
        P("(Host(`a`))", A, id="superfluous-parens"),
        P("host(`a`)", A, id="lowercase-name"),
        P("Host(`a`) && Path(`/b`)", And(A, B), id="and"),
        P("Host(`a`) || Path(`/b`)", Or(A, B), id="or"),
        P("!Host(`a`)", Not(A), id="not"),
        P("!!Host(`a`)", Not(Not(A)), id="not-not"),
        P("Host(`a`) && Path(`/b`) && Method(`GET`)", And(And(A, B), C), id="and-left-assoc"),
        P("Host(`a`) || Path(`/b`) || Method(`GET`)", Or(Or(A, B), C), id="or-left-assoc"),
        P("Host(`a`) || Path(`/b`) && Method(`GET`)", Or(A, And(B, C)), id="and-binds-tighter-right"),
        P("Host(`a`) && Path(`/b`) || Method(`GET`)", Or(And(A, B), C), id="and-binds-tighter-left"),
        P("!Host(`a`) && Path(`/b`)", And(Not(A), B), id="not-binds-tightest"),
        P("!(Host(`a`) && Path(`/b`))", Not(And(A, B)), id="not-group"),
        P("Host(`a`) && (Path(`/b`) || Method(`GET`))", And(A, Or(B, C)), id="parens-override"),
        P("Host(`a`) && (Path(`/b`) && Method(`GET`))", And(A, And(B, C)), id="right-nested-and"),
        P("\ufeffHost(`a`)", A, id="leading-bom"),
        P("  Host ( `a` , )  ", A, id="blanks-everywhere"),
    ],
)
def test_parse_tree(text: str, tree: object) -> None:
    assert parse_rule(text) == tree


@pytest.mark.parametrize(
    ("text", "value"),
    [
        P("Host(`a\\nb`)", "a\\nb", id="raw-keeps-backslashes"),
        P("Host(`a\r\nb`)", "a\nb", id="raw-drops-carriage-returns"),
        P('Host("a\\tb")', "a\tb", id="quoted-tab"),
        P('Host("\\a\\b\\f\\n\\r\\t\\v\\\\\\"")', '\a\b\f\n\r\t\v\\"', id="quoted-named-escapes"),
        P('Host("\\x41\\101\\u00e9\\U0001F9AD")', "AAé🦭", id="quoted-numeric-escapes"),
        P('Host("\\xc3\\xa9")', "é", id="quoted-utf8-bytes"),
        P('Host("`")', "`", id="quoted-backtick"),
        P("Host(`\"'`)", "\"'", id="raw-quotes"),
        P('Host("🦭")', "🦭", id="quoted-unicode"),
    ],
)
def test_literals(text: str, value: str) -> None:
    tree = parse_rule(text)
    assert isinstance(tree, Matcher)
    assert tree.args == (value,)


@pytest.mark.parametrize(
    ("tree", "text"),
    [
        P(A, "Host(`a`)", id="matcher"),
        P(Matcher("Host", ()), "Host()", id="no-args"),
        P(Matcher("Header", ("X-A", "b")), "Header(`X-A`, `b`)", id="two-args"),
        P(Matcher("Path", ("/a`b",)), 'Path("/a`b")', id="backtick-forces-quotes"),
        P(Matcher("Path", ('/"\\\n',)), 'Path(`/"\\\n`)', id="raw-keeps-specials"),
        P(
            Matcher("Path", ('`"\\\n\t\x00\u00a0\ufeff🦭',)),
            'Path("`\\"\\\\\\n\\t\\x00\\u00a0\\ufeff🦭")',
            id="escapes",
        ),
        P(Matcher("Path", ("a\rb",)), 'Path("a\\rb")', id="carriage-return-forces-quotes"),
        P(And(A, B), "Host(`a`) && Path(`/b`)", id="and"),
        P(Or(A, And(B, C)), "Host(`a`) || Path(`/b`) && Method(`GET`)", id="or-and-no-parens"),
        P(And(Or(A, B), C), "(Host(`a`) || Path(`/b`)) && Method(`GET`)", id="or-under-and"),
        P(And(A, And(B, C)), "Host(`a`) && (Path(`/b`) && Method(`GET`))", id="right-assoc-kept"),
        P(Or(A, Or(B, C)), "Host(`a`) || (Path(`/b`) || Method(`GET`))", id="right-assoc-or-kept"),
        P(Or(Or(A, B), C), "Host(`a`) || Path(`/b`) || Method(`GET`)", id="left-assoc-or"),
        P(Not(And(A, B)), "!(Host(`a`) && Path(`/b`))", id="not-group"),
        P(Not(Not(A)), "!!Host(`a`)", id="not-not"),
        P(And(Not(A), Not(Or(B, C))), "!Host(`a`) && !(Path(`/b`) || Method(`GET`))", id="mixed"),
    ],
)
def test_render(tree: object, text: str) -> None:
    assert render(tree) == text  # type: ignore[arg-type]
    assert parse_rule(text) == tree


def test_render_normalises_names_and_quotes() -> None:
    assert render(parse_rule('host("A") && PATHPREFIX("/x")')) == "Host(`A`) && PathPrefix(`/x`)"


def test_iter_matchers_in_order() -> None:
    tree = parse_rule("Host(`a`) && !(Path(`/b`) || Method(`GET`))")
    assert iter_matchers(tree) == [A, B, C]


def test_nodes_are_frozen_and_hashable() -> None:
    with pytest.raises(AttributeError):
        A.name = "Path"  # type: ignore[misc]
    assert len({And(A, B), And(A, B), Or(A, B)}) == 2
