"""Passive health checks: failures in a sliding window take a server out; a timer (or the active check) brings
it back."""

from __future__ import annotations

import asyncio

import pytest
from services_fakes import Child, FailingChild, ManualSleep, Spawner, request

from fakes import FakeClock
from hanzo_edge.http.errors import ClientClosed, ConnectError, UpstreamError, UpstreamProtocolError, UpstreamTimeout
from hanzo_edge.http.messages import Handler
from hanzo_edge.services.generation import TaskScope
from hanzo_edge.services.passive import PassiveHealthChecker
from hanzo_edge.services.wrr import WeightedRoundRobin

S = "http://10.0.0.1:80"


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def __call__(self, key: str, up: bool) -> None:
        self.calls.append((key, up))


async def _call(handler: Handler) -> int | str:
    try:
        return (await handler(request())).status
    except UpstreamError as exc:
        return type(exc).__name__


@pytest.mark.parametrize(
    ("child", "outcome"),
    [
        pytest.param(FailingChild(ConnectError("refused")), "ConnectError", id="connect error"),
        pytest.param(FailingChild(UpstreamTimeout("slow")), "UpstreamTimeout", id="response header timeout"),
        pytest.param(FailingChild(UpstreamProtocolError("bad")), "UpstreamProtocolError", id="protocol error"),
        pytest.param(Child("s", 500), 500, id="500 answer"),
        pytest.param(Child("s", 503), 503, id="503 answer"),
    ],
)
def test_one_failure_marks_down_by_default(child: Handler, outcome: int | str) -> None:
    recorder = Recorder()
    spawner = Spawner()
    passive = PassiveHealthChecker(recorder, spawn=spawner, clock=FakeClock())
    assert asyncio.run(_call(passive.wrap(S, child))) == outcome
    assert recorder.calls == [(S, False)]
    assert len(spawner.coros) == 1
    assert passive.is_down(S)
    spawner.close_all()


@pytest.mark.parametrize(
    "child",
    [
        pytest.param(Child("s", 200), id="200"),
        pytest.param(Child("s", 404), id="4xx is not a failure"),
        pytest.param(FailingChild(ClientClosed("gone")), id="client closed is neutral"),
    ],
)
def test_non_failures_do_not_mark_down(child: Handler) -> None:
    recorder = Recorder()
    passive = PassiveHealthChecker(recorder, spawn=Spawner(), clock=FakeClock())
    asyncio.run(_call(passive.wrap(S, child)))
    assert recorder.calls == []
    assert passive.failures(S) == 0


def test_failures_must_fall_within_the_window() -> None:
    clock = FakeClock()
    recorder = Recorder()
    spawner = Spawner()
    passive = PassiveHealthChecker(recorder, max_failed_attempts=3, failure_window=10.0, spawn=spawner, clock=clock)
    failing = passive.wrap(S, Child("s", 502))
    for _ in range(2):
        asyncio.run(_call(failing))
        clock.advance(6)
    assert passive.failures(S) == 1  # the first one is more than 10s old now
    asyncio.run(_call(failing))
    assert recorder.calls == []
    clock.advance(1)
    asyncio.run(_call(failing))
    assert passive.failures(S) == 3
    assert recorder.calls == [(S, False)]
    spawner.close_all()


def test_a_success_clears_the_failure_history() -> None:
    clock = FakeClock()
    recorder = Recorder()
    passive = PassiveHealthChecker(recorder, max_failed_attempts=2, spawn=Spawner(), clock=clock)
    asyncio.run(_call(passive.wrap(S, Child("s", 500))))
    asyncio.run(_call(passive.wrap(S, Child("s", 200))))
    asyncio.run(_call(passive.wrap(S, Child("s", 500))))
    assert recorder.calls == []
    assert passive.failures(S) == 1


def test_recovers_after_the_window_through_the_timer() -> None:
    async def scenario() -> tuple[list[tuple[str, bool]], list[float], list[bool]]:
        lb = WeightedRoundRobin([], "svc@file")
        sleep = ManualSleep()
        scope = TaskScope()
        passive = PassiveHealthChecker(lb.set_status, failure_window=10.0, spawn=scope.spawn, sleep=sleep)
        lb.add(S, 1, passive.wrap(S, Child("s", 503)))
        recorded: list[tuple[str, bool]] = []
        states: list[bool] = []
        await lb(request())
        await asyncio.sleep(0)
        states.append(lb.any_up)
        recorded.append((S, bool(lb.status(S))))
        await sleep.wake()
        states.append(lb.any_up)
        assert not passive.is_down(S)
        await scope.aclose()
        return recorded, sleep.delays, states

    recorded, delays, states = asyncio.run(scenario())
    assert recorded == [(S, False)]
    assert delays == [10.0]
    assert states == [False, True]


def test_only_one_recovery_timer_per_server() -> None:
    recorder = Recorder()
    spawner = Spawner()
    passive = PassiveHealthChecker(recorder, spawn=spawner, clock=FakeClock())
    failing = passive.wrap(S, Child("s", 500))
    for _ in range(3):
        asyncio.run(_call(failing))
    assert recorder.calls == [(S, False)]
    assert len(spawner.coros) == 1
    spawner.close_all()


def test_with_active_health_check_no_timer_is_started() -> None:
    recorder = Recorder()
    passive = PassiveHealthChecker(recorder, has_active_health_check=True, clock=FakeClock())
    asyncio.run(_call(passive.wrap(S, Child("s", 500))))
    asyncio.run(_call(passive.wrap(S, Child("s", 500))))
    assert recorder.calls == [(S, False), (S, False)]
    assert not passive.is_down(S)


def test_needs_a_spawner_without_active_checks() -> None:
    with pytest.raises(ValueError, match="spawner"):
        PassiveHealthChecker(Recorder())


def test_non_positive_settings_use_defaults() -> None:
    passive = PassiveHealthChecker(Recorder(), max_failed_attempts=0, failure_window=0, has_active_health_check=True)
    assert (passive.max_failed, passive.window) == (1, 10.0)
