"""Message bodies through the proxy, byte-exact, in every framing; HEAD; keep-alive; Expect: 100-continue."""

from __future__ import annotations

import hashlib

import pytest
from edge_backend import payload
from edge_harness import RawConn, catch_all, http_request, request_bytes

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def proxy(backend, ingress):
    app = backend()
    return app, ingress(catch_all(app.url))


def test_post_5_mib_with_content_length_reaches_the_backend_byte_exact(proxy):
    app, edge = proxy
    body = payload(5 * MIB, seed=5)

    resp = http_request(edge.port, "POST", "/echo", body=body, timeout=30)

    assert resp.status == 200
    echo = resp.json()
    assert (echo["body_length"], echo["body_sha256"]) == (len(body), _sha(body))
    seen = app.last("/echo")
    assert seen.header("Content-Length") == str(len(body))
    assert seen.header("Transfer-Encoding") is None


def test_chunked_post_sent_in_pieces_reaches_the_backend_byte_exact(proxy):
    app, edge = proxy
    body = payload(MIB + 12345, seed=7)

    with RawConn(edge.port) as conn:
        conn.send(request_bytes("POST", "/echo", "site.test", [("Transfer-Encoding", "chunked")]))
        for start in range(0, len(body), 100_000):
            piece = body[start : start + 100_000]
            conn.send(b"%x\r\n%b\r\n" % (len(piece), piece))
        conn.send(b"0\r\n\r\n")
        resp = conn.read_response()

    assert resp.status == 200
    echo = resp.json()
    assert (echo["body_length"], echo["body_sha256"]) == (len(body), _sha(body))
    assert app.last("/echo").header("Transfer-Encoding") == "chunked", "a body of unknown length stays chunked"


def test_large_response_body_is_byte_exact(proxy):
    _, edge = proxy

    resp = http_request(edge.port, path="/big?size=1048576")

    assert resp.status == 200
    assert resp.header("Content-Length") == "1048576"
    assert len(resp.body) == MIB
    assert resp.body == payload(MIB)


def test_chunked_response_arrives_complete_to_an_http11_client(proxy):
    _, edge = proxy

    with RawConn(edge.port) as conn:
        conn.send(request_bytes("GET", "/chunked?n=50", "site.test"))
        resp = conn.read_response()
        # the framing ended exactly where it should: the connection carries another request
        conn.send(request_bytes("GET", "/status/200", "site.test"))
        follow_up = conn.read_response()

    assert resp.status == 200
    assert resp.body == b"".join(b"chunk-%d\n" % i for i in range(50))
    assert follow_up.status == 200
    assert follow_up.body == b"status 200"


def test_close_delimited_response_arrives_complete_to_an_http11_client(proxy):
    _, edge = proxy

    with RawConn(edge.port) as conn:
        conn.send(request_bytes("GET", "/close-delimited", "site.test"))
        resp = conn.read_response()

    assert resp.status == 200
    assert resp.body == b"".join(b"line-%d\n" % i for i in range(5))
    assert http_request(edge.port, path="/close-delimited").body == resp.body


def test_head_has_content_length_and_no_body(proxy):
    app, edge = proxy

    with RawConn(edge.port) as conn:
        conn.send(request_bytes("HEAD", "/big?size=4096", "site.test"))
        head = conn.read_response(head_request=True)
        conn.send(request_bytes("GET", "/status/200", "site.test"))
        follow_up = conn.read_response()

    assert head.status == 200
    assert head.header("Content-Length") == "4096"
    assert head.body == b""
    assert follow_up.body == b"status 200", "bytes after the HEAD response would corrupt the next response"
    assert app.last("/big").method == "HEAD"


def test_three_sequential_requests_share_one_keep_alive_connection(proxy):
    app, edge = proxy

    with RawConn(edge.port) as conn:
        bodies = []
        for i in range(3):
            conn.send(request_bytes("GET", f"/keep?i={i}", "site.test"))
            resp = conn.read_response()
            assert resp.status == 200
            assert "close" not in (resp.header("Connection") or "").lower()
            bodies.append(resp.body)

    assert bodies == [b"backend /keep?i=0", b"backend /keep?i=1", b"backend /keep?i=2"]
    assert len(app.requests_to("/keep")) == 3


def test_expect_100_continue_gets_interim_response_before_the_body_is_sent(proxy):
    _, edge = proxy
    body = b"hello world"

    with RawConn(edge.port) as conn:
        conn.send(
            request_bytes(
                "POST",
                "/echo",
                "site.test",
                [("Content-Length", str(len(body))), ("Expect", "100-continue")],
            )
        )
        interim = conn.read_until(b"\r\n\r\n")
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        conn.send(body)
        resp = conn.read_response()

    assert resp.status == 200
    assert resp.interim == [], "exactly one 100 Continue is sent"
    echo = resp.json()
    assert (echo["body_length"], echo["body_sha256"]) == (len(body), _sha(body))
