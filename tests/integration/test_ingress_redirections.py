"""Entrypoint redirection (``http.redirections.entryPoint``) and entrypoint middlewares, through the real CLI."""

from __future__ import annotations

import pytest
from edge_harness import free_port, http_request, lb_service

pytestmark = pytest.mark.integration


def _app(url: str) -> dict[str, object]:
    return {
        "http": {
            "routers": {"app": {"rule": "Host(`app.test`)", "service": "app"}},
            "services": {"app": lb_service(url)},
        }
    }


def test_entrypoint_redirection_to_another_entrypoint_is_permanent_by_method(backend, ingress):
    app = backend("app")
    secure = free_port()
    proxy = ingress(
        _app(app.url),
        f"--entrypoints.websecure.address=127.0.0.1:{secure}",
        "--entrypoints.web.http.redirections.entryPoint.to=websecure",
        "--ping=true",
        "--ping.entryPoint=web",
    )

    get = http_request(proxy.port, path="/a/b?x=1", headers={"Host": "app.test"})
    assert get.status == 301
    assert get.header("Location") == f"https://app.test:{secure}/a/b?x=1"
    assert get.body == b"Moved Permanently"

    post = http_request(proxy.port, "POST", path="/form", headers={"Host": "app.test"}, body=b"x=1")
    assert post.status == 308
    assert post.header("Location") == f"https://app.test:{secure}/form"

    # ping@internal (priority MaxInt) still wins over the redirect router (MaxInt-1).
    assert http_request(proxy.port, path="/ping", headers={"Host": "app.test"}).body == b"OK"
    assert app.requests_to("/a/b?x=1") == [], "a redirected request must not reach the backend"


def test_redirection_to_port_443_omits_the_port_and_can_be_temporary(backend, ingress):
    app = backend("app")
    proxy = ingress(
        _app(app.url),
        "--entrypoints.web.http.redirections.entryPoint.to=:443",
        "--entrypoints.web.http.redirections.entryPoint.permanent=false",
    )
    get = http_request(proxy.port, path="/p", headers={"Host": "app.test"})
    assert (get.status, get.header("Location")) == (302, "https://app.test/p")
    put = http_request(proxy.port, "PUT", path="/p", headers={"Host": "app.test"}, body=b"")
    assert put.status == 307


def test_router_on_an_entrypoint_with_unsupported_middlewares_is_disabled_not_served_bare(backend, ingress):
    app = backend("app")
    proxy = ingress(_app(app.url), "--entrypoints.web.http.middlewares=auth@file")
    resp = http_request(proxy.port, path="/", headers={"Host": "app.test"})
    assert resp.status == 404, "serving without the entrypoint's middlewares (often auth) would be unsafe"
    assert 'middleware "auth@file" does not exist' in proxy.stderr()


def test_strip_prefix_middleware_reaches_the_backend_with_x_forwarded_prefix(backend, ingress):
    app = backend("app")
    proxy = ingress(
        {
            "http": {
                "routers": {
                    "api": {"rule": "Host(`app.test`) && PathPrefix(`/api`)", "service": "app", "middlewares": ["s"]}
                },
                "middlewares": {"s": {"stripPrefix": {"prefixes": ["/api"]}}},
                "services": {"app": lb_service(app.url)},
            }
        }
    )
    resp = http_request(proxy.port, path="/api/users?x=1", headers={"Host": "app.test"})
    assert resp.status == 200
    assert app.last().target == "/users?x=1"
    assert app.last().header("x-forwarded-prefix") == "/api"


def test_add_prefix_and_pass_tls_client_cert_through_the_cli(backend, ingress):
    app = backend("app")
    proxy = ingress(
        {
            "http": {
                "routers": {"r": {"rule": "Host(`app.test`)", "service": "app", "middlewares": ["add", "cert"]}},
                "middlewares": {"add": {"addPrefix": {"prefix": "/v1"}}, "cert": {"passTLSClientCert": {"pem": True}}},
                "services": {"app": lb_service(app.url)},
            }
        }
    )
    forged = {"Host": "app.test", "X-Forwarded-Tls-Client-Cert": "forged"}
    resp = http_request(proxy.port, path="/users?x=1", headers=forged)
    assert resp.status == 200, "passTLSClientCert is accepted (it acts once TLS entrypoints exist)"
    assert app.last().target == "/v1/users?x=1"
    assert app.last().header("x-forwarded-tls-client-cert") is None, (
        "a forged client-cert header never reaches a backend"
    )
