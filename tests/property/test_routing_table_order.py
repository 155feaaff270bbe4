"""The host index never changes Traefik's answer: lookup == the first match of a plain priority-ordered scan."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.routing.build import not_found
from hanzo_edge.routing.table import Route, RoutingTable
from hanzo_edge.rules.compile import compile_rule

HOSTS = ["a.test", "b.test", "c.test"]
PATHS = ["/", "/api", "/api/v1", "/web"]
RULES = (
    [f"Host(`{h}`)" for h in HOSTS]
    + [f"Host(`{h}`) && PathPrefix(`{p}`)" for h in HOSTS for p in PATHS]
    + [f"PathPrefix(`{p}`)" for p in PATHS]
    + ["Host(`a.test`) || Host(`b.test`)", "Host(`a.test`) || PathPrefix(`/web`)", "!Host(`c.test`)", "Method(`POST`)"]
)


def _handler(name: str):  # type: ignore[no-untyped-def]
    async def handle(req: Request) -> Response:
        return Response(200, body=name.encode())

    handle.__name__ = name
    return handle


routes_strategy = st.lists(
    st.tuples(st.sampled_from(RULES), st.integers(-3, 60)), min_size=1, max_size=12, unique_by=lambda t: t[0]
)


@settings(max_examples=300, deadline=None)
@given(
    routes=routes_strategy,
    host=st.sampled_from([*HOSTS, "other.test"]),
    path=st.sampled_from([*PATHS, "/api/v1/x", "/nope"]),
    method=st.sampled_from(["GET", "POST"]),
)
def test_indexed_lookup_equals_priority_scan(routes: list[tuple[str, int]], host: str, path: str, method: str) -> None:
    built = []
    for i, (rule, priority) in enumerate(routes):
        compiled = compile_rule(rule)
        built.append(
            Route(
                name=f"r{i}",
                priority=priority or len(rule),
                matches=compiled.matches,
                handler=_handler(f"r{i}"),
                hosts=compiled.hosts,
                host_only=compiled.host_only,
                rule=rule,
            )
        )
    table = RoutingTable(built, not_found)
    req = Request(method, path, Headers([(b"Host", host.encode())]), host=host, routing_path=path)
    expected = next((r.handler for r in table.routes if r.matches(req)), not_found)
    assert table.lookup(req) is expected
