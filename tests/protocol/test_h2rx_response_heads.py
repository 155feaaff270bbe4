"""Response header blocks built once per distinct head (``http/h2/response_heads.py``) against building them each time.

Properties: for any status, fields, body length and date, the cached block equals ``translate.response_header_block``
field for field, a repeat returns the very same block, and what the encoder writes for it decodes (``hpack``'s own
decoder) to those fields, with the table size update first when one is owed. The cache stays bounded, and a head it
cannot key (a field that is a list) is still answered. On the wire, an ``h2`` client that shrinks its table between
identical responses reads every one.
"""

from __future__ import annotations

import h2.settings
from edge_wire import async_test
from h2_wire import H2Wire
from hpack import Decoder
from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.http.h2 import response_heads
from hanzo_edge.http.h2.response_heads import response_block
from hanzo_edge.http.h2.server_hpack import StatelessEncoder
from hanzo_edge.http.h2.translate import response_header_block
from hanzo_edge.http.headers import Headers

_NAMES = st.sampled_from(
    [b"Content-Type", b"Set-Cookie", b"Date", b"Connection", b"Keep-Alive", b"Content-Length", b"X-Custom", b"server"]
)
_VALUES = st.sampled_from([b"text/plain", b"a=b", b"close", b"x-custom", b"100", b""]) | st.binary(max_size=40).map(
    lambda b: bytes(c % 94 + 33 for c in b)
)
_FIELDS = st.lists(st.tuples(_NAMES, _VALUES), max_size=6)


@settings(max_examples=300, deadline=None)
@given(
    status=st.sampled_from([200, 204, 304, 404, 101, 599]),
    fields=_FIELDS,
    length=st.none() | st.integers(0, 1 << 20),
    date=st.none() | st.just(b"Sun, 22 Nov 2026 03:54:34 GMT"),
    size_update=st.booleans(),
)
def test_a_cached_block_is_the_block_built_each_time(
    status: int, fields: list[tuple[bytes, bytes]], length: int | None, date: bytes | None, size_update: bool
) -> None:
    expected = response_header_block(status, Headers(list(fields)), length, date)
    block = response_block(status, Headers(list(fields)), length, date)
    assert list(block) == expected
    again = response_block(status, Headers(list(fields)), length, date)
    if any(name.lower() == b"set-cookie" for name, _ in fields):
        assert again is not block  # a credential is never kept process-wide: built each time
        assert again == block
    else:
        assert again is block  # a repeat is a lookup
    encoder = StatelessEncoder()
    if size_update:
        encoder.header_table_size = 0
    wire = encoder.encode(block)
    assert wire.startswith(b"\x20") == size_update
    assert Decoder().decode(wire, raw=True) == expected
    assert encoder.encode(block) == block.encoded  # the size update is owed once


def test_the_cache_is_bounded_and_unkeyable_heads_are_still_built() -> None:
    for index in range(response_heads._ENTRIES + 10):
        response_block(200, Headers([(b"X-N", str(index).encode())]), 0, None)
    assert len(response_heads._HEADS) <= response_heads._ENTRIES
    odd = Headers([[b"X-List", b"1"]])  # type: ignore[list-item]  # what a careless handler might leave
    assert list(response_block(200, odd, 0, None)) == [
        (b":status", b"200"),
        (b"x-list", b"1"),
        (b"content-length", b"0"),
    ]
    huge = response_block(200, Headers([(b"X-Big", b"v" * 5000)]), 0, None)
    assert response_block(200, Headers([(b"X-Big", b"v" * 5000)]), 0, None) is not huge  # over the size: not kept


@async_test
async def test_a_client_that_shrinks_its_table_between_identical_responses_reads_them_all() -> None:
    wire = H2Wire()
    first = await wire.get("/same")
    wire.peer.conn.update_settings({h2.settings.SettingCodes.HEADER_TABLE_SIZE: 0})
    second = await wire.get("/same")
    third = await wire.get("/same")
    assert [(r.status, r.body) for r in (first, second, third)] == [(200, b"ok")] * 3
    assert wire.peer.goaway is None
