"""Soundness of CompiledRule.hosts (the routing table's host index) and of matching, against a reference evaluator."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.rules import And, Matcher, Node, Not, Or, compile_rule, render

HOSTS = ["a.com", "b.com", "c.com"]
PATHS = ["/", "/x", "/x/y", "/z"]


@dataclass
class Req:
    host: str
    routing_path: str
    method: str = "GET"
    client_ip: str = "10.0.0.1"
    headers: dict[str, list[str]] = field(default_factory=dict)

    def header_values(self, name: str) -> list[str]:
        return self.headers.get(name.lower(), [])

    def query_params(self) -> dict[str, list[str]]:
        return {}


LEAF = st.one_of(
    st.builds(lambda h: Matcher("Host", (h,)), st.sampled_from([*HOSTS, "A.COM."])),
    st.builds(lambda p: Matcher("PathPrefix", (p,)), st.sampled_from(PATHS)),
    st.builds(lambda p: Matcher("Path", (p,)), st.sampled_from(PATHS)),
    st.just(Matcher("HostRegexp", ("^b",))),
    st.just(Matcher("Method", ("GET",))),
)
TREE: st.SearchStrategy[Node] = st.recursive(
    LEAF,
    lambda kids: st.one_of(st.builds(And, kids, kids), st.builds(Or, kids, kids), st.builds(Not, kids)),
    max_leaves=8,
)
REQ = st.builds(Req, st.sampled_from(HOSTS), st.sampled_from(PATHS), st.sampled_from(["GET", "POST"]))


def reference(node: Node, req: Req) -> bool:
    """Straightforward evaluator, independent of the compiler."""
    if isinstance(node, And):
        return reference(node.left, req) and reference(node.right, req)
    if isinstance(node, Or):
        return reference(node.left, req) or reference(node.right, req)
    if isinstance(node, Not):
        return not reference(node.operand, req)
    value = node.args[0]
    if node.name == "Host":
        return req.host == value.lower().rstrip(".")
    if node.name == "PathPrefix":
        return req.routing_path.startswith(value)
    if node.name == "Path":
        return req.routing_path == value
    if node.name == "HostRegexp":
        return req.host.startswith("b")
    return req.method == value


@given(TREE, REQ)
@settings(max_examples=500)
def test_matching_agrees_with_reference(tree: Node, req: Req) -> None:
    assert compile_rule(render(tree)).matches(req) == reference(tree, req)


@given(TREE, REQ)
@settings(max_examples=500)
def test_hosts_is_sound(tree: Node, req: Req) -> None:
    rule = compile_rule(render(tree))
    if rule.hosts is not None and req.host not in rule.hosts:
        assert not rule.matches(req)
    if rule.host_only:
        assert rule.hosts is not None
        assert rule.matches(req) == (req.host in rule.hosts)
