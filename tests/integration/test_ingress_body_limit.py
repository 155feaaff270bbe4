"""HIP-68's request-body limit through the real ``ingress`` CLI (issue 9).

``entryPoints.<name>.http.maxRequestBodyBytes`` (default 10 MiB, ``0``: none) bounds every request body; a router's
``buffering`` middleware replaces it, up or down. A declared length over the limit is answered 413 before the backend
sees anything; a chunked body is counted as it flows and the backend never gets more than the limit.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest
from edge_harness import RawConn, eventually, free_port, http_request, lb_service, request_bytes, write_dynamic

pytestmark = pytest.mark.integration

TEN_MIB = 10 * 1024 * 1024
TOO_LARGE = (413, b"Request Entity Too Large")


class CountingBackend:
    """A backend that counts what reaches it, even of a request that never completes.

    ``heads`` is the number of request heads received; ``body_bytes`` the body bytes (decoded from chunks) of each
    request, recorded as they arrive. A complete request is answered ``200`` with ``got <n>``.
    """

    def __init__(self) -> None:
        self.heads = 0
        self.body_bytes: list[int] = []
        self.closed_early = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._accepter = threading.Thread(target=self._accept, name="counting-backend", daemon=True)
        self._accepter.start()

    def stop(self) -> None:
        self._stop.set()
        self._accepter.join(5)
        for thread in self._threads:
            thread.join(5)
        self._server.close()

    def total(self) -> int:
        with self._lock:
            return sum(self.body_bytes)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.1)
        reader = _Reader(conn, self._stop)
        with contextlib.closing(conn):
            while True:
                head = reader.until(b"\r\n\r\n")
                if head is None:
                    return
                with self._lock:
                    self.heads += 1
                    self.body_bytes.append(0)
                    index = len(self.body_bytes) - 1
                lines = head.decode("latin-1").lower().split("\r\n")
                chunked = any(line.startswith("transfer-encoding:") for line in lines)
                length = next((int(line.split(":", 1)[1]) for line in lines if line.startswith("content-length:")), 0)
                if not self._read_body(reader, index, chunked, length):
                    with self._lock:
                        self.closed_early += 1
                    return
                answer = b"got %d" % self.body_bytes[index]
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(answer), answer))

    def _count(self, index: int, n: int) -> None:
        with self._lock:
            self.body_bytes[index] += n

    def _read_body(self, reader: _Reader, index: int, chunked: bool, length: int) -> bool:
        if not chunked:
            while length:
                data = reader.some(length)
                if not data:
                    return False
                self._count(index, len(data))
                length -= len(data)
            return True
        while True:
            size_line = reader.until(b"\r\n")
            if size_line is None:
                return False
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                return reader.until(b"\r\n") is not None
            while size:
                data = reader.some(size)
                if not data:
                    return False
                self._count(index, len(data))
                size -= len(data)
            if reader.until(b"\r\n") is None:
                return False


class _Reader:
    """Buffered reads on a socket with a short timeout, giving up when the backend stops or the peer closes."""

    def __init__(self, conn: socket.socket, stop: threading.Event) -> None:
        self.conn = conn
        self.stop = stop
        self.buf = b""

    def _fill(self) -> bool:
        while not self.stop.is_set():
            try:
                data = self.conn.recv(262144)
            except TimeoutError:
                continue
            except OSError:
                return False
            self.buf += data
            return bool(data)
        return False

    def until(self, delim: bytes) -> bytes | None:
        while delim not in self.buf:
            if not self._fill():
                return None
        data, _, self.buf = self.buf.partition(delim)
        return data

    def some(self, most: int) -> bytes:
        if not self.buf and not self._fill():
            return b""
        data, self.buf = self.buf[:most], self.buf[most:]
        return data


@pytest.fixture
def counting() -> Iterator[CountingBackend]:
    server = CountingBackend()
    yield server
    server.stop()


def _routers(url: str, **routers: list[str]) -> dict[str, object]:
    return {
        name: {"rule": f"Host(`{name}.test`)", "service": "app", "middlewares": mws} for name, mws in routers.items()
    }


def _dynamic(url: str, middlewares: dict[str, object] | None = None, **routers: list[str]) -> dict[str, object]:
    return {
        "http": {
            "routers": _routers(url, **routers),
            "middlewares": middlewares or {},
            "services": {"app": lb_service(url)},
        }
    }


def _declare(port: int, host: str, length: int) -> tuple[int, bytes, str | None]:
    """Send only a head declaring ``length`` body bytes with ``Expect: 100-continue``.

    Returns ``(status, body, Connection)`` of the first answer: ``100`` when the body is wanted (nothing more is
    sent then), else the final response.
    """
    with RawConn(port) as conn:
        conn.send(request_bytes("PUT", "/up", host, [("Content-Length", str(length)), ("Expect", "100-continue")]))
        status, _, headers = conn.read_head()
        if status == 100:
            return 100, b"", None
        fields = {name.lower(): value for name, value in headers}
        return status, conn.read_exact(int(fields.get("content-length", "0"))), fields.get("connection")


def _stream_chunked(port: int, host: str, total: int, piece: int = 65536) -> tuple[int, bytes, str | None]:
    """Send a chunked body of ``total`` bytes (no last chunk when the proxy refuses it); return its answer."""
    with RawConn(port) as conn:
        conn.send(request_bytes("POST", "/up", host, [("Transfer-Encoding", "chunked")]))
        sent = 0
        while sent < total:
            size = min(piece, total - sent)
            conn.send(b"%x\r\n%b\r\n" % (size, b"u" * size))
            sent += size
        conn.send(b"0\r\n\r\n")
        resp = conn.read_response()
        return resp.status, resp.body, resp.header("Connection")


def test_the_default_limit_is_ten_mib(counting, ingress):
    proxy = ingress(_dynamic(counting.url, app=[]))

    status, body, connection = _declare(proxy.port, "app.test", TEN_MIB + 1)
    assert (status, body) == TOO_LARGE, "refused from the declared length, without 100 Continue"
    assert connection == "close"
    assert counting.heads == 0, "the backend sees nothing of a declared length over the limit"

    # A chunked body streaming past 10 MiB: 413, and the backend never gets more than the limit.
    with RawConn(proxy.port) as conn:
        conn.send(request_bytes("POST", "/up", "app.test", [("Transfer-Encoding", "chunked")]))
        piece = b"%x\r\n%b\r\n" % (65536, b"s" * 65536)
        for _ in range(TEN_MIB // 65536):
            conn.send(piece)
        conn.send(b"1\r\nX\r\n")  # the byte that passes the limit
        resp = conn.read_response()
        assert (resp.status, resp.body) == TOO_LARGE
        assert resp.header("Connection") == "close"
        conn.wait_closed()
    eventually(lambda: counting.closed_early == 1, message="the backend's exchange is aborted")
    assert counting.heads == 1
    assert counting.total() == TEN_MIB, "everything within the limit streamed; not one byte past it"

    assert _declare(proxy.port, "app.test", TEN_MIB)[0] == 100, "a declared length at the limit is accepted"


def test_the_entrypoint_flag_lowers_the_limit(counting, ingress):
    proxy = ingress(_dynamic(counting.url, app=[]), "--entrypoints.web.http.maxRequestBodyBytes=1000")

    fits = http_request(proxy.port, "POST", "/up", {"Host": "app.test"}, b"x" * 1000)
    assert (fits.status, fits.body) == (200, b"got 1000")
    over = http_request(proxy.port, "POST", "/up", {"Host": "app.test"}, b"x" * 1001)
    assert (over.status, over.body) == TOO_LARGE
    assert counting.heads == 1, "only the body within the limit reached the backend"

    assert _stream_chunked(proxy.port, "app.test", 1000, piece=300) == (200, b"got 1000", None)
    heads = counting.heads
    with RawConn(proxy.port) as conn:
        conn.send(request_bytes("POST", "/up", "app.test", [("Transfer-Encoding", "chunked")]))
        conn.send(b"%x\r\n%b\r\n" % (300, b"u" * 300))
        # The body is streaming to the backend before it passes the limit (had the whole body arrived before
        # routing, it would be refused without a backend at all, which another test covers).
        eventually(lambda: counting.heads == heads + 1, message="the request reaches the backend")
        for _ in range(3):
            conn.send(b"%x\r\n%b\r\n" % (300, b"u" * 300))
        conn.send(b"0\r\n\r\n")
        resp = conn.read_response()
    assert (resp.status, resp.body, resp.header("Connection")) == (*TOO_LARGE, "close")
    eventually(lambda: counting.closed_early == 1, message="the backend's exchange is aborted")
    assert counting.body_bytes[-1] <= 1000, "the backend never gets more than the limit"


def test_a_routers_buffering_raises_the_limit_on_its_route_only(counting, ingress):
    upload = {"buffering": {"maxRequestBodyBytes": 104857600}}
    proxy = ingress(_dynamic(counting.url, {"upload": upload}, uploads=["upload"], app=[]))

    # A declared 10 MiB + 1 is admitted on the upload route (100 Continue: the body is wanted) ...
    assert _declare(proxy.port, "uploads.test", TEN_MIB + 1)[0] == 100
    # ... refused on the other route, which keeps the entrypoint's 10 MiB ...
    assert _declare(proxy.port, "app.test", TEN_MIB + 1)[:2] == TOO_LARGE
    # ... and refused on the upload route past its own 100 MB.
    assert _declare(proxy.port, "uploads.test", 104857601)[:2] == TOO_LARGE
    # The admitted upload's head reaches the backend after the 100 Continue was written: wait for it, not race it.
    eventually(lambda: counting.heads >= 1, message="the admitted upload reaches the backend")
    assert counting.heads == 1, "only the admitted upload reached the backend"

    # The whole upload, past the entrypoint's 10 MiB, streams to the backend.
    with RawConn(proxy.port) as conn:
        conn.send(request_bytes("PUT", "/up", "uploads.test", [("Content-Length", str(TEN_MIB + 1))]))
        conn.send(b"u" * (TEN_MIB + 1))
        resp = conn.read_response()
    assert (resp.status, resp.body) == (200, b"got %d" % (TEN_MIB + 1))


def test_a_routers_buffering_lowers_the_limit(counting, ingress):
    small = {"buffering": {"maxRequestBodyBytes": 100}}
    proxy = ingress(_dynamic(counting.url, {"small": small}, small=["small"], app=[]))
    over = http_request(proxy.port, "POST", "/up", {"Host": "small.test"}, b"x" * 101)
    assert (over.status, over.body) == TOO_LARGE
    other = http_request(proxy.port, "POST", "/up", {"Host": "app.test"}, b"x" * 101)
    assert (other.status, other.body) == (200, b"got 101")


def test_buffering_with_zero_means_no_limit_for_its_router(counting, ingress):
    unlimited = {"buffering": {"maxRequestBodyBytes": 0}}
    proxy = ingress(
        _dynamic(counting.url, {"unlimited": unlimited}, free=["unlimited"], app=[]),
        "--entrypoints.web.http.maxRequestBodyBytes=1000",
    )
    big = http_request(proxy.port, "POST", "/up", {"Host": "free.test"}, b"x" * 50_000)
    assert (big.status, big.body) == (200, b"got 50000")
    assert _stream_chunked(proxy.port, "free.test", 50_000) == (200, b"got 50000", None)
    over = http_request(proxy.port, "POST", "/up", {"Host": "app.test"}, b"x" * 1001)
    assert (over.status, over.body) == TOO_LARGE


def test_an_entrypoint_limit_of_zero_means_no_limit(counting, ingress):
    proxy = ingress(_dynamic(counting.url, app=[]), "--entrypoints.web.http.maxRequestBodyBytes=0")
    assert _declare(proxy.port, "app.test", 200 * 1024 * 1024)[0] == 100, "no limit: a declared 200 MiB is wanted"
    assert _stream_chunked(proxy.port, "app.test", 50_000) == (200, b"got 50000", None)


def test_the_limit_comes_from_the_environment_too(counting, ingress, tmp_path):
    # The environment is a whole static configuration source: the entrypoint and the provider come from it too.
    dynamic = write_dynamic(tmp_path / "env-dynamic.yml", _dynamic(counting.url, app=[]))
    port = free_port()
    env = {
        "TRAEFIK_ENTRYPOINTS_WEB_ADDRESS": f"127.0.0.1:{port}",
        "TRAEFIK_PROVIDERS_FILE_FILENAME": str(dynamic),
        "TRAEFIK_ENTRYPOINTS_WEB_HTTP_MAXREQUESTBODYBYTES": "10",
    }
    proxy = ingress(args=[], port=port, env=env)
    over = http_request(proxy.port, "POST", "/up", {"Host": "app.test"}, b"x" * 11)
    assert (over.status, over.body) == TOO_LARGE
    fits = http_request(proxy.port, "POST", "/up", {"Host": "app.test"}, b"x" * 10)
    assert (fits.status, fits.body) == (200, b"got 10")
