"""krakend-jose's claim rules, as pure functions over a decoded claims dict (no crypto here).

* :func:`check_registered`: go-jose's ``ValidateWithLeeway`` (``iss`` equal, every configured audience present,
  ``exp``/``nbf``/``iat`` within the leeway); returns the reason a token is refused, or ``""``.
* :func:`roles_allowed`: ``CanAccess``/``CanAccessNested`` (any required role; the claim is an array, or a string of
  space-separated roles).
* :func:`scopes_allowed`: ``ScopesAnyMatcher``/``ScopesAllMatcher`` (the claim is a space-separated string).
* :func:`claim_header_value`: ``Claims.Get`` (how ``propagate_claims`` renders a claim as a header value).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = [
    "check_registered",
    "claim_header_value",
    "nested_claim",
    "roles_allowed",
    "scopes_allowed",
]


def _numeric_date(claims: Mapping[str, Any], name: str) -> tuple[bool, float | None]:
    """(valid, value): go-jose's NumericDate accepts a JSON number (fraction truncated) or an absent claim."""
    value = claims.get(name)
    if value is None:
        return True, None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False, None
    return True, float(int(value))


def check_registered(
    claims: Mapping[str, Any], *, now: float, leeway: float, issuer: str, audience: tuple[str, ...]
) -> str:
    """Return why ``claims`` fail the registered-claim checks at wall time ``now`` (``""``: they pass)."""
    if issuer and claims.get("iss") != issuer:
        return "validation failed, invalid issuer claim (iss)"
    if audience:
        aud = claims.get("aud")
        present = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if any(wanted not in present for wanted in audience):
            return "validation failed, invalid audience claim (aud)"
    for name in ("exp", "nbf", "iat"):
        valid, _ = _numeric_date(claims, name)
        if not valid:
            return f"json: cannot unmarshal {name} into a NumericDate"
    _, exp = _numeric_date(claims, "exp")
    if exp is not None and now - leeway > exp:
        return "validation failed, token is expired (exp)"
    _, nbf = _numeric_date(claims, "nbf")
    if nbf is not None and now + leeway < nbf:
        return "validation failed, token not valid yet (nbf)"
    _, iat = _numeric_date(claims, "iat")
    if iat is not None and now + leeway < iat:
        return "validation failed, token issued in the future (iat)"
    return ""


def nested_claim(key: str, claims: Mapping[str, Any]) -> tuple[str, Mapping[str, Any] | None]:
    """krakend-jose's ``getNestedClaim``: walk the dotted path's objects; return the last key and its parent."""
    parts = key.split(".")
    current: Any = claims
    for part in parts[:-1]:
        if not isinstance(current, Mapping) or part not in current:
            return key, None
        current = current[part]
        if not isinstance(current, Mapping):
            return key, None
    return parts[-1], current


def roles_allowed(roles_key: str, nested: bool, claims: Mapping[str, Any], required: tuple[str, ...]) -> bool:
    """True when no role is required or the token holds one of ``required``."""
    if not required:
        return True
    holder: Mapping[str, Any] = claims
    key = roles_key
    if nested:
        key, parent = nested_claim(roles_key, claims)
        if parent is None:
            return False
        holder = parent
    value = holder.get(key)
    if isinstance(value, list):
        held = value
    elif isinstance(value, str):
        held = value.split(" ")
    else:
        return False
    return any(role in held for role in required)


def scopes_allowed(scopes_key: str, claims: Mapping[str, Any], required: tuple[str, ...], match_all: bool) -> bool:
    """True when the space-separated scopes claim holds any (or, with ``match_all``, every) required scope."""
    if not required or not scopes_key:
        return True
    holder: Mapping[str, Any] = claims
    key = scopes_key
    if "." in scopes_key:
        key, parent = nested_claim(scopes_key, claims)
        if parent is None:
            return False
        holder = parent
    value = holder.get(key)
    if not isinstance(value, str):
        return False
    present = value.split(" ")
    if match_all:
        return all(scope in present for scope in required)
    return any(scope in present for scope in required)


def _go_value(value: Any) -> str:
    # fmt's %v of a decoded JSON value (array elements).
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | int):
        number = float(value)
        if number.is_integer() and abs(number) < 1e21:
            return str(int(number))
        return repr(number)
    if isinstance(value, str):
        return value
    if value is None:
        return "<nil>"
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def claim_header_value(value: Any) -> str:
    """krakend-jose's ``Claims.Get``: strings as they are, integral numbers without a fraction, other numbers with six
    decimals, arrays joined by ``,`` and anything else as compact JSON (object keys sorted, as Go's)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None or isinstance(value, dict):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    if isinstance(value, int | float):
        number = float(value)
        rounded = round(number)
        if abs(number - rounded) <= 1e-6:
            return str(int(rounded))
        return f"{number:f}"
    if isinstance(value, list):
        return ",".join(_go_value(item) for item in value)
    return orjson.dumps(value).decode()
