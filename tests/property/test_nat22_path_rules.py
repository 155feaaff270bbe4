"""The routing table's native path tests (issue 22) answer exactly as the rule closures they stand for.

A literal ``Path``/``PathPrefix``, alone or beside a ``Host`` under ``&&``, is tested by the table itself
(``CompiledRule.path_rule`` → ``Route.path_rule``) instead of through the closure: for every request the table
could test it on (its host in the rule's hosts, or any host when the rule has none), the answer must be the
closure's, in both rule syntaxes.
"""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hanzo_edge.config.loader import load_static
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.routing.build import not_found
from hanzo_edge.routing.internal import InternalHandlers, PingHandler, internal_routes
from hanzo_edge.routing.table import Route, RoutingTable
from hanzo_edge.rules.compile import compile_rule
from hanzo_edge.rules.errors import RuleError

HOSTS = ["a.test", "b.test"]
# A small alphabet so request paths often share a prefix with, or equal, the rule's path.
SEGMENT = st.text(alphabet="ab./%2", max_size=6)
PATHS = SEGMENT.map(lambda s: "/" + s)
TEMPLATES = st.sampled_from(["/{id}", "/a/{x:[0-9]+}", "/a{b}"])  # v2 mux templates; a literal text in v3


def _request(host: str, path: str) -> Request:
    return Request("GET", path, Headers([(b"Host", host.encode())]), host=host, routing_path=path)


def _native(path_rule: tuple[bool, str], routing_path: str) -> bool:
    is_prefix, text = path_rule
    return routing_path.startswith(text) if is_prefix else routing_path == text


def _handler(name: str):  # type: ignore[no-untyped-def]
    async def handle(req: Request) -> Response:
        return Response(200, body=name.encode())

    handle.__name__ = name
    return handle


@st.composite
def path_rules(draw: st.DrawFn) -> tuple[str, str, bool]:
    """``(rule text, syntax, literal)``: one of the shapes with a native test, ``literal`` False for a v2 template."""
    syntax = draw(st.sampled_from(["v3", "v2"]))
    matcher = draw(st.sampled_from(["Path", "PathPrefix"]))
    template = draw(st.booleans())
    path = draw(TEMPLATES) if template else draw(PATHS)
    leaf = f"{matcher}(`{path}`)"
    host = f"Host(`{draw(st.sampled_from(HOSTS))}`)"
    shape = draw(st.sampled_from(["alone", "host-first", "host-last"]))
    text = {"alone": leaf, "host-first": f"{host} && {leaf}", "host-last": f"{leaf} && {host}"}[shape]
    return text, syntax, not (template and syntax == "v2")


@settings(max_examples=400, deadline=None)
@given(rule=path_rules(), host=st.sampled_from([*HOSTS, "other.test"]), path=PATHS | TEMPLATES)
def test_native_path_test_equals_the_rule_closure(rule: tuple[str, str, bool], host: str, path: str) -> None:
    text, syntax, literal = rule
    try:
        compiled = compile_rule(text, syntax)
    except RuleError:
        assume(False)  # a v2 template mux refuses
        return
    if not literal:
        assert compiled.path_rule is None  # a template is a regexp: the closure keeps it
        return
    assert compiled.path_rule is not None
    assume(compiled.hosts is None or host in compiled.hosts)  # what the host index lets the table test
    req = _request(host, path)
    assert _native(compiled.path_rule, path) == compiled.matches(req)


@settings(max_examples=300, deadline=None)
@given(
    rules=st.lists(st.tuples(path_rules(), st.integers(0, 40)), min_size=1, max_size=8),
    host=st.sampled_from([*HOSTS, "other.test"]),
    path=PATHS | TEMPLATES,
)
def test_lookup_with_native_tests_equals_priority_scan(
    rules: list[tuple[tuple[str, str, bool], int]], host: str, path: str
) -> None:
    built = []
    for i, ((text, syntax, _), priority) in enumerate(rules):
        try:
            compiled = compile_rule(text, syntax)
        except RuleError:
            continue
        built.append(
            Route(
                name=f"r{i}",
                priority=priority or len(text),
                matches=compiled.matches,
                handler=_handler(f"r{i}"),
                hosts=compiled.hosts,
                host_only=compiled.host_only,
                rule=text,
                path_rule=compiled.path_rule,
            )
        )
    table = RoutingTable(built, not_found)
    req = _request(host, path)
    expected = next((r for r in table.routes if r.matches(req)), None)
    assert table.lookup(req) is (not_found if expected is None else expected.handler)
    assert req.route is expected


def _metrics_route() -> Route:
    static = load_static(["--entrypoints.web.address=:8080", "--metrics.prometheus=true"], {}, search=False)
    internal = internal_routes(static, InternalHandlers(ping=PingHandler(), prometheus=_handler("metrics")))
    (route,) = [route for route in internal.routes["traefik"] if route.name == "prometheus@internal"]
    return route


METRICS_ROUTE = _metrics_route()


@settings(max_examples=200, deadline=None)
@given(path=PATHS | st.sampled_from(["/metrics", "/metrics/x", "/metric", "/metricsfoo"]), host=st.sampled_from(HOSTS))
def test_the_metrics_routes_native_test_is_its_matcher(path: str, host: str) -> None:
    # routing/internal.py gives prometheus@internal a path_rule beside its own matcher: the two must agree.
    assert METRICS_ROUTE.path_rule == (True, "/metrics")
    assert _native(METRICS_ROUTE.path_rule, path) == METRICS_ROUTE.matches(_request(host, path))


def test_rules_of_other_shapes_keep_their_closure() -> None:
    for text, syntax in [
        ("Host(`a.test`) || PathPrefix(`/a`)", "v3"),
        ("!PathPrefix(`/a`)", "v3"),
        ("PathPrefix(`/a`) && Method(`GET`)", "v3"),
        ("HostRegexp(`^a`) && PathPrefix(`/a`)", "v3"),
        ("PathPrefix(`/a`, `/b`)", "v2"),
        ("Host(`a.test`)", "v3"),
    ]:
        assert compile_rule(text, syntax).path_rule is None, text
    assert compile_rule("HostHeader(`a.test`) && Path(`/x`)", "v2").path_rule == (False, "/x")
