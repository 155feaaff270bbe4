"""Kubernetes label selectors (``k8s.io/apimachinery/pkg/labels``' string syntax): parse, match, print.

Grammar (comma = AND): ``key=value``, ``key==value``, ``key!=value``, ``key in (v1,v2)``, ``key notin (v1,v2)``,
``key`` (exists), ``!key`` (does not exist), ``key>N``/``key<N`` (integers). ``!=`` and ``notin`` also match an
object without the label, as in Kubernetes. Keys are ``[prefix/]name`` (name ≤ 63 characters, prefix a DNS
subdomain), values ≤ 63 characters; the error texts name the offending part. The provider validates its
``labelSelector`` option with `parse_selector` at startup; the fake API server filters with it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["LabelSelector", "Requirement", "SelectorError", "parse_selector"]

_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_PREFIX = re.compile(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*")
_TOKEN = re.compile(r"\s*(==|!=|=|!|,|\(|\)|>|<|[^\s=!,()<>]+)")


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
    if slash and (not prefix or len(prefix) > 253 or not _PREFIX.fullmatch(prefix)):
        raise SelectorError(f"invalid label selector {selector!r}: invalid label key prefix {prefix!r}")
    if not name or len(name) > 63 or not _NAME.fullmatch(name):
        raise SelectorError(f"invalid label selector {selector!r}: invalid label key {key!r}")
    return key


def _check_value(value: str, selector: str) -> str:
    if value and (len(value) > 63 or not _NAME.fullmatch(value)):
        raise SelectorError(f"invalid label selector {selector!r}: invalid label value {value!r}")
    return value


def _tokens(selector: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    text = selector.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:  # pragma: no cover - the token class accepts every non-space character
            raise SelectorError(f"invalid label selector {selector!r}")
        tokens.append(match.group(1))
        position = match.end()
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
                if not re.fullmatch(r"-?[0-9]+", value):
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
