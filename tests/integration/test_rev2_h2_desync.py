"""h2 → h1 desync through the real CLI: a request body that ends (on trailers) short of its ``content-length``.

``h2`` checks ``content-length`` only when END_STREAM is on a DATA frame. A client that declares 10 bytes, sends 3
and ends the stream with trailers made the proxy send ``Content-Length: 10`` and 3 bytes to its HTTP/1.1 backend,
then pool the connection once the backend answered: the next client's request went down the same connection, where
the backend reads its first 7 bytes as the rest of the body. The backend here records every connection's bytes and
answers each head at once (as a backend that does not read the body does); no connection may carry both requests.
"""

from __future__ import annotations

import contextlib
import socket

import pytest
from edge_harness import catch_all
from raw_backend import ThreadedRawBackend

from h2_client import H2Client

pytestmark = pytest.mark.integration

_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


class _RecordingBackend(ThreadedRawBackend):
    """An HTTP/1.1 backend on 127.0.0.1 that answers every request head with 200 at once, keeps the connection, and
    records the bytes each connection carried."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[bytearray] = []

    def connection_opened(self) -> bytearray:
        data = bytearray()
        with self.lock:
            self.received.append(data)
        return data

    def serve(self, sock: socket.socket, state: object) -> None:
        data = state if isinstance(state, bytearray) else bytearray()
        answered = 0
        sock.settimeout(10.0)
        with sock:
            while True:
                try:
                    chunk = sock.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                with self.lock:
                    data += chunk
                    heads = bytes(data).count(b"\r\n\r\n")
                for _ in range(heads - answered):
                    sock.sendall(_OK)
                answered = heads

    def connections(self) -> list[bytes]:
        with self.lock:
            return [bytes(d) for d in self.received]


def _post(length: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":path", b"/up"),
        (b":authority", b"app.test"),
        (b"content-length", length),
    ]


def test_a_body_ended_by_trailers_short_of_its_content_length_never_shares_a_backend_connection(ingress) -> None:
    backend = _RecordingBackend().start()
    try:
        proxy = ingress(catch_all(backend.url))
        with H2Client(proxy.port, timeout=5.0) as attacker:
            attacker.peer.send_headers_raw(1, _post(b"10"), end=False)
            attacker.peer.data(1, b"abc")
            attacker.peer.send_headers_raw(1, [(b"x-trailer", b"1")], end=True)
            attacker.flush()
            with contextlib.suppress(AssertionError):  # answered (the bug) or GOAWAY and closed (the fix)
                attacker.pump(lambda: attacker.peer.streams[1].done or attacker.peer.goaway is not None)
            lied_about = attacker.peer.goaway_code
        with H2Client(proxy.port, timeout=5.0) as victim:
            result = victim.get("/victim", authority="app.test")
            assert result.status == 200
            assert result.body == b"ok"
        for carried in backend.connections():
            assert not (b"POST /up" in carried and b"GET /victim" in carried), carried
        assert lied_about == 1  # GOAWAY PROTOCOL_ERROR: the body lied about its length
    finally:
        backend.stop()


def test_a_body_of_its_declared_length_ended_by_trailers_is_proxied(ingress) -> None:
    backend = _RecordingBackend().start()
    try:
        proxy = ingress(catch_all(backend.url))
        with H2Client(proxy.port, timeout=5.0) as client:
            client.peer.send_headers_raw(1, _post(b"3"), end=False)
            client.peer.data(1, b"abc")
            client.peer.send_headers_raw(1, [(b"x-trailer", b"1")], end=True)
            client.flush()
            result = client.response(1)
            assert result.status == 200
        posts = [c[c.index(b"POST /up HTTP/1.1\r\n") :] for c in backend.connections() if b"POST /up" in c]
        assert len(posts) == 1
        assert b"\r\nContent-Length: 3\r\n" in posts[0]
        assert posts[0].endswith(b"\r\n\r\nabc")
    finally:
        backend.stop()
