"""PowerOfTwoChoices: the less loaded of two random healthy children, in-flight accounting, health."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from services_fakes import Child, FailingChild, GatedChild, child_name, request, settle

from hanzo_edge.http.errors import ConnectError, NoAvailableServer
from hanzo_edge.http.messages import Handler, Response
from hanzo_edge.services.p2c import PowerOfTwoChoices


class ScriptedRand:
    """``rand(n)``: returns the scripted values in order (each must be < n) and records the bounds asked."""

    def __init__(self, values: list[int]) -> None:
        self._values: Iterator[int] = iter(values)
        self.bounds: list[int] = []

    def __call__(self, n: int) -> int:
        self.bounds.append(n)
        value = next(self._values)
        assert 0 <= value < n
        return value


def _p2c(children: list[tuple[str, Handler]], rand: ScriptedRand, **kwargs: object) -> PowerOfTwoChoices:
    return PowerOfTwoChoices([(name, 1, h) for name, h in children], "svc@file", rand=rand, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("draws", "expected"),
    [
        pytest.param([0, 0], "B", id="A(2) vs B(1) -> B"),
        pytest.param([1, 0], "B", id="B(1) vs A(2) -> B"),
        pytest.param([0, 1], "C", id="A(2) vs C(0) -> C (second draw shifted past the first)"),
        pytest.param([2, 1], "C", id="C(0) vs B(1) -> C"),
        pytest.param([1, 1], "C", id="B(1) vs C(0) -> C"),
        pytest.param([2, 0], "C", id="C(0) vs A(2) -> C"),
    ],
)
def test_prefers_the_child_with_fewer_in_flight(draws: list[int], expected: str) -> None:
    async def scenario() -> tuple[dict[str, int], str]:
        gated = {name: GatedChild(name) for name in "ABC"}
        # Setup picks: A vs B (tie -> first: A), B vs C (tie -> B), A vs B (1 vs 1 -> A): loads A=2, B=1, C=0.
        rand = ScriptedRand([0, 0, 1, 1, 0, 0, *draws])
        lb = _p2c(list(gated.items()), rand)
        tasks = []
        for _ in range(3):
            tasks.append(asyncio.ensure_future(lb(request())))
            await settle()
        loads = {name: lb.inflight(name) for name in "ABC"}
        tasks.append(asyncio.ensure_future(lb(request())))
        await settle()
        picked = next(name for name in "ABC" if lb.inflight(name) > loads[name])
        for g in gated.values():
            while g.pending:
                g.release()
        await asyncio.gather(*tasks)
        assert rand.bounds == [3, 2] * 4
        assert all(lb.inflight(name) == 0 for name in "ABC")
        return loads, picked

    loads, picked = asyncio.run(scenario())
    assert loads == {"A": 2, "B": 1, "C": 0}
    assert picked == expected


def test_in_flight_is_counted_until_the_response_head() -> None:
    async def scenario() -> list[int]:
        a = GatedChild("A")
        lb = _p2c([("A", a), ("B", Child("B"))], ScriptedRand([0, 0]))
        task = asyncio.ensure_future(lb(request()))
        await settle()
        during = lb.inflight("A")
        a.release()
        resp = await task
        assert child_name(resp) == "A"
        return [during, lb.inflight("A")]

    assert asyncio.run(scenario()) == [1, 0]


def test_in_flight_is_released_when_the_child_raises() -> None:
    async def scenario() -> int:
        lb = _p2c([("A", FailingChild(ConnectError("refused"))), ("B", Child("B"))], ScriptedRand([0, 0]))
        with pytest.raises(ConnectError):
            await lb(request())
        return lb.inflight("A")

    assert asyncio.run(scenario()) == 0


def test_load_goes_to_the_idle_child() -> None:
    async def scenario() -> tuple[str, str]:
        a, b = GatedChild("A"), GatedChild("B")
        # pick 1: A vs B, tie -> A; pick 2: B vs A, A busy -> B.
        lb = _p2c([("A", a), ("B", b)], ScriptedRand([0, 0, 1, 0]))
        t1 = asyncio.ensure_future(lb(request()))
        await settle()
        t2 = asyncio.ensure_future(lb(request()))
        await settle()
        assert (len(a.pending), len(b.pending)) == (1, 1)
        a.release()
        b.release()
        r1, r2 = await asyncio.gather(t1, t2)
        return child_name(r1), child_name(r2)

    assert asyncio.run(scenario()) == ("A", "B")


def test_single_healthy_child_needs_no_draw() -> None:
    async def scenario() -> str:
        rand = ScriptedRand([])
        lb = _p2c([("A", Child("A")), ("B", Child("B"))], rand)
        lb.set_status("A", False)
        resp: Response = await lb(request())
        assert rand.bounds == []
        return child_name(resp)

    assert asyncio.run(scenario()) == "B"


def test_all_down_raises_and_propagates() -> None:
    lb = _p2c([("A", Child("A")), ("B", Child("B"))], ScriptedRand([]), health_check_enabled=True)
    seen: list[bool] = []
    lb.register_status_updater(seen.append)
    lb.set_status("A", False)
    lb.set_status("B", False)
    with pytest.raises(NoAvailableServer):
        lb(request())
    lb.set_status("B", True)
    assert seen == [False, True]
    assert lb.any_up


def test_weights_are_ignored() -> None:
    lb = PowerOfTwoChoices([("A", 0, Child("A")), ("B", -1, Child("B"))], rand=ScriptedRand([]))
    assert lb.any_up
    assert lb.status("A") is True
