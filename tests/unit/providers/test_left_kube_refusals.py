"""Routes a Kubernetes CRD provider refuses: the real reason reaches the router's record (`/api`), HTTP, TCP, UDP."""

from __future__ import annotations

import hashlib
from typing import Any

from hanzo_edge.api.runtime import RuntimeView
from hanzo_edge.config.dynamic import Configuration
from hanzo_edge.config.loader import load_static
from hanzo_edge.config.runtime import DISABLED, ENABLED
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.providers.kubernetes.crd_translate import translate_crds
from hanzo_edge.routing.build import BuildResult, build_tables

_PLURALS = {
    "IngressRoute": "ingressroutes",
    "IngressRouteTCP": "ingressroutetcps",
    "IngressRouteUDP": "ingressrouteudps",
    "MiddlewareTCP": "middlewaretcps",
    "TraefikService": "traefikservices",
}


def _crd(kind: str, name: str, spec: dict[str, Any], namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": "1"},
        "spec": spec,
    }


def _snapshot(*objects: dict[str, Any]) -> dict[str, dict[tuple[str, str], Any]]:
    service = {
        "metadata": {"name": "app", "namespace": "default"},
        "spec": {"ports": [{"name": "tcp", "port": 80}], "clusterIP": "10.0.0.9"},
    }
    endpoints = {
        "metadata": {"name": "app-x", "namespace": "default", "labels": {"kubernetes.io/service-name": "app"}},
        "endpoints": [{"addresses": ["10.10.0.1"], "conditions": {"ready": True}}],
        "ports": [{"name": "tcp", "port": 8080}],
    }
    out: dict[str, dict[tuple[str, str], Any]] = {
        "services": {("default", "app"): service},
        "endpointslices": {("default", "app-x"): endpoints},
    }
    for obj in objects:
        meta = obj["metadata"]
        out.setdefault(_PLURALS[obj["kind"]], {})[(meta["namespace"], meta["name"])] = obj
    return out


def _build(*objects: dict[str, Any]) -> tuple[Configuration, BuildResult]:
    config = translate_crds(_snapshot(*objects)).config
    result = build_tables({"kubernetescrd": config}, ["web", "tcp"], ["web"], PoolRegistry(), TransportOptions())
    return config, result


def _api(config: Configuration, result: BuildResult) -> RuntimeView:
    static = load_static(["--entrypoints.web.address=:80", "--entrypoints.tcp.address=:81"], {})
    return RuntimeView(static, {"kubernetescrd": config}, result)


def _http_key(name: str, match: str) -> str:
    return f"default-{name}-{hashlib.sha256(match.encode()).hexdigest()[:20]}@kubernetescrd"


def test_an_ingress_route_whose_service_is_refused_says_why() -> None:
    gone = _crd("IngressRoute", "gone", {"routes": [{"match": "Host(`gone`)", "services": [{"name": "nothere"}]}]})
    fine = _crd("IngressRoute", "fine", {"routes": [{"match": "Host(`fine`)", "services": [{"name": "app"}]}]})
    config, result = _build(gone, fine)
    info = result.runtime.routers[_http_key("gone", "Host(`gone`)")]
    assert info.status == DISABLED
    assert any("kubernetes service not found: default/nothere" in error for error in info.errors), info.errors
    shown = _api(config, result).http_router(_http_key("gone", "Host(`gone`)"))
    assert shown is not None
    assert shown["status"] == "disabled"
    assert any("kubernetes service not found: default/nothere" in error for error in shown["error"])
    assert result.runtime.routers[_http_key("fine", "Host(`fine`)")].status == ENABLED


def _tcp_key(name: str, match: str) -> str:
    return f"default-{name}-{hashlib.sha256(match.encode()).hexdigest()[:20]}@kubernetescrd"


def _tcp_route(match: str, services: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"entryPoints": ["tcp"], "routes": [{"match": match, "services": services, **extra}]}


def test_ingress_route_tcp_with_a_bad_reference_is_shown_disabled_with_its_reason() -> None:
    missing_service = _crd("IngressRouteTCP", "nosvc", _tcp_route("HostSNI(`*`)", [{"name": "nothere", "port": 80}]))
    bad_middleware = _crd(
        "IngressRouteTCP",
        "badmw",
        _tcp_route("HostSNI(`*`)", [{"name": "app", "port": 80}], middlewares=[{"name": "mw", "namespace": "other"}]),
    )
    missing_secret = _crd(
        "IngressRouteTCP",
        "nosecret",
        {**_tcp_route("HostSNI(`a.test`)", [{"name": "app", "port": 80}]), "tls": {"secretName": "absent"}},
    )
    missing_option = _crd(
        "IngressRouteTCP",
        "noopt",
        {
            **_tcp_route("HostSNI(`b.test`)", [{"name": "app", "port": 80}]),
            "tls": {"options": {"name": "x", "namespace": "other"}},
        },
    )
    fine = _crd(
        "IngressRouteTCP",
        "fine",
        _tcp_route(
            "HostSNI(`c.test`)",
            [{"name": "app", "port": 80}],
        )
        | {"tls": {}},
    )
    config, result = _build(missing_service, bad_middleware, missing_secret, missing_option, fine)
    expected = {
        _tcp_key("nosvc", "HostSNI(`*`)"): "kubernetes service not found: default/nothere",
        _tcp_key("badmw", "HostSNI(`*`)"): "middleware other/mw is not in the parent resource namespace default",
        _tcp_key("nosecret", "HostSNI(`a.test`)"): "secret default/absent does not exist",
        _tcp_key("noopt", "HostSNI(`b.test`)"): "TLSOption other/x",
    }
    view = _api(config, result)
    for key, reason in expected.items():
        info = result.runtime.tcp_routers[key]
        assert info.status == DISABLED, key
        assert any(reason in error for error in info.errors), (key, info.errors)
        shown = view.item("tcp/routers", key)
        assert shown is not None
        assert shown["status"] == "disabled"
        assert any(reason in error for error in shown["error"])
    assert result.runtime.tcp_routers[_tcp_key("fine", "HostSNI(`c.test`)")].status == ENABLED
    assert {r["name"] for r in view.items("tcp/routers")} >= set(expected)


def test_ingress_route_udp_with_a_missing_service_is_shown_disabled_with_its_reason() -> None:
    gone = _crd(
        "IngressRouteUDP", "gone", {"entryPoints": ["udp"], "routes": [{"services": [{"name": "nothere", "port": 53}]}]}
    )
    config = translate_crds(_snapshot(gone)).config
    result = build_tables(
        {"kubernetescrd": config}, ["web"], ["web"], PoolRegistry(), TransportOptions(), udp_entry_points=["udp"]
    )
    info = result.runtime.udp_routers["default-gone-0@kubernetescrd"]
    assert info.status == DISABLED
    assert any("kubernetes service not found: default/nothere" in error for error in info.errors), info.errors
    shown = _api(config, result).item("udp/routers", "default-gone-0@kubernetescrd")
    assert shown is not None
    assert shown["status"] == "disabled"


def test_a_highest_random_weight_traefik_service_is_served_and_shown() -> None:
    hrw = _crd("TraefikService", "pinned", {"highestRandomWeight": {"services": [{"name": "app", "port": 80}]}})
    route = _crd(
        "IngressRoute",
        "r",
        {"routes": [{"match": "Host(`h`)", "services": [{"name": "pinned", "kind": "TraefikService"}]}]},
    )
    config, result = _build(hrw, route)
    assert result.runtime.routers[_http_key("r", "Host(`h`)")].status == ENABLED
    shown = _api(config, result).item("http/services", "default-pinned@kubernetescrd")
    assert shown is not None
    assert (shown["type"], shown["status"]) == ("highestrandomweight", "enabled")
