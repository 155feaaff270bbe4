"""The upstream request head goes out with the request body bytes that arrived with the client's head: one write.

A POST whose body came in the same read as its head costs one ``writev`` upstream (head and body as they are), not
a write for the head and another for the body; chunked bodies are framed the same; later chunks still stream.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from edge_wire import MockSource, MockTransport, async_test

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.upstream import UpstreamConnection

HEAD = b"POST /post HTTP/1.1\r\nHost: backend\r\nContent-Length: 8\r\n\r\n"


class CallLog(MockTransport):
    """A MockTransport that also keeps each write/writelines call as the buffers it was given."""

    def __init__(self) -> None:
        super().__init__(asyncio.get_running_loop(), ("10.0.0.1", 80))
        self.calls: list[tuple[str, list[Any]]] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.calls.append(("write", [data]))
        super().write(data)

    def writelines(self, chunks: list[bytes]) -> None:
        self.calls.append(("writelines", list(chunks)))
        for chunk in chunks:
            super().write(chunk)


def connected() -> tuple[UpstreamConnection, CallLog]:
    conn = UpstreamConnection(lambda _conn, _reusable: None)
    transport = CallLog()
    transport.protocol = conn
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, transport


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@async_test
async def test_body_that_came_with_the_head_goes_out_in_the_same_call(chunked: bool) -> None:
    conn, transport = connected()
    body = StreamBody(MockSource(), None if chunked else 8)
    piece = b"abcdefgh"
    body.feed(piece)
    body.feed_eof()
    conn.send(HEAD, body, chunked=chunked, head_request=False)
    kind, buffers = transport.calls[0]
    assert kind == "writelines"
    assert buffers[0] is HEAD
    assert any(b is piece for b in buffers)  # the read itself, not a copy
    framed = b"8\r\nabcdefgh\r\n0\r\n\r\n" if chunked else piece
    assert transport.output == HEAD + framed
    assert len(transport.calls) == (2 if chunked else 1)  # the chunked terminator follows at the body's end
    conn.close()


@async_test
async def test_body_still_to_come_streams_after_the_head() -> None:
    conn, transport = connected()
    body = StreamBody(MockSource(), 8)
    conn.send(HEAD, body, chunked=False, head_request=False)
    assert transport.calls == [("write", [HEAD])]
    body.feed(b"abcd")
    body.feed(b"efgh")
    body.feed_eof()
    assert transport.output == HEAD + b"abcdefgh"
    conn.close()
