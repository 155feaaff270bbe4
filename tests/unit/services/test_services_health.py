"""Active health checks: pure state, probe URLs, and the checker loop driven by a fake clock, sleep and probe."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest
from services_fakes import Child, ManualSleep, settle

from fakes import FakeClock
from hanzo_edge.services.generation import TaskScope
from hanzo_edge.services.health import ActiveHealthChecker, HealthState, is_healthy_status, probe_url
from hanzo_edge.services.wrr import WeightedRoundRobin

A = "http://10.0.0.1:8080"
B = "http://10.0.0.2:8080"


@pytest.mark.parametrize(
    ("status", "expected", "healthy"),
    [
        pytest.param(200, 0, True, id="200 default"),
        pytest.param(204, 0, True, id="204 default"),
        pytest.param(302, 0, True, id="3xx default"),
        pytest.param(399, 0, True, id="399 default"),
        pytest.param(199, 0, False, id="1xx default"),
        pytest.param(400, 0, False, id="400 default"),
        pytest.param(503, 0, False, id="503 default"),
        pytest.param(204, 204, True, id="exact match"),
        pytest.param(200, 204, False, id="exact mismatch"),
        pytest.param(500, 500, True, id="exact 500 is healthy"),
    ],
)
def test_is_healthy_status(status: int, expected: int, healthy: bool) -> None:
    assert is_healthy_status(status, expected) is healthy


@pytest.mark.parametrize(
    ("server", "path", "scheme", "port", "expected"),
    [
        pytest.param(A, "", "", 0, A, id="no options"),
        pytest.param(A, "/health", "", 0, A + "/health", id="absolute path"),
        pytest.param(A + "/api/v1", "/health", "", 0, A + "/health", id="absolute path replaces server path"),
        pytest.param(A + "/api/v1", "health", "", 0, A + "/api/health", id="relative path resolved"),
        pytest.param(A, "/health?full=1", "", 0, A + "/health?full=1", id="query kept"),
        pytest.param(A, "/h", "https", 0, "https://10.0.0.1:8080/h", id="scheme override"),
        pytest.param(A, "/h", "", 9000, "http://10.0.0.1:9000/h", id="port override"),
        pytest.param("http://[::1]:80", "/h", "", 81, "http://[::1]:81/h", id="ipv6 port override"),
        pytest.param("h2c://backend:80", "/h", "", 0, "h2c://backend:80/h", id="h2c server"),
    ],
)
def test_probe_url(server: str, path: str, scheme: str, port: int, expected: str) -> None:
    assert probe_url(server, path, scheme, port) == expected


@pytest.mark.parametrize("path", ["http://evil/health", "//evil/health"], ids=["with scheme", "network path"])
def test_probe_url_refuses_absolute_paths(path: str) -> None:
    with pytest.raises(ValueError, match="relative"):
        probe_url(A, path)


def test_health_state_transitions() -> None:
    state = HealthState(30.0, 5.0)
    assert (state.up, state.next_delay()) == (True, 30.0)
    assert state.record(True, 1.0) is False
    assert state.record(False, 2.0, "boom") is True
    assert (state.up, state.changed_at, state.last_error, state.next_delay()) == (False, 2.0, "boom", 5.0)
    assert state.record(False, 3.0) is False
    assert state.record(True, 4.0) is True
    assert (state.up, state.changed_at, state.last_error, state.next_delay()) == (True, 4.0, "", 30.0)
    assert state.checks == 4


def test_unhealthy_interval_defaults_to_interval() -> None:
    state = HealthState(7.0)
    state.record(False)
    assert state.next_delay() == 7.0


class ScriptedProbe:
    """A probe returning scripted results per URL: an int status, or an exception to raise."""

    def __init__(self, script: dict[str, list[int | BaseException]]) -> None:
        self.script = script
        self.calls: list[tuple[str, str, dict[str, str], float, bool]] = []

    async def __call__(
        self,
        url: str,
        method: str,
        headers: Mapping[str, str],
        timeout: float,
        follow_redirects: bool,
    ) -> int:
        self.calls.append((url, method, dict(headers), timeout, follow_redirects))
        result = self.script[url].pop(0)
        if isinstance(result, BaseException):
            raise result
        return result


def _checker(
    probe: ScriptedProbe, changes: list[tuple[str, bool]], sleep: ManualSleep, **kwargs: object
) -> ActiveHealthChecker:
    return ActiveHealthChecker(
        {A: A},
        lambda key, up: changes.append((key, up)),
        probe=probe,
        sleep=sleep,
        clock=FakeClock(),
        **kwargs,  # type: ignore[arg-type]
    )


def test_one_failure_down_one_success_up_and_intervals() -> None:
    async def scenario() -> tuple[list[tuple[str, bool]], list[float]]:
        probe = ScriptedProbe({A: [200, 500, 503, 204, 200]})
        changes: list[tuple[str, bool]] = []
        sleep = ManualSleep()
        checker = _checker(probe, changes, sleep, interval=10.0, unhealthy_interval=2.0)
        scope = TaskScope("g1")
        checker.start(scope.spawn)
        await settle()
        assert probe.calls == []  # the first probe waits one interval, like Traefik's ticker
        for _ in range(5):
            await sleep.wake()
        assert len(probe.calls) == 5
        await scope.aclose()
        return changes, sleep.delays

    changes, delays = asyncio.run(scenario())
    assert changes == [(A, True), (A, False), (A, False), (A, True), (A, True)]  # every result is reported
    # waits: first, after 200 (up), after 500 (down), after 503 (down), after 204 (up), after 200 (up)
    assert delays == [10.0, 10.0, 2.0, 2.0, 10.0, 10.0]


@pytest.mark.parametrize(
    ("result", "kwargs"),
    [
        pytest.param(TimeoutError(), {}, id="timeout"),
        pytest.param(ConnectionRefusedError(111, "refused"), {}, id="connection refused"),
        pytest.param(404, {}, id="4xx"),
        pytest.param(200, {"status": 204}, id="status mismatch"),
    ],
)
def test_failed_probe_marks_down(result: int | BaseException, kwargs: dict[str, object]) -> None:
    async def scenario() -> tuple[bool, list[tuple[str, bool]], str]:
        changes: list[tuple[str, bool]] = []
        checker = _checker(ScriptedProbe({A: [result]}), changes, ManualSleep(), **kwargs)
        up = await checker.check(A)
        return up, changes, checker.states[A].last_error

    up, changes, error = asyncio.run(scenario())
    assert (up, changes) == (False, [(A, False)])
    assert error


def test_slow_probe_times_out() -> None:
    async def hang(url: str, method: str, headers: Mapping[str, str], timeout: float, follow: bool) -> int:
        await asyncio.Event().wait()
        return 200

    async def scenario() -> list[tuple[str, bool]]:
        changes: list[tuple[str, bool]] = []
        checker = ActiveHealthChecker({A: A}, lambda k, u: changes.append((k, u)), timeout=0.001, probe=hang)
        await checker.check(A)
        return changes

    assert asyncio.run(scenario()) == [(A, False)]


def test_probe_receives_request_options() -> None:
    async def scenario() -> list[tuple[str, str, dict[str, str], float, bool]]:
        probe = ScriptedProbe({"https://10.0.0.1:9443/ping": [200]})
        checker = _checker(
            probe,
            [],
            ManualSleep(),
            path="/ping",
            scheme="https",
            port=9443,
            hostname="health.example.org",
            method="head",
            headers={"X-Check": "1", "host": "ignored"},
            timeout=3.0,
            follow_redirects=False,
        )
        await checker.check(A)
        return probe.calls

    assert asyncio.run(scenario()) == [
        ("https://10.0.0.1:9443/ping", "HEAD", {"X-Check": "1", "Host": "health.example.org"}, 3.0, False)
    ]


def test_defaults_and_fallbacks() -> None:
    checker = ActiveHealthChecker({A: A}, lambda k, u: None, interval=0, unhealthy_interval=-1, timeout=0)
    state = checker.states[A]
    assert (state.interval, state.unhealthy_interval, checker.timeout) == (30.0, 30.0, 5.0)
    assert (checker.method, checker.expected_status, checker.follow_redirects) == ("GET", 0, True)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"mode": "tcp"}, "not supported", id="unknown mode"),
        pytest.param({"path": "http://other/health"}, "relative", id="absolute path"),
    ],
)
def test_invalid_options(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ActiveHealthChecker({A: A}, lambda k, u: None, **kwargs)  # type: ignore[arg-type]


def test_checker_drives_a_balancer_per_server() -> None:
    async def scenario() -> list[bool]:
        lb = WeightedRoundRobin([(A, 1, Child("a")), (B, 1, Child("b"))], "svc@file", health_check_enabled=True)
        seen: list[bool] = []
        lb.register_status_updater(seen.append)
        probe = ScriptedProbe({A: [500, 500, 200], B: [200, 502, 200]})
        sleep = ManualSleep()
        checker = ActiveHealthChecker({A: A, B: B}, lb.set_status, probe=probe, sleep=sleep, interval=5.0)
        scope = TaskScope()
        checker.start(scope.spawn)
        await settle()
        assert sleep.sleeping == 2
        await sleep.wake()
        assert (lb.status(A), lb.status(B), lb.any_up) == (False, True, True)
        await sleep.wake()
        assert (lb.status(A), lb.status(B), lb.any_up) == (False, False, False)
        await sleep.wake()
        assert (lb.status(A), lb.status(B), lb.any_up) == (True, True, True)
        await scope.aclose()
        assert len(scope) == 0
        return seen

    assert asyncio.run(scenario()) == [False, True]


def test_active_success_restores_a_server_taken_out_passively() -> None:
    async def scenario() -> list[bool | None]:
        lb = WeightedRoundRobin([(A, 1, Child("a"))], "svc@file")
        checker = ActiveHealthChecker({A: A}, lb.set_status, probe=ScriptedProbe({A: [200]}), sleep=ManualSleep())
        lb.set_status(A, False)  # what a passive check does
        await checker.check(A)
        return [lb.status(A)]

    assert asyncio.run(scenario()) == [True]
