"""Review of the rule cache (issue 22): routers with the same rule text get one compiled rule, so nothing may be set
on it afterwards (per-router state would leak between routers), and the same text under another syntax or another
spelling of v3 never returns the other syntax's rule."""

from __future__ import annotations

import pytest

from hanzo_edge.rules import compile_rule


def test_routers_with_one_rule_text_share_a_compiled_rule_nobody_can_change() -> None:
    first = compile_rule("Host(`shared.example`) && PathPrefix(`/api`)")
    second = compile_rule("Host(`shared.example`) && PathPrefix(`/api`)")
    assert first is second
    for name, value in [("hosts", frozenset({"other.example"})), ("host_only", True), ("text", "x"), ("matches", None)]:
        with pytest.raises(AttributeError, match="immutable"):
            setattr(first, name, value)
    with pytest.raises(AttributeError, match="immutable"):
        del first.hosts
    assert first.hosts == frozenset({"shared.example"})
    assert first.host_only is False


@pytest.mark.parametrize("spelling", ["", "default", "V3", "v3"])
def test_v3_spellings_compile_as_v3_and_v2_stays_apart(spelling: str) -> None:
    # In v2, Path(`/a`, `/b`) takes several paths; v3 refuses more than one argument.
    text = "Path(`/a`, `/b`)"
    v2 = compile_rule(text, "v2")
    assert v2.syntax == "v2"
    with pytest.raises(Exception, match="unexpected number of parameters"):
        compile_rule(text, spelling)
    assert compile_rule(text, "v2") is v2
    rule = compile_rule("Path(`/a`)", spelling)
    assert rule.syntax == "v3"
