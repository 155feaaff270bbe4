"""The downstream server's hot-path shortcuts (``http/h2/server.py``) keep the frames a client sees correct."""

from __future__ import annotations

import h2.events
from edge_wire import async_test
from h2_wire import H2Wire

from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response


@async_test
async def test_a_body_buffered_whole_goes_out_as_one_data_frame_with_end_stream() -> None:
    async def buffered(req: Request) -> Response:
        body = StreamBody(None)
        body.feed(b"hello world")
        body.feed_eof()
        return Response(200, Headers(), body)

    wire = H2Wire(buffered)
    result = await wire.get("/")
    assert (result.status, result.body) == (200, b"hello world")
    frames = [e for e in wire.peer.events if isinstance(e, h2.events.DataReceived) and e.stream_id == 1]
    assert len(frames) == 1  # not a DATA frame and an empty one to end the stream
    assert frames[0].stream_ended is not None


@async_test
async def test_a_body_still_streaming_is_written_as_it_arrives() -> None:
    bodies: list[StreamBody] = []

    async def streaming(req: Request) -> Response:
        body = StreamBody(None)
        body.feed(b"first")
        bodies.append(body)
        return Response(200, Headers(), body)

    wire = H2Wire(streaming)
    sid = wire.peer.request("/")
    await wire.pump(lambda: wire.peer.streams[sid].body == b"first")
    bodies[0].feed(b" second")
    bodies[0].feed_eof()
    await wire.pump(lambda: wire.peer.streams[sid].done)
    assert wire.peer.streams[sid].body == b"first second"
