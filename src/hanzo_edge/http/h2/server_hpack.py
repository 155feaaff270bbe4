"""HPACK for the downstream server's hot path: a decoder that remembers repeated blocks, an encoder without state.

Both plug into ``h2``'s connection in place of ``hpack``'s (``conn.decoder`` / ``conn.encoder``), whose pure-Python
per-field work (and a ``log.debug`` call per field) was ~20 % of an HTTP/2 request's CPU (docs/compat.md has the
figures).

* :class:`RepeatingDecoder` is ``hpack``'s decoder, with every rule and limit it enforces (HPACK bomb, table size),
  plus a small cache of decoded blocks. A client that repeats a request (h2load, a gRPC or API client polling)
  sends the same bytes each time once its fields sit in the dynamic table: indexed fields change nothing, so the
  same bytes decode to the same list as long as the table is unchanged. Each entry remembers the table's change
  count and the limits it was decoded under; a hit needs all three unchanged. Only blocks that left the table
  untouched are kept (anything with incremental indexing or a size update decodes every time), at most
  ``_CACHE_ENTRIES`` blocks of at most ``_CACHE_BLOCK`` bytes and ``_CACHE_FIELDS`` fields per connection.
* :class:`StatelessEncoder` never adds to the dynamic table: a field that is exactly a static-table entry is one
  indexed byte; any other is a literal without indexing (never-indexed for credentials and cookies), its name
  indexed when the static table has it, no Huffman coding. Without a dynamic table the encoding of a field does not
  depend on the connection, so encoded fields are cached across connections (bounded; never credentials).
  Responses are ~40 bytes larger than with incremental indexing; compression-state attacks have no table to probe.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hpack import Decoder
from hpack.struct import NeverIndexedHeaderTuple
from hpack.table import HeaderTable

__all__ = ["EncodedBlock", "RepeatingDecoder", "StatelessEncoder", "encode_field", "encode_fields"]

# Per connection at most 8 blocks of 512 bytes decoding to 32 fields (whose values are mostly the table's own
# objects): a few KiB, whatever the client sends.
_CACHE_ENTRIES = 8
_CACHE_BLOCK = 512
_CACHE_FIELDS = 32
# Process-wide: 4096 encoded fields of at most 256 bytes each (~1.5 MiB); larger fields are encoded every time.
_FIELD_CACHE_ENTRIES = 4096
_FIELD_CACHE_SIZE = 256
_SENSITIVE = frozenset({b"authorization", b"proxy-authorization", b"cookie", b"set-cookie"})
_STATIC = HeaderTable.STATIC_TABLE_MAPPING
_FIELDS: dict[tuple[bytes, bytes], bytes] = {}


class _CountingTable(HeaderTable):
    """``hpack``'s table, counting every change (an entry added, the size changed) so cached blocks can be checked."""

    def __init__(self) -> None:
        super().__init__()
        self.changes = 0

    def add(self, name: bytes, value: bytes) -> None:
        self.changes += 1
        super().add(name, value)

    @property
    def maxsize(self) -> int:
        return self._maxsize

    @maxsize.setter
    def maxsize(self, newmax: int) -> None:
        self.changes += 1
        HeaderTable.maxsize.fset(self, newmax)  # type: ignore[attr-defined]


class RepeatingDecoder(Decoder):
    """``hpack``'s decoder with a per-connection cache of blocks that left the dynamic table untouched."""

    def __init__(self, max_header_list_size: int) -> None:
        super().__init__(max_header_list_size)
        table = _CountingTable()
        table.maxsize = self.header_table.maxsize
        self.header_table = table
        self._table = table
        self._cache: dict[bytes, tuple[int, int, int, list[Any]]] = {}
        self._cache_changes = 0  # the table's change count the cached blocks were decoded at

    def decode(self, data: bytes, raw: bool = False) -> list[Any]:
        table = self._table
        if table.changes != self._cache_changes:
            # Blocks decoded against an older table can never hit again, and their lists would keep values the
            # table has since evicted alive: drop them (a connection then holds at most one table's worth).
            self._cache.clear()
            self._cache_changes = table.changes
        key = data if type(data) is bytes and len(data) <= _CACHE_BLOCK else None
        if key is not None:
            hit = self._cache.get(key)
            if (
                hit is not None
                and hit[0] == table.changes
                and hit[1] == self.max_header_list_size
                and hit[2] == self.max_allowed_table_size
            ):
                return list(hit[3])
        before = table.changes
        headers = list(super().decode(data, raw))
        if table.changes != before:
            self._cache.clear()  # this block changed the table: what is cached decoded against the old one
            self._cache_changes = table.changes
            return headers
        if key is not None and len(headers) <= _CACHE_FIELDS:
            cache = self._cache
            if len(cache) >= _CACHE_ENTRIES:
                cache.clear()
            cache[key] = (before, self.max_header_list_size, self.max_allowed_table_size, headers)
            return list(headers)
        return headers


def _integer(value: int, prefix_bits: int, first: int) -> bytes:
    """RFC 7541 §5.1 integer with an ``prefix_bits``-bit prefix, ``first`` holding the representation's flag bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((first | value,))
    out = bytearray((first | limit,))
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_field(name: bytes, value: bytes, never_indexed: bool = False) -> bytes:
    """One field as an indexed static entry or a literal without (or never) indexing; no Huffman (RFC 7541 §6)."""
    static = _STATIC.get(name)
    if static is not None and not never_indexed:
        index = static[1].get(value)
        if index is not None:
            return _integer(index, 7, 0x80)
    flag = 0x10 if never_indexed or name in _SENSITIVE else 0x00
    if static is None:
        return bytes((flag,)) + _integer(len(name), 7, 0) + name + _integer(len(value), 7, 0) + value
    return _integer(static[0], 4, flag) + _integer(len(value), 7, 0) + value


class StatelessEncoder:
    """An HPACK encoder that never uses the dynamic table (see the module docstring); ``h2`` calls :meth:`encode`."""

    __slots__ = ("_size", "_size_update")

    def __init__(self) -> None:
        self._size = HeaderTable.DEFAULT_SIZE
        self._size_update = False

    @property
    def header_table_size(self) -> int:
        return self._size

    @header_table_size.setter
    def header_table_size(self, value: int) -> None:
        # The peer changed SETTINGS_HEADER_TABLE_SIZE: say once that our table is 0 (always within its bound), as a
        # decoder that shrank its table waits for a size update at the start of the next block (RFC 7541 §4.2).
        if value != self._size:
            self._size = value
            self._size_update = True

    def encode(self, headers: Iterable[Any], huffman: bool = True) -> bytes:
        """Encode a header list (``huffman`` is ignored: literals are sent raw); an :class:`EncodedBlock` carries its
        encoding already."""
        encoded = headers.encoded if type(headers) is EncodedBlock else encode_fields(headers)
        if self._size_update:
            self._size_update = False
            return b"\x20" + encoded  # dynamic table size update: 0
        return encoded


class EncodedBlock(tuple[tuple[bytes, bytes], ...]):
    """A header block (a tuple of fields, usable wherever one is) that also holds its :func:`encode_fields`
    encoding, made once: :meth:`StatelessEncoder.encode` writes it without looking at the fields again."""

    encoded: bytes

    @classmethod
    def of(cls, fields: Iterable[tuple[bytes, bytes]]) -> EncodedBlock:
        block = cls(fields)
        block.encoded = encode_fields(block)
        return block


def encode_fields(headers: Iterable[Any]) -> bytes:
    """The stateless encoding of a header list (no table size update: the encoder adds one when owed)."""
    fields = _FIELDS
    parts: list[bytes] = []
    for field in headers:
        name, value = field[0], field[1]
        if type(field) is NeverIndexedHeaderTuple:
            parts.append(encode_field(name, value, True))
            continue
        key = (name, value)
        encoded = fields.get(key)
        if encoded is None:
            encoded = encode_field(name, value)
            # Credentials (a Set-Cookie's session id) are not kept process-wide beyond the response that carries them.
            if len(encoded) <= _FIELD_CACHE_SIZE and name not in _SENSITIVE:
                if len(fields) >= _FIELD_CACHE_ENTRIES:  # values come from backends: keep the cache bounded
                    fields.clear()
                fields[key] = encoded
        parts.append(encoded)
    return b"".join(parts)
