"""Label selectors: Kubernetes' syntax parsed, printed back and matched; hostile input only raises SelectorError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hanzo_edge.providers.kubernetes.selectors import LabelSelector, Requirement, SelectorError, parse_selector

NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

names = st.builds(
    lambda first, middle, last: first + middle + last if middle or last else first,
    st.sampled_from(NAME_CHARS),
    st.text(alphabet=NAME_CHARS + "-_.", max_size=10),
    st.sampled_from(NAME_CHARS) | st.just(""),
).filter(lambda n: n[-1] in NAME_CHARS)
prefixes = st.lists(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True), min_size=1, max_size=3).map(
    ".".join
)
keys = st.one_of(names, st.builds(lambda p, n: f"{p}/{n}", prefixes, names))
values = st.one_of(st.just(""), names)


@st.composite
def requirements(draw: st.DrawFn) -> Requirement:
    key = draw(keys)
    operator = draw(st.sampled_from(["=", "!=", "in", "notin", "exists", "!", ">", "<"]))
    if operator in ("exists", "!"):
        return Requirement(key, operator)
    if operator in ("in", "notin"):
        chosen = draw(st.lists(names, min_size=1, max_size=4, unique=True))
        return Requirement(key, operator, tuple(sorted(chosen)))
    if operator in (">", "<"):
        return Requirement(key, operator, (str(draw(st.integers(-1000, 1000))),))
    return Requirement(key, operator, (draw(values),))


selectors = st.lists(requirements(), max_size=5).map(lambda r: LabelSelector(tuple(r)))
label_sets = st.dictionaries(keys, values | st.integers(-5, 5).map(str), max_size=6)


def reference_match(requirement: Requirement, labels: dict[str, str]) -> bool:
    """An independent reading of apimachinery's Requirement.Matches."""
    present = requirement.key in labels
    value = labels.get(requirement.key, "")
    op = requirement.operator
    if op == "exists":
        return present
    if op == "!":
        return not present
    if op in ("=", "in"):
        return present and value in requirement.values
    if op in ("!=", "notin"):
        return not present or value not in requirement.values
    if not present or not value.lstrip("-").isdigit():
        return False
    return int(value) > int(requirement.values[0]) if op == ">" else int(value) < int(requirement.values[0])


@given(selectors)
def test_printing_and_parsing_round_trip(selector: LabelSelector) -> None:
    assert parse_selector(str(selector)) == selector


@given(selectors, label_sets)
def test_matching_follows_every_requirement(selector: LabelSelector, labels: dict[str, str]) -> None:
    expected = all(reference_match(r, labels) for r in selector.requirements)
    assert selector.matches(labels) == expected
    assert parse_selector(str(selector)).matches(labels) == expected


@given(st.text(max_size=40))
def test_any_text_parses_or_raises_selector_error(text: str) -> None:
    try:
        selector = parse_selector(text)
    except SelectorError as exc:
        message = str(exc)
        assert repr(text) in message
        return
    assert parse_selector(str(selector)) == selector


@pytest.mark.parametrize(
    ("text", "labels", "matches"),
    [
        ("", {}, True),
        ("owner!=helm", {}, True),
        ("owner!=helm", {"owner": "helm"}, False),
        ("owner!=helm", {"owner": "flux"}, True),
        ("x=a,y=b", {"x": "a", "y": "b"}, True),
        ("x==a", {"x": "b"}, False),
        ("x in (a, b)", {"x": "b"}, True),
        ("x notin (a,b)", {"x": "c"}, True),
        ("x notin (a,b)", {}, True),
        ("x", {"x": ""}, True),
        ("!x", {"x": ""}, False),
        ("x=", {"x": ""}, True),
        ("x>1", {"x": "2"}, True),
        ("x<1", {"x": "abc"}, False),
        ("app.kubernetes.io/name=web", {"app.kubernetes.io/name": "web"}, True),
        ("  tier = edge , !legacy ", {"tier": "edge"}, True),
    ],
)
def test_kubernetes_examples(text: str, labels: dict[str, str], matches: bool) -> None:
    assert parse_selector(text).matches(labels) is matches


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x=a||y=b", "invalid label value"),
        ("x==a==b", "expected ','"),
        ("!x=a", "expected ','"),
        ("x in ()", "needs at least one value"),
        ("x in (a", "unexpected end"),
        ("x in a", "expected '('"),
        ("x,", "trailing ','"),
        (",x", "unexpected ','"),
        ("x>a", "is not an integer"),
        ("-x=a", "invalid label key"),
        ("Bad_Prefix/x=a", "invalid label key prefix"),
        ("x=" + "a" * 64, "invalid label value"),
    ],
)
def test_invalid_selectors_are_named(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as raised:
        parse_selector(text)
    assert message in str(raised.value)
