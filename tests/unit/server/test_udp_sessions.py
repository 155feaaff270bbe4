"""UDP entrypoint sessions (``server/udp_proxy.py``) on real sockets: one per client address, released when idle,
and bounded: a flood from many source ports never opens more than the limit."""

from __future__ import annotations

import asyncio
import socket

from hanzo_edge.server.udp_proxy import UDPEntrypoint, max_sessions
from hanzo_edge.services.tcp_balancer import Balancer, UDPServerTarget


class _Echo(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(b"echo:" + data, addr)


async def _until(predicate: object, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():  # type: ignore[operator]
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def _scenario(limit: int, clients: int, timeout: float) -> tuple[int, int, int, int]:
    loop = asyncio.get_running_loop()
    backend, _ = await loop.create_datagram_endpoint(_Echo, local_addr=("127.0.0.1", 0))
    port = backend.get_extra_info("sockname")[1]
    balancer = Balancer("s", [(UDPServerTarget(f"127.0.0.1:{port}", "127.0.0.1", port), 1.0)])
    entry = UDPEntrypoint("dns", loop, lambda: balancer, timeout=timeout, limit=limit)
    listener, _ = await loop.create_datagram_endpoint(lambda: entry, local_addr=("127.0.0.1", 0))
    address = listener.get_extra_info("sockname")
    sockets = []
    try:
        for _ in range(clients):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
            sock.sendto(b"hi", address)
        await _until(lambda: len(entry.sessions) + entry.dropped >= clients)
        opened, dropped = len(entry.sessions), entry.dropped
        answered = 0

        def count_answers() -> bool:
            nonlocal answered
            for sock in sockets:
                try:
                    if sock.recv(100) == b"echo:hi":
                        answered += 1
                except BlockingIOError:
                    pass
            return answered >= opened

        await _until(count_answers)
        await _until(lambda: not entry.sessions)  # idle past the timeout: released
        return opened, dropped, answered, len(entry.sessions)
    finally:
        for sock in sockets:
            sock.close()
        entry.close()
        backend.close()


def test_flood_from_many_source_ports_is_bounded_and_sessions_expire() -> None:
    opened, dropped, answered, left = asyncio.run(_scenario(limit=8, clients=40, timeout=0.2))
    assert opened == 8
    assert dropped == 32
    assert answered == 8
    assert left == 0


def test_each_client_address_gets_its_session_under_the_limit() -> None:
    opened, dropped, answered, _ = asyncio.run(_scenario(limit=64, clients=10, timeout=0.2))
    assert (opened, dropped, answered) == (10, 0, 10)


def test_default_limit_is_bounded_by_the_open_file_limit() -> None:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert 16 <= max_sessions() <= max(16, soft // 2)


async def _closed_while_connecting() -> list[bool]:
    loop = asyncio.get_running_loop()
    balancer = Balancer("s", [(UDPServerTarget("127.0.0.1:9", "127.0.0.1", 9), 1.0)])
    entry = UDPEntrypoint("dns", loop, lambda: balancer, timeout=5.0, limit=8)
    entry.datagram_received(b"hi", ("127.0.0.1", 40000))
    session = entry.sessions[("127.0.0.1", 40000)]
    entry.close()  # before the session's socket is made (its connect task has not run yet)
    for _ in range(20):
        await asyncio.sleep(0)
    transport = session.transport
    return [transport is None or transport.is_closing(), not entry.sessions]


def test_a_session_closed_while_connecting_leaves_no_socket_open() -> None:
    # Before the fix the socket made after the close stayed open for ever: nothing tracked it any more.
    assert asyncio.run(_closed_while_connecting()) == [True, True]


async def _flood_while_connecting() -> tuple[int, int]:
    loop = asyncio.get_running_loop()
    balancer = Balancer("s", [(UDPServerTarget("127.0.0.1:9", "127.0.0.1", 9), 1.0)])
    entry = UDPEntrypoint("dns", loop, lambda: balancer, timeout=5.0, limit=64)
    big = b"x" * 60_000
    # All in one loop iteration: no session's socket exists yet, so every datagram would wait in memory.
    for port in range(40000, 40064):
        for _ in range(64):
            entry.datagram_received(big, ("127.0.0.1", port))
    held = sum(len(data) for session in entry.sessions.values() for data in session.queued or ())
    entry.close()
    for _ in range(20):
        await asyncio.sleep(0)
    return held, entry.queued_bytes


def test_datagrams_held_while_sessions_connect_are_bounded_per_entrypoint() -> None:
    held, left = asyncio.run(_flood_while_connecting())
    assert 0 < held <= 4 * 1024 * 1024  # before: 64 sessions x 64 datagrams x 60 kB = 245 MB held
    assert left == 0  # every held byte is given back when the sessions end
