"""Routing through the real CLI: Host and PathPrefix rules, the 404 page, and a broken router next to good ones."""

from __future__ import annotations

import pytest
from edge_harness import http_request, lb_service

pytestmark = pytest.mark.integration


def test_host_rule_routes_to_its_backend_and_unknown_host_gets_go_404(backend, ingress):
    app = backend("app")
    proxy = ingress(
        {
            "http": {
                "routers": {"app": {"rule": "Host(`app.test`)", "service": "app"}},
                "services": {"app": lb_service(app.url)},
            }
        }
    )

    hit = http_request(proxy.port, path="/hello?x=1", headers={"Host": "app.test"})
    assert hit.status == 200
    assert hit.body == b"app /hello?x=1"
    assert app.last().header("host") == "app.test"

    miss = http_request(proxy.port, path="/hello", headers={"Host": "other.test"})
    assert miss.status == 404
    assert miss.body == b"404 page not found\n"
    assert app.requests_to("/hello") == [app.last()], "the unmatched request must not reach the backend"


def test_host_rule_ignores_case_and_port_of_the_host_header(backend, ingress):
    app = backend("app")
    proxy = ingress(
        {
            "http": {
                "routers": {"app": {"rule": "Host(`app.test`)", "service": "app"}},
                "services": {"app": lb_service(app.url)},
            }
        }
    )

    resp = http_request(proxy.port, path="/", headers={"Host": f"APP.Test:{proxy.port}"})
    assert resp.status == 200
    assert resp.body == b"app /"


def test_path_prefix_splits_traffic_between_two_backends(backend, ingress):
    api, web = backend("api"), backend("web")
    proxy = ingress(
        {
            "http": {
                "routers": {
                    "api": {"rule": "PathPrefix(`/api`)", "service": "api"},
                    "web": {"rule": "PathPrefix(`/`)", "service": "web"},
                },
                "services": {"api": lb_service(api.url), "web": lb_service(web.url)},
            }
        }
    )

    assert http_request(proxy.port, path="/api/users").body == b"api /api/users"
    assert http_request(proxy.port, path="/index.html").body == b"web /index.html"
    assert http_request(proxy.port, path="/apix").body == b"api /apix", "PathPrefix is a plain string prefix"
    assert [r.target for r in api.received] == ["/api/users", "/apix"]
    assert [r.target for r in web.received] == ["/index.html"]


def test_router_with_invalid_rule_is_disabled_and_the_others_keep_serving(backend, ingress):
    app = backend("good")
    proxy = ingress(
        {
            "http": {
                "routers": {
                    "broken": {"rule": "Host(", "service": "svc"},
                    "good": {"rule": "Host(`good.test`)", "service": "svc"},
                },
                "services": {"svc": lb_service(app.url)},
            }
        }
    )

    assert proxy.proc.poll() is None, "a bad router must not stop the process"
    good = http_request(proxy.port, path="/ok", headers={"Host": "good.test"})
    assert good.status == 200
    assert good.body == b"good /ok"
    other = http_request(proxy.port, path="/ok", headers={"Host": "elsewhere.test"})
    assert other.status == 404
    assert other.body == b"404 page not found\n"
