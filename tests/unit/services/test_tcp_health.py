"""TCP health checks (``services/tcp_health.py``) against real sockets, and the balancer skipping servers down."""

from __future__ import annotations

import asyncio

from hanzo_edge.services.tcp_balancer import Balancer, TCPServerTarget
from hanzo_edge.services.tcp_health import TCPCheck, TCPHealthChecker


def target(port: int, host: str = "127.0.0.1") -> TCPServerTarget:
    return TCPServerTarget(f"{host}:{port}", host, port, 5.0, 15.0, 0.1)


async def _banner_server(reply: bytes) -> asyncio.Server:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(reply)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


def test_probe_sends_and_expects() -> None:
    async def scenario() -> tuple[bool, bool, bool]:
        server = await _banner_server(b"+PONG\r\n")
        port = server.sockets[0].getsockname()[1]
        async with server:
            good = TCPHealthChecker("s", Balancer("s", []), [], TCPCheck(send=b"PING\r\n", expect=b"+PONG", timeout=2))
            bad = TCPHealthChecker("s", Balancer("s", []), [], TCPCheck(send=b"PING\r\n", expect=b"NOPE", timeout=2))
            plain = TCPHealthChecker("s", Balancer("s", []), [], TCPCheck(timeout=2))
            return await good.probe(target(port)), await bad.probe(target(port)), await plain.probe(target(port))

    assert asyncio.run(scenario()) == (True, False, True)


def test_expect_is_the_start_of_the_answer_as_traefik_compares_it() -> None:
    # Traefik (healthcheck_tcp.go) reads len(expect) bytes and compares them: an answer that merely contains the
    # expected text elsewhere (an error message quoting it) is a failed check.
    async def scenario() -> tuple[bool, bool, bool]:
        results = []
        for reply in (b"+PONG\r\n", b"-ERR unknown, expected +PONG\r\n", b"+PO"):
            server = await _banner_server(reply)
            port = server.sockets[0].getsockname()[1]
            async with server:
                check = TCPCheck(send=b"PING\r\n", expect=b"+PONG", timeout=2)
                results.append(await TCPHealthChecker("s", Balancer("s", []), [], check).probe(target(port)))
        return results[0], results[1], results[2]

    assert asyncio.run(scenario()) == (True, False, False)


def test_checker_marks_a_refusing_server_down_and_the_balancer_skips_it() -> None:
    async def scenario() -> tuple[bool | None, bool | None, set[str], int]:
        server = await _banner_server(b"")
        live = server.sockets[0].getsockname()[1]
        async with server:
            refused = await asyncio.get_running_loop().create_server(asyncio.Protocol, "127.0.0.1", 0)
            dead = refused.sockets[0].getsockname()[1]
            refused.close()
            await refused.wait_closed()
            targets = [target(dead), target(live)]
            balancer = Balancer("s", [(t, 1.0) for t in targets])
            checker = TCPHealthChecker("s", balancer, targets, TCPCheck(interval=0.05, timeout=1))
            checker.start()
            try:
                for _ in range(200):
                    if balancer.status(f"127.0.0.1:{dead}") is False:
                        break
                    await asyncio.sleep(0.01)
            finally:
                checker.stop()
            picked = {getattr(balancer.pick(), "address", "") for _ in range(6)}
            return balancer.status(f"127.0.0.1:{dead}"), balancer.status(f"127.0.0.1:{live}"), picked, live

    dead_status, live_status, picked, live = asyncio.run(scenario())
    assert (dead_status, live_status) == (False, True)
    assert picked == {f"127.0.0.1:{live}"}  # only the server that is up is picked


def test_a_child_service_with_nothing_up_is_passed_over() -> None:
    a, b = target(1, "a"), target(2, "b")
    empty_child = Balancer("empty", [(a, 1.0)])
    empty_child.set_status(a.address, False)
    parent = Balancer("parent", [(empty_child, 5.0), (Balancer("full", [(b, 1.0)]), 1.0)])
    assert [parent.pick() for _ in range(3)] == [b, b, b]
    empty_child.set_status(a.address, True)
    assert a in [parent.pick() for _ in range(6)]
    b_only = Balancer("x", [(b, 1.0)])
    b_only.set_status(b.address, False)
    assert b_only.pick() is None
