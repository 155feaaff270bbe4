"""Health propagating upwards: load balancers → weighted / failover / mirroring parents."""

from __future__ import annotations

import asyncio

import pytest
from services_fakes import Child, Spawner, child_name, request

from hanzo_edge.http.errors import NoAvailableServer
from hanzo_edge.http.messages import Handler
from hanzo_edge.services.failover import Failover
from hanzo_edge.services.mirroring import Mirroring
from hanzo_edge.services.weighted import Weighted
from hanzo_edge.services.wrr import WeightedRoundRobin


def _lb(name: str, *servers: str, health_check: bool = True) -> WeightedRoundRobin:
    return WeightedRoundRobin(
        [(s, 1, Child(f"{name}:{s}")) for s in servers], f"{name}@file", health_check_enabled=health_check
    )


def _served_by(handler: Handler) -> str:
    async def scenario() -> str:
        return child_name(await handler(request()))

    return asyncio.run(scenario())


def test_weighted_with_health_check_follows_child_lb() -> None:
    blue = _lb("blue", "b1", "b2")
    green = _lb("green", "g1")
    top = Weighted([("blue", 1, blue), ("green", 1, green)], "top@file", health_check_enabled=True)
    seen: list[bool] = []
    top.register_status_updater(seen.append)
    blue.set_status("b1", False)
    assert top.status("blue") is True  # blue still has b2
    blue.set_status("b2", False)
    assert top.status("blue") is False
    assert [_served_by(top) for _ in range(3)] == ["green:g1"] * 3
    green.set_status("g1", False)
    assert seen == [False]
    with pytest.raises(NoAvailableServer):
        top(request())
    blue.set_status("b2", True)
    assert seen == [False, True]
    assert _served_by(top) == "blue:b2"


def test_weighted_without_health_check_ignores_children() -> None:
    blue = _lb("blue", "b1")
    top = Weighted([("blue", 1, blue), ("green", 1, _lb("green", "g1"))], "top@file")
    blue.set_status("b1", False)
    assert top.status("blue") is True
    with pytest.raises(ValueError, match="healthCheck not enabled"):
        top.register_status_updater(lambda up: None)


@pytest.mark.parametrize(
    "child",
    [
        pytest.param(_lb("plain", "p1", health_check=False), id="load balancer without healthCheck"),
        pytest.param(Child("server"), id="handler that cannot report status"),
    ],
)
def test_weighted_health_check_requires_reporting_children(child: Handler) -> None:
    with pytest.raises(ValueError, match="'child'"):
        Weighted([("child", 1, child)], "top@file", health_check_enabled=True)


def test_weighted_starts_with_the_childs_current_status() -> None:
    blue = _lb("blue", "b1")
    blue.set_status("b1", False)
    top = Weighted([("blue", 1, blue), ("green", 1, _lb("green", "g1"))], "top@file", health_check_enabled=True)
    assert top.status("blue") is False


def test_nested_weighted_propagates_through_levels() -> None:
    lb = _lb("leaf", "s1")
    middle = Weighted([("leaf", 1, lb)], "middle@file", health_check_enabled=True)
    top = Weighted([("middle", 1, middle), ("other", 1, _lb("other", "o1"))], "top@file", health_check_enabled=True)
    lb.set_status("s1", False)
    assert (middle.any_up, top.status("middle")) == (False, False)
    lb.set_status("s1", True)
    assert top.status("middle") is True


def test_failover_switches_and_switches_back() -> None:
    main = _lb("main", "m1")
    backup = _lb("backup", "f1")
    failover = Failover(main, backup, "fo@file", service_name="main", fallback_name="backup")
    assert _served_by(failover) == "main:m1"
    main.set_status("m1", False)
    assert failover.serving_fallback
    assert _served_by(failover) == "backup:f1"
    main.set_status("m1", True)
    assert _served_by(failover) == "main:m1"


def test_failover_without_health_check_assumes_the_fallback_up() -> None:
    main = _lb("main", "m1")
    backup = _lb("backup", "f1")
    failover = Failover(main, backup, "fo@file")
    main.set_status("m1", False)
    backup.set_status("f1", False)
    assert failover.any_up  # the fallback's status is not followed
    with pytest.raises(NoAvailableServer):  # ... but the fallback LB itself has nobody to serve
        asyncio.run(_served(failover))


async def _served(handler: Handler) -> str:
    return child_name(await handler(request()))


def test_failover_with_health_check_follows_the_fallback_and_reports() -> None:
    main = _lb("main", "m1")
    backup = _lb("backup", "f1")
    failover = Failover(main, backup, "fo@file", health_check_enabled=True)
    seen: list[bool] = []
    failover.register_status_updater(seen.append)
    backup.set_status("f1", False)
    assert seen == []
    main.set_status("m1", False)
    assert seen == [False]
    with pytest.raises(NoAvailableServer):
        failover(request())
    backup.set_status("f1", True)
    assert seen == [False, True]
    assert _served_by(failover) == "backup:f1"


def test_failover_requires_main_service_health() -> None:
    with pytest.raises(ValueError, match="'main'"):
        Failover(_lb("main", "m1", health_check=False), _lb("backup", "f1"), "fo@file", service_name="main")


def test_failover_under_weighted() -> None:
    main = _lb("main", "m1")
    failover = Failover(main, _lb("backup", "f1", health_check=False), "fo@file", health_check_enabled=False)
    with pytest.raises(ValueError, match="healthCheck not enabled"):
        Weighted([("fo", 1, failover)], "top@file", health_check_enabled=True)


def test_mirroring_passes_updaters_to_its_main_service() -> None:
    main = _lb("main", "m1")
    spawner = Spawner()
    mirroring = Mirroring(main, [("shadow", Child("shadow"), 0)], spawner, "mirror@file", health_check_enabled=True)
    top = Weighted([("mirror", 1, mirroring), ("other", 1, _lb("o", "o1"))], "top@file", health_check_enabled=True)
    main.set_status("m1", False)
    assert (mirroring.any_up, top.status("mirror")) == (False, False)


def test_mirroring_without_health_check_refuses_updaters() -> None:
    mirroring = Mirroring(_lb("main", "m1"), [], Spawner(), "mirror@file")
    with pytest.raises(ValueError, match="healthCheck not enabled"):
        mirroring.register_status_updater(lambda up: None)
