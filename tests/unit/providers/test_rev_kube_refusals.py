"""Review of refused IngressRouteTCP/UDP routes in /api: the provider's reasons are the router's ``error``, and the
model's internal ``refusals`` field (config/refusal.py) is no key of Traefik's API, in the lists, items and rawdata."""

from __future__ import annotations

import json
from typing import Any

from hanzo_edge.api.runtime import RuntimeView
from hanzo_edge.config.loader import load_static
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.providers.kubernetes.crd_translate import translate_crds
from hanzo_edge.routing.build import build_tables

REASON = "kubernetes service not found: default/gone"


def _crd(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "default", "resourceVersion": "1"},
        "spec": spec,
    }


def _view() -> RuntimeView:
    tcp_route = {"match": "HostSNI(`*`)", "services": [{"name": "gone", "port": 80}]}
    tcp = _crd("IngressRouteTCP", "nosvc", {"entryPoints": ["tcp"], "routes": [tcp_route]})
    udp_route = {"services": [{"name": "gone", "port": 53}]}
    udp = _crd("IngressRouteUDP", "nosvc", {"entryPoints": ["udp"], "routes": [udp_route]})
    objects = {"ingressroutetcps": {("default", "nosvc"): tcp}, "ingressrouteudps": {("default", "nosvc"): udp}}
    config = translate_crds(objects).config
    built = build_tables(
        {"kubernetescrd": config}, ["tcp"], [], PoolRegistry(), TransportOptions(), udp_entry_points=["udp"]
    )
    static = load_static(["--entrypoints.tcp.address=:81", "--entrypoints.udp.address=:82/udp"], {})
    return RuntimeView(static, {"kubernetescrd": config}, built)


def test_refused_layer4_routers_show_their_reason_as_error_and_no_refusals_key() -> None:
    view = _view()
    for section in ("tcp/routers", "udp/routers"):
        (router,) = view.items(section)
        assert router["status"] == "disabled", router
        assert any(REASON in error for error in router["error"]), router
        assert "refusals" not in router, router
        item = view.item(section, router["name"])
        assert item is not None
        assert "refusals" not in item, item


def test_rawdata_has_no_refusals_key() -> None:
    raw = json.dumps(_view().rawdata())
    assert REASON in raw
    assert '"refusals"' not in raw
