"""The upstream leg relays a Content-Length body's later reads as they are, past httptools (http/upstream.py).

What must hold: the bytes the client gets are the backend's, in order, whatever the read boundaries; a later read
reaches the body without a copy; the body ends exactly at its declared length, the connection is reused (a fresh
parser reads the next response), and whatever follows the body unasked closes the connection.
"""

from __future__ import annotations

import asyncio
import itertools

from edge_wire import MockTransport, async_test
from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.http.body import BodyError, StreamBody
from hanzo_edge.http.messages import Response
from hanzo_edge.http.upstream import UpstreamConnection

HEAD = b"GET / HTTP/1.1\r\nHost: backend\r\n\r\n"


def response_bytes(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)


class Sink:
    """A BodySink that keeps every chunk object it is given."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.ended = False
        self.error: BaseException | None = None

    def write(self, chunk: bytes) -> None:
        self.chunks.append(chunk)

    def write_eof(self) -> None:
        self.ended = True

    def abort(self, exc: BaseException) -> None:
        self.error = exc


class Releases:
    def __init__(self) -> None:
        self.reusable: list[bool] = []

    def __call__(self, conn: UpstreamConnection, reusable: bool) -> None:
        self.reusable.append(reusable)


def connect() -> tuple[UpstreamConnection, MockTransport, Releases]:
    releases = Releases()
    conn = UpstreamConnection(releases)
    transport = MockTransport(asyncio.get_running_loop(), ("10.0.0.1", 80))
    transport.protocol = conn
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, transport, releases


async def start(conn: UpstreamConnection, first: bytes) -> tuple[Response, Sink]:
    future = conn.send(HEAD, b"", chunked=False, head_request=False)
    conn.data_received(first)
    response = await asyncio.wait_for(future, 1)
    sink = Sink()
    assert isinstance(response.body, StreamBody)
    response.body.pump(sink)
    return response, sink


@async_test
async def test_later_reads_reach_the_body_uncopied_and_the_connection_is_reused() -> None:
    conn, _transport, releases = connect()
    body = bytes(range(256)) * 40  # 10,240 bytes
    wire = response_bytes(body)
    head_end = wire.index(b"\r\n\r\n") + 4
    first, second, third = wire[: head_end + 100], wire[head_end + 100 : head_end + 5000], wire[head_end + 5000 :]
    _response, sink = await start(conn, first)
    conn.data_received(second)
    conn.data_received(third)
    assert sink.chunks[1] is second  # handed on as read: no copy
    assert sink.chunks[2] is third
    assert b"".join(sink.chunks) == body
    assert sink.ended
    assert releases.reusable == [True]
    # The next exchange on the same connection is parsed from its head (the old parser was mid-body).
    _response2, sink2 = await start(conn, response_bytes(b"second"))
    assert b"".join(sink2.chunks) == b"second"
    assert sink2.ended
    assert releases.reusable == [True, True]


@async_test
async def test_bytes_after_the_body_in_the_same_read_close_the_connection() -> None:
    conn, transport, releases = connect()
    wire = response_bytes(b"x" * 1000)
    split = wire.index(b"\r\n\r\n") + 4 + 10
    _response, sink = await start(conn, wire[:split])
    conn.data_received(wire[split:] + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert b"".join(sink.chunks) == b"x" * 1000
    assert sink.ended  # the body itself was whole
    assert transport.closed  # Go: "unsolicited response received on idle HTTP channel"
    assert releases.reusable == [False]  # discarded, never offered for reuse (tests/protocol/test_rev3_*)


@async_test
async def test_connection_lost_inside_a_counted_body_fails_it() -> None:
    conn, _transport, _releases = connect()
    wire = response_bytes(b"y" * 5000)
    split = wire.index(b"\r\n\r\n") + 4 + 10
    _response, sink = await start(conn, wire[:split])
    conn.data_received(wire[split : split + 100])
    conn.connection_lost(None)
    assert not sink.ended
    assert isinstance(sink.error, BodyError)


@settings(max_examples=60, deadline=None)
@given(
    first=st.binary(min_size=0, max_size=3000),
    second=st.binary(min_size=0, max_size=3000),
    cuts=st.lists(st.integers(min_value=1, max_value=6100), max_size=8),
)
def test_any_read_boundaries_relay_both_bodies_exactly(first: bytes, second: bytes, cuts: list[int]) -> None:
    async def run() -> None:
        conn, transport, releases = connect()
        sinks: list[Sink] = []
        for body in (first, second):
            wire = response_bytes(body)
            future = conn.send(HEAD, b"", chunked=False, head_request=False)
            edges = sorted({0, len(wire), *(c for c in cuts if c < len(wire))})
            pending = [wire[a:b] for a, b in itertools.pairwise(edges)]
            sink = Sink()
            pumped = False
            while pending:
                conn.data_received(pending.pop(0))
                if future.done() and not pumped:
                    pumped = True
                    response = future.result()
                    assert isinstance(response.body, StreamBody)
                    response.body.pump(sink)
            assert pumped
            sinks.append(sink)
        assert [b"".join(s.chunks) for s in sinks] == [first, second]
        assert all(s.ended for s in sinks)
        assert releases.reusable == [True, True]
        assert not transport.closed

    asyncio.run(run())
