"""The Task-less request path (issue 22): ``HttpProtocol`` drives a task-free route's request coroutine itself.

Real loopback sockets on both legs: a raw backend whose answer each test controls, the downstream ``HttpProtocol``
on a listening socket, a client on a socket. Each test proves one way the eager path ends as the Task path did:
served, the client gone mid-exchange (499, the upstream connection closed), a backend too slow for
``responseHeaderTimeout`` (504), a head hook that raises (500), and a route whose chain needs a real Task
(``asyncio.timeout``) handed to one.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable

from edge_wire import async_test
from task_free_rig import GET, Rig, poll, read_response, request_tasks, wrr

from hanzo_edge.http.fused_head import FusedHead
from hanzo_edge.http.messages import Request, Response
from hanzo_edge.http.pool import PoolRegistry, TransportOptions
from hanzo_edge.http.proxy import ServerTarget
from hanzo_edge.routing.table import needs_no_task
from hanzo_edge.services.wrr import WeightedRoundRobin


async def ask(port: int, request: bytes = GET) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    head, body = await read_response(reader)
    writer.close()
    await writer.wait_closed()
    return head + body


def test_the_plain_chain_is_task_free_and_any_other_is_not() -> None:
    target = ServerTarget("http://127.0.0.1:9", PoolRegistry(), TransportOptions())

    async def timed(req: Request) -> Response:
        return await target(req)

    assert needs_no_task(target)
    assert needs_no_task(wrr(target))
    assert needs_no_task(FusedHead(wrr(target), None, None))
    assert needs_no_task(WeightedRoundRobin([("a", 1, wrr(target)), ("b", 1, target)]))
    assert not needs_no_task(timed)
    assert not needs_no_task(WeightedRoundRobin([("a", 1, target), ("b", 1, timed)]))
    assert not needs_no_task(FusedHead(timed, None, None))


@async_test
async def test_a_task_free_route_is_served_without_a_request_task() -> None:
    rig = Rig()
    rig.hold = True
    port = await rig.start(wrr)
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(GET)
    await asyncio.wait_for(rig.seen.get(), 10)  # the request is at the backend, its answer held back
    assert request_tasks() == []  # ... and no Task serves it
    await rig.stop(writer)


@async_test
async def test_a_served_request_reports_its_status_and_keeps_the_connection() -> None:
    rig = Rig()
    port = await rig.start(wrr)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(3):
        writer.write(GET)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert await asyncio.wait_for(reader.readexactly(2), 10) == b"ok"
    await poll(lambda: len(rig.observed) == 3)
    assert rig.observed == [(200, False)] * 3
    await rig.stop(writer)


@async_test
async def test_a_client_gone_mid_exchange_is_a_499_and_closes_the_upstream_connection() -> None:
    rig = Rig()
    rig.hold = True
    port = await rig.start(wrr)
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(GET)
    await asyncio.wait_for(rig.seen.get(), 10)
    # A reset, not a FIN: a half-closed client still gets the answers it asked for.
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
    await asyncio.wait_for(rig.closed.wait(), 10)  # the exchange's upstream connection is closed, not pooled
    await poll(lambda: bool(rig.observed))
    assert rig.observed == [(499, True)]
    await rig.stop()


@async_test
async def test_a_slow_backend_hits_the_response_header_timeout() -> None:
    rig = Rig()
    rig.hold = True
    port = await rig.start(wrr, header_timeout=0.05)
    answer = await ask(port)
    assert answer.startswith(b"HTTP/1.1 504 Gateway Timeout\r\n")
    await poll(lambda: bool(rig.observed))
    assert rig.observed == [(504, False)]
    await rig.stop()


@async_test
async def test_a_head_hook_that_raises_is_a_500() -> None:
    def broken(req: Request) -> Response | None:
        raise RuntimeError("hook failed")

    rig = Rig()
    port = await rig.start(lambda target: FusedHead(wrr(target), broken, None))
    answer = await ask(port)
    assert answer.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    await poll(lambda: bool(rig.observed))
    assert rig.observed == [(500, False)]
    await rig.stop()


@async_test
async def test_a_chain_that_needs_a_task_gets_one() -> None:
    seen_tasks: list[asyncio.Task[object] | None] = []

    def timed(target: ServerTarget) -> Callable[[Request], Awaitable[Response]]:
        async def handler(req: Request) -> Response:
            seen_tasks.append(asyncio.current_task())
            async with asyncio.timeout(5):  # raises RuntimeError outside a Task
                return await target(req)

        return handler

    rig = Rig()
    port = await rig.start(timed)
    answer = await ask(port)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert answer.endswith(b"ok")
    assert len(seen_tasks) == 1
    assert seen_tasks[0] is not None
    await rig.stop()
