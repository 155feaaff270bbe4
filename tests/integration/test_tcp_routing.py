"""TCP routers through the real CLI with raw sockets against real TCP backends (``l4_backends.py``).

Each test gives the TCP routers their own entrypoint(s) next to the harness's ``web`` entrypoint (which keeps
answering HTTP, so the harness can tell when ``ingress`` is ready). Certificates come from per-test ``trustme`` CAs;
TLS passthrough is proven by the *backend* completing the handshake with its own certificate.
"""

from __future__ import annotations

import hashlib
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from edge_harness import eventually, free_port, http_request, lb_service, write_dynamic
from l4_backends import L4Loop, TCPEcho

pytestmark = pytest.mark.integration


@pytest.fixture
def l4() -> Iterator[L4Loop]:
    loop = L4Loop()
    yield loop
    loop.close()


def tcp_service(*addresses: str, **options: Any) -> dict[str, Any]:
    return {"loadBalancer": {"servers": [{"address": a} for a in addresses], **options}}


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def read_all(sock: socket.socket, limit: int = 1 << 20) -> bytes:
    """Read until EOF (the peer's FIN)."""
    chunks = []
    while sum(map(len, chunks)) < limit:
        data = sock.recv(65536)
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def read_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError(f"EOF after {len(data)} of {size} bytes")
        data += chunk
    return data


def closed_by_peer(sock: socket.socket) -> bool:
    """True when the peer closes without sending anything (a reset counts: it closed with our bytes unread)."""
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def leaf(ca: trustme.CA, root: Path, name: str, *hosts: str) -> dict[str, str]:
    cert = ca.issue_cert(*hosts)
    cert_file, key_file = root / f"{name}.crt", root / f"{name}.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    return {"certFile": str(cert_file), "keyFile": str(key_file)}


def client_tls(ca: trustme.CA, alpn: list[str] | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


Start = Callable[..., Any]


def start_tcp(ingress: Start, dynamic: dict[str, Any], *flags: str) -> tuple[Any, int]:
    """``ingress`` with a ``tcp`` entrypoint next to ``web``; returns (process, tcp port)."""
    port = free_port()
    proc = ingress(dynamic, f"--entrypoints.tcp.address=127.0.0.1:{port}", *flags)
    return proc, port


def test_plain_catch_all_echoes_and_half_closes_both_ways(ingress: Start, l4: L4Loop) -> None:
    echo = TCPEcho(l4).start()
    _, port = start_tcp(
        ingress,
        {
            "tcp": {
                "routers": {"echo": {"rule": "HostSNI(`*`)", "service": "echo", "entryPoints": ["tcp"]}},
                # A long terminationDelay: the backend's answer after our FIN must not race the default 100 ms.
                "services": {"echo": tcp_service(echo.address, serversTransport="slow")},
                "serversTransports": {"slow": {"terminationDelay": "10s"}},
            }
        },
    )
    with connect(port) as sock:
        sock.sendall(b"hello over tcp\n")
        assert read_exact(sock, 15) == b"hello over tcp\n"
        # Client half-close: the backend sees EOF, still answers, and its own FIN comes back.
        sock.sendall(b"last words")
        sock.shutdown(socket.SHUT_WR)
        assert read_all(sock) == b"last words"
    eventually(lambda: echo.eofs >= 1, timeout=5)


def test_termination_delay_ends_a_half_closed_connection(ingress: Start, l4: L4Loop) -> None:
    silent = TCPEcho(l4, hold_after_eof=True).start()  # answers data, but never its own FIN
    _, port = start_tcp(
        ingress,
        {
            "tcp": {
                "routers": {"hold": {"rule": "HostSNI(`*`)", "service": "hold", "entryPoints": ["tcp"]}},
                "services": {"hold": tcp_service(silent.address, serversTransport="quick")},
                "serversTransports": {"quick": {"terminationDelay": "300ms"}},
            }
        },
    )
    with connect(port) as sock:
        sock.sendall(b"bye")
        assert read_exact(sock, 3) == b"bye"
        sock.shutdown(socket.SHUT_WR)
        started = time.monotonic()
        assert read_all(sock) == b""  # the proxy ends the connection terminationDelay after our FIN
        assert 0.25 <= time.monotonic() - started < 3


def test_server_first_protocol_is_served_before_the_client_speaks(ingress: Start, l4: L4Loop) -> None:
    # Traefik: only plain TCP routers (no TLS ones, no HTTPS) -> matched before the first byte.
    banner = TCPEcho(l4, greeting=b"220 ready\r\n").start()
    _, port = start_tcp(
        ingress,
        {
            "tcp": {
                "routers": {"smtp": {"rule": "HostSNI(`*`)", "service": "smtp", "entryPoints": ["tcp"]}},
                "services": {"smtp": tcp_service(banner.address)},
            }
        },
    )
    with connect(port, timeout=3) as sock:
        assert read_exact(sock, 11) == b"220 ready\r\n"


def test_tls_passthrough_backend_completes_the_handshake(ingress: Start, l4: L4Loop, tmp_path: Path) -> None:
    backend_ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    backend_ca.issue_cert("pass.test").configure_cert(server_ctx)
    echo = TCPEcho(l4, tls=server_ctx).start()
    _, port = start_tcp(
        ingress,
        {
            "tcp": {
                "routers": {
                    "pass": {
                        "rule": "HostSNI(`pass.test`)",
                        "service": "pass",
                        "entryPoints": ["tcp"],
                        "tls": {"passthrough": True},
                    }
                },
                "services": {"pass": tcp_service(echo.address)},
            }
        },
    )
    # Only the backend has a certificate from backend_ca: a verified handshake proves it terminated TLS itself.
    with connect(port) as raw, client_tls(backend_ca).wrap_socket(raw, server_hostname="pass.test") as tls:
        tls.sendall(b"through")
        assert read_exact(tls, 7) == b"through"
        assert tls.getpeercert() is not None
    eventually(lambda: echo.handshakes == 1, timeout=5)


def test_tls_termination_to_a_plain_backend_with_the_routers_options(
    ingress: Start, l4: L4Loop, tmp_path: Path
) -> None:
    ca = trustme.CA()
    echo = TCPEcho(l4).start()
    _, port = start_tcp(
        ingress,
        {
            "tls": {
                "certificates": [leaf(ca, tmp_path, "term", "term.test")],
                "options": {"modern": {"minVersion": "VersionTLS13"}},
            },
            "tcp": {
                "routers": {
                    "term": {
                        "rule": "HostSNI(`term.test`)",
                        "service": "term",
                        "entryPoints": ["tcp"],
                        "tls": {"options": "modern"},
                    }
                },
                "services": {"term": tcp_service(echo.address)},
            },
        },
    )
    with connect(port) as raw, client_tls(ca).wrap_socket(raw, server_hostname="term.test") as tls:
        assert tls.version() == "TLSv1.3"
        tls.sendall(b"decrypted")
        assert read_exact(tls, 9) == b"decrypted"
    assert echo.first_bytes == [b"decrypted"]  # the backend got plain bytes
    old = client_tls(ca)
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with connect(port) as raw, pytest.raises((ssl.SSLError, OSError)):
        old.wrap_socket(raw, server_hostname="term.test")  # the router's options refuse TLS 1.2


def test_sni_alpn_and_https_order_on_a_shared_entrypoint(
    ingress: Start, backend: Any, l4: L4Loop, tmp_path: Path
) -> None:
    ca = trustme.CA()
    web = backend("web")
    by_sni = TCPEcho(l4, greeting=b"sni:").start()
    by_alpn = TCPEcho(l4, greeting=b"alpn:").start()
    rest = TCPEcho(l4, greeting=b"any:").start()
    port = free_port()
    ingress(
        {
            "tls": {"certificates": [leaf(ca, tmp_path, "all", "web.test", "db.test", "x.test", "re.test")]},
            "http": {
                "routers": {
                    "site": {"rule": "Host(`web.test`)", "service": "site", "entryPoints": ["secure"], "tls": {}}
                },
                "services": {"site": lb_service(web.url)},
            },
            "tcp": {
                "routers": {
                    "db": {
                        "rule": "HostSNI(`db.test`) || HostSNIRegexp(`^re\\.`)",
                        "service": "sni",
                        "entryPoints": ["secure"],
                        "tls": {},
                    },
                    "proto": {"rule": "ALPN(`x-proto`)", "service": "alpn", "entryPoints": ["secure"], "tls": {}},
                    # The catch-all also matches web.test, but the HTTPS router naming it wins (Traefik's order).
                    "any": {"rule": "HostSNI(`*`)", "service": "any", "entryPoints": ["secure"], "tls": {}},
                },
                "services": {
                    "sni": tcp_service(by_sni.address),
                    "alpn": tcp_service(by_alpn.address),
                    "any": tcp_service(rest.address),
                },
            },
        },
        f"--entrypoints.secure.address=127.0.0.1:{port}",
    )

    def greeting(server_name: str, alpn: list[str] | None = None) -> bytes:
        with connect(port) as raw, client_tls(ca, alpn).wrap_socket(raw, server_hostname=server_name) as tls:
            return read_exact(tls, 4 if server_name != "x.test" or not alpn else 5)

    assert greeting("db.test") == b"sni:"
    assert greeting("re.test") == b"sni:"
    assert greeting("x.test", ["x-proto"]) == b"alpn:"
    assert greeting("x.test") == b"any:"
    with connect(port) as raw, client_tls(ca).wrap_socket(raw, server_hostname="web.test") as tls:
        tls.sendall(b"GET / HTTP/1.1\r\nHost: web.test\r\nConnection: close\r\n\r\n")
        assert read_all(tls).startswith(b"HTTP/1.1 200")


def test_backend_down_closes_the_client_promptly(ingress: Start) -> None:
    dead = free_port()  # nothing listens there
    _, port = start_tcp(
        ingress,
        {
            "tcp": {
                "routers": {"down": {"rule": "HostSNI(`*`)", "service": "down", "entryPoints": ["tcp"]}},
                "services": {"down": tcp_service(f"127.0.0.1:{dead}")},
            }
        },
    )
    started = time.monotonic()
    with connect(port, timeout=5) as sock:
        sock.sendall(b"anyone?")
        assert closed_by_peer(sock)
    assert time.monotonic() - started < 3


def test_client_without_client_hello_is_cut_at_read_timeout(ingress: Start, l4: L4Loop, tmp_path: Path) -> None:
    ca = trustme.CA()
    echo = TCPEcho(l4).start()
    _, port = start_tcp(
        ingress,
        {
            "tls": {"certificates": [leaf(ca, tmp_path, "t", "t.test")]},
            "tcp": {
                "routers": {
                    "t": {"rule": "HostSNI(`t.test`)", "service": "t", "entryPoints": ["tcp"], "tls": {}},
                },
                "services": {"t": tcp_service(echo.address)},
            },
        },
        "--entrypoints.tcp.transport.respondingTimeouts.readTimeout=1s",
    )
    started = time.monotonic()
    with connect(port, timeout=10) as sock:
        assert closed_by_peer(sock)  # never sent a byte: cut by the entrypoint
    assert 0.8 <= time.monotonic() - started < 5


def test_ip_allow_list_and_in_flight_conn(ingress: Start, l4: L4Loop) -> None:
    echo = TCPEcho(l4).start()
    closed_port = free_port()
    limited_port = free_port()
    ingress(
        {
            "tcp": {
                "routers": {
                    "closed": {
                        "rule": "HostSNI(`*`)",
                        "service": "echo",
                        "entryPoints": ["closed"],
                        "middlewares": ["lan-only"],
                    },
                    "limited": {
                        "rule": "HostSNI(`*`)",
                        "service": "echo",
                        "entryPoints": ["limited"],
                        "middlewares": ["one"],
                    },
                },
                "services": {"echo": tcp_service(echo.address)},
                "middlewares": {
                    "lan-only": {"ipAllowList": {"sourceRange": ["10.0.0.0/8"]}},
                    "one": {"inFlightConn": {"amount": 1}},
                },
            }
        },
        f"--entrypoints.closed.address=127.0.0.1:{closed_port}",
        f"--entrypoints.limited.address=127.0.0.1:{limited_port}",
    )
    with connect(closed_port) as sock:
        sock.sendall(b"x")
        assert closed_by_peer(sock)
    with connect(limited_port) as first:
        first.sendall(b"1")
        assert read_exact(first, 1) == b"1"
        with connect(limited_port) as second:
            second.sendall(b"2")
            assert closed_by_peer(second)  # over inFlightConn: closed

    # The slot is given back when the first connection ends.
    def third_served() -> bool:
        # Until the proxy has seen the first connection end, the slot is still taken and this one is closed: retry.
        with connect(limited_port) as third:
            try:
                third.sendall(b"3")
                return read_exact(third, 1) == b"3"
            except (EOFError, ConnectionError):
                return False

    assert eventually(third_served, timeout=5)


@pytest.mark.parametrize("version", [1, 2])
def test_proxy_protocol_header_goes_to_the_server_first(ingress: Start, l4: L4Loop, version: int) -> None:
    echo = TCPEcho(l4).start()
    _, port = start_tcp(
        ingress,
        {
            "tcp": {
                "routers": {"pp": {"rule": "HostSNI(`*`)", "service": "pp", "entryPoints": ["tcp"]}},
                "services": {"pp": tcp_service(echo.address, serversTransport="pp")},
                "serversTransports": {"pp": {"proxyProtocol": {"version": version}}},
            }
        },
    )
    with connect(port) as sock:
        client_port = sock.getsockname()[1]
        sock.sendall(b"payload")
        expected_prefix = (
            f"PROXY TCP4 127.0.0.1 127.0.0.1 {client_port} {port}\r\n".encode()
            if version == 1
            else b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c"
        )
        header_size = len(expected_prefix) if version == 1 else 16 + 12  # v2: fixed part, then IPv4 addresses
        echoed = read_exact(sock, header_size + 7)
    assert echoed.startswith(expected_prefix)
    assert echoed.endswith(b"payload")


def test_weighted_service_spreads_connections_and_api_shows_tcp_objects(ingress: Start, l4: L4Loop) -> None:
    one = TCPEcho(l4, greeting=b"1").start()
    two = TCPEcho(l4, greeting=b"2").start()
    api_port = free_port()
    _, port = start_tcp(
        ingress,
        {
            "tcp": {
                "routers": {"w": {"rule": "HostSNI(`*`)", "service": "w", "entryPoints": ["tcp"]}},
                "services": {
                    "w": {"weighted": {"services": [{"name": "one", "weight": 1}, {"name": "two", "weight": 1}]}},
                    "one": tcp_service(one.address),
                    "two": tcp_service(two.address),
                },
            }
        },
        f"--entrypoints.traefik.address=127.0.0.1:{api_port}",
        "--api.insecure=true",
        "--metrics.prometheus=true",
    )
    with connect(port) as held:
        held.recv(1)

        def open_tcp_connections() -> bool:
            text = http_request(api_port, "GET", "/metrics").body.decode()
            return '_open_connections{entrypoint="tcp",protocol="TCP"} 1' in text  # any metrics prefix

        assert eventually(open_tcp_connections, timeout=5)  # a proxied connection counts while it is open
    seen = set()
    for _ in range(4):
        with connect(port) as sock:
            seen.add(read_exact(sock, 1))
    assert seen == {b"1", b"2"}
    routers = http_request(api_port, "GET", "/api/tcp/routers").json()
    assert [(r["name"], r["status"], r["using"]) for r in routers] == [("w@file", "enabled", ["tcp"])]
    services = {s["name"]: s for s in http_request(api_port, "GET", "/api/tcp/services").json()}
    assert services["w@file"]["type"] == "weighted"
    assert services["one@file"]["usedBy"] == []
    overview = http_request(api_port, "GET", "/api/overview").json()
    assert overview["tcp"]["routers"] == {"total": 1, "warnings": 0, "errors": 0}
    raw = http_request(api_port, "GET", "/api/rawdata").json()
    assert set(raw["tcpServices"]) == {"w@file", "one@file", "two@file"}


def test_a_reload_swaps_the_tcp_routers(ingress: Start, l4: L4Loop, tmp_path: Path) -> None:
    first = TCPEcho(l4, greeting=b"A").start()
    second = TCPEcho(l4, greeting=b"B").start()

    def config(address: str) -> dict[str, Any]:
        return {
            "tcp": {
                "routers": {"r": {"rule": "HostSNI(`*`)", "service": "s", "entryPoints": ["tcp"]}},
                "services": {"s": tcp_service(address)},
            }
        }

    proc, port = start_tcp(ingress, config(first.address))
    with connect(port) as sock:
        assert read_exact(sock, 1) == b"A"
    write_dynamic(tmp_path / f"dynamic-{proc.port}.yml", config(second.address))

    def served_by_second() -> bool:
        with connect(port) as sock:
            return read_exact(sock, 1) == b"B"

    assert eventually(served_by_second, timeout=10)


def test_tls_to_the_server_with_the_transports_roots_and_server_name(
    ingress: Start, l4: L4Loop, tmp_path: Path
) -> None:
    backend_ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    backend_ca.issue_cert("backend.test").configure_cert(server_ctx)
    secure = TCPEcho(l4, tls=server_ctx).start()
    ca_file = tmp_path / "backend-ca.pem"
    backend_ca.cert_pem.write_to_path(str(ca_file))
    _, port = start_tcp(
        ingress,
        {
            "tcp": {
                "routers": {
                    "good": {"rule": "HostSNI(`*`)", "service": "good", "entryPoints": ["tcp"]},
                    "bad": {"rule": "HostSNI(`*`)", "service": "bad", "entryPoints": ["other"]},
                },
                "services": {
                    "good": {
                        "loadBalancer": {"servers": [{"address": secure.address, "tls": True}], "serversTransport": "t"}
                    },
                    # Without the transport's roots the server's certificate is not trusted: the client is closed.
                    "bad": {"loadBalancer": {"servers": [{"address": secure.address, "tls": True}]}},
                },
                "serversTransports": {"t": {"tls": {"rootCAs": [str(ca_file)], "serverName": "backend.test"}}},
            }
        },
        f"--entrypoints.other.address=127.0.0.1:{(other := free_port())}",
    )
    with connect(port) as sock:
        sock.sendall(b"over tls")
        assert read_exact(sock, 8) == b"over tls"
    assert secure.handshakes == 1
    with connect(other) as sock:
        sock.sendall(b"x")
        assert closed_by_peer(sock)


def test_a_large_stream_crosses_intact_both_ways_under_backpressure(ingress: Start, l4: L4Loop) -> None:
    echo = TCPEcho(l4).start()
    _, port = start_tcp(
        ingress,
        {
            "tcp": {
                "routers": {"big": {"rule": "HostSNI(`*`)", "service": "big", "entryPoints": ["tcp"]}},
                "services": {"big": tcp_service(echo.address, serversTransport="slow")},
                "serversTransports": {"slow": {"terminationDelay": "10s"}},
            }
        },
    )
    payload = bytes(range(256)) * (32 * 1024)  # 8 MiB: far more than the socket buffers on either leg
    with connect(port, timeout=30) as sock:
        # Send from a thread while this one reads: the echo pushes back, so both legs pause and resume.
        sender = threading.Thread(target=lambda: (sock.sendall(payload), sock.shutdown(socket.SHUT_WR)))
        sender.start()
        received = read_all(sock, limit=len(payload) + 1)
        sender.join(30)
    assert len(received) == len(payload)
    assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()


def test_client_ip_rule_and_proxy_protocol_out_use_the_proxy_headers_client(ingress: Start, l4: L4Loop) -> None:
    echo = TCPEcho(l4).start()
    _, port = start_tcp(
        ingress,
        {
            "tcp": {
                "routers": {"lan": {"rule": "ClientIP(`10.0.0.0/8`)", "service": "lan", "entryPoints": ["tcp"]}},
                "services": {"lan": tcp_service(echo.address, serversTransport="pp")},
                "serversTransports": {"pp": {"proxyProtocol": {"version": 1}}},
            }
        },
        "--entrypoints.tcp.proxyProtocol.insecure=true",
    )
    with connect(port) as sock:
        sock.sendall(b"PROXY TCP4 10.1.2.3 192.0.2.1 4000 443\r\nhello")
        # Both addresses come from the incoming header (go-proxyproto's RemoteAddr and LocalAddr, as in Traefik).
        expected = b"PROXY TCP4 10.1.2.3 192.0.2.1 4000 443\r\nhello"
        assert read_exact(sock, len(expected)) == expected


def test_sigterm_lets_an_open_tcp_connection_finish(ingress: Start, l4: L4Loop) -> None:
    echo = TCPEcho(l4).start()
    proc, port = start_tcp(
        ingress,
        {
            "tcp": {
                "routers": {"r": {"rule": "HostSNI(`*`)", "service": "s", "entryPoints": ["tcp"]}},
                "services": {"s": tcp_service(echo.address)},
            }
        },
        "--entrypoints.tcp.transport.lifeCycle.graceTimeOut=20s",
    )
    with connect(port) as sock:
        sock.sendall(b"1")
        assert read_exact(sock, 1) == b"1"
        proc.signal(signal.SIGTERM)
        eventually(lambda: not accepts(port), timeout=10)  # the listener closes at once...
        sock.sendall(b"2")
        assert read_exact(sock, 1) == b"2"  # ...while the open connection is still served
    assert proc.wait(timeout=10) == 0  # and the process ends as soon as it is closed, well before graceTimeOut


def test_health_check_takes_a_dead_server_out_and_the_api_shows_it(ingress: Start, l4: L4Loop) -> None:
    alive = TCPEcho(l4, greeting=b"A").start()
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    api_port = free_port()
    _, port = start_tcp(
        ingress,
        {
            "tcp": {
                "routers": {"r": {"rule": "HostSNI(`*`)", "service": "s", "entryPoints": ["tcp"]}},
                "services": {
                    "s": {
                        "loadBalancer": {
                            "servers": [{"address": dead}, {"address": alive.address}],
                            "healthCheck": {"interval": "100ms", "timeout": "1s"},
                        }
                    }
                },
            }
        },
        f"--entrypoints.traefik.address=127.0.0.1:{api_port}",
        "--api.insecure=true",
    )

    def dead_is_down() -> bool:
        service = http_request(api_port, "GET", "/api/tcp/services/s@file").json()
        return service["serverStatus"] == {dead: "DOWN", alive.address: "UP"}

    assert eventually(dead_is_down, timeout=10)
    for _ in range(4):  # round robin over the servers still up: only the live one
        with connect(port) as sock:
            assert read_exact(sock, 1) == b"A"
