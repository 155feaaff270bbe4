"""Ingress status: what ``ingressEndpoint`` asks to write, and writes only when the stored status differs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hanzo_edge.providers.kubernetes.status import EndpointOptions, StatusError, StatusWriter, desired_status


def service(type_: str, **spec: Any) -> dict[str, Any]:
    status = spec.pop("status", None)
    obj: dict[str, Any] = {"metadata": {"name": "published", "namespace": "hanzo"}, "spec": {"type": type_, **spec}}
    if status is not None:
        obj["status"] = status
    return obj


PORTS = [{"name": "web", "port": 9090, "protocol": "TCP", "nodePort": 30080}, {"port": 9091, "nodePort": 30081}]


def test_ip_and_hostname_are_written_verbatim():
    assert desired_status(EndpointOptions(ip="10.20.30.40"), {}, None) == [{"ip": "10.20.30.40"}]
    assert desired_status(EndpointOptions(hostname="edge.hanzo.test"), {}, None) == [{"hostname": "edge.hanzo.test"}]
    with pytest.raises(StatusError, match="publishedService or ip or hostname"):
        desired_status(EndpointOptions(), {}, None)


def test_published_service_by_type():
    published = EndpointOptions(published_service="hanzo/published")

    def status_of(obj: dict[str, Any], nodes: Any = None) -> Any:
        return desired_status(published, {("hanzo", "published"): obj}, nodes)

    balancer = service("LoadBalancer", ports=PORTS, status={"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}})
    assert status_of(balancer) == [{"ip": "1.2.3.4"}]
    assert status_of(service("LoadBalancer", ports=PORTS)) is None
    ports = [{"port": 9090, "protocol": "TCP"}, {"port": 9091, "protocol": "TCP"}]
    assert status_of(service("ClusterIP", ports=PORTS, externalIPs=["1.2.3.4", "5.6.7.8"])) == [
        {"ip": "1.2.3.4", "ports": ports},
        {"ip": "5.6.7.8", "ports": ports},
    ]
    node = {"metadata": {"name": "n1"}, "status": {"addresses": [{"type": "ExternalIP", "address": "9.9.9.9"}]}}
    assert status_of(service("NodePort", ports=PORTS), {("", "n1"): node}) == [
        {"ip": "9.9.9.9", "ports": [{"port": 30080, "protocol": "TCP"}, {"port": 30081, "protocol": "TCP"}]}
    ]
    with pytest.raises(StatusError, match="cluster scope"):
        status_of(service("NodePort", ports=PORTS))
    assert status_of(service("ExternalName", externalName="example.com")) == [{"hostname": "example.com"}]
    with pytest.raises(StatusError, match="missing service: hanzo/other"):
        desired_status(EndpointOptions(published_service="hanzo/other"), {}, None)
    with pytest.raises(StatusError, match="invalid publishedService format"):
        desired_status(EndpointOptions(published_service="nope"), {}, None)


def test_writer_writes_only_what_differs_and_never_the_resource_version():
    calls: list[tuple[str, str, dict[str, Any]]] = []

    async def replace(namespace: str, name: str, obj: dict[str, Any]) -> None:
        calls.append((namespace, name, obj))

    def ing(name: str, status: Any = None) -> dict[str, Any]:
        obj: dict[str, Any] = {"metadata": {"name": name, "namespace": "hanzo", "resourceVersion": "7"}, "spec": {}}
        if status is not None:
            obj["status"] = {"loadBalancer": {"ingress": status}}
        return obj

    ingresses = {
        ("hanzo", "fresh"): ing("fresh"),
        ("hanzo", "done"): ing("done", [{"ip": "10.20.30.40"}]),
        ("hanzo", "stale"): ing("stale", [{"ip": "10.0.0.1"}]),
    }
    writer = StatusWriter(replace)
    targets = [("hanzo", "fresh"), ("hanzo", "done"), ("hanzo", "stale"), ("hanzo", "gone")]
    asyncio.run(writer.update(targets, ingresses, [{"ip": "10.20.30.40"}]))
    assert [(ns, name) for ns, name, _ in calls] == [("hanzo", "fresh"), ("hanzo", "stale")]
    assert calls[0][2]["status"] == {"loadBalancer": {"ingress": [{"ip": "10.20.30.40"}]}}
    assert "resourceVersion" not in calls[0][2]["metadata"]
    assert writer.writes == 2


def test_a_failed_write_is_logged_and_the_others_still_happen(caplog: pytest.LogCaptureFixture):
    done: list[str] = []

    async def replace(namespace: str, name: str, obj: dict[str, Any]) -> None:
        if name == "a":
            raise ConnectionError("refused")
        done.append(name)

    objs = {("ns", n): {"metadata": {"name": n, "namespace": "ns"}} for n in ("a", "b")}
    asyncio.run(StatusWriter(replace).update([("ns", "a"), ("ns", "b")], objs, [{"hostname": "h"}]))
    assert done == ["b"]
    assert "Ingress ns/a: refused" in caplog.text
