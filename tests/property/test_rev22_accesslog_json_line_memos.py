"""The usual JSON line's remembered texts (issue 22): each one is keyed on everything it holds.

``JsonLine._usual_line`` joins a line from remembered texts: a client's fields (by port, the IP checked), a Host's
three texts, a router's (by name, backend and service), a protocol's (by version, for http and https), a status's, the
start second's and the tail's (by log second and entrypoint), plus the fraction of the start instant from three-digit
tables. Here one log sees sequences of usual requests that change exactly one of those keys at a time (the same client
port from another IP, the same route with another service, another status, version, scheme or entrypoint, a second
boundary either way) and must give the generated renderer's bytes each time. Runs interpreted and compiled.
"""

from __future__ import annotations

from accesslog_twins import Route, json_twins
from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request
from hanzo_edge.observability.accesslog import json_line
from hanzo_edge.observability.accesslog.gofmt import NANOS, fraction
from hanzo_edge.observability.accesslog.modes import HeaderModes, QueryModes


@settings(max_examples=500, deadline=None)
@given(
    frac=st.one_of(
        st.integers(0, NANOS - 1),
        # every zero pattern of the three-digit groups
        st.tuples(st.integers(0, 999), st.integers(0, 999), st.integers(0, 999)).map(
            lambda g: g[0] * 1_000_000 + g[1] * 1000 + g[2]
        ),
        st.sampled_from([0, 1, 10, 100, 1000, 999_999_999, 100_000_000, 120_000_000, 123_000_000, 123_400_000]),
    )
)
def test_the_fraction_tables_give_gos_fraction(frac: int) -> None:
    assert json_line._fraction(frac) == fraction(frac)


ROUTES = [Route(name, service) for name in ("a@file", "b@file") for service in ("s@file", "t@file")]
SERVERS = ["http://10.0.0.2:80", "http://10.0.0.3:80", "".join(["http://10.0.0.2", ":80"])]  # an equal, other str


@st.composite
def usual_requests(draw: st.DrawFn) -> tuple[Request, int, str]:
    """A request the dict-free path takes, each memo key drawn from a few values so that they repeat and change."""
    raw = [(b"Host", draw(st.sampled_from([b"a.test", b"a.test:81", b"A.test:81", b"[::1]:82", b"b.test:"])))]
    if draw(st.integers(0, 3)) == 0:
        raw.append((b"X-Forwarded-For", b"1.2.3.4"))
    req = Request(
        draw(st.sampled_from(["GET", "POST"])),
        draw(st.sampled_from(["/", "/a?b=1", "*"])),
        Headers(raw),
        version=draw(st.sampled_from(["1.1", "1.0", "2", "3"])),
        client_ip=draw(st.sampled_from(["10.0.0.1", "10.0.0.2", "::1"])),
        client_port=draw(st.sampled_from([1, 2])),
        scheme=draw(st.sampled_from(["http", "https"])),
        entry_point=draw(st.sampled_from(["web", "websecure"])),
        body=draw(st.sampled_from([b"", b"x" * 999, b"y" * 1000])),
    )
    # Shared route objects, as the routing table hands them out: the previous line's route is compared by identity.
    req.route = draw(st.sampled_from(ROUTES))
    req.server_url = draw(st.sampled_from(SERVERS))
    req.started = 5.0
    req.origin_started = draw(st.sampled_from([0.0, 5.0, 5.001]))
    status = draw(st.sampled_from([200, 200, 404, 999, 1000, -1]))
    return req, status, draw(st.sampled_from(["-", "-", "alice"]))


BASE_NS = 1_764_924_530_000_000_000
INSTANTS = st.one_of(
    st.integers(-2, 2).map(lambda s: BASE_NS + s * NANOS),
    st.integers(-2 * NANOS, 2 * NANOS).map(lambda d: BASE_NS + d),
    st.sampled_from([BASE_NS - 1, BASE_NS + 1, BASE_NS + NANOS - 1, BASE_NS + 1000, BASE_NS + 1_000_000]),
)


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            usual_requests(),
            INSTANTS,
            st.sampled_from([0.0, 0.001, 0.5, 1.0, 1.000000001]),
            st.sampled_from([0, 999, 1000, 10**12]),  # response bytes: from the table and not
            st.sampled_from([0, 1, 1000]),  # retries
        ),
        min_size=2,
        max_size=10,
    )
)
def test_each_remembered_text_follows_its_keys(
    steps: list[tuple[tuple[Request, int, str], int, float, int, int]],
) -> None:
    kept = frozenset(json_line.JSON_LINE_FIELDS)
    headers = HeaderModes("drop", {})
    query = QueryModes("keep", {})
    clock = [BASE_NS]

    def wall_ns() -> int:
        return clock[0]

    generated, written = json_twins(kept, headers, query, wall_ns)
    for count, ((req, status, username), now_ns, duration, sent, retries) in enumerate(steps, 1):
        clock[0] = now_ns
        req.retry_attempts = retries
        args = (req, status, sent, duration, retries, username, count)
        assert written.render(*args) == generated(*args)


def test_a_route_whose_service_changes_gets_the_new_service() -> None:
    # The router's text is remembered by router name and backend URL; the service is checked on each line.
    kept = frozenset(json_line.JSON_LINE_FIELDS)
    headers = HeaderModes("drop", {})
    query = QueryModes("keep", {})

    def wall_ns() -> int:
        return BASE_NS + 5

    generated, written = json_twins(kept, headers, query, wall_ns)
    lines = []
    for service in ("s@file", "t@file", "s@file"):
        req = Request("GET", "/", Headers([(b"Host", b"a.test:80")]), client_port=7, entry_point="web")
        req.route = Route("r@file", service)
        req.server_url = "http://10.0.0.2:80"
        args = (req, 200, 5, 0.25, 0, "-", 1)
        line = written.render(*args)
        assert line == generated(*args)
        lines.append(line)
    assert b'"ServiceName":"t@file"' in lines[1]
    assert lines[0] == lines[2]
