"""Ingress-controlled text cannot break out of the rule it is written into (Hypothesis).

Whatever an Ingress author puts in a path, the rule the translation writes parses back to exactly the matchers it
meant, with the path as the only argument; and ``normalize`` is Go's ``provider.Normalize``.
"""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.providers.kubernetes.ingress_translate import go_quote, host_rule, strict_prefix_rule
from hanzo_edge.providers.kubernetes.names import normalize
from hanzo_edge.rules.ast import And, Matcher, Or
from hanzo_edge.rules.parser import parse_rule

# The machine running the suite is shared: time is not what these properties are about.
RELAXED = settings(deadline=None)

paths = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1).map(lambda text: "/" + text)


@RELAXED
@given(paths)
def test_a_quoted_path_is_one_argument(path: str) -> None:
    assert parse_rule(f"Host(`tenant.example.com`) && PathPrefix({go_quote(path)})") == And(
        Matcher("Host", ("tenant.example.com",)), Matcher("PathPrefix", (path,))
    )


@RELAXED
@given(paths)
def test_strict_prefix_rules_parse_to_path_or_prefix(path: str) -> None:
    node = parse_rule(strict_prefix_rule(path))
    if path == "/":
        assert node == Matcher("PathPrefix", ("/",))
    else:
        trimmed = path.removesuffix("/")
        assert node == Or(Matcher("Path", (trimmed,)), Matcher("PathPrefix", (trimmed + "/",)))


@RELAXED
@given(st.from_regex(r"\A(\*\.)?[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?){0,3}\Z"))
def test_host_rules_parse(host: str) -> None:
    node = parse_rule(host_rule(host))
    assert isinstance(node, Matcher)
    assert node.name == ("HostRegexp" if host.startswith("*.") else "Host")


@RELAXED
@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_normalize_is_gos(name: str) -> None:
    def word(char: str) -> bool:
        return unicodedata.category(char)[0] in "LN"

    expected: list[str] = []
    run = ""
    for char in name:
        if word(char):
            run += char
        elif run:
            expected.append(run)
            run = ""
    if run:
        expected.append(run)
    assert normalize(name) == "-".join(expected)
