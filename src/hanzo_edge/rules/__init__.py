"""Traefik's HTTP router rule language: parse, render, compile and match.

``compile_rule("Host(`example.com`) && PathPrefix(`/api`)")`` returns a :class:`CompiledRule` whose ``matches``
is a fast request predicate and whose ``hosts`` feeds the routing table's host index. ``parse_rule`` and
``render`` convert between rule text and the :mod:`~hanzo_edge.rules.ast` tree. Every failure is a
:class:`RuleError` (a ``ValueError``).
"""

from __future__ import annotations

from hanzo_edge.rules.ast import And, Matcher, Node, Not, Or, iter_matchers, render
from hanzo_edge.rules.compile import SYNTAXES, CompiledRule, RuleRequest, compile_rule, default_priority
from hanzo_edge.rules.errors import RuleError
from hanzo_edge.rules.names import ALL_MATCHER_NAMES, V2_MATCHER_NAMES, V3_MATCHER_NAMES
from hanzo_edge.rules.parser import parse_rule

__all__ = [
    "ALL_MATCHER_NAMES",
    "SYNTAXES",
    "V2_MATCHER_NAMES",
    "V3_MATCHER_NAMES",
    "And",
    "CompiledRule",
    "Matcher",
    "Node",
    "Not",
    "Or",
    "RuleError",
    "RuleRequest",
    "compile_rule",
    "default_priority",
    "iter_matchers",
    "parse_rule",
    "render",
]
