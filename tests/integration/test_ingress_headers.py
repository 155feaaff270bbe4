"""What the backend sees: Traefik's X-Forwarded-* headers, the trust boundary, passHostHeader and hop-by-hop removal."""

from __future__ import annotations

import socket

import pytest
from edge_harness import RawConn, catch_all, http_request, request_bytes

pytestmark = pytest.mark.integration

FORGED = {
    "X-Forwarded-For": "6.6.6.6",
    "X-Real-Ip": "6.6.6.6",
    "X-Forwarded-Host": "evil.test",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Port": "6666",
    "X-Forwarded-Server": "evil",
}


def test_backend_receives_traefik_forwarded_headers(backend, ingress):
    app = backend()
    proxy = ingress(catch_all(app.url))

    resp = http_request(proxy.port, path="/echo", headers={"Host": f"site.test:{proxy.port}"})

    assert resp.status == 200
    seen = app.last("/echo")
    assert seen.header("X-Forwarded-For") == "127.0.0.1"
    assert seen.header("X-Real-Ip") == "127.0.0.1"
    assert seen.header("X-Forwarded-Proto") == "http"
    assert seen.header("X-Forwarded-Host") == f"site.test:{proxy.port}"
    assert seen.header("X-Forwarded-Port") == str(proxy.port)
    assert seen.header("X-Forwarded-Server") == socket.gethostname()
    assert seen.header("Host") == f"site.test:{proxy.port}", "passHostHeader defaults to true"
    assert resp.request_header("X-Forwarded-For") == "127.0.0.1", "the /echo answer mirrors what was recorded"


def test_forged_forwarded_headers_from_an_untrusted_client_never_reach_the_backend(backend, ingress):
    app = backend()
    proxy = ingress(catch_all(app.url))

    resp = http_request(proxy.port, path="/echo", headers={"Host": "site.test", **FORGED})

    assert resp.status == 200
    seen = app.last("/echo")
    assert seen.header_all("X-Forwarded-For") == ["127.0.0.1"]
    assert seen.header_all("X-Real-Ip") == ["127.0.0.1"]
    assert seen.header("X-Forwarded-Host") == "site.test"
    assert seen.header("X-Forwarded-Proto") == "http"
    assert seen.header("X-Forwarded-Port") == "80"
    assert seen.header("X-Forwarded-Server") == socket.gethostname()
    leaked = [(n, v) for n, v in seen.headers if "6.6.6.6" in v or "evil" in v or v == "6666"]
    assert leaked == []


def test_forged_underscore_spellings_are_stripped_too(backend, ingress):
    app = backend()
    proxy = ingress(catch_all(app.url))

    resp = http_request(proxy.port, path="/echo", headers={"X_Forwarded_For": "6.6.6.6", "X_Real_Ip": "6.6.6.6"})

    assert resp.status == 200
    seen = app.last("/echo")
    assert [(n, v) for n, v in seen.headers if "6.6.6.6" in v] == []


def test_trusted_peer_keeps_its_x_forwarded_for_and_the_client_ip_is_appended(backend, ingress):
    app = backend()
    proxy = ingress(catch_all(app.url), "--entrypoints.web.forwardedHeaders.trustedIPs=127.0.0.1/32")

    resp = http_request(proxy.port, path="/echo", headers={"X-Forwarded-For": "6.6.6.6", "X-Real-Ip": "6.6.6.6"})

    assert resp.status == 200
    seen = app.last("/echo")
    assert seen.header_all("X-Forwarded-For") == ["6.6.6.6, 127.0.0.1"]
    assert seen.header("X-Real-Ip") == "6.6.6.6", "X-Real-Ip is only set when absent"


def test_pass_host_header_false_sends_the_server_host(backend, ingress):
    app = backend()
    proxy = ingress(catch_all(app.url, passHostHeader=False))

    resp = http_request(proxy.port, path="/echo", headers={"Host": "site.test"})

    assert resp.status == 200
    seen = app.last("/echo")
    assert seen.header_all("Host") == [f"127.0.0.1:{app.port}"]
    assert seen.header("X-Forwarded-Host") == "site.test"


def test_hop_by_hop_headers_are_not_forwarded(backend, ingress):
    app = backend()
    proxy = ingress(catch_all(app.url))

    with RawConn(proxy.port) as conn:
        conn.send(
            request_bytes(
                "GET",
                "/echo",
                "site.test",
                [
                    ("Connection", "keep-alive, X-Custom-Hop"),
                    ("X-Custom-Hop", "secret"),
                    ("Keep-Alive", "timeout=5"),
                    ("Proxy-Connection", "keep-alive"),
                    ("TE", "gzip, deflate"),
                    ("X-End-To-End", "kept"),
                ],
            )
        )
        resp = conn.read_response()

    assert resp.status == 200
    seen = app.last("/echo")
    names = {n.lower() for n, _ in seen.headers}
    assert names.isdisjoint({"x-custom-hop", "keep-alive", "proxy-connection", "te"}), seen.headers
    assert "x-custom-hop" not in (seen.header("connection") or "").lower()
    assert seen.header("X-End-To-End") == "kept"


def test_connection_header_cannot_remove_the_managed_forwarded_headers(backend, ingress):
    app = backend()
    proxy = ingress(catch_all(app.url))

    with RawConn(proxy.port) as conn:
        conn.send(request_bytes("GET", "/echo", "site.test", [("Connection", "X-Forwarded-For, X-Real-Ip")]))
        resp = conn.read_response()

    assert resp.status == 200
    seen = app.last("/echo")
    assert seen.header("X-Forwarded-For") == "127.0.0.1"
    assert seen.header("X-Real-Ip") == "127.0.0.1"
