"""Review 3: hostile HTTP/1.1 backends through the real CLI, against the counted-body relay (http/upstream.py).

The backend (a raw socket server) lies about its framing: more bytes than its Content-Length (a whole second
response after the body, in the same write or a later one), fewer bytes then close, a body after a HEAD response.
What must hold for the clients: the extra bytes never become another request's response (the backend connection that
carried them serves nothing more), a truncated body ends the client's connection short of its Content-Length, and a
HEAD response has no body.
"""

from __future__ import annotations

import socket

import pytest
from edge_harness import RawConn, catch_all, http_request
from raw_backend import ThreadedRawBackend

pytestmark = pytest.mark.integration

SMUGGLED = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED"


class HostileBackend(ThreadedRawBackend):
    """Answers each request by its path; records which requests each backend connection carried."""

    def __init__(self) -> None:
        super().__init__()
        self.connections: list[list[bytes]] = []

    def connection_opened(self) -> list[bytes]:
        lines: list[bytes] = []
        with self.lock:
            self.connections.append(lines)
        return lines

    def serve(self, sock: socket.socket, state: object) -> None:
        lines = state if isinstance(state, list) else []
        sock.settimeout(10.0)
        buf = b""
        with sock:
            while True:
                while b"\r\n\r\n" not in buf:
                    try:
                        chunk = sock.recv(65536)
                    except OSError:
                        return
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                line = head.split(b"\r\n", 1)[0]
                with self.lock:
                    lines.append(line)
                if not self._answer(sock, line):
                    return

    @staticmethod
    def _answer(sock: socket.socket, line: bytes) -> bool:
        """Send the answer for request ``line``; False to close the connection after it."""
        method, path = line.split(b" ")[:2]
        if path == b"/over":
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" + SMUGGLED)
        elif path == b"/over-later":
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe")
            sock.sendall(b"llo" + SMUGGLED)
        elif path == b"/short":
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 40)
            return False
        elif method == b"HEAD":
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n" + b"SMUGGLED")
        else:
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        return True

    def carried(self) -> list[list[bytes]]:
        with self.lock:
            return [list(lines) for lines in self.connections]


def test_hostile_framing_never_reaches_another_client(ingress) -> None:
    backend = HostileBackend().start()
    try:
        proxy = ingress(catch_all(backend.url))
        for path in ("/over", "/over-later"):
            first = http_request(proxy.port, path=path)
            assert (first.status, first.body) == (200, b"hello")
            for _ in range(3):  # later clients get their own answers, never the smuggled one
                victim = http_request(proxy.port, path="/victim")
                assert (victim.status, victim.body) == (200, b"ok")
        head = http_request(proxy.port, method="HEAD", path="/head")
        assert head.status == 200
        assert head.body == b""
        for _ in range(3):
            victim = http_request(proxy.port, path="/victim")
            assert (victim.status, victim.body) == (200, b"ok")
        # A backend connection that sent bytes after a response carried nothing after it.
        for lines in backend.carried():
            for liar in (b"GET /over HTTP/1.1", b"GET /over-later HTTP/1.1", b"HEAD /head HTTP/1.1"):
                if liar in lines:
                    assert lines[-1] == liar, lines
    finally:
        backend.stop()


def test_a_truncated_body_ends_the_client_connection_short(ingress) -> None:
    backend = HostileBackend().start()
    try:
        proxy = ingress(catch_all(backend.url))
        with RawConn(proxy.port) as client:
            client.send(b"GET /short HTTP/1.1\r\nHost: app.test\r\n\r\n")
            status, _, headers = client.read_head()
            assert status == 200
            assert ("Content-Length", "100") in headers
            with pytest.raises(EOFError, match="after 40 of 100 bytes"):
                client.read_exact(100)  # the client can tell: its connection ends short of the length
    finally:
        backend.stop()
