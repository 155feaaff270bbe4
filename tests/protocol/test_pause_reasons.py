"""Why ``HttpProtocol`` stops reading its socket, by name (:class:`hanzo_edge.http.connection.PauseReason`).

Reading pauses while any reason holds and resumes when the last one goes; the reasons are read back through
``HttpProtocol.pause_reasons``.
"""

from __future__ import annotations

import asyncio

from edge_wire import Client, async_test

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.connection import PauseReason
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response


class Gate:
    """A handler that answers once released; it reads the request body first when ``read_body``."""

    def __init__(self, read_body: bool = False) -> None:
        self.release = asyncio.Event()
        self.read_body = read_body
        self.entered = 0

    async def __call__(self, req: Request) -> Response:
        self.entered += 1
        await self.release.wait()
        body = b""
        if self.read_body and isinstance(req.body, StreamBody):
            body = await req.body.read()
        return Response(200, Headers(), b"ok" + body)


@async_test
async def test_pipelined_requests_pause_reading_for_the_pipeline() -> None:
    gate = Gate()
    c = Client(gate)
    c.send(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
    await c.until(lambda: gate.entered == 1)

    assert c.proto.pause_reasons == PauseReason.PIPELINE
    assert c.transport.paused

    gate.release.set()
    await c.until(lambda: c.output.count(b"HTTP/1.1 200 OK") == 2)
    assert c.proto.pause_reasons == PauseReason(0)
    assert not c.transport.paused
    await c.aclose()


@async_test
async def test_expect_continue_pauses_until_the_body_is_read() -> None:
    gate = Gate(read_body=True)
    c = Client(gate)
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
    await c.until(lambda: gate.entered == 1)

    assert c.proto.pause_reasons == PauseReason.EXPECT_CONTINUE
    assert c.output == b""

    gate.release.set()
    await c.until(lambda: c.output == b"HTTP/1.1 100 Continue\r\n\r\n")
    assert c.proto.pause_reasons == PauseReason(0)
    c.send(b"abc")
    await c.until(lambda: c.output.endswith(b"okabc"))
    await c.aclose()


@async_test
async def test_an_upgrade_holds_reading_until_the_backend_answers() -> None:
    gate = Gate()
    c = Client(gate)
    c.send(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nframe")
    await c.until(lambda: gate.entered == 1)

    assert PauseReason.UPGRADE in c.proto.pause_reasons
    assert c.transport.paused
    await c.aclose()


@async_test
async def test_a_body_consumer_behind_pauses_the_client() -> None:
    body_seen: list[StreamBody] = []

    async def holding(req: Request) -> Response:
        assert isinstance(req.body, StreamBody)
        body_seen.append(req.body)
        await asyncio.Event().wait()  # never reads: the body's buffer fills past its high-water mark
        raise AssertionError("unreachable")

    c = Client(holding)
    size = 512 * 1024
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
    await c.until(lambda: bool(body_seen))
    c.send(b"x" * (size // 2 + 1))

    assert c.proto.pause_reasons == PauseReason.BODY_CONSUMER
    assert c.transport.paused
    await c.aclose()
