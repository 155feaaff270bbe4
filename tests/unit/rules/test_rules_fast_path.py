"""The parser's fast path for `Host(...)` / `Host(...) && PathPrefix(...)` builds exactly the full parser's tree."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hanzo_edge.rules.names import ALL_MATCHER_NAMES
from hanzo_edge.rules.parser import _Parser, _spellings, parse_rule


def _slow(text: str) -> object:
    return _Parser(text, _spellings(ALL_MATCHER_NAMES)).parse()


@pytest.mark.parametrize(
    "rule",
    [
        "Host(`a.test`)",
        "Host(``)",
        "Host(`a.test`) && PathPrefix(`/api`)",
        "Host(`Ünïcode.test`) && PathPrefix(`/x y`)",
        'Host(`a"b`)',
    ],
)
def test_fast_path_equals_full_parser(rule: str) -> None:
    assert parse_rule(rule) == _slow(rule)


@given(host=st.text(max_size=20), prefix=st.none() | st.text(max_size=20))
def test_fast_path_equals_full_parser_for_any_literal(host: str, prefix: str | None) -> None:
    rule = f"Host(`{host}`)" + ("" if prefix is None else f" && PathPrefix(`{prefix}`)")
    try:
        expected = _slow(rule)
    except ValueError:
        with pytest.raises(ValueError):
            parse_rule(rule)
        return
    assert parse_rule(rule) == expected
