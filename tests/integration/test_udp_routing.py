"""UDP entrypoints through the real CLI with raw sockets against real UDP echo backends (``l4_backends.py``)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from edge_harness import eventually, free_port, http_request
from l4_backends import L4Loop, UDPEcho

pytestmark = pytest.mark.integration


@pytest.fixture
def l4() -> Iterator[L4Loop]:
    loop = L4Loop()
    yield loop
    loop.close()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def udp_socket_bound(port: int) -> bool:
    """True while some UDP socket of this host is bound to ``port`` (read from /proc/net/udp)."""
    wanted = f":{port:04X}"
    with open("/proc/net/udp") as table:
        return any(line.split()[1].endswith(wanted) for line in list(table)[1:])


def udp_client(timeout: float = 2.0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    return sock


def exchange(sock: socket.socket, port: int, payload: bytes) -> bytes:
    """Send until an answer comes (the first datagram may race the listener's start; UDP has no handshake)."""

    def answered() -> bytes:
        sock.sendto(payload, ("127.0.0.1", port))
        try:
            return sock.recvfrom(65536)[0]
        except TimeoutError:
            return b""

    return eventually(answered, timeout=5)


def udp_lb(*addresses: str) -> dict[str, Any]:
    return {"loadBalancer": {"servers": [{"address": a} for a in addresses]}}


Start = Callable[..., Any]


def test_udp_echo_one_session_per_client_until_the_timeout(ingress: Start, l4: L4Loop) -> None:
    echo = UDPEcho(l4, "one").start()
    port = free_udp_port()
    api_port = free_port()
    ingress(
        {
            "udp": {
                "routers": {"dns": {"service": "dns"}},  # no entryPoints: every UDP entrypoint (Traefik)
                "services": {"dns": udp_lb(echo.address)},
            }
        },
        f"--entrypoints.dns.address=127.0.0.1:{port}/udp",
        "--entrypoints.dns.udp.timeout=300ms",
        f"--entrypoints.traefik.address=127.0.0.1:{api_port}",
        "--api.insecure=true",
    )
    with udp_client() as a, udp_client() as b:
        assert exchange(a, port, b"ping-a") == b"one:ping-a"
        assert exchange(b, port, b"ping-b") == b"one:ping-b"
        a.sendto(b"again", ("127.0.0.1", port))
        assert a.recvfrom(100)[0] == b"one:again"
        sources = {peer for peer in echo.peers}
        assert len(sources) == 2  # one session (one upstream socket) per client address
        first_session = echo.peers[-1]
        # Past udp.timeout the session's upstream socket is closed (watched in /proc, without refreshing it).
        eventually(lambda: not udp_socket_bound(first_session[1]), timeout=5)
        a.sendto(b"later", ("127.0.0.1", port))
        assert a.recvfrom(100)[0] == b"one:later"
        assert echo.peers[-1] != first_session  # a new session, so a new upstream socket
    routers = http_request(api_port, "GET", "/api/udp/routers").json()
    assert [(r["name"], r["status"], r["using"]) for r in routers] == [("dns@file", "enabled", ["dns"])]
    http_routers = http_request(api_port, "GET", "/api/overview").json()
    assert http_routers["udp"]["routers"] == {"total": 1, "warnings": 0, "errors": 0}


def test_udp_weighted_service_spreads_sessions(ingress: Start, l4: L4Loop) -> None:
    one = UDPEcho(l4, "one").start()
    two = UDPEcho(l4, "two").start()
    port = free_udp_port()
    ingress(
        {
            "udp": {
                "routers": {"r": {"service": "w", "entryPoints": ["dns"]}},
                "services": {
                    "w": {"weighted": {"services": [{"name": "one", "weight": 1}, {"name": "two", "weight": 1}]}},
                    "one": udp_lb(one.address),
                    "two": udp_lb(two.address),
                },
            }
        },
        f"--entrypoints.dns.address=127.0.0.1:{port}/udp",
    )
    answers = set()
    for index in range(4):
        with udp_client() as sock:
            answers.add(exchange(sock, port, b"x%d" % index).split(b":")[0])
    assert answers == {b"one", b"two"}
