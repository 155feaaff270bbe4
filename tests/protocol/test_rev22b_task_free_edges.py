"""Review of issue 22's Task-less request path: the edges of a task-free route on real loopback sockets.

A task-free route (fused head-only hooks around a round-robin balancer of HTTP/1.1 servers) has its request
coroutine driven by ``HttpProtocol`` itself. Each test here drives one edge the Task path handled and checks the
bytes on the wire (and, where it matters, that no request Task was made, so the eager path is what ran): pipelined
requests behind a suspended one, ``Expect: 100-continue``, a backend that dies mid-body, a stale pooled connection
retried, a graceful drain that must wait for the suspended request, an upgrade tunnel, and HEAD.
"""

from __future__ import annotations

import asyncio

from edge_wire import async_test
from task_free_rig import GET, RawBackend, Rig, poll, read_response, request_tasks

from hanzo_edge.http.messages import Response


def ok(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)


def echo_path(conn: RawBackend, data: bytes) -> None:
    # One answer per request head seen (several may come in one read), naming its path.
    for line in data.split(b"\r\n"):
        if line.startswith((b"GET ", b"POST ", b"HEAD ")):
            conn.transport.write(ok(line.split(b" ")[1]))


@async_test
async def test_pipelined_requests_behind_a_task_free_one_are_answered_in_order() -> None:
    rig = Rig(echo_path)
    port = await rig.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"".join(b"GET /%d HTTP/1.1\r\nHost: app.test\r\n\r\n" % i for i in range(3)))
    bodies = [(await read_response(reader))[1] for _ in range(3)]
    assert bodies == [b"/0", b"/1", b"/2"]
    assert rig.observed == [(200, False)] * 3
    await rig.stop(writer)


@async_test
async def test_expect_continue_on_a_task_free_route_gets_its_100_then_the_answer() -> None:
    got: list[bytes] = []

    def answer(conn: RawBackend, data: bytes) -> None:
        got.append(data)
        if b"".join(got).endswith(b"hello"):
            conn.transport.write(ok(b"done"))

    rig = Rig(answer)
    port = await rig.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /u HTTP/1.1\r\nHost: app.test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"hello")
    head, body = await read_response(reader)
    assert head.startswith(b"HTTP/1.1 200 ")
    assert body == b"done"
    assert b"".join(got).endswith(b"\r\n\r\nhello")
    await rig.stop(writer)


@async_test
async def test_a_backend_that_dies_mid_body_closes_the_client_connection() -> None:
    def answer(conn: RawBackend, data: bytes) -> None:
        conn.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        asyncio.get_running_loop().call_later(0.05, conn.transport.close)

    rig = Rig(answer)
    port = await rig.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(GET)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200 ")
    rest = await asyncio.wait_for(reader.read(), 5)  # EOF: the body can only end short by the connection closing
    assert rest == b"abc"
    await poll(lambda: rig.observed == [(200, True)])
    await rig.stop(writer)


@async_test
async def test_a_stale_pooled_connection_is_retried_once_on_a_fresh_one() -> None:
    # Keyed by the connection itself, which keeps it alive: an id() could be a closed connection's again.
    served: dict[RawBackend, int] = {}

    def answer(conn: RawBackend, data: bytes) -> None:
        # The first request of a backend connection is answered (keep-alive promised); a second one on it finds
        # the connection gone without a byte of answer: the pooled connection was stale, the exchange is retried.
        count = served[conn] = served.get(conn, 0) + 1
        if count == 1:
            conn.transport.write(ok(b"fresh"))
        else:
            conn.transport.close()

    rig = Rig(answer)
    port = await rig.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(2):
        writer.write(GET)
        assert (await read_response(reader))[1] == b"fresh"
    assert sorted(served.values()) == [1, 2]  # the second request went to the pooled connection first
    assert rig.observed == [(200, False), (200, False)]
    assert request_tasks() == []
    await rig.stop(writer)


@async_test
async def test_a_graceful_drain_waits_for_a_suspended_task_free_request() -> None:
    held: list[RawBackend] = []
    rig = Rig(lambda conn, _data: held.append(conn))
    port = await rig.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(GET)
    await poll(lambda: bool(held))
    assert request_tasks() == []  # suspended without a Task: the eager path is what is being drained
    rig.ctx.draining = True
    assert rig.ctx.close_idle() == 1  # busy: not closed under the request
    held[0].transport.write(ok(b"late"))
    head, body = await read_response(reader)
    assert body == b"late"
    assert b"Connection: close" in head
    assert await asyncio.wait_for(reader.read(), 5) == b""  # draining: closed once answered
    await rig.stop(writer)


@async_test
async def test_an_upgrade_on_a_task_free_route_becomes_a_tunnel() -> None:
    def answer(conn: RawBackend, data: bytes) -> None:
        if data.startswith(b"GET "):
            conn.transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
            )
            if data.endswith(b"early"):
                conn.transport.write(b"echo:early")
        else:
            conn.transport.write(b"echo:" + data)

    rig = Rig(answer)
    port = await rig.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /ws HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101 ")
    writer.write(b"ping")
    assert await asyncio.wait_for(reader.readexactly(9), 5) == b"echo:ping"
    await rig.stop(writer)


@async_test
async def test_head_on_a_task_free_route_relays_the_head_only_and_keeps_the_connection() -> None:
    def answer(conn: RawBackend, data: bytes) -> None:
        conn.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")

    rig = Rig(answer)
    port = await rig.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(2):
        writer.write(b"HEAD /h HTTP/1.1\r\nHost: app.test\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200 ")
        assert b"Content-Length: 5" in head
    assert rig.observed == [(200, False), (200, False)]
    await rig.stop(writer)


async def read_until_eof(reader: asyncio.StreamReader) -> bytes:
    """Everything until the proxy closes the connection (a timeout fails: a connection left open hangs a client)."""
    got = b""
    while chunk := await asyncio.wait_for(reader.read(65536), 5):
        got += chunk
    return got


@async_test
async def test_a_half_closed_client_gets_its_whole_streamed_answer_and_then_the_close() -> None:
    # The client sends its request and shuts its side (SHUT_WR); the backend's body comes in two reads. The proxy
    # finishes the answer it was asked for and then closes, as eof_received promises. Before the fix, the half-close
    # marked the connection "closing": the body's later bytes were dropped and the connection was never closed.
    def answer(conn: RawBackend, data: bytes) -> None:
        conn.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc")
        asyncio.get_running_loop().call_later(0.05, conn.transport.write, b"def")

    rig = Rig(answer)
    port = await rig.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(GET)
    writer.write_eof()
    got = await read_until_eof(reader)
    assert got.startswith(b"HTTP/1.1 200 ")
    assert got.endswith(b"\r\n\r\nabcdef")
    assert rig.observed == [(200, False)]
    await rig.stop(writer)


@async_test
async def test_a_half_closed_client_gets_every_pipelined_answer_it_asked_for() -> None:
    held: list[RawBackend] = []

    def answer(conn: RawBackend, data: bytes) -> None:
        held.append(conn)
        echo_path(conn, data)

    rig = Rig(answer)
    port = await rig.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"".join(b"GET /%d HTTP/1.1\r\nHost: app.test\r\n\r\n" % i for i in range(3)))
    writer.write_eof()
    got = await read_until_eof(reader)
    assert got.count(b"HTTP/1.1 200 ") == 3
    assert got.endswith(b"/2")
    assert rig.observed == [(200, False)] * 3
    await rig.stop(writer)


@async_test
async def test_a_client_lost_after_the_awaited_future_is_done_still_cancels_the_exchange() -> None:
    # Task.cancel() on a Task whose awaited future is already done (its wake-up is queued) throws CancelledError
    # into the coroutine at that await instead. The eager driver must do the same, pure and compiled (a mypyc
    # coroutine resumed by throw()): the exchange closes its upstream connection and the request is a 499.
    held: list[RawBackend] = []
    rig = Rig(lambda conn, _data: held.append(conn))
    port = await rig.start()
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(GET)
    await poll(lambda: bool(held) and bool(rig.protocols) and rig.protocols[0]._waiting is not None)
    proto = rig.protocols[0]
    waiting = proto._waiting
    assert waiting is not None
    assert request_tasks() == []
    waiting.set_result(Response(200))  # the backend's answer is in, its wake-up queued, when the loss is heard
    proto.connection_lost(None)
    assert proto.transport is not None
    proto.transport.close()  # the socket itself (connection_lost was called first, by hand, to order the two)
    await poll(lambda: rig.observed == [(499, True)])
    await poll(lambda: not rig.conns)  # the upstream connection was closed, not returned to the pool
    await rig.stop(writer)


@async_test
async def test_a_large_body_to_a_backend_that_reads_slowly_is_relayed_whole_under_flow_control() -> None:
    size = 8 << 20
    received = [0]

    def answer(conn: RawBackend, data: bytes) -> None:
        if not received[0]:
            # Stop reading for a while: the proxy's upstream buffer fills, the client socket must be paused.
            conn.transport.pause_reading()
            asyncio.get_running_loop().call_later(0.2, conn.transport.resume_reading)
            received[0] = len(data.split(b"\r\n\r\n", 1)[1])
        else:
            received[0] += len(data)
        if received[0] == size:
            conn.transport.write(ok(b"%d" % received[0]))

    rig = Rig(answer)
    port = await rig.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /big HTTP/1.1\r\nHost: app.test\r\nContent-Length: %d\r\n\r\n" % size)
    writer.write(b"x" * size)
    paused = False
    for _ in range(200):
        paused = paused or bool(rig.protocols and rig.protocols[0].pause_reasons)
        if paused:
            break
        await asyncio.sleep(0.005)
    head, body = await read_response(reader)
    assert head.startswith(b"HTTP/1.1 200 ")
    assert body == b"%d" % size
    assert paused  # the client socket was paused while the backend was not reading
    assert rig.observed == [(200, False)]
    await rig.stop(writer)
