"""Response header blocks, translated and HPACK-encoded once per distinct response head (process-wide, bounded).

A backend answers the same head over and over (status, its fields, a body of the same size; only ``Date`` moves,
once a second), and so does a handler. Building the HTTP/2 block (``translate.response_header_block``: names
lower-cased, hop-by-hop fields dropped, ``content-length`` and ``date`` added) and encoding it field by field cost
~3 us a response; here it is one dict lookup. The key is everything the block depends on: the status, the raw
fields as the handler left them, the body length and the ``Date`` value added (None when the response has one).
The encoding is connection-independent (``server_hpack.StatelessEncoder`` has no dynamic table; a pending table
size update is added by the encoder when it writes the block).

Bounded: at most ``_ENTRIES`` heads whose encoding and whose raw fields (the key: fields the block drops, such as
those a ``Connection`` field names, are in it too) are at most ``_MAX_BYTES`` each (~2 MiB in all); a larger or
unhashable head is built every time. A head carrying credentials (``Set-Cookie``, ``Authorization``, ...) is never
kept: a session id has no business in a process-wide cache, and such heads rarely repeat anyway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hanzo_edge.http.h2.server_hpack import EncodedBlock
from hanzo_edge.http.h2.translate import response_header_block

if TYPE_CHECKING:
    from hanzo_edge.http.headers import Headers

__all__ = ["response_block"]

_ENTRIES = 1024
_MAX_BYTES = 1024
_HEADS: dict[Any, EncodedBlock] = {}
_CREDENTIALS = frozenset({b"set-cookie", b"authorization", b"proxy-authorization", b"cookie"})


def response_block(status: int, headers: Headers, body_length: int | None, date: bytes | None) -> EncodedBlock:
    """``translate.response_header_block`` of these arguments as an :class:`EncodedBlock`, from the cache if seen."""
    key = (status, tuple(headers.raw), body_length, date)
    try:
        block = _HEADS.get(key)
    except TypeError:  # a field that is not a pair of bytes (a handler's list): build it, keep nothing
        return EncodedBlock.of(response_header_block(status, headers, body_length, date))
    if block is None:
        block = EncodedBlock.of(response_header_block(status, headers, body_length, date))
        if len(block.encoded) <= _MAX_BYTES and _keepable(headers.raw):
            if len(_HEADS) >= _ENTRIES:  # fields and dates come from backends: keep the cache bounded
                _HEADS.clear()
            _HEADS[key] = block
    return block


def _keepable(raw: list[tuple[bytes, bytes]]) -> bool:
    """May this head be a cache key: its raw fields small enough, and none of them a credential?"""
    size = 0
    for name, value in raw:
        size += len(name) + len(value)
        if name.lower() in _CREDENTIALS:
            return False
    return size <= _MAX_BYTES
