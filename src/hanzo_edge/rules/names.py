"""The HTTP matcher names of each rule syntax (Traefik ``httpFuncs`` and ``httpFuncsV2``)."""

from __future__ import annotations

__all__ = ["ALL_MATCHER_NAMES", "V2_MATCHER_NAMES", "V3_MATCHER_NAMES"]

V3_MATCHER_NAMES: frozenset[str] = frozenset(
    {
        "ClientIP",
        "Method",
        "Host",
        "HostRegexp",
        "Path",
        "PathRegexp",
        "PathPrefix",
        "Header",
        "HeaderRegexp",
        "Query",
        "QueryRegexp",
    }
)
"""Matchers of the default (v3) rule syntax."""

V2_MATCHER_NAMES: frozenset[str] = frozenset(
    {
        "Host",
        "HostHeader",
        "HostRegexp",
        "ClientIP",
        "Path",
        "PathPrefix",
        "Method",
        "Headers",
        "HeadersRegexp",
        "Query",
    }
)
"""Matchers of the deprecated v2 rule syntax (``ruleSyntax: v2``)."""

ALL_MATCHER_NAMES: frozenset[str] = V3_MATCHER_NAMES | V2_MATCHER_NAMES
"""Every HTTP matcher name either syntax knows (what :func:`~hanzo_edge.rules.parse_rule` accepts by default)."""
