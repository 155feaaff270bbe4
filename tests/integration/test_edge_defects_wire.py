"""Issue 9's wire defects through the real CLI: trailers cannot forge the head, absolute-form targets, Host validation,
upgrades, request lines, hostile backend heads and ``forwardedHeaders.connection``.

The raw backends here are plain sockets in a thread: they record every byte the proxy sends (trailers included), or
play a hostile backend that never stops sending a response head.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from edge_harness import RawConn, lb_service, request_bytes

pytestmark = pytest.mark.integration

APR1_TEST = "test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"  # password "test" (Traefik's docs)
CREDENTIALS = "Basic " + base64.b64encode(b"test:test").decode()


class RawBackend:
    """A TCP backend on 127.0.0.1 that reads one request per connection and runs ``answer(sock, request_bytes)``.

    ``received`` holds each request's raw bytes as read off the socket (head, body and trailers).
    """

    def __init__(self, answer: Callable[[socket.socket, bytes], None]) -> None:
        self.answer = answer
        self.received: list[bytes] = []
        self.sent = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = int(self._sock.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="raw-backend", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                try:
                    request = _read_request(conn)
                    self.received.append(request)
                    self.answer(conn, request)
                except OSError:
                    continue

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()


def _read_request(conn: socket.socket) -> bytes:
    """Read one request: the head, then a chunked body through its trailer section, or a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lower = head.lower()
    if b"transfer-encoding: chunked" in lower:
        while not rest.endswith(b"\r\n\r\n") or b"0\r\n" not in rest:
            chunk = conn.recv(65536)
            if not chunk:
                break
            rest += chunk
    elif b"content-length:" in lower:
        length = int(lower.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        while len(rest) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            rest += chunk
    return head + b"\r\n\r\n" + rest


def answer_ok(conn: socket.socket, request: bytes) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")


@pytest.fixture
def raw_backend() -> Iterator[Callable[[Callable[[socket.socket, bytes], None]], RawBackend]]:
    started: list[RawBackend] = []

    def start(answer: Callable[[socket.socket, bytes], None] = answer_ok) -> RawBackend:
        server = RawBackend(answer)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def exchange(port: int, data: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """Send ``data`` in one write on a fresh connection; return the status, headers and body of the answer."""
    with RawConn(port) as conn:
        conn.send(data)
        resp = conn.read_response()
    return resp.status, resp.headers, resp.body


# -- 1. chunked trailers cannot forge the head -------------------------------------------------------------------------


def trailer_request(host: str, trailers: list[tuple[str, str]]) -> bytes:
    """A chunked POST whose trailer section holds ``trailers``, as one write (so usually one packet)."""
    head = f"POST /upload HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    fields = "".join(f"{name}: {value}\r\n" for name, value in trailers).encode()
    return head + b"3\r\nabc\r\n0\r\n" + fields + b"\r\n"


FORGED = [
    ("Host", "admin.test"),
    ("X-Real-Ip", "6.6.6.6"),
    ("X-Forwarded-For", "6.6.6.6"),
    ("Authorization", CREDENTIALS),
]


def test_trailers_forge_nothing_the_backend_the_allow_list_or_basic_auth_sees(raw_backend, ingress):
    app = raw_backend()
    proxy = ingress(
        {
            "http": {
                "routers": {
                    "plain": {"rule": "Host(`public.test`)", "service": "app"},
                    "admin": {"rule": "Host(`admin.test`)", "service": "app", "middlewares": ["deny-all"]},
                    "allow": {"rule": "Host(`allow.test`)", "service": "app", "middlewares": ["allow-by-xff"]},
                    "auth": {"rule": "Host(`auth.test`)", "service": "app", "middlewares": ["basic"]},
                },
                "middlewares": {
                    "deny-all": {"ipAllowList": {"sourceRange": ["192.0.2.1/32"]}},
                    "allow-by-xff": {"ipAllowList": {"sourceRange": ["6.6.6.6/32"], "ipStrategy": {"depth": 1}}},
                    "basic": {"basicAuth": {"users": [APR1_TEST]}},
                },
                "services": {"app": lb_service(app.url)},
            }
        }
    )

    # (a) the backend sees neither the forged head fields nor the trailer section
    status, _, body = exchange(proxy.port, trailer_request("public.test", FORGED))
    assert (status, body) == (200, b"ok")
    (seen,) = app.received
    head, _, rest = seen.partition(b"\r\n\r\n")
    assert rest == b"3\r\nabc\r\n0\r\n\r\n", "trailers are dropped, not forwarded"
    assert b"Host: public.test\r\n" in head
    for forged in (b"admin.test", b"6.6.6.6", b"Authorization"):
        assert forged not in seen
    assert head.count(b"X-Real-Ip: ") == 1
    assert b"\r\nX-Forwarded-For: 127.0.0.1\r\n" in head + b"\r\n"

    # (b) a trailer X-Forwarded-For does not satisfy an ipAllowList that trusts X-Forwarded-For (ipStrategy.depth)
    status, _, _ = exchange(proxy.port, trailer_request("allow.test", [("X-Forwarded-For", "6.6.6.6")]))
    assert status == 403

    # (c) a trailer Authorization does not satisfy basicAuth; the same credentials in the head do
    status, headers, _ = exchange(proxy.port, trailer_request("auth.test", [("Authorization", CREDENTIALS)]))
    assert status == 401
    assert ("Www-Authenticate", 'Basic realm="traefik"') in headers  # Go's canonical spelling
    head_auth = request_bytes("GET", "/", "auth.test", [("Authorization", CREDENTIALS), ("Connection", "close")])
    assert exchange(proxy.port, head_auth)[0] == 200
    assert len(app.received) == 2, "only the authenticated request reached the backend"


# -- 2-5. absolute-form, Host validation, Upgrade, request lines -------------------------------------------------------


def test_absolute_form_routes_and_forwards_by_the_url_authority(backend, ingress):
    public, admin = backend("public"), backend("admin")
    proxy = ingress(
        {
            "http": {
                "routers": {
                    "public": {"rule": "Host(`public.test`)", "service": "public"},
                    "admin": {"rule": "Host(`admin.test`)", "service": "admin"},
                },
                "services": {"public": lb_service(public.url), "admin": lb_service(admin.url)},
            }
        }
    )

    status, _, _ = exchange(proxy.port, b"GET http://public.test/echo HTTP/1.1\r\nHost: admin.test\r\n\r\n")

    assert status == 200
    seen = public.last("/echo")
    assert seen.header_all("Host") == ["public.test"]
    assert seen.header_all("X-Forwarded-Host") == ["public.test"]
    assert seen.target == "/echo"
    assert admin.received == []


@pytest.fixture
def echo_proxy(backend, ingress):
    app = backend()
    return app, ingress(
        {
            "http": {
                "routers": {"all": {"rule": "PathPrefix(`/`)", "service": "app"}},
                "services": {"app": lb_service(app.url)},
            }
        }
    )


@pytest.mark.parametrize("host", ["x/evil", "u@x", "a b"])
def test_a_host_go_rejects_is_400_and_never_forwarded(echo_proxy, host):
    app, proxy = echo_proxy
    with RawConn(proxy.port) as conn:
        conn.send(f"GET /echo HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        resp = conn.read_response()
        conn.wait_closed()
    assert resp.status == 400
    assert app.received == []


def test_upgrade_without_connection_upgrade_is_forwarded_as_an_ordinary_request(echo_proxy):
    _, proxy = echo_proxy
    with RawConn(proxy.port) as conn:
        conn.send(
            request_bytes("GET", "/echo", "site.test", [("Upgrade", "h2c"), ("HTTP2-Settings", "AAMAAABkAAQCAAAAAAIA")])
        )
        first = conn.read_response()
        conn.send(request_bytes("GET", "/echo", "site.test"))
        second = conn.read_response()
    assert (first.status, second.status) == (200, 200), "the connection stays usable: no upgrade happened"
    for name in ("Upgrade", "HTTP2-Settings", "Connection"):
        assert first.request_header(name) is None, name


def test_a_request_line_without_version_is_400_at_once(echo_proxy):
    app, proxy = echo_proxy
    with RawConn(proxy.port, timeout=5) as conn:
        conn.send(b"GET /echo\r\n")
        resp = conn.read_response()  # readTimeout is 60 s: an answer within the socket timeout is "at once"
        conn.wait_closed()
    assert resp.status == 400
    assert app.received == []


def test_an_http2_request_line_is_505(echo_proxy):
    app, proxy = echo_proxy
    with RawConn(proxy.port) as conn:
        conn.send(b"GET /echo HTTP/2.0\r\nHost: site.test\r\n\r\n")
        resp = conn.read_response()
    assert (resp.status, resp.body) == (505, b"505 HTTP Version Not Supported")
    assert app.received == []


# -- 6. hostile backend heads ------------------------------------------------------------------------------------------


def _vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


def test_a_backend_streaming_an_endless_head_gets_502_and_is_cut_off(raw_backend, ingress):
    total = 64 << 20
    line = b"X-Pad: " + b"p" * 1000 + b"\r\n"
    batch = line * 64

    def endless_head(conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        while hostile.sent < total:
            conn.sendall(batch)  # raises once the proxy closes the connection
            hostile.sent += len(batch)

    hostile = raw_backend(endless_head)
    proxy = ingress(
        {
            "http": {
                "routers": {"all": {"rule": "Host(`site.test`)", "service": "bad"}},
                "services": {"bad": lb_service(hostile.url)},
            }
        }
    )
    before = _vm_hwm_kib(proxy.pid)

    status, _, body = exchange(proxy.port, request_bytes("GET", "/", "site.test"))

    assert (status, body) == (502, b"Bad Gateway")
    assert hostile.sent < total, "the proxy stopped reading and closed the connection"
    grown_mib = (_vm_hwm_kib(proxy.pid) - before) / 1024
    assert grown_mib < 48, f"peak RSS grew by {grown_mib:.0f} MiB for a head bounded at 10 MiB"


def test_a_backend_flooding_102_processing_gets_502(raw_backend, ingress):
    def flood(conn: socket.socket, request: bytes) -> None:
        with contextlib.suppress(OSError):
            conn.sendall(b"HTTP/1.1 102 Processing\r\n\r\n" * 10_000)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    hostile = raw_backend(flood)
    proxy = ingress(
        {
            "http": {
                "routers": {"all": {"rule": "Host(`site.test`)", "service": "bad"}},
                "services": {"bad": lb_service(hostile.url)},
            }
        }
    )

    status, _, body = exchange(proxy.port, request_bytes("GET", "/", "site.test"))

    assert (status, body) == (502, b"Bad Gateway")
    assert len(hostile.received) == 1


# -- 7. forwardedHeaders.connection ------------------------------------------------------------------------------------


def test_forwarded_headers_connection_keeps_a_connection_option_for_the_router_only(backend, ingress):
    app = backend()
    dynamic = {
        "http": {
            "routers": {"custom": {"rule": "Header(`X-Custom`, `yes`)", "service": "app"}},
            "services": {"app": lb_service(app.url)},
        }
    }
    request = request_bytes("GET", "/echo", "site.test", [("Connection", "X-Custom"), ("X-Custom", "yes")])

    kept = ingress(dynamic, "--entrypoints.web.forwardedHeaders.connection=X-Custom")
    status, _, _ = exchange(kept.port, request)
    assert status == 200, "the router matched on the Connection-listed header"
    seen = app.last("/echo")
    assert seen.header("X-Custom") is None, "and the backend did not receive it"
    assert seen.header("Connection") is None

    plain = ingress(dynamic)
    status, _, _ = exchange(plain.port, request)
    assert status == 404, "without the option the entrypoint removes it before routing"
