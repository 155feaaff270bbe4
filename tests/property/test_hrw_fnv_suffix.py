"""The ``hrw`` shortcut for FNV-1a over a child's name (``_Child.hash_after``) is exact: for any hash state, any name
and any client IP it gives what Go's byte-by-byte ``hash/fnv`` (our plain ``fnv1a64``) gives, the first time (a tail
computed) and every later time (a tail remembered), so picks stay Traefik's."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.http.messages import Request, Response
from hanzo_edge.services.hrw import HighestRandomWeight, _Child, fnv1a64, node_score

_states = st.integers(0, 2**64 - 1)
_ipv4 = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
_ipv6 = st.integers(0, 2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n)))
_urls = st.builds(
    lambda scheme, host, port, path: f"{scheme}://{host}:{port}{path}",
    st.sampled_from(["http", "https", "h2c"]),
    st.one_of(_ipv4, st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,6}){0,2}", fullmatch=True)),
    st.integers(1, 65535),
    st.sampled_from(["", "/", "/api", "/v1/x?y=1"]),
)


async def _noop(req: Request) -> Response:
    return Response(200)


@settings(max_examples=400, deadline=None)
@given(name=st.one_of(_urls, st.text(max_size=60)), states=st.lists(_states, min_size=1, max_size=6))
def test_hash_after_equals_fnv1a_over_the_name_from_any_state(name: str, states: list[int]) -> None:
    child = _Child(name, 1.0, _noop)
    # Each state twice, and one more sharing its low byte: a tail computed, then remembered, then reused.
    for state in states:
        expected = fnv1a64(name.encode(), state)
        assert child.hash_after(state) == expected
        assert child.hash_after(state) == expected
        neighbour = state ^ (1 << 40)
        assert child.hash_after(neighbour) == fnv1a64(name.encode(), neighbour)


@settings(max_examples=300, deadline=None)
@given(ip=st.one_of(_ipv4, _ipv6), urls=st.lists(_urls, min_size=1, max_size=8, unique=True))
def test_a_client_prefix_continued_over_each_url_is_the_hash_of_ip_plus_url(ip: str, urls: list[str]) -> None:
    prefix = fnv1a64(ip.encode())
    for url in urls:
        assert _Child(url, 1.0, _noop).hash_after(prefix) == fnv1a64((ip + url).encode())


@settings(max_examples=150, deadline=None)
@given(
    servers=st.lists(st.tuples(_urls, st.integers(1, 5)), min_size=1, max_size=6, unique_by=lambda s: s[0]),
    clients=st.lists(_ipv4, min_size=1, max_size=20),
)
def test_each_client_gets_the_child_of_the_highest_plain_score(
    servers: list[tuple[str, int]], clients: list[str]
) -> None:
    lb = HighestRandomWeight([(url, float(weight), _noop) for url, weight in servers], "svc@file")
    for ip in clients:
        scores = [node_score(ip, url, float(weight)) for url, weight in servers]
        best = max(range(len(servers)), key=lambda i: (scores[i], -i))  # the first of equal scores, as the pick loop
        assert lb._pick(ip).name == servers[best][0]
