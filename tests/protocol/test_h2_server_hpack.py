"""The downstream server's HPACK coders (``http/h2/server_hpack.py``) against ``hpack``'s own.

Properties: what :class:`StatelessEncoder` writes decodes (with ``hpack``'s decoder) to exactly the fields given,
across size updates, and never touches the peer's dynamic table; :class:`RepeatingDecoder` decodes any sequence of
blocks from ``hpack``'s indexing encoder exactly as ``hpack``'s decoder does, with its cache hit on repeats and every
limit still enforced. A wire test serves a client that shrinks its table to zero.
"""

from __future__ import annotations

import pytest
from edge_wire import async_test
from h2_wire import H2Wire
from hpack import Decoder, Encoder
from hpack.exceptions import OversizedHeaderListError
from hypothesis import given, settings
from hypothesis import strategies as st

from hanzo_edge.http.h2.server_hpack import RepeatingDecoder, StatelessEncoder, encode_field

SETTINGS = __import__("h2.settings", fromlist=["SettingCodes"]).SettingCodes

_NAMES = st.sampled_from(
    [b":status", b"content-type", b"date", b"content-length", b"set-cookie", b"x-custom", b"server", b"vary"]
) | st.binary(min_size=1, max_size=20).map(lambda b: bytes(c % 26 + 97 for c in b))
_VALUES = st.sampled_from([b"200", b"404", b"", b"text/html", b"gzip"]) | st.binary(max_size=300)
_FIELDS = st.lists(st.tuples(_NAMES, _VALUES), max_size=8)


@settings(max_examples=300, deadline=None)
@given(blocks=st.lists(_FIELDS, min_size=1, max_size=6), resize=st.sampled_from([None, 0, 256, 4096, 65536]))
def test_stateless_encoder_round_trips_and_leaves_the_peer_table_empty(
    blocks: list[list[tuple[bytes, bytes]]], resize: int | None
) -> None:
    encoder = StatelessEncoder()
    decoder = Decoder()
    if resize is not None:
        encoder.header_table_size = resize
    for fields in blocks:
        assert decoder.decode(encoder.encode(fields), raw=True) == fields
        assert not decoder.header_table.dynamic_entries


def test_static_entries_are_one_byte_and_credentials_are_never_indexed() -> None:
    assert encode_field(b":status", b"200") == b"\x88"  # static index 8
    assert encode_field(b"content-length", b"12") == b"\x0f\x0d\x0212"  # name index 28, no indexing
    assert encode_field(b"set-cookie", b"a=1")[0] & 0xF0 == 0x10  # never indexed
    assert encode_field(b"x-a", b"1") == b"\x00\x03x-a\x011"


def test_a_table_size_change_is_announced_once() -> None:
    encoder = StatelessEncoder()
    encoder.header_table_size = 0
    assert encoder.encode([(b":status", b"200")]) == b"\x20\x88"
    assert encoder.encode([(b":status", b"200")]) == b"\x88"


@settings(max_examples=300, deadline=None)
@given(
    requests=st.lists(st.sampled_from(range(4)), min_size=1, max_size=20),
    variants=st.lists(_FIELDS, min_size=4, max_size=4),
    table_size=st.sampled_from([4096, 100, 0]),
)
def test_repeating_decoder_decodes_what_hpack_decodes(
    requests: list[int], variants: list[list[tuple[bytes, bytes]]], table_size: int
) -> None:
    encoder = Encoder()
    encoder.header_table_size = table_size
    ours, theirs = RepeatingDecoder(1 << 20), Decoder(1 << 20)
    for which in requests:
        block = encoder.encode(variants[which])
        assert ours.decode(block, raw=True) == theirs.decode(block, raw=True) == variants[which]


def test_a_repeated_block_hits_the_cache_and_the_list_limit_still_applies() -> None:
    encoder = Encoder()
    fields = [(b":method", b"GET"), (b":path", b"/x"), (b"user-agent", b"u" * 40)]
    decoder = RepeatingDecoder(1 << 16)
    first = encoder.encode(fields)
    assert decoder.decode(first, raw=True) == fields  # indexes: decoded, not kept
    repeat = encoder.encode(fields)
    assert repeat != first
    assert decoder.decode(repeat, raw=True) == fields
    assert list(decoder._cache) == [repeat]
    assert decoder.decode(repeat, raw=True) == fields  # a hit
    decoder.max_header_list_size = 50  # a lower limit is not met by the cached entry: decoded again, refused
    with pytest.raises(OversizedHeaderListError):
        decoder.decode(repeat, raw=True)


def test_a_changed_table_is_not_served_from_the_cache() -> None:
    encoder = Encoder()
    decoder = RepeatingDecoder(1 << 16)
    decoder.decode(encoder.encode([(b"x-a", b"1")]), raw=True)
    repeat = encoder.encode([(b"x-a", b"1")])  # index 62: the newest entry
    assert decoder.decode(repeat, raw=True) == [(b"x-a", b"1")]
    decoder.decode(encoder.encode([(b"x-b", b"2")]), raw=True)  # now index 62 is x-b
    assert encoder.encode([(b"x-b", b"2")]) == repeat  # the very same bytes...
    assert decoder.decode(repeat, raw=True) == [(b"x-b", b"2")]  # ...mean another field


@async_test
async def test_a_client_with_no_dynamic_table_is_served() -> None:
    wire = H2Wire(client_settings={SETTINGS.HEADER_TABLE_SIZE: 0})
    for path in ("/a", "/b", "/c"):
        result = await wire.get(path)
        assert (result.status, result.body) == (200, b"ok")


def test_the_caches_stay_bounded() -> None:
    from hanzo_edge.http.h2 import server_hpack

    encoder = Encoder()
    many = [(b"x-%d" % i, b"v") for i in range(40)]  # more fields than a cached block may hold
    decoder = RepeatingDecoder(1 << 16)
    decoder.decode(encoder.encode(many), raw=True)
    assert decoder.decode(encoder.encode(many), raw=True) == many
    assert not decoder._cache
    for i in range(20):  # more distinct repeated blocks than entries
        fields = [(b"x-%d" % i, b"v")]
        decoder.decode(encoder.encode(fields), raw=True)
        decoder.decode(encoder.encode(fields), raw=True)
    assert 0 < len(decoder._cache) <= 8
    StatelessEncoder().encode([(b"x-big", b"v" * 1000)])
    assert (b"x-big", b"v" * 1000) not in server_hpack._FIELDS
