"""``leasttime`` in-flight counts on real loopback sockets: every way a request leaves the balancer gives its count
back (a count left behind would weigh on that server's score for the life of the process).

The rig is the Task-less path's (``task_free_rig.py``) with a least-time balancer over its one backend server: a
client that resets its connection while the backend holds the answer, an upgrade whose tunnel stays open, and a
response whose body is still streaming. In flight ends with the response head (see ``services/leasttime.py``).
"""

from __future__ import annotations

import asyncio
import socket
import struct

from edge_wire import async_test
from task_free_rig import RawBackend, Rig, poll

from hanzo_edge.http.messages import Handler
from hanzo_edge.http.proxy import ServerTarget
from hanzo_edge.services.leasttime import LeastTime


class _Balanced:
    """Builds the rig's route handler: a least-time balancer over the rig's server, kept for the test to inspect."""

    def __init__(self) -> None:
        self.lb = LeastTime("svc@test")
        self.url = ""

    def __call__(self, target: ServerTarget) -> Handler:
        self.url = target.url
        self.lb.add(target.url, 1, target)
        return self.lb

    @property
    def inflight(self) -> int:
        return self.lb.inflight(self.url)


@async_test
async def test_a_client_that_resets_while_the_server_holds_its_answer_leaves_nothing_in_flight() -> None:
    rig = Rig()
    rig.hold = True
    balanced = _Balanced()
    port = await rig.start(balanced)
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /slow HTTP/1.1\r\nHost: app.test\r\n\r\n")
    await asyncio.wait_for(rig.seen.get(), 5)
    assert balanced.inflight == 1
    # An abortive close (RST): the request is cancelled, not answered.
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()
    await poll(lambda: balanced.inflight == 0)
    assert balanced.lb.average_ms(balanced.url) == 0.0  # no answer, no response time
    await rig.stop()


def _upgrade_then_echo(conn: RawBackend, data: bytes) -> None:
    if data.startswith(b"GET "):
        conn.transport.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    else:
        conn.transport.write(data)


@async_test
async def test_an_upgraded_connection_is_out_of_flight_once_switched_and_its_tunnel_still_works() -> None:
    rig = Rig(_upgrade_then_echo)
    balanced = _Balanced()
    port = await rig.start(balanced)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /ws HTTP/1.1\r\nHost: app.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101 ")
    writer.write(b"ping")
    assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
    assert balanced.inflight == 0
    await rig.stop(writer)
    assert balanced.inflight == 0


@async_test
async def test_a_streaming_body_is_out_of_flight_once_its_head_is_in() -> None:
    holding: list[RawBackend] = []

    def head_then_hold(conn: RawBackend, data: bytes) -> None:
        conn.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
        holding.append(conn)

    rig = Rig(head_then_hold)
    balanced = _Balanced()
    port = await rig.start(balanced)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /stream HTTP/1.1\r\nHost: app.test\r\n\r\n")
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert balanced.inflight == 0  # the rest of the body is still on its way
    holding[0].transport.write(b"cd")
    assert await asyncio.wait_for(reader.readexactly(4), 5) == b"abcd"
    await rig.stop(writer)
