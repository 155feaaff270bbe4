"""The compiled-rule cache: one dict entry per rule, least recently used evicted first (issue 22, 10,000 routers)."""

from __future__ import annotations

import pytest

from hanzo_edge.rules import compile as rule_compile
from hanzo_edge.rules.compile import compile_rule


@pytest.fixture
def small_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rule_compile, "_RULES", {})
    monkeypatch.setattr(rule_compile, "RULE_CACHE_SIZE", 3)


@pytest.mark.usefixtures("small_cache")
def test_a_rule_compiled_again_is_the_cached_object_and_the_least_recently_used_goes_first() -> None:
    a, b, _c = (compile_rule(f"Host(`{name}.example.com`)") for name in "abc")
    assert compile_rule("Host(`a.example.com`)") is a  # a hit makes `a` the most recently used
    d = compile_rule("Host(`d.example.com`)")  # full: `b` is the least recently used
    assert compile_rule("Host(`a.example.com`)") is a
    assert compile_rule("Host(`d.example.com`)") is d
    again = compile_rule("Host(`b.example.com`)")
    assert again is not b
    assert again == b
    assert again.hosts == frozenset({"b.example.com"})
    assert len(rule_compile._RULES) == 3


@pytest.mark.usefixtures("small_cache")
def test_syntaxes_are_cached_apart() -> None:
    v3 = compile_rule("Host(`a.example.com`)")
    v2 = compile_rule("Host(`a.example.com`)", "v2")
    assert (v3.syntax, v2.syntax) == ("v3", "v2")
    assert compile_rule("Host(`a.example.com`)", "v2") is v2
    assert compile_rule("Host(`a.example.com`)") is v3


@pytest.mark.usefixtures("small_cache")
def test_errors_are_raised_every_time_and_never_cached() -> None:
    for _ in range(2):
        with pytest.raises(rule_compile.RuleError):
            compile_rule("Host(")
        with pytest.raises(rule_compile.RuleError):
            compile_rule("Host(`a`)", "v9")
    assert rule_compile._RULES == {}
