"""HTTP/2 to backends through the real CLI: ``h2c://`` servers, multiplexing, stalled streams, errors.

The clients here speak HTTP/1.1 to the proxy (the proxy's leg to the backend is what is under test); the backends
are real ``h2`` and ``grpc.aio`` servers (``tests/grpc_backends.py``).
"""

from __future__ import annotations

import concurrent.futures
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest
from edge_harness import RawConn, catch_all, eventually, free_port, http_request, request_bytes

from conftest import IngressFactory
from grpc_backends import GrpcBackend, H2Backend, grpc_frame, grpc_messages
from h2_client import H2Client

pytestmark = pytest.mark.integration


@pytest.fixture
def h2_backend() -> Iterator[H2Backend]:
    backend = H2Backend(max_concurrent_streams=40).start()
    yield backend
    backend.stop()


@pytest.fixture
def grpc_backend() -> Iterator[GrpcBackend]:
    backend = GrpcBackend().start()
    yield backend
    backend.stop()


def test_an_h2c_server_gets_the_request_as_http2_with_proxy_headers(
    ingress: IngressFactory, h2_backend: H2Backend
) -> None:
    proxy = ingress(catch_all(h2_backend.url))
    resp = http_request(
        proxy.port,
        "POST",
        "/up/load?x=1",
        headers={"Host": "app.test", "Connection": "X-Drop", "X-Drop": "1", "TE": "trailers", "Content-Type": "t/p"},
        body=b"hello",
    )
    assert resp.status == 200
    assert resp.header("x-backend") == "h2"
    seen = json.loads(resp.body)
    headers = seen["headers"]
    names = [n for n, _ in headers]
    assert headers[:4] == [
        [":method", "POST"],
        [":scheme", "http"],
        [":authority", "app.test"],
        [":path", "/up/load?x=1"],
    ]
    assert "x-drop" not in names
    assert "connection" not in names
    assert "host" not in names
    assert ["te", "trailers"] in headers
    assert ["x-forwarded-for", "127.0.0.1"] in headers
    assert ["content-length", "5"] in headers
    assert seen["body"] == "hello"


def test_a_hundred_concurrent_requests_share_few_upstream_connections(
    ingress: IngressFactory, h2_backend: H2Backend
) -> None:
    h2_backend.delay = 0.2  # every stream stays open a while, so they overlap
    proxy = ingress(catch_all(h2_backend.url))

    def one(i: int) -> int:
        return http_request(proxy.port, "GET", f"/n/{i}", headers={"Host": "app.test"}, timeout=20).status

    with concurrent.futures.ThreadPoolExecutor(max_workers=100) as pool:
        statuses = list(pool.map(one, range(100)))
    assert statuses == [200] * 100
    # The backend allows 40 streams per connection: 100 overlapping requests need 3 connections, never 100.
    assert 1 <= h2_backend.connections <= 4, h2_backend.connections
    assert h2_backend.max_open_streams <= 40


def test_a_stalled_stream_never_delays_the_others(ingress: IngressFactory, h2_backend: H2Backend) -> None:
    proxy = ingress(catch_all(h2_backend.url))
    with RawConn(proxy.port) as stalled:
        stalled.send(request_bytes("GET", "/stall", "app.test"))
        eventually(lambda: "/stall" in h2_backend.paths)
        started = time.monotonic()
        for i in range(5):
            assert http_request(proxy.port, "GET", f"/quick/{i}", headers={"Host": "app.test"}).status == 200
        assert time.monotonic() - started < 3.0
        assert h2_backend.connections == 1  # the quick ones went on the stalled stream's connection
        h2_backend.release.set()
        assert stalled.read_response().status == 200


def test_a_client_that_leaves_resets_only_its_stream(ingress: IngressFactory, h2_backend: H2Backend) -> None:
    proxy = ingress(catch_all(h2_backend.url))
    with RawConn(proxy.port) as leaving:
        leaving.send(request_bytes("GET", "/stall/gone", "app.test"))
        eventually(lambda: "/stall/gone" in h2_backend.paths)
        # Close with RST (a half-closed client would still get its answer, as in Go).
        leaving.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    eventually(lambda: h2_backend.resets, message="the backend never saw RST_STREAM for the abandoned request")
    assert http_request(proxy.port, "GET", "/after", headers={"Host": "app.test"}).status == 200
    assert h2_backend.connections == 1


def test_a_dead_h2c_server_is_502_and_a_silent_one_504(ingress: IngressFactory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    proxy = ingress(catch_all(f"h2c://127.0.0.1:{dead_port}"))
    resp = http_request(proxy.port, "GET", "/", headers={"Host": "app.test"})
    assert (resp.status, resp.body) == (502, b"Bad Gateway")

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts (kernel backlog) and never answers a byte
    try:
        port = free_port()
        config = catch_all(f"h2c://127.0.0.1:{silent.getsockname()[1]}", serversTransport="slow")
        config["http"]["serversTransports"] = {"slow": {"forwardingTimeouts": {"responseHeaderTimeout": "300ms"}}}
        slow = ingress(config, port=port)
        resp = http_request(slow.port, "GET", "/", headers={"Host": "app.test"})
        assert (resp.status, resp.body) == (504, b"Gateway Timeout")
    finally:
        silent.close()


def test_grpc_unary_over_http11_to_an_h2c_grpc_server(ingress: IngressFactory, grpc_backend: GrpcBackend) -> None:
    proxy = ingress(catch_all(grpc_backend.url))
    resp = http_request(
        proxy.port,
        "POST",
        "/echo.Echo/Unary",
        headers={"Host": "app.test", "Content-Type": "application/grpc", "TE": "trailers"},
        body=grpc_frame(b"ping"),
    )
    assert resp.status == 200
    assert resp.header("content-type") == "application/grpc"
    assert grpc_messages(resp.body) == [(0, b"echo:ping")]
    assert grpc_backend.calls == ["Unary"]


def test_a_backend_that_hangs_up_at_once_is_502_after_a_bounded_number_of_dials(ingress: IngressFactory) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    accepted: list[int] = []
    stop = threading.Event()

    def hang_up() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            accepted.append(1)
            conn.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    try:
        proxy = ingress(catch_all(f"h2c://127.0.0.1:{listener.getsockname()[1]}"))
        before = len(accepted)  # the readiness probe's own request went there too
        resp = http_request(proxy.port, "GET", "/", headers={"Host": "app.test"})
        assert resp.status == 502
        assert 1 <= len(accepted) - before <= 4
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_a_hundred_streams_on_one_client_connection_share_one_upstream_connection(ingress: IngressFactory) -> None:
    backend = H2Backend(delay=0.2).start()  # h2's default SETTINGS allow 100 streams; each stays open a while
    try:
        proxy = ingress(catch_all(backend.url))
        with H2Client(proxy.port) as client:
            sids = [client.request(f"/s/{i}", "app.test") for i in range(100)]
            results = [client.response(sid, timeout=20) for sid in sids]
        assert [r.status for r in results] == [200] * 100
        assert backend.connections == 1
        assert backend.max_open_streams > 50  # they really overlapped on that one connection
        # The backend's trailers reach an HTTP/2 client as trailers.
        assert all(("x-trailer", "t1") in r.trailers for r in results)
    finally:
        backend.stop()


def test_an_http2_client_reset_cancels_only_its_upstream_stream(ingress: IngressFactory, h2_backend: H2Backend) -> None:
    proxy = ingress(catch_all(h2_backend.url))
    with H2Client(proxy.port) as client:
        gone = client.request("/stall/reset", "app.test")
        eventually(lambda: "/stall/reset" in h2_backend.paths)
        client.peer.reset(gone)
        client.flush()
        eventually(lambda: h2_backend.resets, message="the backend never saw RST_STREAM for the reset stream")
        kept = client.get("/after-reset", "app.test")
        assert kept.status == 200
    assert len(h2_backend.resets) == 1
    assert h2_backend.connections == 1
