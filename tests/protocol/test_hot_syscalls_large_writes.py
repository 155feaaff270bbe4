"""http/server.py writes a large body that arrived with its head beside the head (one writelines), not joined to it.

A body of at least 16 KiB already buffered when the response starts goes to the transport as the very chunk objects
the upstream read (one ``writev``, no copy); a smaller one is still joined with the head into one write. Chunked
framing of a large chunk is written beside it as well. The bytes on the wire are the same either way.
"""

from __future__ import annotations

from typing import Any

import pytest
from edge_wire import Client, MockSource, async_test, response_awaitable

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Response


def buffered_response(chunks: list[bytes], length: int | None) -> tuple[Response, StreamBody]:
    body = StreamBody(MockSource(), length)
    for chunk in chunks:
        body.feed(chunk)
    return Response(200, Headers([(b"Content-Type", b"application/octet-stream")]), body), body


class WritelinesLog:
    """Wraps a MockTransport's writelines to keep the buffer objects each call was given."""

    def __init__(self, client: Client) -> None:
        self.calls: list[list[Any]] = []
        inner = client.transport.writelines

        def writelines(chunks: list[bytes]) -> None:
            self.calls.append(list(chunks))
            inner(chunks)

        client.transport.writelines = writelines  # type: ignore[method-assign]


@pytest.mark.parametrize("length", [40_000, None], ids=["content-length", "chunked"])
@async_test
async def test_large_buffered_body_goes_out_uncopied_beside_the_head(length: int | None) -> None:
    chunks = [b"a" * 20_000, b"b" * 20_000]
    response, body = buffered_response(chunks, length)
    client = Client(response_awaitable(response))
    log = WritelinesLog(client)
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await client.until(lambda: bool(log.calls))
    body.feed_eof()
    await client.until(client.idle)
    (call,) = log.calls
    assert call[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert any(part is chunks[0] for part in call)  # the read itself, not a copy
    assert any(part is chunks[1] for part in call)
    head, _, rest = client.output.partition(b"\r\n\r\n")
    if length is None:
        assert b"Transfer-Encoding: chunked" in head
        assert rest == b"4e20\r\n" + chunks[0] + b"\r\n4e20\r\n" + chunks[1] + b"\r\n0\r\n\r\n"
    else:
        assert b"Content-Length: 40000" in head
        assert rest == chunks[0] + chunks[1]
    await client.aclose()


@async_test
async def test_small_buffered_body_is_joined_with_the_head() -> None:
    response, body = buffered_response([b"hello"], 5)
    body.feed_eof()
    client = Client(response_awaitable(response))
    log = WritelinesLog(client)
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await client.until(client.idle)
    assert log.calls == []
    assert len(client.transport.writes) == 1
    assert client.output.endswith(b"\r\n\r\nhello")
    await client.aclose()


@async_test
async def test_large_relayed_chunk_is_framed_beside_it() -> None:
    response, body = buffered_response([], None)
    client = Client(response_awaitable(response))
    log = WritelinesLog(client)
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await client.until(lambda: bool(client.transport.writes))  # the head went out; the body streams behind it
    big = b"z" * 30_000
    body.feed(big)
    body.feed(b"tail")
    body.feed_eof()
    await client.until(client.idle)
    assert [part is big for part in log.calls[0]] == [False, True, False]
    assert client.output.endswith(b"\r\n7530\r\n" + big + b"\r\n4\r\ntail\r\n0\r\n\r\n")
    await client.aclose()
