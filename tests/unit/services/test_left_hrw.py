"""The highestRandomWeight service: rendezvous hashing of the client IP (Traefik's hrw balancer)."""

from __future__ import annotations

import asyncio
import ipaddress
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from services_fakes import Child, child_name, request

from hanzo_edge.http.errors import NoAvailableServer
from hanzo_edge.http.messages import Handler
from hanzo_edge.services.hrw import HighestRandomWeight, fnv1a64, node_score
from hanzo_edge.services.wrr import WeightedRoundRobin

_IPS = st.builds(lambda n: str(ipaddress.IPv4Address(n)), st.integers(0, 2**32 - 1)) | st.builds(
    lambda n: str(ipaddress.IPv6Address(n)), st.integers(0, 2**128 - 1)
)
_NAMES = st.lists(st.text("abcdefghij-@", min_size=1, max_size=12), min_size=2, max_size=8, unique=True)


def _hrw(names: list[str], weights: list[float] | None = None) -> HighestRandomWeight:
    weights = weights or [1.0] * len(names)
    return HighestRandomWeight([(n, w, Child(n)) for n, w in zip(names, weights, strict=True)], "h@file")


def _chosen(balancer: HighestRandomWeight, ip: str) -> str:
    handler = balancer.pick(ip)
    assert isinstance(handler, Child)
    return handler.name


def test_fnv1a64_matches_the_published_test_vectors() -> None:
    # FNV-1a 64-bit vectors from the FNV reference (what Go's hash/fnv.New64a returns).
    assert fnv1a64(b"") == 0xCBF29CE484222325
    assert fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    assert fnv1a64(b"foobar") == 0x85944171F73967E8
    assert fnv1a64(b"bar", fnv1a64(b"foo")) == fnv1a64(b"foobar")


def test_the_winner_is_the_child_with_the_highest_traefik_score() -> None:
    names = ["svc-a@file", "svc-b@file", "svc-c@file"]
    weights = [1.0, 2.0, 5.0]
    balancer = _hrw(names, weights)
    for n in range(200):
        ip = f"10.1.{n // 250}.{n % 250}"
        best = max(zip(names, weights, strict=True), key=lambda nw: node_score(ip, nw[0], nw[1]))[0]
        assert _chosen(balancer, ip) == best


@settings(max_examples=60, deadline=None)
@given(names=_NAMES, ips=st.lists(_IPS, min_size=1, max_size=30))
def test_the_same_client_ip_always_reaches_the_same_child(names: list[str], ips: list[str]) -> None:
    first = _hrw(names)
    again = _hrw(list(names))
    for ip in ips:
        chosen = _chosen(first, ip)
        assert _chosen(first, ip) == chosen
        assert _chosen(again, ip) == chosen  # no state: a new generation picks the same


@settings(max_examples=60, deadline=None)
@given(names=_NAMES, ips=st.lists(_IPS, min_size=1, max_size=40), data=st.data())
def test_removing_a_child_moves_only_that_childs_clients(names: list[str], ips: list[str], data: st.DataObject) -> None:
    gone = data.draw(st.sampled_from(names))
    before = _hrw(names)
    after = _hrw([n for n in names if n != gone])
    for ip in ips:
        was = _chosen(before, ip)
        if was != gone:
            assert _chosen(after, ip) == was


@settings(max_examples=60, deadline=None)
@given(names=_NAMES, ips=st.lists(_IPS, min_size=1, max_size=40), data=st.data())
def test_a_down_child_is_skipped_and_gets_its_clients_back(
    names: list[str], ips: list[str], data: st.DataObject
) -> None:
    down = data.draw(st.sampled_from(names))
    balancer = _hrw(names)
    before = {ip: _chosen(balancer, ip) for ip in ips}
    balancer.set_status(down, False)
    for ip in ips:
        now = _chosen(balancer, ip)
        assert now != down
        if before[ip] != down:
            assert now == before[ip]
    balancer.set_status(down, True)
    assert {ip: _chosen(balancer, ip) for ip in ips} == before


def test_weights_share_the_clients_in_proportion() -> None:
    balancer = _hrw(["light", "heavy"], [1.0, 3.0])
    counts = Counter(_chosen(balancer, str(ipaddress.IPv4Address(0x0A000000 + n))) for n in range(4000))
    assert 0.70 < counts["heavy"] / 4000 < 0.80


def test_zero_weight_children_are_ignored() -> None:
    balancer = _hrw(["off", "on"], [0.0, 1.0])
    assert {_chosen(balancer, f"192.0.2.{n}") for n in range(50)} == {"on"}
    assert balancer.status("off") is None


def test_every_child_down_answers_no_available_server() -> None:
    balancer = _hrw(["a", "b"])
    balancer.set_status("a", False)
    balancer.set_status("b", False)
    with pytest.raises(NoAvailableServer):
        balancer(request())


def test_the_request_is_served_by_the_child_of_its_client_ip() -> None:
    balancer = _hrw(["a", "b", "c"])
    req = request()
    req.client_ip = "203.0.113.9"

    async def served() -> str:
        return child_name(await balancer(req))

    assert asyncio.run(served()) == _chosen(balancer, "203.0.113.9")


def _lb(name: str) -> WeightedRoundRobin:
    return WeightedRoundRobin([(f"{name}-server", 1, Child(name))], f"{name}@file", health_check_enabled=True)


def test_with_health_check_it_follows_its_children_and_reports_its_flips() -> None:
    blue, green = _lb("blue"), _lb("green")
    children: list[tuple[str, float, Handler]] = [("blue", 1, blue), ("green", 1, green)]
    top = HighestRandomWeight(children, "top@file", health_check_enabled=True)
    seen: list[bool] = []
    top.register_status_updater(seen.append)
    blue.set_status("blue-server", False)
    assert top.status("blue") is False
    assert {_chosen_lb(top, f"198.51.100.{n}") for n in range(40)} == {"green"}
    green.set_status("green-server", False)
    assert seen == [False]
    blue.set_status("blue-server", True)
    assert seen == [False, True]


def _chosen_lb(balancer: HighestRandomWeight, ip: str) -> str:
    handler = balancer.pick(ip)
    assert isinstance(handler, WeightedRoundRobin)
    return handler.name.split("@", 1)[0]


def test_with_health_check_a_child_that_cannot_report_is_refused() -> None:
    with pytest.raises(ValueError, match="does not report its health"):
        HighestRandomWeight([("a", 1, Child("a"))], "top@file", health_check_enabled=True)


def test_without_health_check_parents_cannot_follow_it() -> None:
    with pytest.raises(ValueError, match="healthCheck not enabled"):
        _hrw(["a"]).register_status_updater(lambda up: None)


def test_a_child_down_at_build_time_starts_down() -> None:
    blue = _lb("blue")
    blue.set_status("blue-server", False)
    top = HighestRandomWeight([("blue", 1, blue), ("green", 1, _lb("green"))], "top@file", health_check_enabled=True)
    assert top.status("blue") is False
