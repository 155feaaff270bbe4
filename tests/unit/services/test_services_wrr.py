"""WeightedRoundRobin: EDF sequences, ignored weights, health, status propagation, the frame-free call."""

from __future__ import annotations

import asyncio
import inspect

import pytest
from services_fakes import Child, child_name, request

from hanzo_edge.http.errors import NoAvailableServer
from hanzo_edge.http.messages import Handler
from hanzo_edge.services.wrr import WeightedRoundRobin


def _balancer(weights: list[tuple[str, float]], **kwargs: object) -> WeightedRoundRobin:
    return WeightedRoundRobin([(name, weight, Child(name)) for name, weight in weights], "svc@file", **kwargs)  # type: ignore[arg-type]


def _sequence(lb: WeightedRoundRobin, n: int) -> str:
    async def scenario() -> str:
        return "".join([child_name(await lb(request())) for _ in range(n)])

    return asyncio.run(scenario())


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        pytest.param([("A", 3), ("B", 1)], "AAABAAABAAAB", id="3:1"),
        pytest.param([("A", 1), ("B", 1), ("C", 1)], "ABCABCABC", id="1:1:1"),
        pytest.param([("A", 2), ("B", 1), ("C", 1)], "AABCAABCAABC", id="2:1:1"),
        pytest.param([("A", 0.5), ("B", 1)], "BABBAB", id="fractional weight"),
        pytest.param([("A", 1), ("B", 0), ("C", -1), ("D", 1)], "ADADAD", id="weight <= 0 ignored"),
        pytest.param([("A", 5)], "AAAA", id="single server"),
    ],
)
def test_edf_sequence(weights: list[tuple[str, float]], expected: str) -> None:
    assert _sequence(_balancer(weights), len(expected)) == expected


def test_3_to_1_distribution_over_many_picks() -> None:
    seq = _sequence(_balancer([("A", 3), ("B", 1)]), 400)
    assert (seq.count("A"), seq.count("B")) == (300, 100)


@pytest.mark.parametrize(
    "weights",
    [
        pytest.param([], id="no servers"),
        pytest.param([("A", 0), ("B", -2)], id="only non-positive weights"),
    ],
)
def test_nothing_to_pick_raises(weights: list[tuple[str, float]]) -> None:
    lb = _balancer(weights)
    assert not lb.any_up
    with pytest.raises(NoAvailableServer):
        lb.pick()


@pytest.mark.parametrize("n", [1, 3], ids=["one server", "three servers"])
def test_all_down_raises_no_available_server(n: int) -> None:
    lb = _balancer([(f"s{i}", 1) for i in range(n)])
    for i in range(n):
        lb.set_status(f"s{i}", False)
    assert not lb.any_up
    with pytest.raises(NoAvailableServer):
        lb(request())


def test_down_server_is_skipped_and_recovers() -> None:
    lb = _balancer([("A", 1), ("B", 1), ("C", 1)])
    assert _sequence(lb, 3) == "ABC"
    lb.set_status("B", False)
    assert lb.status("B") is False
    assert _sequence(lb, 4) == "ACAC"
    lb.set_status("B", True)
    assert _sequence(lb, 6) == "ABCABC"  # B re-enters at the current deadline + 1/w


def test_set_status_of_unknown_child_is_ignored() -> None:
    lb = _balancer([("A", 1)])
    lb.set_status("nope", False)
    assert lb.any_up
    assert lb.status("nope") is None


def test_status_updaters_run_only_when_the_aggregate_flips() -> None:
    lb = _balancer([("A", 1), ("B", 1)], health_check_enabled=True)
    seen: list[bool] = []
    lb.register_status_updater(seen.append)
    lb.set_status("A", False)
    assert seen == []
    lb.set_status("A", False)
    lb.set_status("B", False)
    assert seen == [False]
    lb.set_status("B", False)
    lb.set_status("A", True)
    lb.set_status("B", True)
    assert seen == [False, True]


def test_register_status_updater_needs_health_check() -> None:
    lb = _balancer([("A", 1)])
    with pytest.raises(ValueError, match="healthCheck not enabled"):
        lb.register_status_updater(lambda up: None)


def test_add_after_construction_competes_from_current_deadline() -> None:
    lb = _balancer([("A", 1)])
    assert _sequence(lb, 2) == "AA"
    lb.add("B", 1, Child("B"))
    assert _sequence(lb, 4) == "ABAB"


def test_call_without_sticky_returns_the_childs_awaitable() -> None:
    seen: list[object] = []

    async def child(req: object) -> object:
        return "ok"

    def spy(req: object) -> object:
        awaitable = child(req)
        seen.append(awaitable)
        return awaitable

    handler: Handler = spy  # type: ignore[assignment]
    lb = WeightedRoundRobin([("A", 1, handler)])
    result = lb(request())
    assert result is seen[0]
    assert inspect.iscoroutine(result)
    assert asyncio.run(result) == "ok"
