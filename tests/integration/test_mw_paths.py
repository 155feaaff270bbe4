"""Path, redirect, contentType and errors middlewares through the real ``ingress`` CLI and a real backend."""

from __future__ import annotations

from typing import Any

import pytest
from edge_harness import eventually, http_request, lb_service

pytestmark = pytest.mark.integration

HOST = {"Host": "app.test"}


def _dynamic(url: str, middlewares: dict[str, Any], *, rule: str = "Host(`app.test`)", **extra: Any) -> dict[str, Any]:
    services = {"app": lb_service(url), **extra.pop("services", {})}
    return {
        "http": {
            "routers": {"app": {"rule": rule, "service": "app", "middlewares": list(middlewares)}},
            "middlewares": middlewares,
            "services": services,
        }
    }


def test_strip_prefix_regex_strips_the_matched_prefix(backend, ingress):
    app = backend("app")
    proxy = ingress(_dynamic(app.url, {"strip": {"stripPrefixRegex": {"regex": ["/api/v[0-9]+"]}}}))
    resp = http_request(proxy.port, path="/api/v2/users?x=1", headers=HOST)
    assert resp.status == 200
    assert app.last().target == "/users?x=1"
    assert app.last().header("X-Forwarded-Prefix") == "/api/v2"

    assert http_request(proxy.port, path="/other/v2", headers=HOST).status == 200
    assert app.last().target == "/other/v2"
    assert app.last().header("X-Forwarded-Prefix") is None


def test_replace_path_and_replace_path_regex(backend, ingress):
    app = backend("app")
    proxy = ingress(
        {
            "http": {
                "routers": {
                    "fixed": {"rule": "PathPrefix(`/fixed`)", "service": "app", "middlewares": ["replace"]},
                    "regex": {"rule": "PathPrefix(`/foo`)", "service": "app", "middlewares": ["rx"]},
                },
                "middlewares": {
                    "replace": {"replacePath": {"path": "/replaced"}},
                    "rx": {"replacePathRegex": {"regex": "^/foo/(.*)", "replacement": "/bar/${1}x"}},
                },
                "services": {"app": lb_service(app.url)},
            }
        }
    )
    assert http_request(proxy.port, path="/fixed/a%2Fb?q=1", headers=HOST).status == 200
    assert app.last().target == "/replaced?q=1"
    assert app.last().header("X-Replaced-Path") == "/fixed/a%2Fb"

    assert http_request(proxy.port, path="/foo/y?q=2", headers=HOST).status == 200
    assert app.last().target == "/bar/yx?q=2"
    assert app.last().header("X-Replaced-Path") == "/foo/y"


def test_redirect_scheme_redirects_by_method_and_passes_requests_already_on_https(backend, ingress):
    app = backend("app")
    proxy = ingress(
        _dynamic(app.url, {"https": {"redirectScheme": {"scheme": "https", "port": "8443"}}}),
        "--entrypoints.web.forwardedHeaders.insecure=true",
    )
    get = http_request(proxy.port, path="/p?x=1", headers=HOST)
    assert (get.status, get.header("Location"), get.body) == (302, "https://app.test:8443/p?x=1", b"Found")
    post = http_request(proxy.port, "POST", path="/form", headers=HOST, body=b"a=1")
    assert (post.status, post.header("Location")) == (307, "https://app.test:8443/form")
    assert app.received == [], "a redirected request must not reach the backend"

    # Behind a TLS-terminating proxy (trusted X-Forwarded-Proto) on the target port: no redirect.
    passed = http_request(proxy.port, path="/p", headers={"Host": "app.test:8443", "X-Forwarded-Proto": "https"})
    assert passed.status == 200
    assert app.last().target == "/p"


def test_redirect_regex_is_permanent_and_only_for_matching_urls(backend, ingress):
    app = backend("app")
    middleware = {
        "rx": {
            "redirectRegex": {
                "regex": r"^http://([^/:]+)(:\d+)?/old/(.*)",
                "replacement": "https://${1}/new/${3}",
                "permanent": True,
            }
        }
    }
    proxy = ingress(_dynamic(app.url, middleware))
    resp = http_request(proxy.port, path="/old/a/b?c=d", headers=HOST)
    assert (resp.status, resp.body) == (301, b"Moved Permanently")
    assert resp.header("Location") == "https://app.test/new/a/b?c=d"
    put = http_request(proxy.port, "PUT", path="/old/x", headers=HOST, body=b"")
    assert (put.status, put.header("Location")) == (308, "https://app.test/new/x")

    assert http_request(proxy.port, path="/current", headers=HOST).status == 200
    assert app.last().target == "/current"


def test_content_type_sniffs_only_behind_the_middleware(backend, ingress):
    app = backend("<html>")  # the catch-all route answers "<html> <target>" without a Content-Type
    proxy = ingress(
        {
            "http": {
                "routers": {
                    "sniffed": {"rule": "PathPrefix(`/sniffed`)", "service": "app", "middlewares": ["ct"]},
                    "plain": {"rule": "PathPrefix(`/plain`)", "service": "app"},
                },
                "middlewares": {"ct": {"contentType": {}}},
                "services": {"app": lb_service(app.url)},
            }
        }
    )
    sniffed = http_request(proxy.port, path="/sniffed", headers=HOST)
    assert (sniffed.status, sniffed.body) == (200, b"<html> /sniffed")
    assert sniffed.header("Content-Type") == "text/html; charset=utf-8"

    plain = http_request(proxy.port, path="/plain", headers=HOST)
    assert (plain.status, plain.header("Content-Type")) == (200, None)


def test_errors_serves_the_error_page_with_the_original_or_rewritten_status(backend, ingress):
    app = backend("app")
    pages = backend("errpage")
    middleware = {
        "err": {
            "errors": {
                "status": ["500-599"],
                "service": "pages",
                "query": "/{status}-{originalStatus}.html?from={url}",
                "statusRewrites": {"502": 500},
            }
        }
    }
    proxy = ingress(_dynamic(app.url, middleware, services={"pages": lb_service(pages.url)}))

    for _ in range(3):
        resp = http_request(proxy.port, path="/status/503", headers=HOST)
        assert resp.status == 503
        assert resp.body == b"errpage /503-503.html?from=%2Fstatus%2F503"
        assert resp.header("X-Backend") == "errpage"
    page_request = pages.last()
    assert (page_request.method, page_request.header("Host")) == ("GET", "app.test")

    rewritten = http_request(proxy.port, path="/status/502", headers=HOST)
    assert (rewritten.status, rewritten.body) == (500, b"errpage /500-502.html?from=%2Fstatus%2F502")

    not_caught = http_request(proxy.port, path="/status/404", headers=HOST)
    assert (not_caught.status, not_caught.body) == (404, b"status 404")
    assert len(app.requests_to("/status/503")) == 3


def test_errors_drains_the_discarded_upstream_body_so_the_connection_is_reused(backend, ingress):
    app = backend("app")
    pages = backend("errpage")
    middleware = {"err": {"errors": {"status": ["200"], "service": "pages", "query": "/page"}}}
    proxy = ingress(_dynamic(app.url, middleware, services={"pages": lb_service(pages.url)}))
    for _ in range(4):  # 4 MiB bodies: far above what flow control lets pile up unread
        resp = http_request(proxy.port, path="/big?size=4194304", headers=HOST)
        assert (resp.status, resp.body) == (200, b"errpage /page")
    # The client's answer does not wait for the drain, so the next request may find that connection still busy and
    # dial another; but a drained connection goes back to the pool, so some request reuses one (an undrained one
    # would have been closed, and every request would come on a new connection).
    peers = [r.peer for r in app.requests_to("/big")]
    assert len(peers) == 4
    assert len(set(peers)) < len(peers), peers
    eventually(lambda: app.open_connections <= 2, message=lambda: f"{app.open_connections} open connections")


def test_errors_with_a_missing_service_disables_the_router(backend, ingress):
    app = backend("app")
    proxy = ingress(_dynamic(app.url, {"err": {"errors": {"status": ["500"], "service": "missing", "query": "/"}}}))
    assert http_request(proxy.port, path="/", headers=HOST).status == 404
    assert 'the service "missing@file" does not exist' in proxy.stderr()
