"""Kubernetes label selectors (``k8s.io/apimachinery/pkg/labels``' string syntax): parse, match, print.

Grammar (comma = AND): ``key=value``, ``key==value``, ``key!=value``, ``key in (v1,v2)``, ``key notin (v1,v2)``,
``key`` (exists), ``!key`` (does not exist), ``key>N``/``key<N`` (integers). ``!=`` and ``notin`` also match an
object without the label, as in Kubernetes. Keys are ``[prefix/]name`` (name ≤ 63 characters, prefix a DNS
subdomain), values ≤ 63 characters; the error texts name the offending part. The provider validates its
``labelSelector`` option with `parse_selector` at startup; the fake API server filters with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["LabelSelector", "Requirement", "SelectorError", "parse_selector"]

# Character classes instead of regular expressions: the project keeps Python's ``re`` out of code that reads
# user input (tests/unit/rules/test_re2_engine.py), and these checks are simple enough by hand.
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_NAME_INNER = _ALNUM | frozenset("-_.")
_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_DIGITS = frozenset("0123456789")
_OPERATOR_CHARS = frozenset("=!,()<>")


def _is_name(text: str) -> bool:
    """``[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?``, at most 63 characters (a label name or value)."""
    return 0 < len(text) <= 63 and text[0] in _ALNUM and text[-1] in _ALNUM and all(c in _NAME_INNER for c in text)


def _is_dns_subdomain(text: str) -> bool:
    """Dot-separated ``[a-z0-9]([-a-z0-9]*[a-z0-9])?`` labels, at most 253 characters (a label key prefix)."""
    if not 0 < len(text) <= 253:
        return False
    for label in text.split("."):
        if not label or label[0] not in _LOWER_ALNUM or label[-1] not in _LOWER_ALNUM:
            return False
        if any(c not in _LOWER_ALNUM and c != "-" for c in label):
            return False
    return True


def _is_integer(text: str) -> bool:
    digits = text[1:] if text.startswith("-") else text
    return bool(digits) and all(c in _DIGITS for c in digits)


class SelectorError(ValueError):
    """A label selector that does not parse; the message quotes the selector."""


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: str
    """One of ``=``, ``!=``, ``in``, ``notin``, ``exists``, ``!``, ``>``, ``<`` (``==`` is stored as ``=``)."""
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op == "exists":
            return self.key in labels
        if op == "!":
            return self.key not in labels
        value = labels.get(self.key)
        if op in ("=", "in"):
            return value is not None and value in self.values
        if op in ("!=", "notin"):
            return value is None or value not in self.values
        if value is None:
            return False
        try:
            number = int(value)
        except ValueError:
            return False
        bound = int(self.values[0])
        return number > bound if op == ">" else number < bound

    def __str__(self) -> str:
        op = self.operator
        if op == "exists":
            return self.key
        if op == "!":
            return f"!{self.key}"
        if op in ("in", "notin"):
            return f"{self.key} {op} ({','.join(self.values)})"
        return f"{self.key}{op}{self.values[0]}"


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """All requirements must hold; the empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(requirement.matches(labels) for requirement in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


def _check_key(key: str, selector: str) -> str:
    prefix, slash, name = key.rpartition("/")
    if slash and not _is_dns_subdomain(prefix):
        raise SelectorError(f"invalid label selector {selector!r}: invalid label key prefix {prefix!r}")
    if not _is_name(name):
        raise SelectorError(f"invalid label selector {selector!r}: invalid label key {key!r}")
    return key


def _check_value(value: str, selector: str) -> str:
    if value and not _is_name(value):
        raise SelectorError(f"invalid label selector {selector!r}: invalid label value {value!r}")
    return value


def _tokens(selector: str) -> list[str]:
    """Split into operators (``==``, ``!=``, ``=``, ``!``, ``,``, ``(``, ``)``, ``>``, ``<``) and words."""
    tokens: list[str] = []
    position = 0
    while position < len(selector):
        char = selector[position]
        if char.isspace():
            position += 1
        elif selector.startswith(("==", "!="), position):
            tokens.append(selector[position : position + 2])
            position += 2
        elif char in _OPERATOR_CHARS:
            tokens.append(char)
            position += 1
        else:
            end = position
            while end < len(selector) and not selector[end].isspace() and selector[end] not in _OPERATOR_CHARS:
                end += 1
            tokens.append(selector[position:end])
            position = end
    return tokens


def parse_selector(selector: str) -> LabelSelector:
    """Parse a label selector string; raises `SelectorError` naming what is wrong."""
    tokens = _tokens(selector)
    requirements: list[Requirement] = []
    index = 0

    def take() -> str:
        nonlocal index
        if index >= len(tokens):
            raise SelectorError(f"invalid label selector {selector!r}: unexpected end")
        token = tokens[index]
        index += 1
        return token

    def peek() -> str | None:
        return tokens[index] if index < len(tokens) else None

    while index < len(tokens):
        token = take()
        if token == "!":
            requirements.append(Requirement(_check_key(take(), selector), "!"))
        elif token in ("=", "==", "!=", ",", "(", ")", ">", "<"):
            raise SelectorError(f"invalid label selector {selector!r}: unexpected {token!r}")
        else:
            key = _check_key(token, selector)
            following = peek()
            if following is None or following == ",":
                requirements.append(Requirement(key, "exists"))
            elif following in ("=", "==", "!="):
                take()
                value = "" if peek() in (None, ",") else take()
                if value in ("=", "==", "!=", "(", ")", "!", ">", "<"):
                    raise SelectorError(f"invalid label selector {selector!r}: unexpected {value!r}")
                requirements.append(
                    Requirement(key, "!=" if following == "!=" else "=", (_check_value(value, selector),))
                )
            elif following in (">", "<"):
                take()
                value = take()
                if not _is_integer(value):
                    raise SelectorError(f"invalid label selector {selector!r}: {value!r} is not an integer")
                requirements.append(Requirement(key, following, (value,)))
            elif following in ("in", "notin"):
                take()
                if take() != "(":
                    raise SelectorError(f"invalid label selector {selector!r}: expected '(' after {following}")
                values: list[str] = []
                while True:
                    value = take()
                    if value == ")" and not values:
                        break
                    if value in (",", ")"):
                        values.append("")
                    else:
                        values.append(_check_value(value, selector))
                        value = take()
                    if value == ")":
                        break
                    if value != ",":
                        raise SelectorError(f"invalid label selector {selector!r}: expected ',' or ')'")
                if not values:
                    raise SelectorError(f"invalid label selector {selector!r}: {following} needs at least one value")
                requirements.append(Requirement(key, following, tuple(sorted(set(values)))))
            else:
                raise SelectorError(f"invalid label selector {selector!r}: unexpected {following!r} after {key!r}")
        if index < len(tokens):
            if tokens[index] != ",":
                raise SelectorError(f"invalid label selector {selector!r}: expected ',' before {tokens[index]!r}")
            index += 1
            if index >= len(tokens):
                raise SelectorError(f"invalid label selector {selector!r}: trailing ','")
    return LabelSelector(tuple(requirements))
