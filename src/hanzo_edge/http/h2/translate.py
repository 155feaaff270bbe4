"""HTTP/2 header blocks ↔ the shared pipeline's request and response heads (RFC 9113 §8).

:func:`request_head` validates a request block in the same single pass that translates it (``h2``'s own inbound
validation is off: its chain of generators cost ~15 µs a request, see docs/compat.md). What RFC 9113 calls malformed
raises :class:`MalformedHeaders`, which the server makes a connection error (GOAWAY PROTOCOL_ERROR, as ``h2`` did):
an empty name, a name with upper-case letters, controls, space, DEL or non-ASCII bytes, or a colon past its first
byte; NUL/CR/LF in a value or a value starting or ending with SP/HTAB; unknown, repeated, response-only or
misplaced pseudo-headers; connection-specific fields (``connection``, ``keep-alive``, ``proxy-connection``,
``transfer-encoding``, ``upgrade``); ``te`` other than ``trailers``; a missing ``:method``/``:scheme``/``:path`` (a
plain ``CONNECT`` has neither of the last two), an empty ``:path``, ``:protocol`` without ``CONNECT``; several
``host`` fields, neither ``host`` nor ``:authority``, or the two disagreeing. ``cookie`` fields are joined with
``"; "`` (RFC 9113 §8.2.3). :func:`check_trailer_fields` applies the same field rules to request trailers (which
carry no pseudo-header).

What is left is translation, as Go's server and Traefik's proxy do it:

* ``:authority`` is the host: a ``Host`` field is synthesised from it (first), so an HTTP/1.1 backend gets one.
* Field names get Go's canonical form (``content-type`` → ``Content-Type``), as ``net/http`` hands them to Traefik,
  so a backend, a middleware and the access log see the same names over HTTP/1.1 and HTTP/2.
* ``content-length`` values must agree with each other (``h2`` checks them against the DATA frames).
* ``CONNECT`` (plain or RFC 8441 extended) is refused: WebSocket over HTTP/2 is not served (browsers use HTTP/1.1).

Responses: names lower-cased, connection-specific fields and those the ``Connection`` field names dropped,
``content-length`` re-derived from the body, ``date`` added when the handler sent none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hanzo_edge.http.headers import Headers

__all__ = [
    "H2RequestHead",
    "MalformedHeaders",
    "StreamRejected",
    "canonical_name",
    "check_trailer_fields",
    "request_head",
    "response_header_block",
]

_CONNECTION_SPECIFIC = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"http2-settings"}
)
_NO_BODY_STATUS = frozenset({204, 304})
_STATUS = {code: str(code).encode("ascii") for code in range(100, 600)}
_CANONICAL: dict[bytes, bytes] = {}
# RFC 9113 §8.2: hop-by-hop fields a request must not carry (what h2 refused; http2-settings is only dropped).
_REFUSED_FIELDS = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"})
_REQUEST_PSEUDO = frozenset({b":method", b":scheme", b":authority", b":path", b":protocol"})
# RFC 9113 §8.2.1: a name has no controls, space, upper case, DEL or non-ASCII byte, and no colon past its first.
_BAD_NAME = re.compile(rb"[\x00-\x20A-Z\x7f-\xff]|(?<=.):")
_VALID_NAMES: set[bytes] = set()  # names already checked (they repeat on every request), bounded
# Only names up to this size are cached process-wide: 4096 client-chosen 8 KiB names would pin ~100 MiB.
_CACHED_NAME = 64
# What an HTTP/1.1 request line can carry verbatim: a method is a token (RFC 9110 §9.1); a path has no space, control
# or DEL (RFC 3986). Anything else would be written into the upstream request line as it is (line confusion).
_METHOD = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_PATH = re.compile(rb"[\x00-\x20\x7f]")


class MalformedHeaders(Exception):
    """A header block RFC 9113 §8.1.1 calls malformed: the connection ends with GOAWAY PROTOCOL_ERROR."""


def _check_field(name: bytes, value: bytes) -> None:
    """Refuse a field whose name or value breaks RFC 9113 §8.2.1 (one name check per distinct name)."""
    if name not in _VALID_NAMES:
        if not name or _BAD_NAME.search(name):
            raise MalformedHeaders(f"invalid field name {name!r}")
        if len(name) <= _CACHED_NAME:  # names come from clients: keep the cache bounded in count and size
            if len(_VALID_NAMES) >= 4096:
                _VALID_NAMES.clear()
            _VALID_NAMES.add(name)
    if value and (
        b"\r" in value or b"\n" in value or b"\x00" in value or value[0] in (0x20, 0x09) or value[-1] in (0x20, 0x09)
    ):
        raise MalformedHeaders(f"invalid value for {name!r}")


def _check_regular(name: bytes, value: bytes) -> None:
    """Refuse connection-specific fields and a ``te`` other than ``trailers`` (RFC 9113 §8.2.2)."""
    if name in _REFUSED_FIELDS:
        raise MalformedHeaders(f"connection-specific field {name!r}")
    if name == b"te" and value.lower() != b"trailers":
        raise MalformedHeaders("te other than trailers")


def check_trailer_fields(fields: list[tuple[bytes, bytes]]) -> None:
    """Refuse a request trailer block that is malformed (pseudo-headers, bad names or values, hop-by-hop fields)."""
    for name, value in fields:
        _check_field(name, value)
        if name[:1] == b":":
            raise MalformedHeaders(f"pseudo-header {name!r} in trailers")
        _check_regular(name, value)


class StreamRejected(Exception):
    """The request on one stream cannot be served; the stream is answered ``status`` (the connection goes on)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


@dataclass(slots=True)
class H2RequestHead:
    """One request head, ready for ``http.pipeline.build_request``."""

    method: str
    target: str
    headers: list[tuple[bytes, bytes]]
    """Regular fields, canonical names, ``Host`` first (from ``:authority``)."""
    host: bytes | None
    content_length: int | None
    expect_continue: bool
    """``expect: 100-continue``: the client waits for a 100 before sending the body."""
    managed: bool
    """Some field is a managed ``X-Forwarded-*`` one (the forwarded-headers trust boundary has work to do)."""


def canonical_name(name: bytes) -> bytes:
    """Return Go's canonical form of a lower-case field name (``x-forwarded-for`` → ``X-Forwarded-For``), cached."""
    found = _CANONICAL.get(name)
    if found is None:
        found = b"-".join(part[:1].upper() + part[1:] for part in name.split(b"-"))
        if len(name) <= _CACHED_NAME:  # names come from clients: keep the cache bounded in count and size
            if len(_CANONICAL) >= 4096:
                _CANONICAL.clear()
            _CANONICAL[name] = found
    return found


def request_head(fields: list[tuple[bytes, bytes]], managed_headers: frozenset[bytes]) -> H2RequestHead:
    """Validate and translate a request header block into an :class:`H2RequestHead`.

    Raises :class:`MalformedHeaders` for a malformed block (a connection error) and :class:`StreamRejected` for a
    valid one we do not serve (``CONNECT``, conflicting ``content-length`` values).
    """
    method: bytes | None = None
    path: bytes | None = None
    scheme = False
    authority: bytes | None = None
    host: bytes | None = None
    content_length: bytes | None = None
    extended = managed = expect = regular_seen = conflicting = False
    cookies: list[bytes] | None = None
    headers: list[tuple[bytes, bytes]] = []
    for name, value in fields:
        _check_field(name, value)
        if name[:1] == b":":
            if regular_seen:
                raise MalformedHeaders(f"pseudo-header {name!r} after a regular field")
            if name == b":method":
                if method is not None:
                    raise MalformedHeaders("repeated :method")
                method = value
            elif name == b":path":
                if path is not None:
                    raise MalformedHeaders("repeated :path")
                path = value
            elif name == b":authority":
                if authority is not None:
                    raise MalformedHeaders("repeated :authority")
                authority = value
            elif name == b":scheme":
                if scheme:
                    raise MalformedHeaders("repeated :scheme")
                scheme = True  # the entrypoint decides http/https, as Go's server does
            elif name == b":protocol":
                if extended:
                    raise MalformedHeaders("repeated :protocol")
                extended = True
            else:
                raise MalformedHeaders(f"pseudo-header {name!r} in a request")
            continue
        regular_seen = True
        _check_regular(name, value)
        if name == b"host":
            if host is not None:
                raise MalformedHeaders("several host fields")
            host = value
            continue
        if name == b"cookie":
            if cookies is None:
                cookies = [value]
            else:
                cookies.append(value)
            continue
        if name == b"content-length":
            if content_length is not None and value != content_length:
                conflicting = True  # answered 400 once the block is known to be well-formed
            content_length = value
        elif name[:2] in (b"x-", b"x_") and name in managed_headers:
            managed = True
        elif name == b"expect" and value.lower() == b"100-continue":
            expect = True
        headers.append((canonical_name(name), value))
    if method is None:
        raise MalformedHeaders("no :method")
    if _METHOD.fullmatch(method) is None:
        raise MalformedHeaders("a :method that is not a token")
    if path is not None and _BAD_PATH.search(path):
        raise MalformedHeaders("a space or control byte in :path")
    if method == b"CONNECT" and not extended:
        if scheme or path is not None:
            raise MalformedHeaders("a CONNECT with :scheme or :path")
    elif not scheme or path is None:
        raise MalformedHeaders("no :scheme or :path")
    elif extended and method != b"CONNECT":
        raise MalformedHeaders(":protocol without CONNECT")
    if authority is None and host is None:
        raise MalformedHeaders("neither :authority nor host")
    if authority is not None and host is not None and authority != host:
        raise MalformedHeaders(":authority and host disagree")
    if path is not None and not path:
        raise MalformedHeaders("empty :path")
    if method == b"CONNECT" or extended or path is None:
        raise StreamRejected(400, "CONNECT is not served over HTTP/2")
    if conflicting:
        raise StreamRejected(400, "conflicting content-length values")
    if cookies is not None:
        headers.append((b"Cookie", cookies[0] if len(cookies) == 1 else b"; ".join(cookies)))
    if path[:1] != b"/" and not (path == b"*" and method == b"OPTIONS"):
        raise StreamRejected(400, "invalid :path")  # Go: origin-form, or * for OPTIONS (RFC 9113 §8.3.1)
    length: int | None = None
    if content_length is not None:
        if not content_length.isdigit():
            raise StreamRejected(400, "invalid content-length")
        length = int(content_length)
    if authority is None:
        authority = host
    if authority is not None:
        headers.insert(0, (b"Host", authority))
    return H2RequestHead(method.decode("latin-1"), path.decode("latin-1"), headers, authority, length, expect, managed)


def response_header_block(
    status: int, headers: Headers, body_length: int | None, date: bytes | None
) -> list[tuple[bytes, bytes]]:
    """Return the HTTP/2 header block of a response (``:status`` first).

    ``body_length`` is the body's size when known (sent as ``content-length``); ``date`` the ``Date`` value to add
    when the handler sent none (None: it did).
    """
    block: list[tuple[bytes, bytes]] = [(b":status", _STATUS.get(status) or str(status).encode("ascii"))]
    named: frozenset[bytes] | None = None
    for name, value in headers.raw:
        lname = name.lower()
        if lname in _CONNECTION_SPECIFIC or lname == b"content-length":
            if lname == b"connection":
                # Fields the Connection field names are hop-by-hop too (RFC 9110 §7.6.1).
                tokens = frozenset(t.strip().lower() for t in value.split(b","))
                named = tokens if named is None else named | tokens
            continue
        block.append((lname, value))
    if named:
        block = [field for field in block if field[0] not in named]
    if date is not None:
        block.append((b"date", date))
    if body_length is not None and status >= 200 and status not in _NO_BODY_STATUS:
        block.append((b"content-length", b"%d" % body_length))
    return block
