"""HTTP/2 clients through the real CLI: h2c by prior knowledge, h2 by ALPN on a TLS entrypoint, to HTTP/1.1 backends.

The client is ``tests/h2_client.py`` (the ``h2`` library over a socket); the backend is the hand-written HTTP/1.1
``edge_backend``. These show that routers, middlewares, services, the access log and the metrics behave the same
over HTTP/2, that the translation to HTTP/1.1 is Traefik's, and that ``Upgrade: h2c`` is served over HTTP/1.1.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
from pathlib import Path

import pytest
import trustme
from edge_harness import RawConn, eventually, free_port, http_request, lb_service

from h2_client import H2Client

pytestmark = pytest.mark.integration


def _routes(url: str) -> dict[str, object]:
    return {
        "http": {
            "routers": {
                "app": {"rule": "Host(`app.test`)", "service": "app"},
                "api": {
                    "rule": "Host(`app.test`) && PathPrefix(`/api`)",
                    "service": "app",
                    "middlewares": ["strip", "hdr"],
                },
                "private": {"rule": "Host(`private.test`)", "service": "app", "middlewares": ["auth"]},
            },
            "middlewares": {
                "strip": {"stripPrefix": {"prefixes": ["/api"]}},
                "hdr": {"headers": {"customResponseHeaders": {"X-Served-By": "edge"}}},
                # user:password (htpasswd, bcrypt cost 4)
                "auth": {"basicAuth": {"users": ["user:$2b$04$2cex5PX84IFyDytDHGjT6e3gvUtmqNCEI0PsIhD0FTFHKzKYWcmvu"]}},
            },
            "services": {"app": lb_service(url)},
        }
    }


def test_h2c_prior_knowledge_is_proxied_to_an_http1_backend(backend, ingress, tmp_path: Path) -> None:
    app = backend("app")
    log = tmp_path / "access.log"
    metrics_port = free_port()
    proxy = ingress(
        _routes(app.url),
        "--accesslog=true",
        "--accesslog.format=json",
        f"--accesslog.filePath={log}",
        "--metrics.prometheus=true",
        "--metrics.prometheus.entryPoint=metrics",
        f"--entrypoints.metrics.address=127.0.0.1:{metrics_port}",
    )
    with H2Client(proxy.port) as client:
        result = client.get(
            "/echo?q=1",
            authority="app.test",
            headers=[("cookie", "a=1"), ("cookie", "b=2"), ("user-agent", "h2-test"), ("x-forwarded-for", "6.6.6.6")],
        )
        assert result.status == 200
        seen = app.last("/echo")
        assert seen.method == "GET"
        assert seen.header("host") == "app.test"  # :authority became the Host header
        assert seen.header("cookie") == "a=1; b=2"
        assert seen.header("user-agent") == "h2-test"
        assert seen.header("x-forwarded-for") == "127.0.0.1"  # the untrusted client's value is dropped
        assert seen.header("x-forwarded-proto") == "http"
        assert result.header("content-type") == "application/json"
        assert "connection" not in [n for n, _ in result.headers]

        # Streams are multiplexed on the one connection.
        sids = [client.request(f"/n{i}", "app.test") for i in range(20)]
        for i, sid in enumerate(sids):
            answer = client.response(sid)
            assert (answer.status, answer.body) == (200, f"app /n{i}".encode())

        # A request body streams to the backend.
        body = bytes(range(256)) * 300
        sid = client.request(
            "/echo", "app.test", method="POST", body=body, headers=[("content-length", str(len(body)))]
        )
        posted = client.response(sid)
        assert posted.status == 200
        assert json.loads(posted.body)["body_length"] == len(body)

        # Middlewares behave as over HTTP/1.1.
        api = client.get("/api/echo", authority="app.test")
        assert api.status == 200
        assert api.header("x-served-by") == "edge"
        assert json.loads(api.body)["target"] == "/echo"
        assert client.get("/", authority="private.test").status == 401
        token = base64.b64encode(b"user:password").decode()
        assert client.get("/", authority="private.test", headers=[("authorization", f"Basic {token}")]).status == 200
        assert client.get("/", authority="nowhere.test").status == 404

    def logged() -> list[dict[str, object]]:
        lines = [json.loads(t) for t in log.read_text().splitlines() if t.strip()] if log.exists() else []
        return [entry for entry in lines if entry.get("RequestPath") == "/echo?q=1"]

    eventually(lambda: bool(logged()), timeout=5)
    (line,) = logged()
    assert line["RequestProtocol"] == "HTTP/2.0"
    assert line["DownstreamStatus"] == 200
    assert line["RouterName"] == "app@file"
    text = http_request(metrics_port, path="/metrics").body.decode()
    ep_lines = [
        row
        for row in text.splitlines()
        if row.startswith("hanzo_ingress_entrypoint_requests_total{") and 'entrypoint="web"' in row
    ]
    assert sum(float(row.rsplit(" ", 1)[1]) for row in ep_lines) >= 27, ep_lines


def test_upgrade_h2c_is_served_over_http1(backend, ingress) -> None:
    app = backend("app")
    proxy = ingress(_routes(app.url))
    with RawConn(proxy.port) as conn:
        conn.send(
            b"GET /plain HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
            b"HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n"
        )
        resp = conn.read_response()
    assert resp.status == 200  # no 101: Traefik does not honour Upgrade: h2c
    assert resp.body == b"app /plain"


def test_h2_by_alpn_on_a_tls_entrypoint(backend, ingress, tmp_path: Path) -> None:
    app = backend("app")
    ca = trustme.CA()
    leaf = ca.issue_cert("app.test", key_type=trustme.KeyType.RSA)
    cert, key = tmp_path / "app.crt", tmp_path / "app.key"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    dynamic = _routes(app.url)
    dynamic["tls"] = {"certificates": [{"certFile": str(cert), "keyFile": str(key)}]}
    log = tmp_path / "tls-access.log"
    proxy = ingress(
        dynamic,
        "--entrypoints.web.http.tls=true",
        "--accesslog=true",
        "--accesslog.format=json",
        f"--accesslog.filePath={log}",
    )
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)

    def served() -> bool:
        with H2Client(proxy.port, tls=ctx, server_hostname="app.test") as client:
            return client.alpn == "h2" and client.get("/hello", authority="app.test").status == 200

    eventually(served, timeout=10)
    with H2Client(proxy.port, tls=ctx, server_hostname="app.test") as client:
        result = client.get("/echo", authority="app.test")
        assert result.status == 200
        assert app.last("/echo").header("x-forwarded-proto") == "https"

    def logged() -> list[dict[str, object]]:
        lines = [json.loads(t) for t in log.read_text().splitlines() if t.strip()] if log.exists() else []
        return [entry for entry in lines if entry.get("RequestPath") == "/echo"]

    eventually(lambda: bool(logged()), timeout=5)
    line = logged()[0]
    assert line["RequestProtocol"] == "HTTP/2.0"
    assert line["RequestScheme"] == "https"
    assert str(line["TLSVersion"]).startswith("1.")
    # HTTP/1.1 clients still get HTTP/1.1 on the same entrypoint (ALPN http/1.1).
    plain = ssl.create_default_context()
    ca.configure_trust(plain)
    plain.set_alpn_protocols(["http/1.1"])
    raw = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    with raw, plain.wrap_socket(raw, server_hostname="app.test") as sock:
        assert sock.selected_alpn_protocol() == "http/1.1"
        sock.sendall(b"GET /x HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200")
