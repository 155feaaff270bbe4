"""``service_server_up``: health-check results reach ``on_server_status`` (and so the Prometheus gauge)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest
from services_fakes import Child, ManualSleep, Spawner, request

from fakes import FakeClock
from hanzo_edge.app import IngressApp
from hanzo_edge.config.dynamic import decode_dynamic
from hanzo_edge.config.loader import load_static
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.observability.metrics import Metrics
from hanzo_edge.routing import service_builder
from hanzo_edge.routing.build import build_tables
from hanzo_edge.services.generation import TaskScope
from hanzo_edge.services.loadbalancer import HealthCheckOptions, PassiveOptions, build_load_balancer

A = "http://10.0.0.1:80"
B = "http://10.0.0.2:80"


class StatusLog:
    """An ``on_server_status`` that records every ``(service, url, up)``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bool]] = []

    def __call__(self, service: str, url: str, up: bool) -> None:
        self.calls.append((service, url, up))


def _gauges(metrics: Metrics, service: str, *urls: str) -> tuple[str | None, ...]:
    """Scrape once; the values of ``service_server_up{service, url}`` for ``urls`` (None: the series is absent)."""
    lines = metrics.render().decode().splitlines()
    values: list[str | None] = []
    for url in urls:
        prefix = f'hanzo_ingress_service_server_up{{service="{service}",url="{url}"}} '
        values.append(next((line[len(prefix) :] for line in lines if line.startswith(prefix)), None))
    return tuple(values)


def test_every_active_probe_result_is_reported() -> None:
    healthy = {A: True, B: False}

    async def probe(url: str, method: str, headers: Mapping[str, str], timeout: float, follow: bool) -> int:
        return 200 if healthy[url.removesuffix("/health")] else 500

    async def scenario() -> tuple[list[tuple[str, str, bool]], list[tuple[str, str, bool]], bool | None, bool | None]:
        scope = TaskScope()
        sleep = ManualSleep()
        log = StatusLog()
        built = build_load_balancer(
            "svc@file",
            [(A, 1, Child("a")), (B, 1, Child("b"))],
            spawn=scope.spawn,
            health_check=HealthCheckOptions(path="/health", interval=5.0),
            probe=probe,
            sleep=sleep,
            on_server_status=log,
        )
        built.start(scope.spawn)
        await asyncio.sleep(0)
        assert log.calls == [], "nothing is reported before the first probe (one interval after start)"
        await sleep.wake()
        first = sorted(log.calls)
        log.calls.clear()
        healthy[B] = True
        await sleep.wake()  # unchanged results are reported again, not only flips
        second = sorted(log.calls)
        lb = built.balancer
        result = (first, second, lb.status(A), lb.status(B))
        await scope.aclose()
        return result

    first, second, a_up, b_up = asyncio.run(scenario())
    assert first == [("svc@file", A, True), ("svc@file", B, False)]
    assert second == [("svc@file", A, True), ("svc@file", B, True)]
    assert (a_up, b_up) == (True, True), "the balancer still hears every result"


def test_passive_check_reports_down_and_recovery() -> None:
    async def scenario() -> tuple[list[tuple[str, str, bool]], bool | None, list[tuple[str, str, bool]], bool | None]:
        spawner = Spawner()
        sleep = ManualSleep()
        log = StatusLog()
        built = build_load_balancer(
            "svc@file",
            [(A, 1, Child("a", 502)), (B, 1, Child("b"))],
            spawn=spawner,
            passive=PassiveOptions(failure_window=10.0, max_failed_attempts=1),
            clock=FakeClock(),
            sleep=sleep,
            on_server_status=log,
        )
        lb = built.balancer
        assert (await lb(request())).status == 502  # A fails once: the passive check takes it out
        down = list(log.calls)
        a_after_failure = lb.status(A)
        recovery = asyncio.get_running_loop().create_task(spawner.run_all())
        await asyncio.sleep(0)
        await sleep.wake()  # the failure window passes: A comes back
        await recovery
        return down, a_after_failure, log.calls, lb.status(A)

    down, a_after_failure, calls, a_now = asyncio.run(scenario())
    assert down == [("svc@file", A, False)]
    assert a_after_failure is False
    assert calls == [("svc@file", A, False), ("svc@file", A, True)]
    assert a_now is True


def test_without_a_callback_the_checkers_call_the_balancer_directly() -> None:
    built = build_load_balancer(
        "svc@file",
        [(A, 1, Child("a"))],
        spawn=Spawner(),
        health_check=HealthCheckOptions(),
        passive=PassiveOptions(),
    )
    assert built.checker is not None
    assert built.passive is not None
    assert built.checker.on_change == built.balancer.set_status, "no wrapper on the status path"
    assert built.passive.set_status == built.balancer.set_status


@pytest.mark.parametrize("up", [True, False])
def test_the_metrics_gauge_follows_the_checks(up: bool) -> None:
    async def probe(url: str, method: str, headers: Mapping[str, str], timeout: float, follow: bool) -> int:
        return 204 if up else 503

    async def scenario() -> tuple[str | None, str | None]:
        metrics = Metrics()
        scope = TaskScope()
        sleep = ManualSleep()
        built = build_load_balancer(
            "svc@file",
            [(A, 1, Child("a"))],
            spawn=scope.spawn,
            health_check=HealthCheckOptions(),
            probe=probe,
            sleep=sleep,
            on_server_status=metrics.server_up,
        )
        (before,) = _gauges(metrics, "svc@file", A)
        built.start(scope.spawn)
        await asyncio.sleep(0)
        await sleep.wake()
        (after,) = _gauges(metrics, "svc@file", A)
        await scope.aclose()
        return before, after

    assert asyncio.run(scenario()) == (None, "1" if up else "0")


def test_build_tables_passes_the_callback_to_every_load_balancer(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, Any]] = []

    def spy(name: str, *args: Any, **kwargs: Any) -> Any:
        seen.append((name, kwargs.get("on_server_status")))
        return build_load_balancer(name, *args, **kwargs)

    monkeypatch.setattr(service_builder, "build_load_balancer", spy)
    config, _ = decode_dynamic(
        {
            "http": {
                "routers": {
                    "r": {"rule": "Host(`a.test`)", "service": "s"},
                    "q": {"rule": "Host(`b.test`)", "service": "t"},
                },
                "services": {
                    "s": {"loadBalancer": {"servers": [{"url": A}], "healthCheck": {"path": "/h"}}},
                    "t": {"loadBalancer": {"servers": [{"url": B}], "passiveHealthCheck": {}}},
                },
            }
        }
    )
    log = StatusLog()
    result = build_tables({"file": config}, ["web"], ["web"], PoolRegistry(), TransportOptions(), on_server_status=log)
    assert not result.errors
    assert sorted(seen, key=lambda item: item[0]) == [("s@file", log), ("t@file", log)]


def _config(*urls: str) -> Any:
    config, _ = decode_dynamic(
        {
            "http": {
                "routers": {"r": {"rule": "Host(`a.test`)", "service": "s"}},
                "services": {"s": {"loadBalancer": {"servers": [{"url": url} for url in urls]}}},
            }
        }
    )
    return config


def test_rebuild_tells_the_metrics_which_servers_exist() -> None:
    static = load_static(["--entrypoints.web.address=127.0.0.1:0", "--metrics.prometheus=true"], {}, search=False)
    app = IngressApp(static)
    metrics = app.metrics
    assert metrics is not None
    app.apply_snapshot("file", _config(A, B))
    metrics.server_up("s@file", A, True)
    metrics.server_up("s@file", B, False)
    assert _gauges(metrics, "s@file", A, B) == ("1", "0")
    app.apply_snapshot("file", _config(A))  # B leaves the configuration
    assert _gauges(metrics, "s@file", A, B) == ("1", "0"), "a gone series is exported once more"
    assert _gauges(metrics, "s@file", A, B) == ("1", None), "then dropped"
