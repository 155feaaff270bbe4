"""The fake API server's own semantics, which the watch tests and the provider tests rely on: admission, patches,
the status subresource, derived Endpoints, discovery without the CRDs, errors as the real server words them."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest

from hanzo_edge.providers.kubernetes.resources import ENDPOINT_SLICES, ENDPOINTS, INGRESS_CLASSES, INGRESSES, SERVICES
from kube_apiserver import FakeApiServer, strategic_merge_patch

TOKEN = "fake-token"


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer(token=TOKEN) as server:
        yield server


def request(
    api: FakeApiServer, method: str, path: str, body: Any = None, content_type: str = "application/json"
) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    try:
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": content_type}
        connection.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def ingress_class(name: str, default: bool) -> dict[str, Any]:
    annotations = {"ingressclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"controller": "traefik.io/ingress-controller"},
    }


def ingress(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": "hanzo"},
        "spec": {"rules": [{"host": f"{name}.test"}], **spec},
    }


def test_default_ingress_class_admission_on_create_only(api: FakeApiServer) -> None:
    api.create(ingress_class("plain", default=False))
    api.create(ingress("before-any-default"))
    api.create(ingress_class("older-default", default=True))
    api.create(ingress_class("hanzo-ingress", default=True))
    assert api.create(ingress("unclassed"))["spec"]["ingressClassName"] == "hanzo-ingress", "the newest default"
    assert api.create(ingress("explicit", ingressClassName="plain"))["spec"]["ingressClassName"] == "plain"
    legacy = ingress("legacy")
    legacy["metadata"]["annotations"] = {"kubernetes.io/ingress.class": "traefik"}
    assert "ingressClassName" not in api.create(legacy)["spec"]
    stored = api.get(INGRESSES, "hanzo", "before-any-default")
    assert stored is not None
    assert "ingressClassName" not in stored["spec"], "admission runs on create, not on later writes"
    api.apply(ingress("before-any-default"))
    updated = api.get(INGRESSES, "hanzo", "before-any-default")
    assert updated is not None
    assert "ingressClassName" not in updated["spec"]


def test_status_subresource_and_main_resource_keep_to_their_part(api: FakeApiServer) -> None:
    api.create(ingress("web"))
    status = {"status": {"loadBalancer": {"ingress": [{"hostname": "edge.hanzo.test"}]}}, "spec": {"rules": []}}
    code, written = request(
        api,
        "PATCH",
        "/apis/networking.k8s.io/v1/namespaces/hanzo/ingresses/web/status",
        status,
        "application/merge-patch+json",
    )
    assert code == 200
    assert written["spec"]["rules"] == [{"host": "web.test"}]
    assert written["status"] == status["status"]
    main = dict(written, spec={"rules": [{"host": "moved.test"}]}, status={})
    code, replaced = request(api, "PUT", "/apis/networking.k8s.io/v1/namespaces/hanzo/ingresses/web", main)
    assert code == 200
    assert replaced["spec"]["rules"] == [{"host": "moved.test"}]
    assert replaced["status"] == status["status"], "a write to the object never changes its status"
    assert replaced["metadata"]["generation"] == 2


def test_strategic_merge_patch_merges_lists_by_the_key_kubectl_names() -> None:
    live = {"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}], "type": "ClusterIP"}}
    patch = {
        "spec": {
            "$setElementOrder/ports": [{"port": 443}, {"port": 8080}],
            "ports": [{"port": 80, "$patch": "delete"}, {"port": 8080, "name": "alt"}],
            "type": None,
        }
    }
    assert strategic_merge_patch(live, patch) == {
        "spec": {"ports": [{"port": 443, "name": "https"}, {"port": 8080, "name": "alt"}]}
    }
    assert strategic_merge_patch({"spec": {"rules": [{"host": "a"}]}}, {"spec": {"rules": [{"host": "b"}]}}) == {
        "spec": {"rules": [{"host": "b"}]}
    }


def test_endpoints_are_derived_from_slices(api: FakeApiServer) -> None:
    def endpoint_slice(name: str, addresses: list[tuple[str, bool]]) -> dict[str, Any]:
        return {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": "hanzo", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": ready}} for ip, ready in addresses],
        }

    api.create(endpoint_slice("web-1", [("127.0.1.1", True), ("127.0.1.2", False)]))
    api.create(endpoint_slice("web-2", [("127.0.1.3", True)]))
    endpoints = api.get(ENDPOINTS, "hanzo", "web")
    assert endpoints is not None
    assert [subset.get("addresses") for subset in endpoints["subsets"]] == [
        [{"ip": "127.0.1.1"}],
        [{"ip": "127.0.1.3"}],
    ]
    assert endpoints["subsets"][0]["notReadyAddresses"] == [{"ip": "127.0.1.2"}]
    assert endpoints["subsets"][0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    moved = endpoint_slice("web-2", [("127.0.1.3", True)])
    moved["metadata"]["labels"]["kubernetes.io/service-name"] = "api"
    api.apply(moved)  # relabelled: it leaves web's Endpoints and makes api's
    web = api.get(ENDPOINTS, "hanzo", "web")
    assert web is not None
    assert len(web["subsets"]) == 1
    api_endpoints = api.get(ENDPOINTS, "hanzo", "api")
    assert api_endpoints is not None
    assert api_endpoints["subsets"][0]["addresses"] == [{"ip": "127.0.1.3"}]
    api.delete(ENDPOINT_SLICES, "hanzo", "web-1")
    api.delete(ENDPOINT_SLICES, "hanzo", "web-2")
    assert api.get(ENDPOINTS, "hanzo", "web") is None
    assert api.get(ENDPOINTS, "hanzo", "api") is None


def test_errors_are_worded_as_the_real_server_words_them(api: FakeApiServer) -> None:
    api.create(ingress("web"))
    code, body = request(api, "POST", "/apis/networking.k8s.io/v1/namespaces/hanzo/ingresses", ingress("web"))
    assert (code, body["reason"]) == (409, "AlreadyExists")
    code, body = request(api, "GET", "/api/v1/namespaces/hanzo/services/none")
    assert (code, body["message"]) == (404, 'services "none" not found')
    code, body = request(api, "GET", "/apis/networking.k8s.io/v1/ingresses?labelSelector=a%3D%3D%3Db")
    assert code == 400
    code, body = request(api, "GET", "/apis/networking.k8s.io/v1/ingresses?fieldSelector=spec.x%3Dy")
    assert (code, body["message"]) == (400, 'field label not supported: "spec.x"')
    stale = ingress("web")
    stale["metadata"]["resourceVersion"] = "1"
    code, body = request(api, "PUT", "/apis/networking.k8s.io/v1/namespaces/hanzo/ingresses/web", stale)
    assert (code, body["reason"]) == (409, "Conflict")
    code, body = request(api, "POST", "/api/v1/namespaces/hanzo/services?dryRun=All", {})
    assert (code, body["message"]) == (400, "dryRun is not supported by the fake API server")


def test_discovery_without_the_crds(api: FakeApiServer) -> None:
    api.crds = False
    code, groups = request(api, "GET", "/apis")
    assert code == 200
    names = {group["name"] for group in groups["groups"]}
    assert names == {"networking.k8s.io", "discovery.k8s.io"}
    assert request(api, "GET", "/apis/traefik.io/v1alpha1/ingressroutes")[0] == 404
    api.crds = True
    code, resources = request(api, "GET", "/apis/traefik.io/v1alpha1")
    assert code == 200
    assert "ingressroutes" in {resource["name"] for resource in resources["resources"]}
    code, core = request(api, "GET", "/api/v1")
    assert {"services", "services/status", "endpoints", "secrets", "configmaps"} <= {
        resource["name"] for resource in core["resources"]
    }


def test_list_and_field_selectors_and_namespaces(api: FakeApiServer) -> None:
    api.create(ingress_class("c1", default=False))
    for namespace in ("a", "b"):
        api.create(
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": namespace}, "spec": {}}
        )
    code, body = request(api, "GET", "/api/v1/services?fieldSelector=metadata.namespace%3Db")
    assert [item["metadata"]["namespace"] for item in body["items"]] == ["b"]
    assert "kind" not in body["items"][0], "items of a built-in list carry no kind, as the real server"
    code, body = request(api, "GET", "/api/v1/namespaces/a/services")
    assert [item["metadata"]["namespace"] for item in body["items"]] == ["a"]
    assert api.list_calls(SERVICES) == 2
    assert api.list_calls(SERVICES, "a") == 1
    assert api.get(INGRESS_CLASSES, "ignored", "c1") is not None
    code, namespace = request(api, "GET", "/api/v1/namespaces/a")
    assert (code, namespace["status"]["phase"]) == (200, "Active")


def test_requests_without_the_token_are_401(api: FakeApiServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    try:
        connection.request("GET", "/api/v1/services")
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()
    assert (response.status, body["reason"]) == (401, "Unauthorized")
