"""forwardAuth, buffering, retry and compress through the real ``ingress`` CLI and real backends."""

from __future__ import annotations

import gzip
import zlib

import brotli
import pytest
from edge_backend import SSE_FIRST, SSE_SECOND, payload
from edge_harness import RawConn, free_port, http_request, lb_service, request_bytes

pytestmark = pytest.mark.integration


def _routers(*routes: tuple[str, str, list[str]]) -> dict[str, object]:
    """Routers ``name`` matching ``Host(`name.test`)`` to a service, with middlewares."""
    return {
        name: {"rule": f"Host(`{name}.test`)", "service": service, "middlewares": mws} for name, service, mws in routes
    }


# ------------------------------------------------------------------------------------------------- forwardAuth


def test_forward_auth_lets_2xx_through_with_identity_headers_and_returns_denials_as_is(backend, ingress):
    app = backend("app")
    auth = backend("auth")  # its default route answers 200 with "X-Backend: auth"
    proxy = ingress(
        {
            "http": {
                "routers": _routers(("ok", "app", ["allow"]), ("deny", "app", ["refuse"]), ("down", "app", ["dead"])),
                "middlewares": {
                    "allow": {"forwardAuth": {"address": f"{auth.url}/verify", "authResponseHeaders": ["X-Backend"]}},
                    "refuse": {"forwardAuth": {"address": f"{auth.url}/status/401"}},
                    "dead": {"forwardAuth": {"address": f"http://127.0.0.1:{free_port()}/"}},
                },
                "services": {"app": lb_service(app.url)},
            }
        }
    )

    ok = http_request(
        proxy.port,
        path="/echo?x=1",
        headers={"Host": "ok.test", "X-Backend": "forged", "X_Backend": "forged-alias", "Authorization": "Bearer t"},
    )
    assert ok.status == 200
    assert ok.request_header("X-Backend") == "auth", "the auth server's value replaces the client's"
    assert ok.request_header("X_Backend") is None, "an aliased spelling of an identity header is dropped too"
    asked = auth.last("/verify")
    assert asked.method == "GET"
    assert asked.header("X-Forwarded-Method") == "GET"
    assert asked.header("X-Forwarded-Uri") == "/echo?x=1"
    assert asked.header("X-Forwarded-Host") == "ok.test"
    assert asked.header("X-Forwarded-Proto") == "http"
    assert asked.header("X-Forwarded-For") == "127.0.0.1"
    assert asked.header("Authorization") == "Bearer t"

    denied = http_request(proxy.port, "POST", path="/echo", headers={"Host": "deny.test"}, body=b"data")
    assert denied.status == 401
    assert denied.body == b"status 401"
    assert denied.header("Content-Type") == "text/plain"
    assert app.requests_to("/echo") == [app.last("/echo")], "a denied request never reaches the backend"

    down = http_request(proxy.port, path="/echo", headers={"Host": "down.test"})
    assert (down.status, down.body) == (500, b"")


# --------------------------------------------------------------------------------------------------- buffering


def test_buffering_limits_request_bodies_with_413(backend, ingress):
    app = backend("app")
    proxy = ingress(
        {
            "http": {
                "routers": _routers(("stream", "app", ["limit"]), ("full", "app", ["buffer"])),
                "middlewares": {
                    "limit": {"buffering": {"maxRequestBodyBytes": 1000}},
                    "buffer": {"buffering": {"maxRequestBodyBytes": 1000, "maxResponseBodyBytes": 3000}},
                },
                "services": {"app": lb_service(app.url)},
            }
        }
    )
    for host in ("stream.test", "full.test"):
        over = http_request(proxy.port, "POST", path="/echo", headers={"Host": host}, body=b"x" * 1001)
        assert (over.status, over.body) == (413, b"Request Entity Too Large"), host
        fits = http_request(proxy.port, "POST", path="/echo", headers={"Host": host}, body=b"x" * 1000)
        assert fits.status == 200
        assert fits.json()["body_length"] == 1000
    assert len(app.requests_to("/echo")) == 2, "bodies over the limit never reach the backend"

    chunked = request_bytes(
        "POST", "/echo", "stream.test", [("Transfer-Encoding", "chunked")], b"300\r\n" + b"y" * 768 + b"\r\n"
    )
    with RawConn(proxy.port) as conn:
        conn.send(
            request_bytes("PUT", "/echo", "stream.test", [("Content-Length", "5000"), ("Expect", "100-continue")])
        )
        resp = conn.read_response()
        assert (resp.status, resp.interim) == (413, []), "refused from the declared length: no 100 Continue, no read"

    with RawConn(proxy.port) as conn:
        conn.send(chunked + b"300\r\n" + b"y" * 768 + b"\r\n0\r\n\r\n")
        resp = conn.read_response()
        assert (resp.status, resp.body) == (413, b"Request Entity Too Large")
        assert resp.header("Connection") == "close"

    with RawConn(proxy.port) as conn:
        conn.send(
            request_bytes("POST", "/echo", "full.test", [("Transfer-Encoding", "chunked")], b"5\r\nhello\r\n0\r\n\r\n")
        )
        resp = conn.read_response()
        assert resp.status == 200
        assert resp.request_header("Content-Length") == "5", "full buffering sends the body with its length"
        assert resp.request_header("Transfer-Encoding") is None

    big = http_request(proxy.port, path="/big?size=3001", headers={"Host": "full.test"})
    assert (big.status, big.body) == (500, b"Internal Server Error")
    fits = http_request(proxy.port, path="/big?size=3000", headers={"Host": "full.test"})
    assert (fits.status, fits.body) == (200, payload(3000))


# ------------------------------------------------------------------------------------------------------- retry


def test_retry_moves_on_from_dead_servers_within_its_attempts(backend, ingress):
    app = backend("app")
    dead = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]
    proxy = ingress(
        {
            "http": {
                "routers": _routers(("three", "mixed", ["retry3"]), ("two", "mixed", ["retry2"])),
                "middlewares": {
                    "retry3": {"retry": {"attempts": 3, "initialInterval": "5ms"}},
                    "retry2": {"retry": {"attempts": 2}},
                },
                # round robin over dead, dead, alive: a request may need three tries
                "services": {"mixed": lb_service(*dead, app.url)},
            }
        }
    )
    statuses = [http_request(proxy.port, path="/echo", headers={"Host": "three.test"}).status for _ in range(5)]
    assert statuses == [200] * 5, "three attempts always reach the live server"
    assert len(app.requests_to("/echo")) == 5

    two = [http_request(proxy.port, path="/echo", headers={"Host": "two.test"}).status for _ in range(4)]
    assert sorted(two) == [200, 200, 502, 502], "two attempts fail whenever both dead servers come first"


def test_retry_gives_up_after_attempts_with_the_last_error(ingress):
    proxy = ingress(
        {
            "http": {
                "routers": _routers(("r", "dead", ["retry"])),
                "middlewares": {"retry": {"retry": {"attempts": 3}}},
                "services": {"dead": lb_service(f"http://127.0.0.1:{free_port()}")},
            }
        }
    )
    resp = http_request(proxy.port, path="/", headers={"Host": "r.test"})
    assert (resp.status, resp.body) == (502, b"Bad Gateway")


# ---------------------------------------------------------------------------------------------------- compress


def test_compress_negotiates_gzip_and_brotli_and_leaves_small_bodies(backend, ingress):
    app = backend("app")
    proxy = ingress(
        {
            "http": {
                "routers": _routers(("c", "app", ["compress"])),
                "middlewares": {"compress": {"compress": {}}},
                "services": {"app": lb_service(app.url)},
            }
        }
    )
    data = payload(5000)
    gz = http_request(proxy.port, path="/big?size=5000", headers={"Host": "c.test", "Accept-Encoding": "gzip"})
    assert gz.status == 200
    assert gz.header("Content-Encoding") == "gzip"
    assert gz.header("Vary") == "Accept-Encoding"
    assert gz.header("Content-Length") is None
    assert gzip.decompress(gz.body) == data

    br = http_request(
        proxy.port, path="/big?size=5000", headers={"Host": "c.test", "Accept-Encoding": "gzip;q=0.5, br"}
    )
    assert br.header("Content-Encoding") == "br"
    assert brotli.decompress(br.body) == data

    small = http_request(proxy.port, path="/status/200", headers={"Host": "c.test", "Accept-Encoding": "gzip"})
    assert small.header("Content-Encoding") is None
    assert small.body == b"status 200"
    assert small.header("Vary") == "Accept-Encoding"

    plain = http_request(proxy.port, path="/big?size=5000", headers={"Host": "c.test"})
    assert plain.header("Content-Encoding") is None
    assert plain.header("Vary") is None
    assert plain.body == data


def test_compressed_sse_still_streams(backend, ingress):
    app = backend("app")
    proxy = ingress(
        {
            "http": {
                "routers": _routers(("c", "app", ["compress"])),
                "middlewares": {"compress": {"compress": {}}},
                "services": {"app": lb_service(app.url)},
            }
        }
    )
    decoder = zlib.decompressobj(31)
    with RawConn(proxy.port, timeout=5) as conn:
        conn.send(
            request_bytes("GET", "/sse", "c.test", [("Accept", "text/event-stream"), ("Accept-Encoding", "gzip")])
        )
        status, _, headers = conn.read_head()
        lower = {n.lower(): v for n, v in headers}
        assert status == 200
        assert lower["content-encoding"] == "gzip"
        assert lower["transfer-encoding"] == "chunked"
        received = b""
        while SSE_FIRST not in received:
            chunk = conn.read_chunk()  # times out (fails) if the compressor holds the event back
            assert chunk, "the stream ended before the first event"
            received += decoder.decompress(chunk)
        assert not app.sse_gate.is_set(), "the second event must still be held by the backend"
        app.release_sse()
        while chunk := conn.read_chunk():
            received += decoder.decompress(chunk)
    assert received + decoder.flush() == SSE_FIRST + SSE_SECOND
    assert decoder.eof
