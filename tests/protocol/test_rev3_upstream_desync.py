"""Review 3 (issue 22/12): response desync on the upstream leg's counted-body relay (http/upstream.py).

A backend that sends more than its Content-Length must never have the extra bytes taken as the response to
another request: the connection is discarded, not offered back for reuse first. The other hostile shapes (fewer
bytes then close, both framings, duplicate lengths, interim heads, bodiless statuses) are pinned here too, each
with the exact bytes a hostile backend sends.
"""

from __future__ import annotations

import asyncio

from edge_wire import MockTransport, async_test

from hanzo_edge.http.body import BodyError, StreamBody
from hanzo_edge.http.errors import UpstreamProtocolError
from hanzo_edge.http.messages import Response
from hanzo_edge.http.upstream import UpstreamConnection

HEAD = b"GET / HTTP/1.1\r\nHost: backend\r\n\r\n"
SMUGGLED = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED"


class Sink:
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


class EagerPool:
    """A holder that hands a released connection to the next request at once (the hazard: a pool with a waiter).

    Records each release; on a reusable one it sends the next request on the connection right away, as a pool
    that resumes a waiting request synchronously would.
    """

    def __init__(self) -> None:
        self.releases: list[bool] = []
        self.next_response: asyncio.Future[Response] | None = None

    def __call__(self, conn: UpstreamConnection, reusable: bool) -> None:
        self.releases.append(reusable)
        if reusable and self.next_response is None:
            self.next_response = conn.send(HEAD, b"", chunked=False, head_request=False)


def connect(on_release: EagerPool | None = None) -> tuple[UpstreamConnection, MockTransport, EagerPool]:
    pool = on_release if on_release is not None else EagerPool()
    conn = UpstreamConnection(pool)
    transport = MockTransport(asyncio.get_running_loop(), ("10.0.0.1", 80))
    transport.protocol = conn
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, transport, pool


async def exchange(
    conn: UpstreamConnection, first: bytes, *, head_request: bool = False
) -> tuple[asyncio.Future[Response], Sink]:
    future = conn.send(HEAD, b"", chunked=False, head_request=head_request)
    conn.data_received(first)
    sink = Sink()
    if future.done() and future.exception() is None:
        body = future.result().body
        assert isinstance(body, StreamBody)
        body.pump(sink)
    return future, sink


@async_test
async def test_more_bytes_than_content_length_in_a_later_read_discard_the_connection() -> None:
    conn, transport, pool = connect()
    wire = b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n" + b"a" * 5
    future, sink = await exchange(conn, wire)
    assert future.result().status == 200
    # The counted relay is engaged now: the rest of the body and a whole second response arrive in one read.
    conn.data_received(b"b" * 15 + SMUGGLED)
    assert b"".join(sink.chunks) == b"a" * 5 + b"b" * 15
    assert sink.ended
    assert transport.closed
    assert pool.releases == [False]  # never offered for reuse
    assert pool.next_response is None  # so no other request could be given the smuggled response


@async_test
async def test_more_bytes_than_content_length_in_the_head_read_never_reach_another_request() -> None:
    conn, transport, pool = connect()
    future, sink = await exchange(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc" + SMUGGLED)
    assert future.result().status == 200
    assert b"".join(sink.chunks) == b"abc"
    assert transport.closed
    # httptools' path: the response completes inside the parse of the read; the connection is released only after
    # the whole read was parsed, and by then the extra bytes closed it.
    assert pool.releases == [False]
    assert pool.next_response is None


@async_test
async def test_fewer_bytes_then_close_fails_the_body_and_the_connection() -> None:
    conn, _transport, pool = connect()
    future, sink = await exchange(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
    assert future.result().status == 200
    conn.data_received(b"y" * 40)
    conn.eof_received()
    conn.connection_lost(None)
    assert not sink.ended
    assert isinstance(sink.error, BodyError)
    assert pool.releases == [False]


@async_test
async def test_both_framings_and_duplicate_lengths_are_refused() -> None:
    for head in (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nabcde\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nabcde",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\nabcde",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nabcde",
    ):
        conn, transport, pool = connect()
        future, _sink = await exchange(conn, head)
        assert isinstance(future.exception(), UpstreamProtocolError), head
        assert transport.closed
        assert pool.releases == [False]


@async_test
async def test_interim_heads_with_a_length_do_not_frame_the_final_body() -> None:
    conn, transport, pool = connect(EagerPool())
    pool.next_response = asyncio.get_running_loop().create_future()  # no eager reuse in this test
    wire = (
        b"HTTP/1.1 100 Continue\r\nContent-Length: 50\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nab"
    )
    future, sink = await exchange(conn, wire)
    assert future.result().status == 200
    conn.data_received(b"cdef")
    assert b"".join(sink.chunks) == b"abcdef"
    assert sink.ended
    assert pool.releases == [True]
    assert not transport.closed


@async_test
async def test_bodiless_responses_with_a_length_read_no_body() -> None:
    # HEAD, 204 and 304 with a Content-Length: nothing is read as their body; bytes after the head are unsolicited.
    for status, head_request in ((200, True), (204, False), (304, False)):
        conn, transport, pool = connect(EagerPool())
        pool.next_response = asyncio.get_running_loop().create_future()
        future, sink = await exchange(
            conn, b"HTTP/1.1 %d X\r\nContent-Length: 7\r\n\r\n" % status, head_request=head_request
        )
        response = future.result()
        assert response.status == status
        assert sink.chunks == []
        assert sink.ended
        assert pool.releases == [True]
        # The "body" a hostile backend sends after such a head is never relayed: it closes the idle connection.
        conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nsmuggle")
        assert transport.closed
        assert sink.chunks == []
        assert pool.releases == [True, False]


@async_test
async def test_a_cancelled_exchange_mid_body_closes_instead_of_returning_to_the_pool() -> None:
    conn, transport, pool = connect()
    future, sink = await exchange(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"z" * 10)
    body = future.result().body
    assert isinstance(body, StreamBody)
    # The client went away: the server fails and discards the response body (http/server.py connection_lost).
    body.feed_error(ConnectionResetError("client disconnected"))
    body.discard()
    assert transport.closed
    assert pool.releases == [False]
    assert b"".join(sink.chunks) == b"z" * 10


@async_test
async def test_bytes_after_a_head_response_in_the_same_read_close_the_connection() -> None:
    # llhttp takes a HEAD response's Content-Length for a body: the bytes after the head were read as that body and
    # dropped, and the connection was kept. Go's transport closes it (unsolicited response on an idle connection).
    conn, transport, pool = connect()
    future, sink = await exchange(
        conn, b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n" + b"SMUGGLED", head_request=True
    )
    response = future.result()
    assert response.status == 200
    assert isinstance(response.body, StreamBody)
    assert response.body.length == 8  # the HEAD's declared length is passed on, its body is empty
    assert sink.chunks == []
    assert sink.ended
    assert transport.closed
    assert pool.releases == [False]
    assert pool.next_response is None
