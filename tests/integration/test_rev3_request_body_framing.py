"""Review 3: the request body bytes that came with the client's head go upstream with our head in one write
(http/upstream.py ``send``): the framing the backend reads must stay exact.

A strict backend decodes each request (Content-Length or chunked, refusing anything malformed) and answers with a
digest of the body it read, so a chunk framed twice, a lost piece or a terminator out of place shows.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from edge_harness import RawConn, catch_all, request_bytes
from raw_backend import ThreadedRawBackend

pytestmark = pytest.mark.integration


class StrictBackend(ThreadedRawBackend):
    """Decodes each request body strictly; answers ``200`` with ``<length> <sha256>``, or ``400`` and closes."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[str] = []

    def serve(self, sock: socket.socket, state: object) -> None:
        sock.settimeout(10.0)
        reader = sock.makefile("rb")
        with sock, reader:
            while True:
                try:
                    body = self._read_request(reader)
                except (OSError, ValueError) as exc:
                    self.errors.append(str(exc))
                    sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    return
                if body is None:
                    return
                answer = b"%d %s" % (len(body), hashlib.sha256(body).hexdigest().encode())
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(answer), answer))

    @staticmethod
    def _read_request(reader: Any) -> bytes | None:
        readline = reader.readline
        read = reader.read
        line = readline()
        if not line:
            return None
        headers: dict[bytes, bytes] = {}
        while (field := readline()) not in (b"\r\n", b""):
            name, _, value = field.partition(b":")
            if name.lower() in headers:
                raise ValueError(f"duplicate {name!r}")
            headers[name.lower()] = value.strip()
        if b"transfer-encoding" in headers:
            if b"content-length" in headers or headers[b"transfer-encoding"] != b"chunked":
                raise ValueError("bad framing headers")
            body = b""
            while True:
                size_line = readline()
                if not size_line.endswith(b"\r\n"):
                    raise ValueError(f"bad chunk size line {size_line!r}")
                size = int(size_line, 16)
                if size == 0:
                    if readline() != b"\r\n":
                        raise ValueError("bad terminator")
                    return body
                piece = read(size)
                if len(piece) != size or read(2) != b"\r\n":
                    raise ValueError("bad chunk")
                body += piece
        length = int(headers.get(b"content-length", b"0"))
        body = read(length)
        if len(body) != length:
            raise ValueError("short body")
        return body


def _digest(body: bytes) -> bytes:
    return b"%d %s" % (len(body), hashlib.sha256(body).hexdigest().encode())


@pytest.fixture
def strict() -> Iterator[StrictBackend]:
    backend = StrictBackend().start()
    yield backend
    backend.stop()


def test_a_chunked_body_split_anywhere_reaches_the_backend_exactly(strict: StrictBackend, ingress: Any) -> None:
    proxy = ingress(catch_all(strict.url))
    pieces = [b"a" * 10, b"b" * 70_000, b"c", b"d" * 3000]
    wire = b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    head = request_bytes("POST", "/up", "app.test", [("Transfer-Encoding", "chunked")])
    with RawConn(proxy.port) as client:
        for cut in (5, 17, 40, 70_050, len(wire) - 3):  # the first packet carries the head and part of the body
            client.send(head + wire[:cut])
            client.send(wire[cut:])
            response = client.read_response()
            assert (response.status, response.body) == (200, _digest(b"".join(pieces))), cut
    assert strict.errors == []


def test_a_content_length_body_with_its_head_and_after_it(strict: StrictBackend, ingress: Any) -> None:
    proxy = ingress(catch_all(strict.url))
    body = bytes(range(256)) * 300  # 76,800 bytes
    head = request_bytes("POST", "/up", "app.test", [("Content-Length", str(len(body)))])
    with RawConn(proxy.port) as client:
        for cut in (0, 1, 1000, len(body)):
            client.send(head + body[:cut])
            if cut < len(body):
                client.send(body[cut:])
            response = client.read_response()
            assert (response.status, response.body) == (200, _digest(body)), cut
    assert strict.errors == []


def test_expect_100_continue_then_the_body(strict: StrictBackend, ingress: Any) -> None:
    proxy = ingress(catch_all(strict.url))
    body = b"e" * 5000
    for framing in ([("Content-Length", str(len(body)))], [("Transfer-Encoding", "chunked")]):
        chunked = framing[0][0] == "Transfer-Encoding"
        with RawConn(proxy.port) as client:
            client.send(request_bytes("POST", "/up", "app.test", [*framing, ("Expect", "100-continue")]))
            assert client.read_until(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
            client.send(b"%x\r\n%b\r\n0\r\n\r\n" % (len(body), body) if chunked else body)
            response = client.read_response()
            assert (response.status, response.body) == (200, _digest(body)), framing
    assert strict.errors == []


def test_expect_100_continue_with_the_body_in_the_same_packet(strict: StrictBackend, ingress: Any) -> None:
    # A client that does not wait for 100 Continue: the body that came with the head goes up with our head.
    proxy = ingress(catch_all(strict.url))
    body = b"f" * 3000
    with RawConn(proxy.port) as client:
        headers = [("Content-Length", str(len(body))), ("Expect", "100-continue")]
        client.send(request_bytes("POST", "/up", "app.test", headers) + body)
        response = client.read_response()  # skips an interim 100
        assert (response.status, response.body) == (200, _digest(body))
        client.send(request_bytes("GET", "/next", "app.test"))  # the connection is still framed right
        response = client.read_response()
        assert (response.status, response.body) == (200, _digest(b""))
    assert strict.errors == []
