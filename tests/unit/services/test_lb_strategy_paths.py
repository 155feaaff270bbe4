"""``hrw`` and ``leasttime`` end to end short of sockets: active health checks, the file and CRD configurations built
into served routers, the API's service view (``serverStatus``) and ``ingress explain``."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from services_fakes import Child, ManualSleep, child_name, request

from hanzo_edge.api.runtime import RuntimeView
from hanzo_edge.cli import ingress_main
from hanzo_edge.config.dynamic import Configuration, decode_dynamic
from hanzo_edge.config.loader import load_static
from hanzo_edge.config.runtime import ENABLED
from hanzo_edge.http.errors import NoAvailableServer
from hanzo_edge.http.messages import Handler, Request
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.providers.kubernetes.crd_translate import translate_crds
from hanzo_edge.routing.build import BuildResult, build_tables
from hanzo_edge.services.generation import TaskScope
from hanzo_edge.services.hrw_servers import ServerRendezvous
from hanzo_edge.services.leasttime import LeastTime
from hanzo_edge.services.loadbalancer import STRATEGIES, HealthCheckOptions, build_load_balancer
from hanzo_edge.services.sticky import StickyCookie, sticky_value
from hanzo_edge.services.weighted import Weighted

A = "http://10.0.0.1:80"
B = "http://10.0.0.2:80"


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_active_check_takes_a_server_out_and_brings_it_back(strategy: str) -> None:
    answers = {A + "/health": 503, B + "/health": 200}
    reported: list[tuple[str, str, bool]] = []

    async def probe(url: str, method: str, headers: Mapping[str, str], timeout: float, follow: bool) -> int:
        return answers[url]

    def from_ip(n: int) -> Request:
        req = request()
        req.client_ip = f"10.9.{n // 200}.{n % 200}"
        return req

    async def scenario() -> tuple[set[str], set[str], bool | None]:
        scope = TaskScope()
        sleep = ManualSleep()
        built = build_load_balancer(
            "svc@file",
            [(A, 1, Child("a")), (B, 1, Child("b"))],
            spawn=scope.spawn,
            strategy=strategy,
            health_check=HealthCheckOptions(path="/health", interval=5.0),
            probe=probe,
            sleep=sleep,
            on_server_status=lambda name, url, up: reported.append((name, url, up)),
        )
        lb = built.balancer
        built.start(scope.spawn)
        await asyncio.sleep(0)
        await sleep.wake()  # A's probe answers 503: A is down
        while_down = {child_name(await lb(from_ip(n))) for n in range(40)}
        answers[A + "/health"] = 200
        await sleep.wake()
        after = {child_name(await lb(from_ip(n))) for n in range(40)}
        status = lb.status(A)
        await scope.aclose()
        return while_down, after, status

    while_down, after, status = asyncio.run(scenario())
    assert (while_down, after, status) == ({"b"}, {"a", "b"}, True)
    assert ("svc@file", A, False) in reported


def _file_config(strategy: str) -> Configuration:
    config, warnings = decode_dynamic(
        {
            "http": {
                "routers": {"r": {"rule": "Host(`app.test`)", "service": "app"}},
                "services": {
                    "app": {
                        "loadBalancer": {
                            "strategy": strategy,
                            "servers": [{"url": A}, {"url": B, "weight": 3}],
                            "healthCheck": {"path": "/health"},
                        }
                    }
                },
            }
        }
    )
    assert warnings == []
    return config


@pytest.mark.parametrize("strategy", ["hrw", "leasttime"])
def test_a_file_service_is_served_and_the_api_shows_its_servers(strategy: str) -> None:
    config = _file_config(strategy)
    result: BuildResult = build_tables({"file": config}, ["web"], ["web"], PoolRegistry(), TransportOptions())
    assert result.runtime.routers["r@file"].status == ENABLED
    assert result.runtime.services["app@file"].status == ENABLED
    balancer: Any = result.built["app@file"][1]
    balancer.set_status(B, False)
    view = RuntimeView(load_static(["--entrypoints.web.address=:80"], {}), {"file": config}, result)
    shown = view.item("http/services", "app@file")
    assert shown is not None
    assert shown["loadBalancer"]["strategy"] == strategy
    assert (shown["status"], shown["serverStatus"]) == ("enabled", {A: "UP", B: "DOWN"})


@pytest.mark.parametrize("strategy", ["hrw", "leasttime"])
def test_an_ingress_route_service_strategy_reaches_the_built_balancer(strategy: str) -> None:
    service = {
        "metadata": {"name": "app", "namespace": "default"},
        "spec": {"ports": [{"name": "tcp", "port": 80}], "clusterIP": "10.0.0.9"},
    }
    endpoints = {
        "metadata": {"name": "app-x", "namespace": "default", "labels": {"kubernetes.io/service-name": "app"}},
        "endpoints": [{"addresses": ["10.10.0.1", "10.10.0.2"], "conditions": {"ready": True}}],
        "ports": [{"name": "tcp", "port": 8080}],
    }
    route = {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "IngressRoute",
        "metadata": {"name": "r", "namespace": "default", "resourceVersion": "1"},
        "spec": {"routes": [{"match": "Host(`h`)", "services": [{"name": "app", "port": 80, "strategy": strategy}]}]},
    }
    snapshot: dict[str, dict[tuple[str, str], Any]] = {
        "services": {("default", "app"): service},
        "endpointslices": {("default", "app-x"): endpoints},
        "ingressroutes": {("default", "r"): route},
    }
    config = translate_crds(snapshot).config
    (name, model), *_ = config.http.services.items()
    assert model.load_balancer is not None
    assert model.load_balancer.strategy == strategy
    result = build_tables({"kubernetescrd": config}, ["web"], ["web"], PoolRegistry(), TransportOptions())
    assert all(info.status == ENABLED for info in result.runtime.routers.values())
    assert result.runtime.services[f"{name}@kubernetescrd"].status == ENABLED
    balancer = result.built[f"{name}@kubernetescrd"][1]
    assert isinstance(balancer, ServerRendezvous if strategy == "hrw" else LeastTime)
    assert [balancer.status(url) for url in ("http://10.10.0.1:8080", "http://10.10.0.2:8080")] == [True, True]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_explain_shows_the_service_its_strategy_and_its_servers(
    strategy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dynamic.yml"
    path.write_text(
        "http:\n  routers:\n    r:\n      rule: Host(`app.test`)\n      service: app\n  services:\n    app:\n"
        f"      loadBalancer:\n        strategy: {strategy}\n        servers:\n          - url: {A}\n"
        f"          - url: {B}\n            weight: 3\n"
    )
    code = ingress_main(
        ["explain", "--entrypoints.web.address=:1", f"--providers.file.filename={path}", "GET", "http://app.test/"]
    )
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[-4:] == [
        "middlewares: none",
        f"service: app@file (loadBalancer, strategy {strategy})",
        f"server: {A} (weight 1)",
        f"server: {B} (weight 3)",
    ]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_api_shows_a_fenced_server_down_once_its_check_says_so(strategy: str) -> None:
    config, warnings = decode_dynamic(
        {
            "http": {
                "routers": {"r": {"rule": "Host(`app.test`)", "service": "app"}},
                "services": {
                    "app": {
                        "loadBalancer": {
                            "strategy": strategy,
                            "servers": [{"url": A}, {"url": B, "fenced": True}],
                            "healthCheck": {"path": "/health"},
                        }
                    }
                },
            }
        }
    )
    assert warnings == []
    result = build_tables({"file": config}, ["web"], ["web"], PoolRegistry(), TransportOptions())
    balancer: Any = result.built["app@file"][1]
    balancer.set_status(B, False)  # what the active check does when the terminating endpoint stops answering
    view = RuntimeView(load_static(["--entrypoints.web.address=:80"], {}), {"file": config}, result)
    shown = view.item("http/services", "app@file")
    assert shown is not None
    assert shown["serverStatus"] == {A: "UP", B: "DOWN"}


@pytest.mark.parametrize("strategy", ["wrr", "p2c", "leasttime"])  # hrw has no sticky cookie (Traefik's neither)
def test_a_sticky_client_of_a_fenced_server_its_check_says_down_moves_to_a_healthy_one(strategy: str) -> None:
    # A terminating pod that stops answering its health check: Traefik's sticky handler checks the status map, which
    # holds fenced servers too, and sends the client to a new pick, rewriting its cookie.
    answers = {A + "/health": 200, B + "/health": 503}

    async def probe(url: str, method: str, headers: Mapping[str, str], timeout: float, follow: bool) -> int:
        return answers[url]

    async def scenario() -> list[tuple[str, str | None]]:
        scope = TaskScope()
        sleep = ManualSleep()
        built = build_load_balancer(
            "svc@file",
            [(A, 1, Child("a")), (B, 1, Child("b"))],
            spawn=scope.spawn,
            strategy=strategy,
            sticky=StickyCookie("svc@file", name="lb"),
            health_check=HealthCheckOptions(path="/health", interval=5.0),
            probe=probe,
            sleep=sleep,
            fenced={B},
        )
        lb = built.balancer
        built.start(scope.spawn)
        await asyncio.sleep(0)  # the checker's loops reach their first sleep
        pinned = request(cookie=f"lb={sticky_value(B)}")
        seen = []
        resp = await lb(pinned)  # before the first probe: the fenced server still serves its sticky client
        seen.append((child_name(resp), resp.headers.get("Set-Cookie")))
        await sleep.wake()  # B's probe answers 503: B is down
        for _ in range(2):
            resp = await lb(request(cookie=f"lb={sticky_value(B)}"))
            seen.append((child_name(resp), resp.headers.get("Set-Cookie")))
        await scope.aclose()
        return seen

    moved = f"lb={sticky_value(A)}; Path=/"
    assert asyncio.run(scenario()) == [("b", None), ("a", moved), ("a", moved)]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_service_whose_only_up_server_is_fenced_is_up_for_its_parent(strategy: str) -> None:
    # Traefik's status map holds fenced servers like the others: the service's own status (what its parents hear)
    # stays up while a fenced server is, though only sticky clients can still reach it.
    built = build_load_balancer(
        "svc@file",
        [(A, 1, Child("a")), (B, 1, Child("b"))],
        spawn=lambda coro: coro.close(),
        strategy=strategy,
        health_check=HealthCheckOptions(path="/health"),
        fenced={B},
    )
    lb = built.balancer
    parent = Weighted([("svc@file", 1, lb)], "top@file", health_check_enabled=True)
    flips: list[bool] = []
    parent.register_status_updater(flips.append)
    lb.set_status(A, False)
    assert (lb.any_up, parent.status("svc@file"), flips) == (True, True, [])
    with pytest.raises(NoAvailableServer):  # no unfenced server left for a request without a cookie
        asyncio.run(_served(parent))
    lb.set_status(B, False)
    assert (lb.any_up, parent.status("svc@file"), flips) == (False, False, [False])
    lb.set_status(B, True)
    assert (lb.any_up, parent.status("svc@file"), flips) == (True, True, [False, True])


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_service_of_fenced_servers_only_starts_up_for_its_parent(strategy: str) -> None:
    built = build_load_balancer(
        "svc@file",
        [(B, 1, Child("b"))],
        spawn=lambda coro: coro.close(),
        strategy=strategy,
        health_check=HealthCheckOptions(path="/health"),
        fenced={B},
    )
    parent = Weighted([("svc@file", 1, built.balancer)], "top@file", health_check_enabled=True)
    assert (built.balancer.any_up, parent.status("svc@file"), built.balancer.status(B)) == (True, True, True)


async def _served(handler: Handler) -> str:
    return child_name(await handler(request()))


def test_a_reload_keeps_an_unchanged_leasttime_balancer_and_a_changed_service_starts_over() -> None:
    # Traefik rebuilds every balancer on each configuration; here an unchanged service keeps its instance (docs/compat).
    first = build_tables({"file": _file_config("leasttime")}, ["web"], ["web"], PoolRegistry(), TransportOptions())
    balancer: Any = first.built["app@file"][1]
    assert isinstance(balancer, LeastTime)
    balancer.set_status(B, False)
    again = build_tables(
        {"file": _file_config("leasttime")}, ["web"], ["web"], PoolRegistry(), TransportOptions(), previous=first
    )
    assert again.built["app@file"][1] is balancer
    changed = build_tables(
        {"file": _file_config("hrw")}, ["web"], ["web"], PoolRegistry(), TransportOptions(), previous=again
    )
    rebuilt = changed.built["app@file"][1]
    assert isinstance(rebuilt, ServerRendezvous)
    assert rebuilt.status(B) is True
