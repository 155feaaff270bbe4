"""Proxy error mapping (502/503/504) and the request-head limits (414/431/400), through the real CLI."""

from __future__ import annotations

import pytest
from edge_harness import RawConn, catch_all, free_port, http_request, lb_service, request_bytes

pytestmark = pytest.mark.integration


# -- proxy errors ------------------------------------------------------------------------------------------------------
def test_backend_not_listening_is_502_bad_gateway(ingress):
    dead = f"http://127.0.0.1:{free_port()}"
    proxy = ingress(catch_all(dead))

    resp = http_request(proxy.port, path="/anything")

    assert resp.status == 502
    assert resp.body == b"Bad Gateway"


def test_response_header_timeout_of_the_servers_transport_is_504_gateway_timeout(backend, ingress):
    app = backend()
    proxy = ingress(
        {
            "http": {
                "routers": {"all": {"rule": "PathPrefix(`/`)", "service": "slow"}},
                "services": {"slow": lb_service(app.url, serversTransport="impatient")},
                "serversTransports": {"impatient": {"forwardingTimeouts": {"responseHeaderTimeout": "300ms"}}},
            }
        }
    )

    resp = http_request(proxy.port, path="/slow?ms=2000")

    assert resp.status == 504
    assert resp.body == b"Gateway Timeout"
    assert app.last("/slow").query == {"ms": ["2000"]}


def test_service_without_servers_is_503_no_available_server(ingress):
    proxy = ingress(
        {
            "http": {
                "routers": {"all": {"rule": "PathPrefix(`/`)", "service": "empty"}},
                "services": {"empty": {"loadBalancer": {"servers": []}}},
            }
        }
    )

    resp = http_request(proxy.port, path="/")

    assert resp.status == 503
    assert resp.body == b"no available server\n"


# -- request-head limits -----------------------------------------------------------------------------------------------
def _send_and_expect_rejection(port: int, raw: bytes) -> tuple[int, bytes]:
    """Send ``raw``; return the status the proxy answered and what followed before it closed the connection."""
    with RawConn(port, timeout=5) as conn:
        conn.send(raw)
        resp = conn.read_response()
        trailing = conn.wait_closed(timeout=5)
    assert "close" in (resp.header("Connection") or "").lower()
    return resp.status, trailing


@pytest.fixture
def proxy(backend, ingress):
    app = backend()
    return app, ingress(catch_all(app.url))


def test_header_block_over_16_kib_is_431_and_the_connection_closes(proxy):
    app, edge = proxy
    raw = request_bytes("GET", "/echo", "site.test", [("X-Big", "a" * 17_000)])

    status, trailing = _send_and_expect_rejection(edge.port, raw)

    assert status == 431
    assert trailing == b""
    assert app.requests_to("/echo") == []


def test_header_block_just_under_16_kib_is_served(proxy):
    _, edge = proxy

    resp = http_request(edge.port, path="/echo", headers={"X-Big": "a" * 15_000})

    assert resp.status == 200
    assert resp.request_header("X-Big") == "a" * 15_000


def test_request_target_over_16_kib_is_414(proxy):
    app, edge = proxy
    raw = request_bytes("GET", "/echo?q=" + "a" * 17_000, "site.test")

    status, _ = _send_and_expect_rejection(edge.port, raw)

    assert status == 414
    assert app.requests_to("/echo") == []


def test_content_length_with_transfer_encoding_is_400_and_closed(proxy):
    app, edge = proxy
    raw = request_bytes(
        "POST", "/echo", "site.test", [("Content-Length", "5"), ("Transfer-Encoding", "chunked")], b"0\r\n\r\n"
    )

    status, trailing = _send_and_expect_rejection(edge.port, raw)

    assert status == 400
    assert trailing == b""
    assert app.requests_to("/echo") == [], "an ambiguous request must never be forwarded"


def test_max_header_bytes_flag_lowers_the_431_threshold(backend, ingress):
    app = backend()
    proxy = ingress(catch_all(app.url), "--entrypoints.web.http.maxHeaderBytes=2048")

    small = http_request(proxy.port, path="/echo", headers={"X-Pad": "a" * 1000})
    assert small.status == 200

    status, _ = _send_and_expect_rejection(
        proxy.port, request_bytes("GET", "/echo", "site.test", [("X-Pad", "a" * 3000)])
    )
    assert status == 431
    assert len(app.requests_to("/echo")) == 1
