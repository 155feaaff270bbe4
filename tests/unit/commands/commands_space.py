"""A small but adversarial request space for checking the shadow prover against real matching, by brute force.

Each rule is evaluated once on every request and kept as a bit set, so "b implies a" over the whole space is one
integer operation. The space holds the cases naive reasoning gets wrong: the ``*`` path (``OPTIONS *``), an empty
host, repeated header and query values, an IPv4-mapped client address.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field

from hanzo_edge.rules import compile_rule

HOSTS = ["x", "y", "", "x.", "svc.example.com"]
PATHS = ["/", "/a", "/a/b", "/ab", "*", "/b", "/a/12"]
METHODS = ["GET", "POST", "get"]
HEADER_VALUES: list[list[str]] = [[], ["1"], ["2"], ["1", "2"], ["12"]]
QUERIES: list[dict[str, list[str]]] = [{}, {"y": [""]}, {"y": ["1"]}, {"y": ["1", "2"]}, {"y": ["42"]}]
CLIENTS = ["10.0.0.1", "10.1.2.3", "192.168.1.1", "::ffff:10.1.2.3"]


@dataclass(frozen=True)
class SpaceRequest:
    """A duck-typed ``RuleRequest``."""

    method: str
    host: str
    routing_path: str
    client_ip: str
    x_a: tuple[str, ...] = ()
    query: dict[str, list[str]] = field(default_factory=dict, hash=False, compare=False)

    def header_values(self, name: str) -> list[str]:
        return list(self.x_a) if name.lower() == "x-a" else []

    def query_params(self) -> dict[str, list[str]]:
        return self.query


SPACE = [
    SpaceRequest(m, h, p, c, tuple(x), q)
    for h, p, m, x, q, c in itertools.product(HOSTS, PATHS, METHODS, HEADER_VALUES, QUERIES, CLIENTS)
]


@functools.lru_cache(maxsize=4096)
def bits(rule: str) -> int:
    """The set of requests of :data:`SPACE` that ``rule`` matches, as an integer bit set."""
    matches = compile_rule(rule).matches
    out = 0
    for index, req in enumerate(SPACE):
        if matches(req):
            out |= 1 << index
    return out
