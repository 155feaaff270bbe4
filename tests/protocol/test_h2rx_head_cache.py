"""The server's per-connection cache of translated request heads (``H2Protocol.heads``).

A client that repeats a request sends the same header block; its translation is reused, but each request still
gets its own header list (the pipeline edits it in place), blocks that failed a check are never kept (each repeat
is refused again, with the same answer), and the cache stays bounded whatever the client sends.
"""

from __future__ import annotations

from edge_wire import async_test
from h2_wire import H2Wire, settings_with

from h2_client import ErrorCodes
from hanzo_edge.http.h2.limits import H2Limits
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response


async def _edits_its_headers(req: Request) -> Response:
    # What a middleware does: the request's header list is edited in place.
    seen = b",".join(name for name, _ in req.headers.raw)
    req.headers.raw.append((b"X-Added", b"1"))
    return Response(200, Headers([(b"Content-Type", b"text/plain")]), seen)


@async_test
async def test_a_repeated_block_is_translated_once_and_each_request_gets_its_own_fields() -> None:
    wire = H2Wire(_edits_its_headers)
    results = [await wire.get("/same", headers=[("x-a", "1")]) for _ in range(3)]
    assert [r.status for r in results] == [200, 200, 200]
    assert len({r.body for r in results}) == 1  # no request saw what an earlier one added
    assert b"X-Added" not in results[-1].body
    assert b"X-A" in results[0].body
    assert len(wire.proto.heads) == 1


@async_test
async def test_blocks_that_fail_a_check_are_refused_on_every_repeat() -> None:
    wire = H2Wire(settings=settings_with(H2Limits(max_header_list_size=200)))
    for _ in range(2):
        result = await wire.get("/", headers=[("x-big", "b" * 300)])
        assert result.status == 431
    for _ in range(2):
        result = await wire.get("no-slash")  # not origin-form: 400 on its stream
        assert result.status == 400
    assert wire.proto.heads == {}
    ok = await wire.get("/")
    assert ok.status == 200
    assert len(wire.proto.heads) == 1


@async_test
async def test_a_malformed_block_after_a_cached_one_still_ends_the_connection() -> None:
    wire = H2Wire()
    assert (await wire.get("/a")).status == 200
    wire.peer.request("/a", headers=[("X-Upper", "1")])
    await wire.pump(lambda: wire.transport.closed)
    wire.receive()
    assert wire.peer.goaway_code == ErrorCodes.PROTOCOL_ERROR


@async_test
async def test_the_cache_stays_bounded() -> None:
    wire = H2Wire()
    for index in range(30):
        assert (await wire.get(f"/{index}")).status == 200
        assert len(wire.proto.heads) <= 8
