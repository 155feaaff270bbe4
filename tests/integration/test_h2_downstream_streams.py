"""HTTP/2 streams through the real CLI: responses stream as they arrive, and RST_STREAM cancels one upstream only."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from edge_backend import SSE_FIRST, SSE_SECOND
from edge_harness import catch_all, eventually

from h2_client import H2Client

pytestmark = pytest.mark.integration


def test_a_streamed_response_is_forwarded_as_it_arrives(backend, ingress) -> None:
    app = backend("app")
    proxy = ingress(catch_all(app.url))
    with H2Client(proxy.port) as client:
        sid = client.request("/sse", "app.test")
        client.pump(lambda: client.peer.streams[sid].body == SSE_FIRST)  # the first event, before the second exists
        assert not client.peer.streams[sid].done
        other = client.get("/other", authority="app.test")  # the open stream stalls nobody
        assert other.status == 200
        app.release_sse()
        result = client.response(sid)
    assert result.body == SSE_FIRST + SSE_SECOND
    assert result.header("content-type") == "text/event-stream"


class _WatchingBackend:
    """A raw HTTP/1.1 backend: ``/doomed`` never answers and records when the proxy closes its connection;
    anything else is answered after 0.6 s."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.doomed_closed = threading.Event()
        self.paths: set[bytes] = set()  # request paths read (the harness's readiness probe comes here too)
        self.threads: list[threading.Thread] = []
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            self.paths.add(head.split(b" ", 2)[1])
            if head.startswith(b"GET /doomed "):
                if conn.recv(4096) == b"":  # blocks until the proxy closes the connection (or 10 s pass)
                    self.doomed_closed.set()
                return
            time.sleep(0.6)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nkept")

    def close(self) -> None:
        self.stopped = True
        self.sock.close()


def test_rst_stream_cancels_only_its_upstream_request(ingress) -> None:
    upstream = _WatchingBackend()
    try:
        proxy = ingress(catch_all(f"http://127.0.0.1:{upstream.port}"))
        with H2Client(proxy.port) as client:
            doomed = client.request("/doomed", "app.test")
            kept = client.request("/kept", "app.test")
            eventually(lambda: {b"/doomed", b"/kept"} <= upstream.paths, timeout=5)  # both requests reached the backend
            client.peer.reset(doomed)
            client.flush()
            # The reset stream's upstream connection is closed at once ...
            assert upstream.doomed_closed.wait(2.0)
            # ... and the other stream is answered in full, on the same client connection.
            result = client.response(kept)
            assert (result.status, result.body) == (200, b"kept")
            assert client.peer.goaway is None
    finally:
        upstream.close()
