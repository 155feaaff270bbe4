"""Our single-pass request-header validation (``http/h2/translate.py``), which replaced ``h2``'s inbound validation.

A differential property checks that :func:`request_head` refuses exactly the blocks ``h2``'s own validator
(``h2.utilities.validate_headers``) refuses, so turning ``h2``'s off lost no RFC 9113 §8.2 rule; wire tests check
the rules the attack tests do not name, and that a malformed request trailer block is a connection error too.
"""

from __future__ import annotations

import h2.exceptions
import h2.utilities
import pytest
from edge_wire import async_test
from h2_wire import H2Wire
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from h2_client import ErrorCodes
from hanzo_edge.http.h2.translate import MalformedHeaders, StreamRejected, request_head

BASE = [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":authority", b"example.com")]
REQUEST_FLAGS = h2.utilities.HeaderValidationFlags(
    is_client=False, is_trailer=False, is_response_header=False, is_push_promise=False
)


def h2_accepts(fields: list[tuple[bytes, bytes]]) -> bool:
    try:
        list(h2.utilities.validate_headers(fields, REQUEST_FLAGS))
    except h2.exceptions.ProtocolError:
        return False
    return True


def we_accept(fields: list[tuple[bytes, bytes]]) -> bool:
    try:
        request_head(fields, frozenset())
    except MalformedHeaders:
        return False
    except StreamRejected:
        return True  # well-formed, but not served (CONNECT, a bad :path or content-length): answered on its stream
    return True


_NAMES = st.sampled_from(
    [
        b":method",
        b":scheme",
        b":path",
        b":authority",
        b":protocol",
        b":status",
        b":foo",
        b"host",
        b"cookie",
        b"te",
        b"connection",
        b"keep-alive",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-connection",
        b"http2-settings",
        b"content-length",
        b"user-agent",
        b"x-a",
        b"X-Upper",
        b"x a",
        b"x-a:b",
        b"::x",
        b"",
        b"x\x7f",
        b"x\xe9",
    ]
)
_VALUES = st.sampled_from(
    [b"", b"GET", b"CONNECT", b"/", b"https", b"example.com", b"other.com", b"trailers", b"TRAILERS", b"gzip"]
) | st.binary(max_size=6)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.lists(st.sampled_from(BASE), max_size=4),
    fields=st.lists(st.tuples(_NAMES, _VALUES), max_size=6),
    shuffle=st.randoms(use_true_random=False),
)
def test_we_refuse_exactly_what_h2_refuses(
    prefix: list[tuple[bytes, bytes]], fields: list[tuple[bytes, bytes]], shuffle: object
) -> None:
    block = prefix + fields
    assert we_accept(block) == h2_accepts(block), block


@settings(max_examples=200, deadline=None)
@given(fields=st.lists(st.tuples(_NAMES, _VALUES), max_size=4))
def test_valid_base_with_random_fields_matches_h2(fields: list[tuple[bytes, bytes]]) -> None:
    block = BASE + fields
    assert we_accept(block) == h2_accepts(block), block


def test_cookie_fields_are_joined_and_host_comes_from_authority() -> None:
    head = request_head([*BASE, (b"cookie", b"a=1"), (b"accept", b"*/*"), (b"cookie", b"b=2")], frozenset())
    assert head.headers == [(b"Host", b"example.com"), (b"Accept", b"*/*"), (b"Cookie", b"a=1; b=2")]


@pytest.mark.parametrize(
    "block",
    [
        [*BASE, (b"", b"1")],  # empty name
        [*BASE, (b"x a", b"1")],  # space in a name
        [*BASE, (b"x\xe9", b"1")],  # non-ASCII name
        [*BASE, (b"x-a", b" padded")],  # leading whitespace in a value
        [*BASE, (b"x-a", b"padded\t")],  # trailing whitespace
        [*BASE, (b"host", b"example.com"), (b"host", b"example.com")],  # several host fields
        [*BASE, (b"host", b"other.com")],  # :authority and host disagree
        [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/")],  # neither :authority nor host
        [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b""), (b":authority", b"a")],  # empty :path
        [*BASE, (b":status", b"200")],  # response-only pseudo-header
        [*BASE, (b":protocol", b"websocket")],  # :protocol without CONNECT
        [(b":scheme", b"https"), (b":path", b"/"), (b":authority", b"a")],  # no :method
        [(b":method", b"CONNECT"), (b":scheme", b"https"), (b":authority", b"a:443")],  # plain CONNECT with :scheme
    ],
    ids=[
        "empty-name",
        "space-name",
        "non-ascii-name",
        "leading-space",
        "trailing-tab",
        "two-hosts",
        "host-mismatch",
        "no-authority",
        "empty-path",
        "status",
        "protocol-without-connect",
        "no-method",
        "connect-with-scheme",
    ],
)
@async_test
async def test_more_malformed_blocks_end_the_connection(block: list[tuple[bytes, bytes]]) -> None:
    wire = H2Wire()
    wire.peer.send_headers_raw(1, block)
    await wire.pump(lambda: wire.transport.closed)
    wire.receive()
    assert wire.peer.goaway_code == ErrorCodes.PROTOCOL_ERROR
    assert wire.seen == []


@async_test
async def test_host_equal_to_authority_or_alone_is_served() -> None:
    wire = H2Wire()
    wire.peer.send_headers_raw(1, [*BASE, (b"host", b"example.com")])
    wire.peer.send_headers_raw(3, [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b"host", b"h")])
    await wire.pump(lambda: wire.peer.streams[1].done and wire.peer.streams[3].done)
    assert (wire.peer.streams[1].status, wire.peer.streams[3].status) == (200, 200)
    assert sorted(req.host for req in wire.seen) == ["example.com", "h"]


@pytest.mark.parametrize(
    "trailers",
    [[(b":path", b"/x")], [(b"x-t", b"a\rb")], [(b"X-T", b"1")], [(b"transfer-encoding", b"chunked")]],
    ids=["pseudo", "cr-value", "uppercase", "connection-specific"],
)
@async_test
async def test_malformed_request_trailers_end_the_connection(trailers: list[tuple[bytes, bytes]]) -> None:
    wire = H2Wire()
    wire.peer.send_headers_raw(1, [(b":method", b"POST"), *BASE[1:]], end=False)
    wire.peer.data(1, b"abc")
    wire.peer.send_headers_raw(1, trailers, end=True)
    await wire.pump(lambda: wire.transport.closed)
    wire.receive()
    assert wire.peer.goaway_code == ErrorCodes.PROTOCOL_ERROR
