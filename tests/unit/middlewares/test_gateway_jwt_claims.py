"""krakend-jose's claim rules (``_jwt_claims``): rendering of propagated claims and the registered-claim checks,
with examples from krakend-jose's behaviour and Hypothesis properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hanzo_edge.middlewares._jwt_claims import check_registered, claim_header_value, roles_allowed, scopes_allowed

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ("abc", "abc"),
        (42, "42"),
        (42.0, "42"),
        (1.5, "1.500000"),
        (True, "true"),
        (None, "null"),
        (["a", "b", 3, 2.5], "a,b,3,2.5"),
        ([], ""),
        ({"b": 1, "a": [1, 2]}, '{"a":[1,2],"b":1}'),
    ],
)
def test_claim_header_value_renders_as_krakend(value: Any, rendered: str) -> None:
    assert claim_header_value(value) == rendered


@given(JSON)
def test_any_claim_renders_to_a_string(value: Any) -> None:
    assert isinstance(claim_header_value(value), str)


@given(st.dictionaries(st.sampled_from(["exp", "nbf", "iat", "iss", "aud"]), JSON), st.floats(0, 2e9))
def test_registered_checks_never_raise(claims: dict[str, Any], now: float) -> None:
    result = check_registered(claims, now=now, leeway=1.0, issuer="i", audience=("a",))
    assert isinstance(result, str)


def test_leeway_bounds() -> None:
    assert check_registered({"exp": 100}, now=101.0, leeway=1.0, issuer="", audience=()) == ""
    assert "expired" in check_registered({"exp": 100}, now=101.5, leeway=1.0, issuer="", audience=())
    assert "not valid yet" in check_registered({"nbf": 103}, now=101.0, leeway=1.0, issuer="", audience=())


def test_roles_and_scopes_on_odd_claims() -> None:
    assert not roles_allowed("roles", False, {"roles": 7}, ("a",))
    assert roles_allowed("roles", False, {}, ())
    assert not roles_allowed("a.b", True, {"a": "not-an-object"}, ("x",))
    assert not scopes_allowed("scope", {"scope": ["read"]}, ("read",), match_all=False)  # arrays are not read
    assert scopes_allowed("ctx.scope", {"ctx": {"scope": "read write"}}, ("write",), match_all=True)
