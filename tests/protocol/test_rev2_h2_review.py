"""Security review of the HTTP/2 receive fast lane and its caches: a hostile client per finding, frames in, frames out.

Each test drives the real ``H2Protocol`` (fast lane and ``h2``'s fallback both) through ``H2Wire``. Where a request
can take either path, it is sent both as the connection's first request (``h2``'s own path: it opens the connection)
and after an opener (the fast lane), and the outcome must be the same.

Findings covered (docs/compat.md and THREAT_MODEL.md name them):

* a request body whose END_STREAM comes on trailers (or on the HEADERS) short of its ``content-length``: ``h2``
  checks the length only on DATA frames, so the body ended "complete" with fewer bytes than declared and an
  HTTP/1.1 backend was sent ``Content-Length: N`` with fewer bytes (the next pooled request completes it: desync);
* a ``:method`` or ``:path`` with a space or a control byte, written verbatim into the HTTP/1.1 request line;
* RST_STREAM on an idle stream (RFC 9113 §6.4: PROTOCOL_ERROR; ``h2`` ignored it) and on a closed stream ``h2`` had
  swept (RFC 9113 §5.1: ignore; ``h2`` answered RST_STREAM or failed the connection);
* streams refused after a GOAWAY did not spend the reset budget (rapid reset behind a GOAWAY was free);
* the process-wide response caches kept ``Set-Cookie`` values and had no bound on a key's size.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from edge_wire import async_test
from h2_wire import H2Wire, settings_with
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from h2_client import ErrorCodes, rst_frame
from hanzo_edge.http.body import StreamBody
from hanzo_edge.http.h2 import response_heads, server_hpack, translate
from hanzo_edge.http.h2.limits import H2Limits
from hanzo_edge.http.h2.response_heads import response_block
from hanzo_edge.http.headers import Headers
from hanzo_edge.http.messages import Request, Response

GET = [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b":authority", b"example.com")]
POST = [(b":method", b"POST"), (b":scheme", b"http"), (b":path", b"/up"), (b":authority", b"example.com")]


def _frames_of(data: bytes) -> list[tuple[int, int, int]]:
    """(type, flags, stream id) of every whole frame in ``data`` (the server's output after its SETTINGS)."""
    out, pos = [], 0
    while len(data) - pos >= 9:
        length = int.from_bytes(data[pos : pos + 3], "big")
        out.append((data[pos + 3], data[pos + 4], int.from_bytes(data[pos + 5 : pos + 9], "big") & 0x7FFFFFFF))
        pos += 9 + length
    return out


async def _opened(wire: H2Wire, lane: bool) -> int:
    """With ``lane``, serve one request first so the next stream takes the fast lane; return the next stream id."""
    if not lane:
        return 1
    wire.peer.send_headers_raw(1, GET)
    await wire.pump(lambda: wire.peer.streams[1].done)
    return 3


async def _connection_error(wire: H2Wire) -> int:
    await wire.pump(lambda: wire.transport.closed)
    wire.receive()
    code = wire.peer.goaway_code
    assert code is not None, "no GOAWAY before the close"
    return code


class _Bodies:
    """A handler that reads the request body whole and records what it got (bytes, or the error)."""

    def __init__(self) -> None:
        self.got: list[bytes | BaseException] = []
        self.declared: list[int | None] = []

    async def __call__(self, req: Request) -> Response:
        body = req.body
        if not isinstance(body, StreamBody):  # the opener's GET
            return Response(200, Headers(), b"")
        try:
            got: bytes | BaseException = await body.read()
        except BaseException as exc:  # a body error, or the task cancelled with the connection
            got = exc
        self.declared.append(body.length)
        self.got.append(got)
        if isinstance(got, asyncio.CancelledError):
            raise got
        return Response(200, Headers(), b"")

    def complete_and_short(self) -> bool:
        """A consumer got a body that ended normally with fewer bytes than its declared length (a desync)."""
        return any(
            isinstance(got, bytes) and length is not None and len(got) != length
            for got, length in zip(self.got, self.declared, strict=True)
        )


# -- content-length against END_STREAM that is not on a DATA frame ------------------------------------------------


@pytest.mark.parametrize("lane", [False, True], ids=["h2-path", "fast-lane"])
@async_test
async def test_trailers_ending_a_body_short_of_its_content_length_are_a_protocol_error(lane: bool) -> None:
    bodies = _Bodies()
    wire = H2Wire(bodies)
    sid = await _opened(wire, lane)
    wire.peer.send_headers_raw(sid, [*POST, (b"content-length", b"10")], end=False)
    wire.peer.data(sid, b"abc")
    wire.flush()
    await wire.settle(5)  # the handler is reading the body: it would forward Content-Length: 10
    wire.peer.send_headers_raw(sid, [(b"x-trailer", b"1")], end=True)
    assert await _connection_error(wire) == ErrorCodes.PROTOCOL_ERROR
    await wire.settle()
    assert not bodies.complete_and_short()
    assert bodies.got
    assert isinstance(bodies.got[-1], BaseException)


@async_test
async def test_trailers_after_the_whole_declared_body_are_served() -> None:
    bodies = _Bodies()
    wire = H2Wire(bodies)
    sid = await _opened(wire, True)
    wire.peer.send_headers_raw(sid, [*POST, (b"content-length", b"3")], end=False)
    wire.peer.data(sid, b"abc")
    wire.peer.send_headers_raw(sid, [(b"x-trailer", b"1")], end=True)
    await wire.pump(lambda: wire.peer.streams[sid].done)
    assert wire.peer.streams[sid].status == 200
    assert bodies.got[-1] == b"abc"
    assert wire.peer.goaway is None


@pytest.mark.parametrize("lane", [False, True], ids=["h2-path", "fast-lane"])
@async_test
async def test_headers_with_end_stream_and_a_nonzero_content_length_are_a_protocol_error(lane: bool) -> None:
    wire = H2Wire()
    sid = await _opened(wire, lane)
    routed = len(wire.seen)
    wire.peer.send_headers_raw(sid, [*POST, (b"content-length", b"5")], end=True)
    assert await _connection_error(wire) == ErrorCodes.PROTOCOL_ERROR
    assert len(wire.seen) == routed  # never routed: no backend saw a request that lies about its body


@pytest.mark.parametrize("lane", [False, True], ids=["h2-path", "fast-lane"])
@async_test
async def test_headers_with_end_stream_and_content_length_zero_are_served(lane: bool) -> None:
    wire = H2Wire()
    sid = await _opened(wire, lane)
    wire.peer.send_headers_raw(sid, [*POST, (b"content-length", b"0")], end=True)
    await wire.pump(lambda: wire.peer.streams[sid].done)
    assert wire.peer.streams[sid].status == 200


_SPLITS = st.lists(st.integers(0, 12), min_size=1, max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    declared=st.integers(0, 12),
    chunks=_SPLITS,
    end_on=st.sampled_from(["data", "trailers", "empty-data"]),
    lane=st.booleans(),
)
def test_no_body_ends_normally_with_a_length_other_than_its_content_length(
    declared: int, chunks: list[int], end_on: str, lane: bool
) -> None:
    """Whatever the framing (END_STREAM on the last DATA, on an empty DATA, on trailers; any split), a body that
    reaches its consumer complete has exactly its declared length; any other ends in an error."""

    async def scenario() -> None:
        bodies = _Bodies()
        wire = H2Wire(bodies)
        sid = await _opened(wire, lane)
        wire.peer.send_headers_raw(sid, [*POST, (b"content-length", str(declared).encode())], end=False)
        for index, size in enumerate(chunks):
            last = index == len(chunks) - 1
            wire.peer.data(sid, b"x" * size, end=last and end_on == "data")
        if end_on == "empty-data":
            wire.peer.data(sid, b"", end=True)
        elif end_on == "trailers":
            wire.peer.send_headers_raw(sid, [(b"x-t", b"1")], end=True)
        for _ in range(200):
            wire.flush()
            if wire.transport.closed or (sid in wire.peer.streams and wire.peer.streams[sid].done):
                break
            await asyncio.sleep(0)
        await wire.settle()
        assert not bodies.complete_and_short()
        if sum(chunks) == declared:
            assert bodies.got == [b"x" * declared]
        else:
            assert wire.transport.closed
            assert wire.peer.goaway_code == ErrorCodes.PROTOCOL_ERROR

    asyncio.run(scenario())


# -- request-line injection through pseudo-headers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (b":method", b"GET /admin"),
        (b":method", b"G\tET"),
        (b":method", b"GET\x0b"),
        (b":method", b""),
        (b":path", b"/public HTTP/1.1"),
        (b":path", b"/a\tb"),
        (b":path", b"/a\x0bb"),
        (b":path", b"/a\x7fb"),
        (b":path", b"/?q=a b"),
    ],
    ids=[
        "method-space",
        "method-tab",
        "method-vt",
        "method-empty",
        "path-space",
        "path-tab",
        "path-vt",
        "path-del",
        "query-space",
    ],
)
@pytest.mark.parametrize("lane", [False, True], ids=["h2-path", "fast-lane"])
@async_test
async def test_pseudo_headers_that_would_break_the_http1_request_line_are_malformed(
    name: bytes, value: bytes, lane: bool
) -> None:
    wire = H2Wire()
    sid = await _opened(wire, lane)
    routed = len(wire.seen)
    block = [(n, value if n == name else v) for n, v in GET]
    wire.peer.send_headers_raw(sid, block)
    assert await _connection_error(wire) == ErrorCodes.PROTOCOL_ERROR
    assert len(wire.seen) == routed


@pytest.mark.parametrize(
    ("method", "path"),
    [(b"GET", b"/a%20b?q=1&r=%22x%22"), (b"PROPFIND", b"/dav/"), (b"M-SEARCH", b"/~user/a;b=c,d!$'()*+@:")],
)
@async_test
async def test_token_methods_and_visible_paths_are_served(method: bytes, path: bytes) -> None:
    wire = H2Wire()
    block = [(b":method", method), (b":scheme", b"http"), (b":path", path), (b":authority", b"example.com")]
    wire.peer.send_headers_raw(1, block)
    await wire.pump(lambda: wire.peer.streams[1].done)
    assert wire.peer.streams[1].status == 200
    assert wire.seen[-1].method == method.decode()


# -- RST_STREAM on idle and on swept closed streams ------------------------------------------------------------------


@pytest.mark.parametrize("sid", [9, 2], ids=["odd-idle", "even-idle"])
@pytest.mark.parametrize("lane", [False, True], ids=["before-any-stream", "fast-lane"])
@async_test
async def test_rst_stream_on_an_idle_stream_is_a_protocol_error(sid: int, lane: bool) -> None:
    wire = H2Wire()
    await _opened(wire, lane)
    wire.send(rst_frame(sid))
    assert await _connection_error(wire) == ErrorCodes.PROTOCOL_ERROR


async def _many_served(wire: H2Wire, count: int) -> list[int]:
    """``count`` requests in reads of 4 (a stream closed in one read is swept when a later read opens one)."""
    sids: list[int] = []
    for _ in range(0, count, 4):
        batch = [wire.peer.request("/") for _ in range(4)]
        await wire.pump(lambda: all(wire.peer.streams[s].done for s in batch))  # noqa: B023
        sids += batch
    return sids


@async_test
async def test_a_late_rst_stream_on_a_stream_h2_swept_is_ignored() -> None:
    """The client cancels a request whose response it has not read yet (a common race); by then the server swept
    the stream from ``h2``'s table. RFC 9113 §5.1: ignored; never a connection error, never an RST_STREAM back."""
    wire = H2Wire()
    sids = await _many_served(wire, 40)  # past the sweep threshold: the first streams left h2's table
    assert sids[0] not in wire.proto.conn.streams
    before = wire.output_bytes
    writes = len(wire.transport.writes)
    wire.send(b"".join(rst_frame(s) for s in sids[:5]))
    await wire.settle()
    assert not wire.transport.closed
    assert wire.peer.goaway is None
    out = b"".join(wire.transport.writes[writes:])
    assert (0x3, 0, sids[0]) not in _frames_of(out)
    assert wire.output_bytes == before
    more = await _many_served(wire, 2)
    assert all(wire.peer.streams[s].status == 200 for s in more)


@async_test
async def test_no_rst_stream_answers_an_rst_stream_on_a_refused_stream() -> None:
    """RFC 9113 §5.4.2: never RST_STREAM in answer to RST_STREAM, even for a stream the server reset itself."""
    gate = asyncio.Event()

    async def held(req: Request) -> Response:
        await gate.wait()
        return Response(200, Headers(), b"")

    wire = H2Wire(held, settings=settings_with(H2Limits(max_concurrent_streams=1, resets_per_interval=1000)))
    first = wire.peer.request("/")
    wire.flush()
    refused = []
    for _ in range(40):  # one read each: those refused before are swept as later ones open
        refused.append(wire.peer.request("/"))
        wire.flush()
    await wire.pump(lambda: all(wire.peer.streams[s].reset == ErrorCodes.REFUSED_STREAM for s in refused))
    writes = len(wire.transport.writes)
    wire.send(b"".join(rst_frame(s) for s in refused[:3]))
    await wire.settle()
    out = b"".join(wire.transport.writes[writes:])
    assert not [f for f in _frames_of(out) if f[0] == 0x3], "an RST_STREAM answered an RST_STREAM"
    assert not wire.transport.closed
    assert refused[0] not in wire.proto.conn.streams  # swept: only h2's record of how it closed is left
    gate.set()
    await wire.pump(lambda: wire.peer.streams[first].done)


# -- streams refused after a GOAWAY spend the reset budget ------------------------------------------------------------


@pytest.mark.parametrize("who", ["client-goaway", "keep-alive-max-requests"])
@async_test
async def test_streams_refused_after_a_goaway_spend_the_reset_budget(who: str) -> None:
    """A client keeps one stream open behind a GOAWAY and opens stream after stream: each is refused, and each
    counts as a reset, or the rapid-reset limit could be walked around (every refused stream is decoded, tracked
    and answered)."""
    gate = asyncio.Event()

    async def held(req: Request) -> Response:
        await gate.wait()
        return Response(200, Headers(), b"")

    limits = H2Limits(resets_per_interval=20)
    extra: dict[str, Any] = {"keep_alive_max_requests": 1} if who == "keep-alive-max-requests" else {}
    wire = H2Wire(held, settings=settings_with(limits, **extra))
    first = wire.peer.request("/", end=False)
    wire.flush()
    if who == "client-goaway":
        wire.peer.conn.close_connection(error_code=0)
        wire.flush()
        wire.peer.conn.state_machine.state = wire.peer.conn.state_machine.state.CLIENT_OPEN  # keep sending
    assert wire.proto.goaway_last == first
    for _ in range(40):
        if wire.transport.closed:
            break
        wire.peer.request("/")
        wire.flush()
    assert await _connection_error(wire) == ErrorCodes.ENHANCE_YOUR_CALM
    assert wire.proto.calmed == "rapid reset"
    gate.set()
    await wire.settle()


# -- the process-wide response caches ----------------------------------------------------------------------------------


def test_response_heads_with_credentials_are_not_kept_process_wide() -> None:
    response_heads._HEADS.clear()
    server_hpack._FIELDS.clear()
    secret = b"session=4f2a9c; Path=/; HttpOnly"
    for name in (b"Set-Cookie", b"set-cookie", b"Authorization", b"Proxy-Authorization"):
        block = response_block(200, Headers([(b"Content-Type", b"text/plain"), (name, secret)]), 2, b"d")
        assert (name.lower(), secret) in block
        assert secret in block.encoded
    assert not any(secret in repr(key) for key in response_heads._HEADS)
    assert not any(secret == value for _, value in server_hpack._FIELDS)
    # and the cache still serves ordinary heads
    plain = Headers([(b"Content-Type", b"text/plain")])
    assert response_block(200, plain, 2, b"d") is response_block(200, plain, 2, b"d")


def test_a_response_head_cache_key_is_bounded_in_size() -> None:
    """A head whose block is small but whose raw fields are large (fields the block drops: those its Connection
    field names) is not kept: every entry's memory is bounded, not only its encoding."""
    response_heads._HEADS.clear()
    big = b"v" * 20_000
    headers = Headers([(b"Connection", b"x-drop"), (b"X-Drop", big), (b"Content-Type", b"text/plain")])
    block = response_block(200, headers, 2, b"d")
    assert len(block.encoded) < 100
    assert not response_heads._HEADS


def test_a_sensitive_field_value_is_never_indexed_on_the_wire() -> None:
    server_hpack._FIELDS.clear()
    encoded = server_hpack.encode_fields([(b"set-cookie", b"a=b")])
    # literal never indexed (0001xxxx), name index 55 (set-cookie) as a 4-bit prefix integer: 0x1f 0x28
    assert encoded[:1] == b"\x1f"
    assert not server_hpack._FIELDS


# -- per-process and per-connection caches of what clients send ------------------------------------------------------


def test_long_client_field_names_are_not_kept_process_wide() -> None:
    """Field names are client-chosen: 4096 unique 8 KiB names would pin ~100 MiB in the name caches."""
    translate._VALID_NAMES.clear()
    translate._CANONICAL.clear()
    long_name = b"x-" + b"a" * 8000
    head = translate.request_head([*GET, (long_name, b"1"), (b"x-short", b"2")], frozenset())
    assert (translate.canonical_name(long_name), b"1") in head.headers
    assert long_name not in translate._VALID_NAMES
    assert long_name not in translate._CANONICAL
    assert b"x-short" in translate._VALID_NAMES  # short names are still remembered


def _indexed_literal(name: bytes, value: bytes) -> bytes:
    """A literal field with incremental indexing, new name (RFC 7541 §6.2.1): it adds to the decoder's table."""
    return b"\x40" + bytes([len(name)]) + name + bytes([len(value)]) + value


def test_a_repeated_block_decodes_against_the_table_in_force() -> None:
    """The per-connection block cache: the same bytes referencing the dynamic table decode to what the table holds
    now (never a translation cached under an older table), and stale blocks are dropped, not kept alive."""
    decoder = server_hpack.RepeatingDecoder(65536)
    decoder.decode(_indexed_literal(b"x-user", b"alice"), raw=True)
    block = b"\x82\x84\xbe"  # :method GET, :path /, dynamic entry 62
    assert decoder.decode(block, raw=True)[-1] == (b"x-user", b"alice")
    assert decoder.decode(block, raw=True)[-1] == (b"x-user", b"alice")  # a hit
    assert block in decoder._cache
    decoder.decode(_indexed_literal(b"x-user", b"mallory"), raw=True)  # entry 62 is now mallory
    assert not decoder._cache or block not in decoder._cache
    assert decoder.decode(block, raw=True)[-1] == (b"x-user", b"mallory")
    decoder.header_table_size = 0  # a size update empties the table: the same bytes now fail as hpack fails them
    with pytest.raises(Exception, match="Invalid table index"):
        decoder.decode(block, raw=True)


@pytest.mark.parametrize("lane", [False, True], ids=["h2-path", "fast-lane"])
@async_test
async def test_streams_over_max_concurrent_streams_are_refused_on_either_path(lane: bool) -> None:
    gate = asyncio.Event()

    async def held(req: Request) -> Response:
        await gate.wait()
        return Response(200, Headers(), b"")

    wire = H2Wire(held, settings=settings_with(H2Limits(max_concurrent_streams=2, resets_per_interval=1000)))
    if lane:
        wire.peer.send_headers_raw(1, GET)
        wire.flush()
        await wire.settle(3)
    sids = [wire.peer.request("/") for _ in range(4)]
    wire.flush()
    await wire.pump(lambda: wire.peer.streams[sids[-1]].reset is not None)
    refused = [s for s in [*([1] if lane else []), *sids] if wire.peer.streams[s].reset == ErrorCodes.REFUSED_STREAM]
    assert len(refused) == (3 if lane else 2)
    assert len(wire.proto.streams) == 2
    gate.set()
    await wire.settle()


# -- the whole protocol under hostile body framing --------------------------------------------------------------------


def _raw_frame(kind: int, flags: int, sid: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + sid.to_bytes(4, "big") + payload


def _literals(fields: list[tuple[bytes, bytes]]) -> bytes:
    """Literal fields without indexing (RFC 7541 §6.2.2): blocks that leave the decoder's table alone."""
    return b"".join(b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v for n, v in fields)


_WHICH = st.sampled_from([0, 0, 0, 1, 2])  # mostly the newest stream: bodies then get to their end
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("open"), st.none() | st.integers(0, 8), st.sampled_from([False, False, False, True])),
        st.tuples(st.just("data"), _WHICH, st.integers(0, 6), st.booleans()),
        st.tuples(st.just("trailers"), _WHICH, st.sampled_from([True, True, False])),
        st.tuples(st.just("rst"), _WHICH),
    ),
    min_size=1,
    max_size=14,
)


def _body_traffic(ops: list[tuple[Any, ...]]) -> bytes:
    """Requests with and without ``content-length``, DATA of any size with or without END_STREAM, trailers (with
    or without END_STREAM) and resets, on the last three streams opened, in any order."""
    out, sids = [], []
    for op in ops:
        if op[0] == "open":
            sid = 2 * len(sids) + 1
            sids.append(sid)
            fields = [*POST] + ([] if op[1] is None else [(b"content-length", str(op[1]).encode())])
            out.append(_raw_frame(0x1, 0x4 | (0x1 if op[2] else 0), sid, _literals(fields)))
        elif not sids:
            continue
        else:
            sid = sids[-1 - op[1] % len(sids)]
            if op[0] == "data":
                out.append(_raw_frame(0x0, 0x1 if op[3] else 0, sid, b"x" * op[2]))
            elif op[0] == "trailers":
                out.append(_raw_frame(0x1, 0x4 | (0x1 if op[2] else 0), sid, _literals([(b"x-t", b"1")])))
            else:
                out.append(_raw_frame(0x3, 0, sid, (8).to_bytes(4, "big")))
    return b"".join(out)


@settings(max_examples=300, deadline=None)
@given(ops=_OPS, cuts=st.lists(st.integers(0, 4096), max_size=5), lane=st.booleans())
@example(ops=[("open", 5, False), ("data", 0, 3, False), ("trailers", 0, True)], cuts=[7], lane=True)
def test_hostile_body_framing_never_delivers_a_body_that_lies_about_its_length(
    ops: list[tuple[Any, ...]], cuts: list[int], lane: bool
) -> None:
    """Whatever the client does with its bodies (reads split anywhere, on the fast lane or ``h2``'s path), nothing
    escapes ``data_received`` and no handler reads a body that ended normally with another length than its
    ``content-length``: what an HTTP/1.1 backend would be sent as ``Content-Length``."""

    async def scenario() -> None:
        bodies = _Bodies()
        wire = H2Wire(bodies)
        if lane:  # open the connection first: every request below then takes the fast lane
            wire.peer.send_headers_raw(1, GET)
            await wire.pump(lambda: wire.peer.streams[1].done)
        traffic = _body_traffic(ops)
        if lane:
            traffic = _shifted(traffic)
        points = sorted({c % (len(traffic) + 1) for c in cuts} | {0, len(traffic)})
        for begin, end in itertools.pairwise(points):
            if wire.transport.closed:
                break
            wire.send(traffic[begin:end])  # the server's output is not fed back: the client only talks
            await asyncio.sleep(0)
        for _ in range(20):
            await asyncio.sleep(0)
        assert not bodies.complete_and_short()

    asyncio.run(scenario())


def _shifted(traffic: bytes) -> bytes:
    """``traffic`` with every stream id moved up by 2 (stream 1 is the opener's)."""
    out, pos = bytearray(), 0
    while pos < len(traffic):
        length = int.from_bytes(traffic[pos : pos + 3], "big")
        sid = int.from_bytes(traffic[pos + 5 : pos + 9], "big") + 2
        out += traffic[pos : pos + 5] + sid.to_bytes(4, "big") + traffic[pos + 9 : pos + 9 + length]
        pos += 9 + length
    return bytes(out)


# -- connection WINDOW_UPDATE floods -----------------------------------------------------------------------------------


@async_test
async def test_connection_window_updates_walk_the_streams_only_when_one_can_wait_on_them() -> None:
    gate = asyncio.Event()

    async def held(req: Request) -> Response:
        await gate.wait()
        return Response(200, Headers(), b"done")

    wire = H2Wire(held)
    sids = [wire.peer.request("/") for _ in range(50)]
    wire.flush()
    await wire.settle(3)
    walks = 0
    original = wire.proto._write_waiting

    def counted() -> None:
        nonlocal walks
        walks += 1
        original()

    wire.proto._write_waiting = counted  # type: ignore[method-assign]
    wire.send(b"".join(_raw_frame(0x8, 0, 0, (1).to_bytes(4, "big")) for _ in range(500)))
    assert walks == 0  # the window was open: nobody could be waiting on it
    assert not wire.transport.closed
    gate.set()
    await wire.pump(lambda: all(wire.peer.streams[s].done for s in sids))


@async_test
async def test_a_response_held_by_the_connection_window_resumes_when_it_opens() -> None:
    big = b"y" * 100_000

    async def sized(req: Request) -> Response:
        return Response(200, Headers(), big)

    # Stream windows of 1 MiB, the connection's 65,535 (never grown by the client on its own).
    wire = H2Wire(sized, client_settings={4: 1 << 20}, auto_window=False)
    await wire.settle()
    sid = wire.peer.request("/")
    await wire.pump(lambda: len(wire.peer.streams[sid].body) == 65_535)
    await wire.settle(5)
    assert not wire.peer.streams[sid].done
    wire.peer.conn.increment_flow_control_window(100_000)
    await wire.pump(lambda: wire.peer.streams[sid].done)
    assert wire.peer.streams[sid].body == big


# -- frames on closed streams: the reset flood (CVE-2019-9514) ---------------------------------------------------------


def _rst_frames(out: bytes, sid: int) -> int:
    return sum(1 for kind, _, frame_sid in _frames_of(out) if kind == 0x3 and frame_sid == sid)


@async_test
async def test_frames_on_a_stream_the_server_reset_are_ignored_not_answered() -> None:
    """RFC 9113 §5.1: after sending RST_STREAM, frames the client had in flight on that stream are ignored (a DATA
    frame's bytes still go back to the connection window). ``h2`` answered each with RST_STREAM: a client could
    flood empty DATA frames on a refused stream and have an RST_STREAM written for every one, outside every budget."""
    gate = asyncio.Event()

    async def held(req: Request) -> Response:
        await gate.wait()
        return Response(200, Headers(), b"")

    wire = H2Wire(held, settings=settings_with(H2Limits(max_concurrent_streams=1, resets_per_interval=50)))
    wire.peer.request("/", end=False)
    refused = wire.peer.request("/", end=False)
    await wire.pump(lambda: wire.peer.streams[refused].reset == ErrorCodes.REFUSED_STREAM)
    writes = len(wire.transport.writes)
    flood = b"".join(_raw_frame(0x0, 0, refused, b"") for _ in range(500)) + _raw_frame(0x0, 0, refused, b"z" * 100)
    wire.send(flood)
    out = b"".join(wire.transport.writes[writes:])
    assert _rst_frames(out, refused) == 0
    assert not wire.transport.closed
    assert wire.proto.conn._inbound_flow_control_window_manager.current_window_size > 0
    gate.set()


@async_test
async def test_frames_on_a_stream_the_client_reset_are_answered_within_the_reset_budget() -> None:
    """A client that goes on sending on a stream it reset (or ended) is in error (RFC 9113 §5.1: STREAM_CLOSED); each
    RST_STREAM written in answer spends the reset budget, so the answers are bounded (CVE-2019-9514, reset flood)."""
    wire = H2Wire(settings=settings_with(H2Limits(resets_per_interval=50)))
    sid = wire.peer.request("/", end=False)
    wire.flush()
    wire.send(rst_frame(sid))
    writes = len(wire.transport.writes)
    for _ in range(20):
        if wire.transport.closed:
            break
        wire.send(b"".join(_raw_frame(0x0, 0, sid, b"") for _ in range(10)))
    assert await _connection_error(wire) == ErrorCodes.ENHANCE_YOUR_CALM
    assert wire.proto.calmed == "rapid reset"
    assert _rst_frames(b"".join(wire.transport.writes[writes:]), sid) <= 50
