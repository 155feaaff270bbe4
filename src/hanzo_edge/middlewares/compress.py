"""``compress``: compress responses with the client's preferred encoding (Traefik ``pkg/middlewares/compress``).

Choosing the encoding (Traefik v3.2+): ``HEAD`` requests and requests whose ``Content-Type`` media type is excluded
(``application/grpc`` always) pass through. Without ``Accept-Encoding`` nothing is compressed unless
``defaultEncoding`` is set; an empty ``Accept-Encoding`` means identity. Otherwise the listed codings (names compared
exactly, spaces ignored) that are in ``encodings`` — plus ``identity`` and ``*`` — are sorted by ``q`` (default 1;
``q=0`` entries dropped), ties broken by the order of ``encodings`` with ``*`` first and ``identity`` last; ``*``
stands for ``defaultEncoding`` or else the first of ``encodings``.

Once an encoding is chosen the response gets ``Vary: Accept-Encoding`` (even when it is then not compressed). It is
left alone when it is informational, a 101 upgrade, ``204``/``304``, a ``206``/``Content-Range`` answer, already has
a ``Content-Encoding``, has an unparsable ``Content-Type``, or its media type is excluded (``excludedContentTypes``)
or not included (``includedContentTypes``; parameters compared only when the configured type has some). Bodies
shorter than ``minResponseBodyBytes`` (default 1024; ``0`` means the default, as in Traefik) stay uncompressed: a
known ``Content-Length`` decides at once; a body of unknown length is examined as far as it has already arrived —
if it ended below the minimum it is sent as is, otherwise (minimum reached, or the stream paused, where Go's
reverse proxy would flush and force compression) it is compressed.

Compression streams: each upstream chunk is compressed and flushed at once (``Z_SYNC_FLUSH`` for gzip, a brotli
flush, a zstd block flush), so server-sent events keep flowing. ``Content-Length`` and ``Accept-Ranges`` are removed,
``Content-Encoding`` is set, and the body is sent chunked. Levels: gzip 6 (zlib default), brotli quality 6 and zstd
level 3 — the defaults of the Go libraries Traefik uses.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import brotli  # type: ignore[import-untyped]
import zstandard

from hanzo_edge.http.body import BodyRelay, StreamBody
from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.middlewares.base import BuildContext, register

__all__ = ["Compress", "negotiate_encoding", "parse_media_type"]

GZIP = "gzip"
BROTLI = "br"
ZSTD = "zstd"
IDENTITY = "identity"
WILDCARD = "*"
NOT_ACCEPTABLE = "not_acceptable"
SUPPORTED = (GZIP, BROTLI, ZSTD)
DEFAULT_MIN_SIZE = 1024

_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_NO_BODY_STATUS = frozenset({204, 304})
_CACHE_MAX = 256


# ------------------------------------------------------------------------------------------------------ parsing


def _is_token(text: str) -> bool:
    return bool(text) and all(c in _TOKEN for c in text)


def parse_media_type(value: str) -> tuple[str, dict[str, str]]:
    """Return ``(media type, parameters)`` of a ``Content-Type`` value, lower-cased like Go's ``mime.ParseMediaType``.

    Raises ValueError when the value is not ``type/subtype`` followed by ``; name=value`` parameters (tokens or
    quoted strings; a parameter may not repeat).
    """
    head, _, rest = value.partition(";")
    media = head.strip().lower()
    kind, slash, sub = media.partition("/")
    if not _is_token(kind) or (slash and not _is_token(sub)):
        raise ValueError(f"mime: invalid media type {value!r}")
    if not slash:
        raise ValueError(f"mime: expected slash after first token in {value!r}")
    params: dict[str, str] = {}
    while rest.strip():
        rest = rest.lstrip()
        name, eq, rest = rest.partition("=")
        name = name.strip().lower()
        if not eq or not _is_token(name):
            if not name and not eq:
                break
            raise ValueError(f"mime: invalid media parameter in {value!r}")
        rest = rest.lstrip()
        if rest.startswith('"'):
            out: list[str] = []
            i = 1
            while i < len(rest) and rest[i] != '"':
                if rest[i] == "\\" and i + 1 < len(rest):
                    i += 1
                out.append(rest[i])
                i += 1
            if i >= len(rest):
                raise ValueError(f"mime: unterminated quoted string in {value!r}")
            param_value, rest = "".join(out), rest[i + 1 :]
            rest = rest.lstrip()
            if rest and not rest.startswith(";"):
                raise ValueError(f"mime: invalid media parameter in {value!r}")
            rest = rest[1:]
        else:
            param_value, _, rest = rest.partition(";")
            param_value = param_value.strip()
            if not _is_token(param_value):
                raise ValueError(f"mime: invalid media parameter in {value!r}")
        if name in params:
            raise ValueError(f"mime: duplicate parameter name {name!r}")
        params[name] = param_value
    return media, params


class _ContentType:
    """A configured content type: the media type, and parameters that must all match when any are given."""

    __slots__ = ("media", "params")

    def __init__(self, value: str) -> None:
        self.media, self.params = parse_media_type(value)

    def matches(self, media: str, params: dict[str, str]) -> bool:
        if self.media != media:
            return False
        return not self.params or self.params == params


def negotiate_encoding(accept_encoding: list[str], encodings: tuple[str, ...], default_encoding: str = "") -> str:
    """Return the encoding Traefik picks for these ``Accept-Encoding`` field values.

    The result is one of ``encodings``, ``identity`` or ``not_acceptable`` (both meaning: do not compress).
    """
    if len(accept_encoding) == 1 and accept_encoding[0] == "":
        return IDENTITY
    priority = {WILDCARD: -1, IDENTITY: len(encodings)}
    for index, name in enumerate(encodings):
        priority[name] = index
    accepted: list[tuple[float, int, str]] = []
    for line in accept_encoding:
        for item in line.replace(" ", "").split(","):
            coding, _, param = item.partition(";")
            if coding not in priority:
                continue
            weight = 1.0
            if param.startswith("q="):
                try:
                    weight = float(param[2:])
                except ValueError:
                    weight = 0.0
                if weight == 0:
                    continue
            accepted.append((-weight, priority[coding], coding))
    if not accepted:
        return NOT_ACCEPTABLE
    accepted.sort(key=lambda entry: (entry[0], entry[1]))
    best = accepted[0][2]
    if best == WILDCARD:
        return default_encoding or encodings[0]
    return best


# --------------------------------------------------------------------------------------------------- compressors


class _Encoder(Protocol):
    def chunk(self, data: bytes) -> bytes:
        """Compress ``data`` and flush, so that everything so far can be decoded."""

    def finish(self) -> bytes:
        """Return the end of the compressed stream."""


class _Gzip:
    __slots__ = ("_c",)

    def __init__(self) -> None:
        self._c = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: gzip header and trailer

    def chunk(self, data: bytes) -> bytes:
        return self._c.compress(data) + self._c.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self._c.flush(zlib.Z_FINISH)


class _Brotli:
    __slots__ = ("_c",)

    def __init__(self) -> None:
        self._c = brotli.Compressor(quality=6)

    def chunk(self, data: bytes) -> bytes:
        return bytes(self._c.process(data)) + bytes(self._c.flush())

    def finish(self) -> bytes:
        return bytes(self._c.finish())


class _Zstd:
    __slots__ = ("_c",)

    _factory = zstandard.ZstdCompressor(level=3)

    def __init__(self) -> None:
        self._c = self._factory.compressobj()

    def chunk(self, data: bytes) -> bytes:
        return self._c.compress(data) + self._c.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)

    def finish(self) -> bytes:
        return self._c.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)


_ENCODERS: dict[str, Callable[[], _Encoder]] = {GZIP: _Gzip, BROTLI: _Brotli, ZSTD: _Zstd}


# --------------------------------------------------------------------------------------------------- the relay


class _CompressingRelay(BodyRelay):
    """Continues the upstream body as its compressed stream (flow control and closing act on the upstream body)."""

    __slots__ = ("encoder",)

    def __init__(self, inner: StreamBody, encoder: _Encoder, head: list[bytes]) -> None:
        self.encoder = encoder  # set first: the relay compresses ``head`` as it starts
        super().__init__(inner, StreamBody(None, None, inner.high_water), (b"".join(head),))

    def write(self, chunk: bytes) -> None:
        """Compress one chunk of the upstream body and pass on what the encoder flushed."""
        data = self.encoder.chunk(chunk)
        if data:
            self.body.feed(data)

    def write_eof(self) -> None:
        """End the compressed stream (the encoder's trailer), then the body."""
        tail = self.encoder.finish()
        if tail:
            self.body.feed(tail)
        self.body.feed_eof()


def _compressed_stream(inner: StreamBody, encoder: _Encoder, head: list[bytes]) -> StreamBody:
    """Return a body of unknown length that compresses ``head`` and then the rest of ``inner`` as it arrives."""
    return _CompressingRelay(inner, encoder, head).body


# ----------------------------------------------------------------------------------------------- the middleware


@register("compress")
class Compress:
    """Compresses responses (see the module docstring). Raises ValueError for an invalid configuration."""

    __slots__ = (
        "_negotiated",
        "default_encoding",
        "encodings",
        "excludes",
        "includes",
        "min_size",
        "name",
        "next",
        "request_excludes",
    )

    def __init__(self, next: Handler, config: Any, *, name: str, ctx: BuildContext) -> None:
        excluded = tuple(getattr(config, "excluded_content_types", ()) or ())
        included = tuple(getattr(config, "included_content_types", ()) or ())
        if excluded and included:
            raise ValueError("excludedContentTypes and includedContentTypes options are mutually exclusive")
        excludes: list[_ContentType] = [_ContentType("application/grpc")]
        for value in excluded:
            try:
                excludes.append(_ContentType(value))
            except ValueError as exc:
                raise ValueError(f"parsing excluded media type: {exc}") from None
        includes: list[_ContentType] = []
        for value in included:
            try:
                includes.append(_ContentType(value))
            except ValueError as exc:
                raise ValueError(f"parsing included media type: {exc}") from None
        min_size = int(getattr(config, "min_response_body_bytes", DEFAULT_MIN_SIZE) or 0)
        encodings = tuple(getattr(config, "encodings", SUPPORTED) or ())
        if not encodings:
            raise ValueError("at least one encoding must be specified")
        for encoding in encodings:
            if encoding not in SUPPORTED:
                raise ValueError(f"unsupported encoding: {encoding}")
        default_encoding = str(getattr(config, "default_encoding", "") or "")
        if default_encoding and default_encoding not in encodings:
            raise ValueError(f"unsupported default encoding: {default_encoding}")
        self.next = next
        self.name = name
        # Traefik checks the request's media type against every excluded type, by media type only.
        self.request_excludes = frozenset(ct.media for ct in excludes)
        # With includedContentTypes the response is checked against those only (plus nothing excluded).
        self.excludes = tuple(excludes) if not includes else ()
        self.includes = tuple(includes)
        self.min_size = min_size if min_size > 0 else DEFAULT_MIN_SIZE
        self.encodings = encodings
        self.default_encoding = default_encoding
        self._negotiated: dict[tuple[str, ...], str] = {}

    def _choose(self, req: Request) -> str:
        values = req.headers.get_all("Accept-Encoding")
        if not values:
            return self.default_encoding  # no Accept-Encoding at all ("" keeps the response as it is)
        key = tuple(values)
        choice = self._negotiated.get(key)
        if choice is None:
            choice = negotiate_encoding(values, self.encodings, self.default_encoding)
            if len(self._negotiated) >= _CACHE_MAX:
                self._negotiated.clear()
            self._negotiated[key] = choice
        return choice

    def __call__(self, req: Request) -> Awaitable[Response]:
        if req.method == "HEAD":
            return self.next(req)
        content_type = req.headers.get("Content-Type")
        if content_type:
            try:
                media = parse_media_type(content_type)[0]
            except ValueError:
                media = ""
            if media in self.request_excludes:
                return self.next(req)
        encoding = self._choose(req)
        if encoding not in _ENCODERS:
            return self.next(req)
        return self._compress(req, encoding)

    def _compressible_type(self, response: Response) -> bool:
        content_type = response.headers.get("Content-Type")
        if not content_type:
            return True
        try:
            media, params = parse_media_type(content_type)
        except ValueError:
            return False
        if self.includes and not any(ct.matches(media, params) for ct in self.includes):
            return False
        return not any(ct.matches(media, params) for ct in self.excludes)

    async def _compress(self, req: Request, encoding: str) -> Response:
        response = await self.next(req)
        headers = response.headers
        if not any(v.strip().lower() == "accept-encoding" for v in ",".join(headers.get_all("Vary")).split(",")):
            headers.add("Vary", "Accept-Encoding")
        status = response.status
        if (
            status < 200
            or status in _NO_BODY_STATUS
            or status == 206
            or response.tunnel is not None
            or headers.get("Content-Encoding")
            or "content-range" in headers
            or not self._compressible_type(response)
        ):
            return response
        body = response.body
        min_size = self.min_size
        if isinstance(body, bytes):
            if len(body) < min_size:
                return response
            encoder = _ENCODERS[encoding]()
            response.body = encoder.chunk(body) + encoder.finish()
        elif body.length is not None:
            if body.length < min_size:
                return response
            response.body = _compressed_stream(body, _ENCODERS[encoding](), [])
        else:
            # Unknown length: look at what already arrived. Ended below the minimum → send it as is.
            head = body.take_buffered()
            if body.at_eof and body.error is None and sum(len(c) for c in head) < min_size:
                response.body = b"".join(head)
                return response
            response.body = _compressed_stream(body, _ENCODERS[encoding](), head)
        headers.remove("Content-Length")
        headers.remove("Accept-Ranges")
        headers.set("Content-Encoding", encoding)
        return response
