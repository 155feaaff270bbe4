"""HTTP/2 header blocks ↔ the shared pipeline's request and response heads (RFC 9113 §8).

``h2`` has already refused what RFC 9113 calls malformed before anything here runs (a connection error, GOAWAY
PROTOCOL_ERROR): upper-case or otherwise invalid names, CR/LF/NUL in values, unknown, repeated or misplaced
pseudo-headers, connection-specific fields (``connection``, ``keep-alive``, ``proxy-connection``,
``transfer-encoding``, ``upgrade``), ``te`` other than ``trailers``, a missing ``:method``/``:scheme``/``:path``,
an ``:authority`` that disagrees with ``host``. It also joined ``cookie`` fields with ``"; "`` (RFC 9113 §8.2.3).

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

from dataclasses import dataclass

from hanzo_edge.http.headers import Headers

__all__ = ["H2RequestHead", "StreamRejected", "canonical_name", "request_head", "response_header_block"]

_CONNECTION_SPECIFIC = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"http2-settings"}
)
_NO_BODY_STATUS = frozenset({204, 304})
_STATUS = {code: str(code).encode("ascii") for code in range(100, 600)}
_CANONICAL: dict[bytes, bytes] = {}


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
        if len(_CANONICAL) >= 4096:  # names come from clients: keep the cache bounded
            _CANONICAL.clear()
        _CANONICAL[name] = found
    return found


def request_head(fields: list[tuple[bytes, bytes]], managed_headers: frozenset[bytes]) -> H2RequestHead:
    """Translate a request header block (validated by ``h2``) into an :class:`H2RequestHead`.

    Raises :class:`StreamRejected` for what ``h2`` accepts but we do not serve (``CONNECT``, conflicting
    ``content-length`` values).
    """
    method = path = b""
    authority: bytes | None = None
    host: bytes | None = None
    content_length: bytes | None = None
    extended = managed = expect = False
    headers: list[tuple[bytes, bytes]] = []
    for name, value in fields:
        if name[:1] == b":":
            if name == b":method":
                method = value
            elif name == b":path":
                path = value
            elif name == b":authority":
                authority = value
            elif name == b":protocol":
                extended = True
            continue  # :scheme: the entrypoint decides http/https, as Go's server does
        if name == b"host":
            host = value
            continue
        if name == b"content-length":
            if content_length is not None and value != content_length:
                raise StreamRejected(400, "conflicting content-length values")
            content_length = value
        elif name[:2] in (b"x-", b"x_") and name in managed_headers:
            managed = True
        elif name == b"expect" and value.lower() == b"100-continue":
            expect = True
        headers.append((canonical_name(name), value))
    if method == b"CONNECT" or extended:
        raise StreamRejected(400, "CONNECT is not served over HTTP/2")
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
