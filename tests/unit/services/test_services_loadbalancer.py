"""build_load_balancer: strategies, and health checks (active and passive) wired to the balancer."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest
from services_fakes import Child, ManualSleep, child_name, request

from hanzo_edge.services.generation import TaskScope
from hanzo_edge.services.hrw_servers import ServerRendezvous
from hanzo_edge.services.leasttime import LeastTime
from hanzo_edge.services.loadbalancer import HealthCheckOptions, PassiveOptions, build_load_balancer
from hanzo_edge.services.p2c import PowerOfTwoChoices
from hanzo_edge.services.wrr import WeightedRoundRobin

A = "http://10.0.0.1:80"
B = "http://10.0.0.2:80"


def _servers() -> list[tuple[str, float, Child]]:
    return [(A, 1, Child("a")), (B, 1, Child("b"))]


@pytest.mark.parametrize(
    ("strategy", "kind"),
    [
        pytest.param("wrr", WeightedRoundRobin, id="wrr"),
        pytest.param("", WeightedRoundRobin, id="empty means wrr"),
        pytest.param("p2c", PowerOfTwoChoices, id="p2c"),
        pytest.param("hrw", ServerRendezvous, id="hrw"),
        pytest.param("leasttime", LeastTime, id="leasttime"),
    ],
)
def test_strategies(strategy: str, kind: type) -> None:
    built = build_load_balancer("svc@file", _servers(), spawn=lambda c: c.close(), strategy=strategy)
    assert isinstance(built.balancer, kind)
    assert (built.checker, built.passive) == (None, None)
    assert not built.balancer.health_check_enabled


@pytest.mark.parametrize("strategy", ["bogus", "RoundRobin", "HRW"])
def test_unsupported_strategy(strategy: str) -> None:
    with pytest.raises(ValueError) as raised:
        build_load_balancer("svc@file", _servers(), spawn=lambda c: c.close(), strategy=strategy)
    assert str(raised.value) == f'unsupported load-balancer strategy "{strategy}"'


def test_active_and_passive_checks_drive_the_balancer() -> None:
    async def probe(url: str, method: str, headers: Mapping[str, str], timeout: float, follow: bool) -> int:
        assert url == A + "/health"
        return 200

    async def scenario() -> list[object]:
        scope = TaskScope()
        sleep = ManualSleep()
        built = build_load_balancer(
            "svc@file",
            [(A, 1, Child("a", 502)), (B, 1, Child("b"))],
            spawn=scope.spawn,
            health_check=HealthCheckOptions(path="/health", interval=5.0),
            passive=PassiveOptions(),
            probe=probe,
            sleep=sleep,
        )
        lb = built.balancer
        assert lb.health_check_enabled
        first = await lb(request())  # A answers 502: the passive check takes it out
        after_failure = lb.status(A)
        served = child_name(await lb(request()))
        built.start(scope.spawn)
        await asyncio.sleep(0)
        await sleep.wake()  # the active probe of A succeeds and brings it back
        result: list[object] = [first.status, after_failure, served, lb.status(A), sleep.delays[:2]]
        await scope.aclose()
        return result

    assert asyncio.run(scenario()) == [502, False, "b", True, [5.0, 5.0]]
